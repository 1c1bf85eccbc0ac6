// detail::start_thread() (context/sys.hpp): the library's threads are past their start-up when
// the call that started them returns, so a fork() right after never copies one mid-start, and
// they never take a signal sent to the process.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <string>
#include <thread>

#include "base/sys.hpp"

namespace o11y::detail {
namespace {

std::string name_of(std::thread& t) {
  std::array<char, 16> name{};
  if (::pthread_getname_np(t.native_handle(), name.data(), name.size()) != 0)
    return "?";
  return name.data();
}

TEST(StartThread, TheThreadIsThroughItsStartUpAndNamedWhenTheCallReturns) {
  // Naming is the thread's last start-up step: a start that returned early would usually
  // find the name still the process's.
  for (int i = 0; i < 20; ++i) {
    std::atomic<bool> release{false};
    auto t = start_thread("o11y-test", [&release] {
      while (!release.load())
        std::this_thread::yield();
    });
    EXPECT_EQ(name_of(t), "o11y-test") << "start " << i;
    release = true;
    t.join();
  }
}

TEST(StartThread, RunsTheBodyOnTheNewThread) {
  std::thread::id ran_on;
  auto t = start_thread("o11y-test", [&ran_on] { ran_on = std::this_thread::get_id(); });
  const auto id = t.get_id();
  t.join();
  EXPECT_EQ(ran_on, id);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

sigset_t mask_of_this_thread() {
  sigset_t mask;
  sigemptyset(&mask);
  (void)::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return mask;
}

TEST(StartThread, TheThreadBlocksTheSignalsSentToTheProcessButNotFaults) {
  sigset_t inside;
  auto t = start_thread("o11y-test", [&inside] { inside = mask_of_this_thread(); });
  t.join();
  for (const int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGPIPE, SIGALRM})
    EXPECT_EQ(sigismember(&inside, sig), 1) << "signal " << sig;
  for (const int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL})
    EXPECT_EQ(sigismember(&inside, sig), 0) << "signal " << sig;
}

TEST(StartThread, LeavesTheCallersSignalMaskAsItWas) {
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &usr2, nullptr), 0);
  auto t = start_thread("o11y-test", [] {});
  t.join();
  const auto after = mask_of_this_thread();
  (void)::pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
  EXPECT_EQ(sigismember(&after, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&after, SIGTERM), 0);
  EXPECT_EQ(sigismember(&after, SIGINT), 0);
}

}  // namespace
}  // namespace o11y::detail
