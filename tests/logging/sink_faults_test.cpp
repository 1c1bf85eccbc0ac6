#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/sink.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <o11y/context.hpp>
#include <o11y/trace.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/logging_fixture.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

// Throws a message of its own, so each test's reports are its own (reports are rate-limited
// per distinct message, process-wide).
class ThrowingSink final : public spdlog::sinks::sink {
 public:
  explicit ThrowingSink(std::string what = "sink on fire") : what_(std::move(what)) {}
  void log(const spdlog::details::log_msg& /*msg*/) override { throw std::runtime_error(what_); }
  void flush() override { throw std::runtime_error("flush on fire"); }
  void set_pattern(const std::string& /*p*/) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter> /*f*/) override {}

 private:
  std::string what_;
};

// A sink that takes its time, like a disk under pressure.
class SlowSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& /*msg*/) override {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    ++lines;
  }
  void flush() override {}
  void set_pattern(const std::string& /*p*/) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter> /*f*/) override {}
  std::atomic<int> lines{0};
};

using SinkFaults = testing::LoggingTest;

TEST_F(SinkFaults, AThrowingSinkNeverReachesTheCallerAndOtherSinksStillGetTheLine) {
  configure(debug(), {std::make_shared<ThrowingSink>()});
  const auto dropped_before = logging::dropped_lines();
  ::testing::internal::CaptureStderr();
  get_logger("t").info("survives");
  logging::flush();
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(capture_.lines_with_event("survives").size(), 1U);
  EXPECT_EQ(logging::dropped_lines(), dropped_before + 1);
  EXPECT_NE(err.find("o11y: logging: sink on fire"), std::string::npos) << err;
}

TEST_F(SinkFaults, ErrorReportsAreRateLimited) {
  configure(debug(), {std::make_shared<ThrowingSink>("flooded sink on fire")});
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 200; ++i)
    get_logger("t").info("flood");
  const auto err = ::testing::internal::GetCapturedStderr();
  std::size_t reports = 0;
  for (auto p = err.find("flooded sink on fire"); p != std::string::npos;
       p = err.find("flooded sink on fire", p + 1))
    ++reports;
  EXPECT_GE(reports, 1U);
  EXPECT_LE(reports, 10U);  // 200 failures, a handful of lines
}

TEST_F(SinkFaults, AFullDiskIsReportedAndTheServiceGoesOn) {
  // /dev/full accepts open() and fails every write with ENOSPC: a real full disk, no mock.
  auto full = std::make_shared<spdlog::sinks::basic_file_sink_mt>("/dev/full");
  configure(debug(), {full});
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 200; ++i)
    get_logger("t").info("to_full_disk", {{"i", i}, {"pad", std::string(100, 'x')}});
  logging::flush();
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("/dev/full"), std::string::npos) << err;
  EXPECT_EQ(capture_.lines_with_event("to_full_disk").size(), 200U);
}

TEST_F(SinkFaults, AnUnopenableLogFileIsReportedAndSkipped) {
  LoggingConfig cfg;
  cfg.file_path = "/dev/null/app.log";  // a parent that is a file: nothing can create it
  ::testing::internal::CaptureStderr();
  configure(cfg);
  get_logger("t").info("still_logging");
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("log file not opened"), std::string::npos) << err;
  EXPECT_EQ(capture_.lines_with_event("still_logging").size(), 1U);
}

using FileSink = testing::LoggingTest;

TEST_F(FileSink, WritesJsonLinesAndRotatesBySize) {
  testing::TempDir dir;
  LoggingConfig cfg;
  cfg.file_path = dir.file("app.log");
  cfg.file_max_bytes = 4096;
  cfg.file_max_files = 2;
  cfg.format = LogFormat::Console;  // the file is JSON whatever the console format
  configure(cfg);
  for (int i = 0; i < 100; ++i)
    get_logger("t").info("rotating", {{"i", i}, {"pad", std::string(60, 'p')}});
  logging::flush();
  const auto current = testing::read_lines(cfg.file_path);
  ASSERT_FALSE(current.empty());
  EXPECT_TRUE(std::filesystem::exists(dir.file("app.1.log")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("app.3.log")));
  for (const auto& line : current) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
  }
  // The newest line is the last one written.
  EXPECT_EQ(nlohmann::json::parse(current.back())["i"], 99);
}

