// detail::start_thread() (context/sys.hpp): the library's threads are past their start-up when
// the call that started them returns, so a fork() right after never copies one mid-start.
#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <string>
#include <thread>

#include "context/sys.hpp"

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

}  // namespace
}  // namespace o11y::detail
