#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <o11y/context.hpp>
#include <o11y/log.hpp>
#include <o11y/propagation.hpp>
#include <o11y/trace.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/logging_fixture.hpp"

namespace o11y {
namespace {

using Logs = testing::LoggingTest;

TEST_F(Logs, InfoWritesOneJsonLineWithTheDocumentedFieldsInOrder) {
  set_custom_tags({{"tenant_id", "acme"}});
  auto log = get_logger("orders.views");
  auto span = start_span("request");
  log.info("order_placed", {{"order_id", 123}, {"amount", 49.99}});
  const int line = __LINE__ - 1;
  span.end();

  const auto lines = capture_.lines();
  ASSERT_EQ(lines.size(), 1U);
  const auto j = only_record();
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["logger"], "orders.views");
  EXPECT_EQ(j["event"], "order_placed");
  EXPECT_EQ(j["order_id"], 123);
  EXPECT_DOUBLE_EQ(j["amount"].get<double>(), 49.99);
  EXPECT_EQ(j["tenant_id"], "acme");
  EXPECT_EQ(j["trace_id"], span.trace_id());
  EXPECT_EQ(j["span_id"], span.span_id());
  EXPECT_EQ(j["filename"], "logger_test.cpp");
  EXPECT_EQ(j["lineno"], line);
  // Stable order: the documented example's keys appear in exactly this sequence.
  const std::vector<std::string> order = {
      "\"timestamp\"", "\"level\"",    "\"logger\"",  "\"event\"",    "\"order_id\"", "\"amount\"",
      "\"tenant_id\"", "\"trace_id\"", "\"span_id\"", "\"filename\"", "\"lineno\""};
  std::size_t pos = 0;
  for (const auto& key : order) {
    const auto at = lines[0].find(key, pos);
    ASSERT_NE(at, std::string::npos) << key << " out of order in " << lines[0];
    pos = at;
  }
}

// The base name is remembered per thread for the last file seen; lines that alternate
// between files, and another thread's lines, must still each name their own.
TEST_F(Logs, EachLineNamesItsOwnFileWhenCallsAlternateBetweenFiles) {
  auto log = get_logger("files");
  using Loc = Logger::Loc;
  const std::vector<std::pair<Loc, std::string>> sites = {
      {Loc::current("src/orders/views.cpp", 10), "views.cpp"},
      {Loc::current("/opt/lib/payments.cpp", 20), "payments.cpp"},
      {Loc::current("src/orders/views.cpp", 11), "views.cpp"},
      {Loc::current("main.cpp", 30), "main.cpp"},
      {Loc::current("src/orders/views.cpp", 12), "views.cpp"}};
  for (const auto& [loc, file] : sites)
    log.info("here", {}, loc);
  std::thread([&] { log.info("there", {}, Loc::current("worker/jobs.cpp", 40)); }).join();
  log.info("back", {}, sites[1].first);

  const auto lines = capture_.lines();
  ASSERT_EQ(lines.size(), sites.size() + 2);
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const auto j = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(j["filename"], sites[i].second) << lines[i];
    EXPECT_EQ(j["lineno"], sites[i].first.line()) << lines[i];
  }
  EXPECT_EQ(nlohmann::json::parse(lines[sites.size()])["filename"], "jobs.cpp");
  EXPECT_EQ(nlohmann::json::parse(lines.back())["filename"], "payments.cpp");
}

TEST_F(Logs, TimestampIsUtcIsoWithMicroseconds) {
  get_logger("t").info("tick");
  const std::string ts = only_record()["timestamp"];
  ASSERT_EQ(ts.size(), 27U) << ts;  // 2026-02-12T10:30:45.123456Z
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts[19], '.');
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_GE(ts.substr(0, 4), "2024");
}

