// spdlog sinks added as outputs through <o11y/spdlog.hpp>: what a user of spdlog expects of a
// library built on it.
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <o11y/log.hpp>
#include <o11y/spdlog.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/logging_fixture.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

/// A user's own sink: keeps what it is given, formatted by whatever formatter it has.
class Collect final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t out;
    formatter_->format(msg, out);
    std::string line(out.data(), out.size());
    if (!line.empty() && line.back() == '\n')
      line.pop_back();
    lines_.push_back(std::move(line));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

class Throwing final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& /*msg*/) override {
    throw std::runtime_error("disk on fire");
  }
  void flush_() override {}
};

using SpdlogSinks = testing::LoggingTest;

TEST_F(SpdlogSinks, AnAddedSinkReceivesEachLineRenderedAsJsonOrForTheConsole) {
  auto json = std::make_shared<Collect>();
  auto console = std::make_shared<Collect>();
  logging::add_sink(json);
  logging::add_sink(console, LogFormat::Console);
  get_logger("sinks").info("order_placed", {{"order_id", 123}});
  logging::flush();
  ASSERT_EQ(json->lines().size(), 1U);
  const auto j = nlohmann::json::parse(json->lines()[0]);
  EXPECT_EQ(j["event"], "order_placed");
  EXPECT_EQ(j["order_id"], 123);
  ASSERT_EQ(console->lines().size(), 1U);
  EXPECT_NE(console->lines()[0].find("order_placed"), std::string::npos);
  EXPECT_EQ(console->lines()[0].find("\"event\""), std::string::npos) << console->lines()[0];
  logging::remove_sink(json);
  logging::remove_sink(console);
}

TEST_F(SpdlogSinks, ASinkStaysThroughReconfigurationUntilRemovedAndIsAddedOnce) {
  auto sink = std::make_shared<Collect>();
  logging::add_sink(sink);
  logging::add_sink(sink);
  configure(debug());  // what init() does again
  get_logger("sinks").info("kept");
  logging::remove_sink(sink);
  get_logger("sinks").info("after_removal");
  logging::flush();
  ASSERT_EQ(sink->lines().size(), 1U);
  EXPECT_NE(sink->lines()[0].find("\"event\":\"kept\""), std::string::npos);
}

TEST_F(SpdlogSinks, SpdlogsRotatingFileSinkWritesTheJsonLines) {
  testing::TempDir dir;
  auto file =
      std::make_shared<spdlog::sinks::rotating_file_sink_mt>(dir.file("spd.log"), 1 << 20, 2);
  logging::add_sink(file);
  for (int i = 0; i < 3; ++i)
    get_logger("sinks").info("rotating_line", {{"i", i}});
  logging::flush();
  logging::remove_sink(file);
  const auto lines = testing::read_lines(dir.file("spd.log"));
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_EQ(nlohmann::json::parse(lines[2])["i"], 2);
}

TEST_F(SpdlogSinks, InAsyncModeTheWriterThreadFeedsTheSink) {
  auto config = debug();
  config.async = true;
  configure(config);
  auto sink = std::make_shared<Collect>();
  logging::add_sink(sink);
  for (int i = 0; i < 100; ++i)
    get_logger("sinks").info("queued", {{"i", i}});
  logging::flush();
  logging::remove_sink(sink);
  const auto lines = sink->lines();
  ASSERT_EQ(lines.size(), 100U);
  EXPECT_EQ(nlohmann::json::parse(lines[99])["i"], 99);
}

TEST_F(SpdlogSinks, AThrowingSinkNeverReachesTheCallerAndTheLineIsCounted) {
  auto bad = std::make_shared<Throwing>();
  logging::add_sink(bad);
  const auto before = logging::dropped_lines();
  ::testing::internal::CaptureStderr();
  EXPECT_NO_THROW(get_logger("sinks").error("still_fine"));
  logging::flush();
  (void)::testing::internal::GetCapturedStderr();
  EXPECT_GT(logging::dropped_lines(), before);
  EXPECT_EQ(capture_.lines_with_event("still_fine").size(), 1U);  // other outputs got it
  logging::remove_sink(bad);
}

TEST_F(SpdlogSinks, ANullSinkIsRefused) {
  EXPECT_THROW(logging::add_sink(nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace o11y