// Every level on, and a log file in dir.
LoggingConfig debug_to_file(const testing::TempDir& dir, const std::string& name) {
  LoggingConfig cfg;
  cfg.level = Level::Debug;
  cfg.file_path = dir.file(name);
  return cfg;
}

TEST_F(FileSink, WarningsAreInTheFileWhenTheCallReturns) {
  testing::TempDir dir;
  const auto cfg = debug_to_file(dir, "app.log");
  configure(cfg);
  auto log = get_logger("t");
  log.info("buffered");
  log.warning("written_at_once");
  // No flush: a crash right after a warning must not lose it, nor the lines before it.
  const auto lines = testing::read_lines(cfg.file_path);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["event"], "buffered");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["event"], "written_at_once");
}

// The file's lines once it has at least n of them, or what it has after 5 s: for lines that
// reach the file without a flush.
std::vector<std::string> lines_within_5s(const std::string& path, std::size_t n) {
  std::vector<std::string> lines;
  for (int i = 0; i < 100 && lines.size() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    lines = testing::read_lines(path);
  }
  return lines;
}

TEST_F(FileSink, AQuietServicesInfoLinesReachTheFileWithoutAFlush) {
  testing::TempDir dir;
  const auto cfg = debug_to_file(dir, "quiet.log");
  configure(cfg);
  get_logger("t").info("lonely_line");
  // The writer thread takes a partly filled buffer after a quarter of a second.
  const auto lines = lines_within_5s(cfg.file_path, 1);
  ASSERT_EQ(lines.size(), 1U) << "still buffered after 5 s";
  EXPECT_EQ(nlohmann::json::parse(lines[0])["event"], "lonely_line");
}

// Voluntary context switches of each of this process's threads with this name: every wake-up
// from a wait is one.
std::vector<long> wakeups_of_threads_named(const std::string& name) {
  std::vector<long> out;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string c;
    std::getline(comm, c);
    if (c != name)
      continue;
    std::ifstream status(t.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        out.push_back(std::stol(line.substr(line.find(':') + 1)));
    }
  }
  return out;
}

// Logs a line and flushes, lets the writer threads named `thread` settle, and expects each to
// wake at most once in the next 1.3 s; then the next line must still reach `path` unflushed.
void expect_asleep_then_woken_by_a_line(const std::string& path, const std::string& thread,
                                        std::chrono::milliseconds settle) {
  auto log = get_logger("t");
  log.info("before_the_quiet");
  logging::flush();
  std::this_thread::sleep_for(settle);
  const auto before = wakeups_of_threads_named(thread);
  ASSERT_FALSE(before.empty()) << "no " << thread << " thread";
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  const auto after = wakeups_of_threads_named(thread);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i)
    EXPECT_LE(after[i] - before[i], 1) << thread << " thread " << i;
  log.info("after_the_quiet");
  const auto lines = lines_within_5s(path, 2);
  ASSERT_EQ(lines.size(), 2U) << "the line after the quiet spell is still held after 5 s";
  EXPECT_EQ(nlohmann::json::parse(lines[1])["event"], "after_the_quiet");
}

TEST_F(FileSink, AnIdleWriterThreadSleepsUntilALineComesInsteadOfPolling) {
  testing::TempDir dir;
  const auto cfg = debug_to_file(dir, "idle.log");
  configure(cfg);
  // Polling every 250 ms would be 5 wake-ups in the 1.3 s.
  expect_asleep_then_woken_by_a_line(cfg.file_path, "o11y-log-write",
                                     std::chrono::milliseconds(300));
}

TEST_F(FileSink, BuffersHandedToTheWriterThreadKeepEveryLineInOrder) {
  testing::TempDir dir;
  const auto cfg = debug_to_file(dir, "many.log");
  configure(cfg);
  constexpr int kLines = 20000;  // about 7 MB: dozens of 256 KiB hand-offs
  const std::string pad(300, 'p');
  auto log = get_logger("t");
  for (int i = 0; i < kLines; ++i)
    log.info("numbered", {{"i", i}, {"pad", pad}});
  logging::flush();
  const auto lines = testing::read_lines(cfg.file_path);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    const auto j = nlohmann::json::parse(lines[static_cast<std::size_t>(i)], nullptr, false);
    ASSERT_TRUE(j.is_object()) << "line " << i;
    ASSERT_EQ(j["i"], i);
  }
}

