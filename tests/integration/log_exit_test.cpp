// Lines written just before exit(), and lines written by fork()ed children, reach the file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <o11y/log.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "logging/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

void configure_file(const std::string& path, bool async, std::size_t max_bytes = 0) {
  detail::LoggingSetup setup;
  setup.config.file_path = path;
  if (max_bytes != 0)
    setup.config.file_max_bytes = max_bytes;
  setup.config.async = async;
  setup.stdout_enabled = false;
  detail::configure_logging(setup);
}

constexpr int kHung = -2;

// The child's exit status; kHung (the child killed) when it has not exited within 10 s.
int run_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    std::exit(0);  // normal exit: atexit handlers run, nothing else flushes for us
  }
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return kHung;
}

// Waits until a line with this event is in the file, written there by the writer thread.
bool wait_until_written(const std::string& path, std::string_view event) {
  for (int i = 0; i < 200; ++i) {
    for (const auto& l : testing::read_lines(path)) {
      if (nlohmann::json::parse(l)["event"] == event)
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

class LogAtExit : public ::testing::TestWithParam<bool> {
 protected:
  // Logging to path in this test's mode, with "parent_before" logged and the fork to come
  // at once: the writer thread was started a moment ago, and a fork() must not catch it
  // mid-start (under GCC 12's ASan, whose allocator takes no lock around fork(), the child
  // then hung on its first malloc).
  Logger log_to_started(const std::string& path) {
    configure_file(path, GetParam());
    auto log = get_logger("fork");
    log.info("parent_before");
    return log;
  }

  // The parent's logging back to no outputs, so no test leaves a file sink to the next one.
  void TearDown() override {
    detail::LoggingSetup reset;
    reset.stdout_enabled = false;
    detail::configure_logging(reset);
  }
};

TEST_P(LogAtExit, ALineWrittenJustBeforeExitIsNotLost) {
  testing::TempDir dir;
  const auto path = dir.file("exit.log");
  ASSERT_EQ(run_child([&] {
              configure_file(path, GetParam());
              for (int i = 0; i < 100; ++i)
                get_logger("exit").info("before_exit", {{"i", i}});
            }),
            0);
  const auto lines = testing::read_lines(path);
  ASSERT_EQ(lines.size(), 100U);
  EXPECT_EQ(nlohmann::json::parse(lines.back())["i"], 99);
}

TEST_P(LogAtExit, AForkedChildWritesItsOwnLinesAndNotTheParents) {
  // Each fork comes right after a line, as a pre-fork master forks right after logging that
  // it is ready. The line wakes the parent's writer thread, which holds its sink's lock until
  // it waits again; a fork in that window once left the child's first log call waiting for
  // that lock for ever.
  testing::TempDir dir;
  const auto path = dir.file("fork.log");
  auto log = log_to_started(path);
  constexpr int kForks = 10;
  for (int i = 0; i < kForks; ++i) {
    if (i > 0)
      log.info("parent_before");
    ASSERT_EQ(run_child([&] {
                log.info("child_line", {{"pid", static_cast<long>(::getpid())}});
              }),
              0)
        << "fork " << i << "; " << kHung << " means the child hung";
  }
  log.info("parent_after");
  logging::flush();
  int parent_before = 0;
  int child = 0;
  int parent_after = 0;
  for (const auto& l : testing::read_lines(path)) {
    const auto j = nlohmann::json::parse(l);
    parent_before += j["event"] == "parent_before" ? 1 : 0;
    child += j["event"] == "child_line" ? 1 : 0;
    parent_after += j["event"] == "parent_after" ? 1 : 0;
  }
  EXPECT_EQ(parent_before, kForks);  // each written once, never again by a child
  EXPECT_EQ(child, kForks);
  EXPECT_EQ(parent_after, 1);
}

TEST_P(LogAtExit, AChildForkedWhileAnotherThreadLogsLogsAndNoLineIsLostOrDoubled) {
  // Another thread of the parent logs all the time, so at each fork it may be inside the
  // sink, holding its lock, which nobody in the child will ever release.
  testing::TempDir dir;
  const auto path = dir.file("busy.log");
  configure_file(path, GetParam(), std::size_t{1} << 30);  // never rotated here
  auto log = get_logger("fork");
  std::atomic<bool> stop{false};
  std::atomic<long> written{0};
  std::thread busy([&] {
    constexpr long kMaxLines = 200'000;  // what is read back stays quick to check
    for (long n = 0; !stop.load() && n < kMaxLines; ++n) {
      log.info("parent_line", {{"n", n}});
      written.store(n + 1);
      if (n % 64 == 63)  // a busy service's pace, not a flood of lines to read back
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  constexpr int kForks = 20;
  for (int i = 0; i < kForks; ++i) {
    while (written.load() < 100L * (i + 1))
      std::this_thread::yield();
    const int status = run_child([&] {
      log.info("child_line");
      logging::flush();
      // Not exit(): LeakSanitizer would report what the busy thread, which is not here, held.
      ::_exit(0);
    });
    EXPECT_EQ(status, 0) << "fork " << i << "; " << kHung << " means the child hung";
    if (status == kHung)
      break;  // one is enough: each costs 10 s
  }
  stop = true;
  busy.join();
  logging::flush();
  std::vector<int> seen(static_cast<std::size_t>(written.load()), 0);
  int child = 0;
  for (const auto& l : testing::read_lines(path)) {
    if (l.find("\"child_line\"") != std::string::npos) {
      ++child;
      continue;
    }
    const auto at = l.find("\"n\":");
    ASSERT_NE(at, std::string::npos) << l;
    ++seen.at(std::stoul(l.substr(at + 4)));
  }
  EXPECT_EQ(child, kForks);
  for (std::size_t n = 0; n < seen.size(); ++n)
    ASSERT_EQ(seen[n], 1) << "parent line " << n << " of " << seen.size();
}

TEST_P(LogAtExit, AForkedWorkersQuietLineReachesTheFileWhileItRuns) {
  testing::TempDir dir;
  const auto path = dir.file("worker.log");
  auto log = log_to_started(path);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // A pre-fork worker: it logs, then serves for a long time without exiting or flushing.
    log.info("worker_alive");
    std::this_thread::sleep_for(std::chrono::seconds(30));
    ::_exit(0);
  }
  // The line must arrive while the worker lives: through the child's own writer thread (the
  // parent's does not exist in the child), within its 250 ms bound or the async poll.
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const auto& l : testing::read_lines(path))
      seen = seen || nlohmann::json::parse(l)["event"] == "worker_alive";
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(seen) << "the worker's line was still buffered after 5 s";
}

TEST_P(LogAtExit, AWorkerThatReconfiguresLoggingAfterForkGoesOnLogging) {
  // gunicorn's post_fork pattern: each worker calls init() again. The parent's writer threads
  // do not exist in the child; what it inherited must be left alone, never flushed or
  // destroyed (that waits for those threads for ever).
  testing::TempDir dir;
  const auto parent_path = dir.file("parent.log");
  const auto child_path = dir.file("child.log");
  configure_file(parent_path, GetParam());
  get_logger("fork").info("parent_line");
  ASSERT_TRUE(wait_until_written(parent_path, "parent_line"));
  // Configured again, with no writer thread, and no log call since: this thread's cache still
  // holds the first state, with its writer threads, when fork() is called.
  detail::LoggingSetup quiet;
  quiet.stdout_enabled = false;
  detail::configure_logging(quiet);
  const pid_t pid = ::fork();
  if (pid == 0) {
    configure_file(child_path, GetParam());
    get_logger("fork").info("child_line");
    std::exit(0);
  }
  int status = -1;
  for (int i = 0; i < 200 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "the worker hung for 10 s after reconfiguring";
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto lines = testing::read_lines(child_path);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["event"], "child_line");
}

TEST_P(LogAtExit, ASigtermTakenBySigwaitOnAThreadOfTheServiceEndsItWithEveryLineWritten) {
  // The pattern of a service stopped by signal: logging (and its threads) started first, then
  // SIGTERM blocked and taken by sigwait on a thread of the service's own. The kernel gives a
  // signal sent to the process to any thread that does not block it; were one of the
  // library's, SIGTERM's default action would end the process there, its lines unwritten.
  testing::TempDir dir;
  const auto path = dir.file("signal.log");
  constexpr int kSignals = 20;
  ASSERT_EQ(run_child([&] {
              configure_file(path, GetParam());
              sigset_t term;
              sigemptyset(&term);
              sigaddset(&term, SIGTERM);
              (void)::pthread_sigmask(SIG_BLOCK, &term, nullptr);
              for (int i = 0; i < kSignals; ++i) {
                get_logger("signal").info("before_signal", {{"i", i}});
                std::thread taker([&term] {
                  int sig = 0;
                  (void)::sigwait(&term, &sig);
                });
                (void)::kill(::getpid(), SIGTERM);
                taker.join();
              }
              get_logger("signal").info("stopped");
            }),
            0);
  const auto lines = testing::read_lines(path);
  ASSERT_EQ(lines.size(), std::size_t{kSignals} + 1);
  EXPECT_EQ(nlohmann::json::parse(lines.back())["event"], "stopped");
}

INSTANTIATE_TEST_SUITE_P(SyncAndAsync, LogAtExit, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Async" : "Sync"; });

}  // namespace
}  // namespace o11y