// "2026-02-12T10:30:45.123456Z" as microseconds since the epoch.
std::int64_t micros_of(const std::string& ts) {
  std::tm tm{};
  tm.tm_year = std::stoi(ts.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(ts.substr(5, 2)) - 1;
  tm.tm_mday = std::stoi(ts.substr(8, 2));
  tm.tm_hour = std::stoi(ts.substr(11, 2));
  tm.tm_min = std::stoi(ts.substr(14, 2));
  tm.tm_sec = std::stoi(ts.substr(17, 2));
  return static_cast<std::int64_t>(::timegm(&tm)) * 1'000'000 + std::stoll(ts.substr(20, 6));
}

std::int64_t system_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_F(Logs, TimestampsFollowTheSystemClockAndNeverGoBackwardsOnAThread) {
  // Lines are stamped from the time-stamp counter, anchored to the wall clock once a second.
  const auto before = system_micros();
  auto log = get_logger("t");
  for (int i = 0; i < 2000; ++i) {
    log.info("stamped", {{"i", i}});
    if (i % 500 == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(400));  // across anchor refreshes
  }
  const auto after = system_micros();
  std::int64_t previous = 0;
  for (const auto& line : capture_.lines_with_event("stamped")) {
    const auto t = micros_of(nlohmann::json::parse(line)["timestamp"]);
    ASSERT_GE(t, previous) << line;
    EXPECT_GE(t, before - 2000) << line;  // a tick of the anchor's skew, 2 ms of room
    EXPECT_LE(t, after + 2000) << line;
    previous = t;
  }
  EXPECT_EQ(capture_.lines_with_event("stamped").size(), 2000U);
}

TEST_F(Logs, WithoutASpanThereAreNoTraceIds) {
  get_logger("t").info("no_span");
  const auto j = only_record();
  EXPECT_FALSE(j.contains("trace_id"));
  EXPECT_FALSE(j.contains("span_id"));
}

TEST_F(Logs, TraceIdsAreZeroPaddedHex) {
  const auto parent =
      propagation::extract_values("00-0000000000000000000000000000000a-000000000000000b-01", "");
  auto span = start_span("s", {.parent = parent});
  get_logger("t").info("padded");
  const auto j = only_record();
  EXPECT_EQ(j["trace_id"], "0000000000000000000000000000000a");
  EXPECT_EQ(j["span_id"].get<std::string>().size(), 16U);
}

TEST_F(Logs, LogContextReachesLogsAndScopesUndoIt) {
  auto log = get_logger("t");
  {
    Scope request;
    add_log_context({{"checkout_variant", "B"}});
    log.info("inside");
  }
  log.info("outside");
  const auto r = records();
  ASSERT_EQ(r.size(), 2U);
  EXPECT_EQ(r[0]["checkout_variant"], "B");
  EXPECT_FALSE(r[1].contains("checkout_variant"));
}

TEST_F(Logs, AttachedContextOnAnotherThreadCarriesTagsAndTraceIds) {
  auto span = start_span("parent");
  set_custom_tags({{"tenant_id", "acme"}});
  auto ctx = Context::current();
  std::thread worker([ctx] {
    auto attached = ctx.attach();
    get_logger("worker").info("job_started");
  });
  worker.join();
  const auto j = only_record();
  EXPECT_EQ(j["tenant_id"], "acme");
  EXPECT_EQ(j["trace_id"], span.trace_id());
}

TEST_F(Logs, BindAddsFieldsToEveryLine) {
  auto billing = get_logger("orders").bind({{"component", "billing"}});
  auto more = billing.bind({{"region", "eu"}});
  billing.info("a");
  more.info("b", {{"n", 1}});
  const auto r = records();
  ASSERT_EQ(r.size(), 2U);
  EXPECT_EQ(r[0]["component"], "billing");
  EXPECT_FALSE(r[0].contains("region"));
  EXPECT_EQ(r[1]["component"], "billing");
  EXPECT_EQ(r[1]["region"], "eu");
  EXPECT_EQ(r[1]["logger"], "orders");
}

TEST_F(Logs, ExceptionLogsAtErrorWithTypeAndMessage) {
  try {
    throw std::out_of_range("card expired");
  } catch (const std::exception& ex) {
    get_logger("pay").exception("payment_failed", ex, {{"order_id", 7}});
  }
  const auto j = only_record();
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["exception_type"], "std::out_of_range");
  EXPECT_EQ(j["exception_message"], "card expired");
  EXPECT_EQ(j["order_id"], 7);
}

