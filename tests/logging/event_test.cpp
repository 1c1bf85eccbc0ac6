// The event() form of a log call: names fixed at compile time, values alone at the call. It
// must write exactly the line the field form writes, whichever path the line takes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <nlohmann/json.hpp>
#include <o11y/context.hpp>
#include <o11y/log.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "logging/pipeline.hpp"
#include "support/logging_fixture.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

constexpr auto kOrderPlaced = event("order_placed", "order_id", "amount", "currency", "paid");
constexpr auto kStarted = event("started");

TEST(EventSpec, HoldsItsNameAndKeysInOrder) {
  EXPECT_EQ(kOrderPlaced.name(), "order_placed");
  ASSERT_EQ(kOrderPlaced.size(), 4U);
  EXPECT_EQ(kOrderPlaced.key(0), "order_id");
  EXPECT_EQ(kOrderPlaced.key(1), "amount");
  EXPECT_EQ(kOrderPlaced.key(2), "currency");
  EXPECT_EQ(kOrderPlaced.key(3), "paid");
  EXPECT_EQ(kStarted.name(), "started");
  EXPECT_EQ(kStarted.size(), 0U);
}

// One value per key, checked by the compiler: a call with one too few or too many does not
// build (an empty key, a key given twice or an empty name neither, as event() is consteval).
TEST(EventValues, TakeExactlyOneValuePerKey) {
  EXPECT_TRUE((std::is_constructible_v<EventValues<2>, int, double>));
  EXPECT_TRUE((std::is_constructible_v<EventValues<2>, const char*, std::string>));
  EXPECT_FALSE((std::is_constructible_v<EventValues<2>, int>));
  EXPECT_FALSE((std::is_constructible_v<EventValues<2>, int, int, int>));
  EXPECT_FALSE((std::is_constructible_v<EventValues<1>, std::vector<int>>));
  EXPECT_TRUE((std::is_default_constructible_v<EventValues<0>>));
  EXPECT_FALSE((std::is_default_constructible_v<EventValues<1>>));
}

// Two JSON lines equal but for their timestamps.
void expect_same_but_time(const std::string& a, const std::string& b) {
  auto ja = nlohmann::json::parse(a);
  auto jb = nlohmann::json::parse(b);
  ASSERT_TRUE(ja.contains("timestamp"));
  ASSERT_TRUE(jb.contains("timestamp"));
  ja.erase("timestamp");
  jb.erase("timestamp");
  EXPECT_EQ(ja.dump(), jb.dump());
}

using EventForm = testing::LoggingTest;

TEST_F(EventForm, WritesTheLineTheFieldFormWrites) {
  auto span = start_span("request");
  set_custom_tags({{"tenant_id", "acme"}});
  const auto log = get_logger("orders.views").bind({{"worker", 3}});
  const std::string customer_currency = "EUR";
  // clang-format off
  log.info<kOrderPlaced>({123, 49.99, customer_currency, true}); log.info("order_placed", {{"order_id", 123}, {"amount", 49.99}, {"currency", customer_currency}, {"paid", true}});  // NOLINT
  // clang-format on
  log.warning<kStarted>();
  const auto lines = capture_.lines();
  ASSERT_EQ(lines.size(), 3U);
  expect_same_but_time(lines[0], lines[1]);
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["event"], "order_placed");
  EXPECT_EQ(first["order_id"], 123);
  EXPECT_EQ(first["currency"], "EUR");
  EXPECT_EQ(first["tenant_id"], "acme");
  EXPECT_EQ(first["worker"], 3);
  EXPECT_EQ(first["span_id"].get<std::string>().size(), 16U);
  EXPECT_EQ(first["filename"], "event_test.cpp");
  const auto started = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(started["event"], "started");
  EXPECT_EQ(started["level"], "warning");
}

TEST_F(EventForm, ADisabledLevelWritesNothing) {
  LoggingConfig cfg;
  cfg.level = Level::Info;
  configure(cfg);
  get_logger("quiet").debug<kOrderPlaced>({1, 2.0, "x", false});
  get_logger("quiet").info<kStarted>();
  const auto lines = capture_.lines();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["event"], "started");
}