TEST_F(FileSink, AFailingWriteOnTheWriterThreadIsReportedAndEveryLostLineCounted) {
  // /dev/full opens and fails every write with ENOSPC. 2,000 lines of 400 bytes fill several
  // buffers, so the writer thread's writes fail as well as the final flush's.
  LoggingConfig cfg = debug();
  cfg.file_path = "/dev/full";
  configure(cfg);
  const auto before = logging::dropped_lines();
  ::testing::internal::CaptureStderr();
  const std::string pad(300, 'x');
  for (int i = 0; i < 2000; ++i)
    get_logger("t").info("to_dev_full", {{"i", i}, {"pad", pad}});
  logging::flush();
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("cannot write logs to /dev/full"), std::string::npos) << err;
  EXPECT_EQ(logging::dropped_lines() - before, 2000U);
  EXPECT_EQ(capture_.lines_with_event("to_dev_full").size(), 2000U);  // other sinks unharmed
}

using AsyncLogging = testing::LoggingTest;

LoggingConfig async_to_file(const testing::TempDir& dir) {
  LoggingConfig cfg;
  cfg.async = true;
  cfg.file_path = dir.file("async.log");
  return cfg;
}

TEST_F(AsyncLogging, DeliversEveryLineInOrderAfterFlush) {
  testing::TempDir dir;
  const auto cfg = async_to_file(dir);
  configure(cfg);
  constexpr int kLines = 5000;
  for (int i = 0; i < kLines; ++i)
    get_logger("a").info("queued", {{"i", i}});
  logging::flush();
  const auto lines = testing::read_lines(cfg.file_path);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; i += 499) {
    EXPECT_EQ(nlohmann::json::parse(lines[static_cast<std::size_t>(i)])["i"], i);
  }
  // Captures stay synchronous: a test sees its line without flushing.
  EXPECT_EQ(capture_.lines().size(), static_cast<std::size_t>(kLines));
}

TEST_F(AsyncLogging, AnIdleWriterThreadSleepsUntilALineComesInsteadOfPolling) {
  testing::TempDir dir;
  const auto cfg = async_to_file(dir);
  configure(cfg);
  // Past its 200 ms of polling; polling every 5 ms would be 260 wake-ups in the 1.3 s.
  expect_asleep_then_woken_by_a_line(cfg.file_path, "o11y-log-async",
                                     std::chrono::milliseconds(500));
}

