// The one fork path: stages run in the documented order whoever registered first.
#include "base/fork.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace o11y::detail {
namespace {

// What the steps did, in order (a fork()ed child reports its own through a pipe).
std::string g_trace;  // NOLINT(*-avoid-non-const-global-*)

TEST(ForkPath, StagesPrepareTopDownAndRunParentAndChildBottomUp) {
  // Registered here, in reverse, to show that the order is the stages', not the calls'. In a
  // process that already used the library these stages are taken (ctest runs each test alone).
  const bool taken =
      register_fork_steps(ForkStage::Metrics, {[] { g_trace += "M"; }, [] { g_trace += "m"; },
                                               [] { g_trace += "m"; }}) &&
      register_fork_steps(ForkStage::Spans, {[] { g_trace += "S"; }, [] { g_trace += "s"; },
                                             [] { g_trace += "s"; }}) &&
      register_fork_steps(ForkStage::Logging,
                          {[] { g_trace += "L"; }, [] { g_trace += "l"; }, [] { g_trace += "l"; }});
  if (!taken)
    GTEST_SKIP() << "the library registered these stages first in this process";
  EXPECT_FALSE(register_fork_steps(ForkStage::Logging, {}));  // once per stage

  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  g_trace.clear();
  const pid_t pid = ::fork();
  if (pid == 0) {
    (void)::write(pipe_fds[1], g_trace.data(), g_trace.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  char buf[16] = {};
  const auto n = ::read(pipe_fds[0], buf, sizeof buf);
  ::close(pipe_fds[0]);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "LSMmsl");  // child
  EXPECT_EQ(g_trace, "LSMmsl");                                                    // parent
}

}  // namespace
}  // namespace o11y::detail