TEST_F(Logs, ReservedKeysAreKeptUnderASuffixedName) {
  set_custom_tags({{"event", "from_tag"}});
  get_logger("t").info("real_event", {{"level", "user_level"}, {"trace_id", "fake"}});
  const auto j = only_record();
  EXPECT_EQ(j["event"], "real_event");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["level_field"], "user_level");
  EXPECT_EQ(j["trace_id_field"], "fake");
  EXPECT_EQ(j["event_tag"], "from_tag");
}

TEST_F(Logs, AFieldAlsoSetAsATagKeepsBothValues) {
  set_custom_tags({{"tenant_id", "from_tag"}});
  get_logger("t").info("e", {{"tenant_id", "from_call"}});
  const auto j = only_record();
  EXPECT_EQ(j["tenant_id"], "from_call");
  EXPECT_EQ(j["tenant_id_tag"], "from_tag");
}

TEST_F(Logs, EveryLevelHasItsName) {
  auto log = get_logger("t");
  log.debug("d");
  log.info("i");
  log.warning("w");
  log.error("e");
  log.critical("c");
  const auto r = records();
  ASSERT_EQ(r.size(), 5U);
  EXPECT_EQ(r[0]["level"], "debug");
  EXPECT_EQ(r[1]["level"], "info");
  EXPECT_EQ(r[2]["level"], "warning");
  EXPECT_EQ(r[3]["level"], "error");
  EXPECT_EQ(r[4]["level"], "critical");
}

TEST_F(Logs, RuntimeFieldsThroughLog) {
  std::vector<Field> fields{{"a", 1}, {"b", "two"}};
  get_logger("t").log(Level::Warning, "dynamic", fields);
  const auto j = only_record();
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["b"], "two");
}

TEST_F(Logs, RequestLinesTakeTheirLevelFromTheStatus) {
  auto log = get_logger("http");
  logging::log_request(log, "GET", "/orders/7", "/orders/{id}", 200, 1.5);
  logging::log_request(log, "GET", "/missing", "", 404, 0.2);
  logging::log_request(log, "POST", "/orders", "/orders", 503, 12.0);
  const auto r = records();
  ASSERT_EQ(r.size(), 3U);
  EXPECT_EQ(r[0]["level"], "info");
  EXPECT_EQ(r[0]["event"], "request_finished");
  EXPECT_EQ(r[0]["route"], "/orders/{id}");
  EXPECT_EQ(r[0]["status"], 200);
  EXPECT_DOUBLE_EQ(r[0]["duration_ms"].get<double>(), 1.5);
  EXPECT_EQ(r[1]["level"], "warning");
  EXPECT_EQ(r[2]["level"], "error");
}

TEST_F(Logs, RequestLinesCarryTheFirst32ExtraFieldsAfterTheirOwn) {
  auto log = get_logger("http");
  const Field two[] = {{"user", "u-7"}, {"cache", "hit"}};
  logging::log_request(log, "GET", "/orders/7", "/orders/{id}", 200, 1.5, two);
  std::vector<std::string> keys;
  std::vector<Field> many;
  for (int i = 0; i < 40; ++i)
    keys.push_back("extra_" + std::to_string(i));
  for (int i = 0; i < 40; ++i)
    many.push_back({keys[static_cast<std::size_t>(i)], i});
  logging::log_request(log, "GET", "/orders/8", "/orders/{id}", 200, 2.5, many);

  const auto r = records();
  ASSERT_EQ(r.size(), 2U);
  EXPECT_EQ(r[0]["route"], "/orders/{id}");
  EXPECT_EQ(r[0]["user"], "u-7");
  EXPECT_EQ(r[0]["cache"], "hit");
  EXPECT_EQ(r[1]["status"], 200);
  EXPECT_DOUBLE_EQ(r[1]["duration_ms"].get<double>(), 2.5);
  EXPECT_EQ(r[1]["extra_0"], 0);
  EXPECT_EQ(r[1]["extra_31"], 31);
  EXPECT_FALSE(r[1].contains("extra_32"));
}