// Without a capture every output is the writer's, so an event's record takes the queue's
// quick path: its names travel as one pointer and its time as the clock's reading, which the
// writer turns into the same line.
class QueuedEventForm : public ::testing::Test {
 protected:
  void TearDown() override { configure({}); }
  static void configure(LoggingConfig cfg) {
    detail::LoggingSetup setup;
    setup.config = std::move(cfg);
    setup.stdout_enabled = false;
    detail::configure_logging(setup);
  }
  Scope isolate_;
};

TEST_F(QueuedEventForm, TheWriterRendersTheLineTheFieldFormWrites) {
  for (const std::size_t queue_bytes : {std::size_t{1} << 20U, std::size_t{512}}) {
    SCOPED_TRACE(queue_bytes);  // 512: too small for the quick room, so sized on the caller
    testing::TempDir dir;
    LoggingConfig cfg;
    cfg.async = true;
    cfg.async_queue_bytes = queue_bytes;
    cfg.file_path = dir.file("events.log");
    configure(cfg);
    {
      auto span = start_span("request");
      set_custom_tags({{"tenant_id", "acme"}});
      add_log_context({{"request_id", "r-1"}});
      const auto log = get_logger("orders.views").bind({{"worker", 3}});
      const std::string note(100, 'n');
      for (int i = 0; i < 50; ++i) {
        // clang-format off
        log.info<kOrderPlaced>({i, 49.99, note, i % 2 == 0}); log.info("order_placed", {{"order_id", i}, {"amount", 49.99}, {"currency", note}, {"paid", i % 2 == 0}});  // NOLINT
        // clang-format on
      }
    }
    logging::flush();
    const auto lines = testing::read_lines(cfg.file_path);
    ASSERT_EQ(lines.size(), 100U);
    for (std::size_t i = 0; i < lines.size(); i += 2)
      expect_same_but_time(lines[i], lines[i + 1]);
    const auto last = nlohmann::json::parse(lines[98]);
    EXPECT_EQ(last["order_id"], 49);
    EXPECT_EQ(last["request_id"], "r-1");
    EXPECT_EQ(last["trace_id"].get<std::string>().size(), 32U);
  }
}

// The caller leaves its line's time as the clock's reading; the writer's stamp must still be
// the time of the call (not of the writing), and one thread's lines must never go back.
TEST_F(QueuedEventForm, TheWriterStampsEachLineWithTheTimeOfItsCall) {
  testing::TempDir dir;
  LoggingConfig cfg;
  cfg.async = true;
  cfg.file_path = dir.file("stamped.log");
  configure(cfg);
  const auto unix_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const Scope scope;
  set_custom_tags({{"tenant_id", "acme"}});  // the quick path needs a current frame
  const auto before = unix_us();
  for (int i = 0; i < 200; ++i)
    get_logger("clock").info("tick", {{"i", i}});
  const auto after = unix_us();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // written well after the calls
  logging::flush();
  const auto lines = testing::read_lines(cfg.file_path);
  ASSERT_EQ(lines.size(), 200U);
  std::int64_t previous = 0;
  for (const auto& line : lines) {
    // "2026-02-12T10:30:45.123456Z": the microseconds since the epoch, from the string.
    const std::string ts = nlohmann::json::parse(line)["timestamp"];
    std::tm tm{};
    ASSERT_NE(strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << ts;
    const std::int64_t us =
        static_cast<std::int64_t>(timegm(&tm)) * 1'000'000 + std::stoll(ts.substr(20, 6));
    // Within the counter's calibration (some 15 us a second), far from the 50 ms after.
    EXPECT_GE(us, before - 1'000) << ts;
    EXPECT_LE(us, after + 1'000) << ts;
    EXPECT_GE(us, previous) << "went back in time: " << ts;
    previous = us;
  }
}

}  // namespace
}  // namespace o11y
