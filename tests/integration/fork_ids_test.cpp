#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <o11y/trace.hpp>
#include <set>
#include <vector>

namespace o11y {
namespace {

constexpr int kIds = 2000;

// Reads exactly n bytes or fails.
bool read_all(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const auto r = ::read(fd, p, n);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

TEST(ForkedChild, NeverProducesTheParentsIds) {
  // Warm this thread's generator so the child inherits a seeded state: without a reseed the
  // child's sequence would be exactly the parent's.
  (void)SpanId::generate();
  (void)TraceId::generate();

  std::array<int, 2> fds{};
  ASSERT_EQ(::pipe(fds.data()), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < kIds; ++i) {
      ids.push_back(SpanId::generate().value);
      const auto t = TraceId::generate();
      ids.push_back(t.hi ^ t.lo);
    }
    const auto bytes = ids.size() * sizeof(std::uint64_t);
    const bool ok = ::write(fds[1], ids.data(), bytes) == static_cast<ssize_t>(bytes);
    ::close(fds[1]);
    ::_exit(ok ? 0 : 3);
  }
  ::close(fds[1]);
  std::vector<std::uint64_t> parent;
  for (int i = 0; i < kIds; ++i) {
    parent.push_back(SpanId::generate().value);
    const auto t = TraceId::generate();
    parent.push_back(t.hi ^ t.lo);
  }
  std::vector<std::uint64_t> child(parent.size());
  ASSERT_TRUE(read_all(fds[0], child.data(), child.size() * sizeof(std::uint64_t)));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  const std::set<std::uint64_t> from_parent(parent.begin(), parent.end());
  int shared = 0;
  for (auto id : child)
    shared += from_parent.count(id) > 0 ? 1 : 0;
  EXPECT_EQ(shared, 0);
  EXPECT_NE(child.front(), parent.front());
}

TEST(ForkedChild, EveryChildOfManyGetsItsOwnSequence) {
  (void)SpanId::generate();
  std::set<std::uint64_t> firsts;
  for (int c = 0; c < 20; ++c) {
    std::array<int, 2> fds{};
    ASSERT_EQ(::pipe(fds.data()), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::uint64_t id = SpanId::generate().value;
      const bool ok = ::write(fds[1], &id, sizeof id) == static_cast<ssize_t>(sizeof id);
      ::_exit(ok ? 0 : 3);
    }
    ::close(fds[1]);
    std::uint64_t id = 0;
    ASSERT_TRUE(read_all(fds[0], &id, sizeof id));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    firsts.insert(id);
  }
  EXPECT_EQ(firsts.size(), 20U);
}

}  // namespace
}  // namespace o11y