TEST_F(Logs, CaptureFindsLinesByEvent) {
  auto log = get_logger("t");
  log.info("wanted", {{"n", 1}});
  log.info("other");
  log.info("wanted", {{"n", 2}});
  EXPECT_EQ(capture_.lines_with_event("wanted").size(), 2U);
  capture_.clear();
  EXPECT_TRUE(capture_.lines().empty());
}

using Levels = testing::LoggingTest;

TEST_F(Levels, LongestMatchingPrefixWins) {
  LoggingConfig cfg;
  cfg.level = Level::Info;
  cfg.levels = {{"orders", Level::Debug}, {"orders.payments", Level::Warning}};
  configure(cfg);
  EXPECT_TRUE(get_logger("orders").enabled(Level::Debug));
  EXPECT_TRUE(get_logger("orders.views").enabled(Level::Debug));
  EXPECT_FALSE(get_logger("orders.payments").enabled(Level::Info));
  EXPECT_FALSE(get_logger("orders.payments.card").enabled(Level::Info));
  EXPECT_TRUE(get_logger("orders.payments.card").enabled(Level::Warning));
  EXPECT_FALSE(get_logger("ordersx").enabled(Level::Debug));  // a prefix ends at a dot
  EXPECT_FALSE(get_logger("inventory").enabled(Level::Debug));
  EXPECT_TRUE(get_logger("inventory").enabled(Level::Info));
}

TEST_F(Levels, DisabledLevelWritesNothing) {
  LoggingConfig cfg;
  cfg.level = Level::Warning;
  configure(cfg);
  auto log = get_logger("quiet");
  log.debug("d", {{"x", 1}});
  log.info("i");
  log.warning("w");
  ASSERT_EQ(records().size(), 1U);
  EXPECT_EQ(records()[0]["event"], "w");
}

TEST_F(Levels, ExistingLoggersFollowReconfiguration) {
  auto log = get_logger("late.change");
  EXPECT_TRUE(log.enabled(Level::Debug));
  LoggingConfig cfg;
  cfg.level = Level::Error;
  configure(cfg);
  EXPECT_FALSE(log.enabled(Level::Warning));
  EXPECT_TRUE(log.enabled(Level::Error));
}

TEST_F(Levels, OffDisablesEverything) {
  LoggingConfig cfg;
  cfg.levels = {{"muted", Level::Off}};
  configure(cfg);
  get_logger("muted").critical("nothing");
  EXPECT_TRUE(capture_.lines().empty());
}

TEST(LoggerNames, AreInferredFromTheSourcePath) {
  EXPECT_EQ(logging::logger_name_for_path("src/orders/views.cpp"), "orders.views");
  EXPECT_EQ(logging::logger_name_for_path("/home/me/shop/src/orders/views.cpp"), "orders.views");
  EXPECT_EQ(logging::logger_name_for_path("/home/me/shop/orders/views.cpp"), "orders.views");
  EXPECT_EQ(logging::logger_name_for_path("orders/payments/card.cc"), "orders.payments.card");
  EXPECT_EQ(logging::logger_name_for_path("./main.cpp"), "main");
  EXPECT_EQ(logging::logger_name_for_path(""), "root");
}

TEST(LoggerNames, GetLoggerNamesTheCallingFile) {
  EXPECT_EQ(get_logger().name(), "logging.logger_test");  // tests/logging/logger_test.cpp
  EXPECT_EQ(&get_logger().name(), &get_logger().name());  // one shared core per file
}

}  // namespace
}  // namespace o11y
