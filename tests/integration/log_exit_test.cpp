// Lines written just before exit(), and lines written by fork()ed children, reach the file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <nlohmann/json.hpp>
#include <o11y/log.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "logging/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

void configure_file(const std::string& path, bool async) {
  detail::LoggingSetup setup;
  setup.config.file_path = path;
  setup.config.async = async;
  setup.stdout_enabled = false;
  detail::configure_logging(setup);
}

int run_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    std::exit(0);  // normal exit: atexit handlers run, nothing else flushes for us
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Waits until a line with this event is in the file. Written there by the writer thread, it
// shows that thread has started: GCC 12's ASan allocator is not fork-safe, and a fork() while
// a new thread is still starting (allocating) leaves the child's allocator locked for ever.
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
  // Logging to path in this test's mode, its writer thread started: "parent_before" is in the
  // file already.
  Logger log_to_started(const std::string& path) {
    configure_file(path, GetParam());
    auto log = get_logger("fork");
    log.info("parent_before");
    EXPECT_TRUE(wait_until_written(path, "parent_before"));
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
  testing::TempDir dir;
  const auto path = dir.file("fork.log");
  auto log = log_to_started(path);
  ASSERT_EQ(run_child([&] {
              log.info("child_line", {{"pid", static_cast<long>(::getpid())}});
            }),
            0);
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
  EXPECT_EQ(parent_before, 1);  // never written twice, by parent and child
  EXPECT_EQ(child, 1);
  EXPECT_EQ(parent_after, 1);
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

INSTANTIATE_TEST_SUITE_P(SyncAndAsync, LogAtExit, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Async" : "Sync"; });

}  // namespace
}  // namespace o11y