// In async mode the writer thread renders a copy of the record; captures still render on the
// caller. Every kind of content must come out byte for byte the same both ways (the time is
// taken once, on the caller, so even the timestamps agree).
TEST_F(AsyncLogging, LinesRenderedOnTheWriterMatchTheCallersExactly) {
  testing::TempDir dir;
  const auto cfg = async_to_file(dir);
  configure(cfg);
  {
    auto span = start_span("request");
    set_custom_tags({{"tenant_id", "acme"}, {"event", "a tag named like a reserved key"}});
    add_log_context({{"request_id", "r-1"}, {"token", "secret-value"}});
    auto log = get_logger("orders.views").bind({{"worker", 3}, {"region", "eu \"west\""}});
    log.info("typed", {{"i", -42},
                       {"u", std::uint64_t{18'446'744'073'709'551'615ULL}},
                       {"d", 49.99},
                       {"nan", std::numeric_limits<double>::quiet_NaN()},
                       {"b", true},
                       {"s", "quote \" backslash \\ newline \n tab \t"},
                       {"utf8", "Zoë 日本 \xff\xfe"},
                       {"password", "hunter2"},
                       {"level", "a field named like a reserved key"},
                       {"tenant_id", "also a tag"}});
    log.warning("", {});
    log.exception("failed", std::runtime_error("boom \"quoted\""), {{"attempt", 2}});
    log.error("big", {{"blob", std::string(10'000, 'x')}});     // rendered on the caller instead
    log.info("sized", {{"blob", std::string(2'000, 'z')}});     // over the quick room: sized
    set_custom_tags({{"big_tag", std::string(100'000, 'y')}});  // so is a line with a big tag
    log.info("after a big tag");
  }
  get_logger("plain").debug("no span no tags");
  get_logger("plain").info("no span no tags");
  logging::flush();
  const auto written = testing::read_lines(cfg.file_path);
  const auto captured = capture_.lines();
  ASSERT_EQ(written.size(), captured.size());
  ASSERT_GE(written.size(), 5U);
  for (std::size_t i = 0; i < written.size(); ++i)
    EXPECT_EQ(written[i], captured[i]) << "line " << i;
}

TEST_F(AsyncLogging, DropPolicyCountsWhatAFullQueueDrops) {
  auto slow = std::make_shared<SlowSink>();
  LoggingConfig cfg;
  cfg.async = true;
  cfg.async_queue_bytes = 4096;
  cfg.async_drop_when_full = true;
  configure(cfg, {slow});
  const auto before = logging::dropped_lines();
  constexpr int kLines = 2000;
  for (int i = 0; i < kLines; ++i)
    get_logger("a").info("burst", {{"i", i}});
  logging::flush();
  const auto dropped = logging::dropped_lines() - before;
  EXPECT_GT(dropped, 0U);
  EXPECT_EQ(static_cast<std::uint64_t>(slow->lines.load()) + dropped,
            static_cast<std::uint64_t>(kLines));
}

// A record is first encoded into kQuickRecord bytes of the queue; a queue whose budget is
// smaller must still take every line (sized exactly), not drop them as too big.
TEST_F(AsyncLogging, AQueueSmallerThanTheQuickRoomStillTakesEveryLine) {
  testing::TempDir dir;
  auto cfg = async_to_file(dir);
  cfg.async_queue_bytes = 512;
  configure(cfg);
  const auto before = logging::dropped_lines();
  // Under a scope with a tag: the quick room is tried only for records with the current frame.
  const Scope scope;
  set_custom_tags({{"tenant_id", "acme"}});
  for (int i = 0; i < 300; ++i)
    get_logger("a").info("small_queue", {{"i", i}});
  logging::flush();
  EXPECT_EQ(logging::dropped_lines(), before);
  const auto lines = testing::read_lines(cfg.file_path);
  ASSERT_EQ(lines.size(), 300U);
  EXPECT_EQ(nlohmann::json::parse(lines.back())["i"], 299);
}

TEST_F(AsyncLogging, BlockPolicyLosesNothing) {
  auto slow = std::make_shared<SlowSink>();
  LoggingConfig cfg;
  cfg.async = true;
  cfg.async_queue_bytes = 4096;
  configure(cfg, {slow});
  const auto before = logging::dropped_lines();
  for (int i = 0; i < 300; ++i)
    get_logger("a").info("burst", {{"i", i}});
  logging::flush();
  EXPECT_EQ(slow->lines.load(), 300);
  EXPECT_EQ(logging::dropped_lines(), before);
}

}  // namespace
}  // namespace o11y

namespace o11y {
namespace {

// Collects what the console renderer produced.
class ConsoleCollector final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    std::lock_guard lock(mu);
    text.append(msg.payload.data(), msg.payload.size());
  }
  void flush() override {}
  void set_pattern(const std::string& /*p*/) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter> /*f*/) override {}
  std::mutex mu;
  std::string text;
};

std::string console_output(bool terminal) {
  auto sink = std::make_shared<ConsoleCollector>();
  detail::LoggingSetup setup;
  setup.config.format = LogFormat::Console;
  setup.stdout_enabled = false;
  setup.stdout_is_terminal = terminal;
  setup.extra_console_sinks.push_back(sink);
  detail::configure_logging(setup);
  get_logger("colour").info("painted");
  detail::LoggingSetup reset;
  reset.stdout_enabled = false;
  detail::configure_logging(reset);
  std::lock_guard lock(sink->mu);
  return sink->text;
}

TEST(ConsoleColours, OnlyOnATerminalAndNeverWithNoColor) {
  ::unsetenv("NO_COLOR");
  EXPECT_NE(console_output(true).find('\x1b'), std::string::npos);
  EXPECT_EQ(console_output(false).find('\x1b'), std::string::npos);
  ::setenv("NO_COLOR", "1", 1);
  EXPECT_EQ(console_output(true).find('\x1b'), std::string::npos);
  ::unsetenv("NO_COLOR");
}

}  // namespace
}  // namespace o11y
