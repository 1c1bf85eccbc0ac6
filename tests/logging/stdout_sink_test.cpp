// stdout that is not a terminal (a pipe to a container runtime or a log shipper) gets the log
// file's buffering: large writes, warnings at once, info lines within 250 ms, none lost.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <o11y/log.hpp>
#include <string>
#include <thread>
#include <vector>

#include "logging/pipeline.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;

/// Makes fd 1 a pipe for the test's length; a thread collects what arrives (after an
/// optional delay, to let the pipe fill).
class PipedStdout {
 public:
  explicit PipedStdout(std::chrono::milliseconds reader_delay = 0ms, bool non_blocking = false) {
    std::fflush(stdout);
    int fds[2] = {-1, -1};
    EXPECT_EQ(::pipe(fds), 0);
    if (non_blocking) {
      EXPECT_EQ(::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK), 0);
    }
    saved_ = ::dup(STDOUT_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[1]);
    read_end_ = fds[0];
    reader_ = std::thread([this, reader_delay] {
      std::this_thread::sleep_for(reader_delay);
      char buf[4096];
      for (;;) {
        const auto n = ::read(read_end_, buf, sizeof buf);
        if (n <= 0)
          return;
        std::lock_guard lock(mu_);
        text_.append(buf, static_cast<std::size_t>(n));
      }
    });
  }
  ~PipedStdout() {
    join_reader();
    ::close(read_end_);
  }
  PipedStdout(const PipedStdout&) = delete;
  PipedStdout& operator=(const PipedStdout&) = delete;
  PipedStdout(PipedStdout&&) = delete;
  PipedStdout& operator=(PipedStdout&&) = delete;

  /// Gives fd 1 back; the reader then sees end-of-file once it has read everything.
  void restore() {
    if (saved_ < 0)
      return;
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  void join_reader() {
    restore();
    if (reader_.joinable())
      reader_.join();
  }

  [[nodiscard]] std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    std::size_t at = 0;
    for (auto nl = text_.find('\n'); nl != std::string::npos; nl = text_.find('\n', at)) {
      out.push_back(text_.substr(at, nl - at));
      at = nl + 1;
    }
    return out;
  }

  /// Whether a line with this event arrived within `limit`.
  bool wait_for_event(const std::string& event, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    do {
      for (const auto& l : lines()) {
        if (l.find("\"event\":\"" + event + "\"") != std::string::npos)
          return true;
      }
      std::this_thread::sleep_for(5ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }

 private:
  int saved_ = -1;
  int read_end_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::string text_;
};

void log_to_piped_stdout() {
  detail::LoggingSetup setup;
  setup.config.level = Level::Debug;
  setup.config.format = LogFormat::Json;
  setup.stdout_enabled = true;
  setup.stdout_is_terminal = false;
  detail::configure_logging(setup);
}

void log_nowhere() {
  detail::LoggingSetup setup;
  setup.stdout_enabled = false;
  detail::configure_logging(setup);
}

class StdoutSink : public ::testing::Test {
 protected:
  void TearDown() override { log_nowhere(); }
};

TEST_F(StdoutSink, APipedStdoutGetsAWarningBeforeTheCallReturns) {
  PipedStdout out;
  log_to_piped_stdout();
  auto log = get_logger("t");
  log.info("before_the_warning");
  log.warning("the_warning");
  // Written (with the info line before it) by the time warning() returned; the reader only
  // needs to pick it up. Checked once stdout is back, so a failure's message is seen.
  const bool arrived = out.wait_for_event("the_warning", 1000ms);
  const auto lines = out.lines();
  log_nowhere();
  out.join_reader();
  EXPECT_TRUE(arrived);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_NE(lines[0].find("before_the_warning"), std::string::npos);
}

TEST_F(StdoutSink, AQuietServicesInfoLineReachesAPipedStdoutWithoutAFlush) {
  PipedStdout out;
  log_to_piped_stdout();
  get_logger("t").info("quiet_line");
  // The writer thread takes a partly filled buffer after 250 ms; 2 s leaves room for a
  // loaded machine.
  const bool arrived = out.wait_for_event("quiet_line", 2000ms);
  log_nowhere();
  out.join_reader();
  EXPECT_TRUE(arrived);
}

TEST_F(StdoutSink, ANonBlockingStdoutPipeThatFillsUpLosesNoLineAndKeepsTheirOrder) {
  // A parent made the pipe non-blocking and reads it late: write(2) fails with EAGAIN until
  // the reader catches up. 20,000 lines of ~150 bytes are far more than a pipe holds (64 KiB).
  PipedStdout out(300ms, /*non_blocking=*/true);
  log_to_piped_stdout();
  const auto dropped_before = logging::dropped_lines();
  auto log = get_logger("t");
  constexpr int kLines = 20000;
  for (int i = 0; i < kLines; ++i)
    log.info("filling", {{"i", i}, {"pad", std::string(60, 'p')}});
  logging::flush();
  log_nowhere();
  out.join_reader();
  const auto lines = out.lines();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    const auto j = nlohmann::json::parse(lines[static_cast<std::size_t>(i)], nullptr, false);
    ASSERT_TRUE(j.is_object()) << lines[static_cast<std::size_t>(i)];
    ASSERT_EQ(j["i"], i);
  }
  EXPECT_EQ(logging::dropped_lines(), dropped_before);
}

}  // namespace
}  // namespace o11y
