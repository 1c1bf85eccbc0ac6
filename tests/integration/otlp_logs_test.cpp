// Log records over OTLP, configured through init() as a service would, against the receiver
// built on OpenTelemetry JS's generated types and against a scripted collector.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <o11y/context.hpp>
#include <o11y/log.hpp>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/collector.hpp"
#include "support/node_receiver.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

json attr(const json& attrs, std::string_view key) {
  for (const auto& a : attrs) {
    if (a["key"] == key)
      return a["value"];
  }
  return nullptr;
}

/// Every log record of every request, by event name, with its scope and resource.
std::multimap<std::string, json> records_by_event(const std::vector<json>& requests) {
  std::multimap<std::string, json> out;
  for (const auto& r : requests) {
    if (!r.contains("request") || r.value("path", "") != "/v1/logs")
      continue;
    for (const auto& rl : r["request"]["resourceLogs"]) {
      for (const auto& sl : rl["scopeLogs"]) {
        for (auto rec : sl["logRecords"]) {
          rec["scope"] = sl["scope"];
          rec["resource"] = rl["resource"];
          rec["encoding"] = r["encoding"];
          out.emplace(rec["eventName"].get<std::string>(), std::move(rec));
        }
      }
    }
  }
  return out;
}

Config logs_to(const std::string& endpoint, OtlpEncoding encoding = OtlpEncoding::Protobuf,
               bool gzip = false) {
  Config c;
  c.service_name = "checkout";
  c.environment = Environment::Production;
  c.logging.stdout_output = false;
  c.logging.level = Level::Debug;
  c.logging.exporter = LogsExporter::Otlp;
  c.logging.otlp_endpoint = endpoint;
  c.logging.otlp_encoding = encoding;
  c.logging.otlp_gzip = gzip;
  c.tracing.exporter = TracesExporter::None;
  c.tracing.sample_rate = 1.0;
  return c;
}

double counted(const std::string& scrape, const std::string& series) {
  const auto at = scrape.find("\n" + series + " ");
  return at == std::string::npos ? 0.0 : std::stod(scrape.substr(at + series.size() + 2));
}

class OtlpLogs : public ::testing::Test {
 protected:
  void TearDown() override {
    Config quiet;
    quiet.logging.stdout_output = false;
    quiet.logging.exporter = LogsExporter::None;
    init(quiet, EnvironmentUse::Ignore);
  }
  testing::TempDir dir_;
};

TEST_F(OtlpLogs, NodeDecodesEveryFieldOfARecordInBothEncodingsWithAndWithoutGzip) {
  testing::NodeReceiver receiver(dir_);
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  struct Variant {
    OtlpEncoding encoding;
    bool gzip;
    bool async = false;  // the async writer's thread hands the records over
    bool file = false;   // beside a log file (async: the writer renders it too)
  };
  std::vector<SpanContext> spans;  // one per variant, in request order
  int line = 0;
  const auto file = dir_.file("async.log");
  for (const Variant v :
       {Variant{OtlpEncoding::Protobuf, false}, Variant{OtlpEncoding::Json, false},
        Variant{OtlpEncoding::Protobuf, true}, Variant{OtlpEncoding::Json, true},
        Variant{OtlpEncoding::Protobuf, false, true, false},
        Variant{OtlpEncoding::Json, true, true, true}}) {
    auto c = logs_to(receiver.url("/v1/logs"), v.encoding, v.gzip);
    c.logging.async = v.async;
    if (v.file)
      c.logging.file_path = file;
    init(c, EnvironmentUse::Ignore);
    Scope scope;
    auto span = start_span("GET /orders/{id}", {.kind = SpanKind::Server});
    set_custom_tags({{"tenant_id", "acme"}});
    add_log_context({{"variant", std::int64_t{7}}});
    auto log = get_logger("orders.views");
    log.info("order_placed", {{"order_id", 9'007'199'254'740'993},
                              {"amount", 49.99},
                              {"paid", true},
                              {"password", "hunter2"},
                              {"level", "shadowed"}});
    line = __LINE__ - 5;
    log.exception("payment_failed", std::runtime_error("card declined"));
    get_logger("orders.jobs").debug("job_done");
    spans.push_back(span.context());
    span.end();
    logging::flush();
  }
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 6U) << receiver.log();
  for (const auto& r : requests)
    ASSERT_FALSE(r.contains("error")) << r.dump();
  EXPECT_EQ(requests[0]["encoding"], "protobuf");
  EXPECT_EQ(requests[1]["encoding"], "json");
  EXPECT_EQ(requests[2]["gzip"], true);
  EXPECT_EQ(requests[3]["gzip"], true);
  EXPECT_EQ(requests[5]["encoding"], "json");
  // The async variant with a file wrote its lines there as well as exporting them.
  EXPECT_EQ(testing::json_lines(testing::read_file(file)).size(), 3U);

  const auto records = records_by_event(requests);
  ASSERT_EQ(records.count("order_placed"), 6U);
  ASSERT_EQ(records.count("payment_failed"), 6U);
  ASSERT_EQ(records.count("job_done"), 6U);
  auto [first, last] = records.equal_range("order_placed");
  std::size_t variant = 0;
  for (auto it = first; it != last; ++it, ++variant) {
    const json& rec = it->second;
    const SpanContext& ctx = spans.at(variant);
    SCOPED_TRACE(rec["encoding"].get<std::string>());
    EXPECT_EQ(rec["severityNumber"], 9);
    EXPECT_EQ(rec["severityText"], "info");
    EXPECT_EQ(rec["body"]["stringValue"], "order_placed");
    EXPECT_EQ(rec["traceId"], ctx.trace_id.to_hex());
    EXPECT_EQ(rec["spanId"], ctx.span_id.to_hex());
    EXPECT_EQ(rec["flags"], ctx.flags) << "the W3C trace flags: sampled, random";
    EXPECT_EQ(rec["scope"]["name"], "orders.views");
    EXPECT_EQ(attr(rec["resource"]["attributes"], "service.name")["stringValue"], "checkout");
    EXPECT_NE(attr(rec["resource"]["attributes"], "service.instance.id"), nullptr);
    const json& a = rec["attributes"];
    // Exact int64 beyond a double's 53 bits: the decoder reads longs as strings.
    EXPECT_EQ(attr(a, "order_id")["intValue"], "9007199254740993");
    EXPECT_DOUBLE_EQ(attr(a, "amount")["doubleValue"].get<double>(), 49.99);
    EXPECT_EQ(attr(a, "paid")["boolValue"], true);
    EXPECT_EQ(attr(a, "password")["stringValue"], "[REDACTED]");
    EXPECT_EQ(attr(a, "level_field")["stringValue"], "shadowed") << "as on the JSON line";
    EXPECT_EQ(attr(a, "tenant_id")["stringValue"], "acme");
    EXPECT_EQ(attr(a, "variant")["intValue"], "7");
    EXPECT_EQ(attr(a, "code.file.path")["stringValue"], "otlp_logs_test.cpp");
    EXPECT_EQ(attr(a, "code.line.number")["intValue"], std::to_string(line));
    const auto t = std::stoull(rec["timeUnixNano"].get<std::string>());
    EXPECT_GT(t, 1'700'000'000'000'000'000ULL);
    EXPECT_EQ(rec["observedTimeUnixNano"], rec["timeUnixNano"]);
  }
  std::tie(first, last) = records.equal_range("payment_failed");
  for (auto it = first; it != last; ++it) {
    EXPECT_EQ(it->second["severityNumber"], 17);
    EXPECT_EQ(attr(it->second["attributes"], "exception.message")["stringValue"], "card declined");
    EXPECT_NE(attr(it->second["attributes"], "exception.type"), nullptr);
  }
  std::tie(first, last) = records.equal_range("job_done");
  for (auto it = first; it != last; ++it) {
    EXPECT_EQ(it->second["severityNumber"], 5);
    EXPECT_EQ(it->second["scope"]["name"], "orders.jobs");
  }
}

TEST_F(OtlpLogs, RecordsOnlyWhenTheirLevelPasses) {
  testing::NodeReceiver receiver(dir_);
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  auto c = logs_to(receiver.url("/v1/logs"));
  c.logging.level = Level::Warning;
  init(c, EnvironmentUse::Ignore);
  get_logger("levels").info("below");
  get_logger("levels").warning("above");
  logging::flush();
  const auto records = records_by_event(receiver.requests());
  EXPECT_EQ(records.count("below"), 0U);
  EXPECT_EQ(records.count("above"), 1U);
}

// A collector that takes 500 ms per request: the export thread holds at most one batch in
// flight and the queue one more; every other record is dropped on the caller's path (counted)
// instead of waiting or growing memory.
TEST_F(OtlpLogs, ASlowCollectorNeverBlocksACallerAndWhatDoesNotFitIsDroppedAndCounted) {
  testing::Collector collector;
  collector.delay(500ms);
  auto c = logs_to(collector.url("/v1/logs"));
  constexpr std::size_t kQueue = 64;
  c.logging.batch.max_queue_size = kQueue;
  init(c, EnvironmentUse::Ignore);
  const auto before = metrics::render();
  const std::string full = "o11y_log_records_dropped_total{reason=\"queue_full\"}";
  auto log = get_logger("flood");
  constexpr int kCalls = 1000;
  for (int i = 0; i < kCalls; ++i)
    log.info("flooded", {{"i", i}});
  logging::flush();
  const auto after = metrics::render();
  const double dropped = counted(after, full) - counted(before, full);
  const double exported = counted(after, "o11y_log_records_exported_total") -
                          counted(before, "o11y_log_records_exported_total");
  EXPECT_EQ(dropped + exported, kCalls) << "every record is either sent or counted";
  EXPECT_GE(dropped, kCalls - 3.0 * kQueue) << "the queue stays bounded";
  EXPECT_GE(exported, static_cast<double>(kQueue));
}

TEST_F(OtlpLogs, ACollectorAnsweringErrorsLosesOnlyThatBatchAndCountsIt) {
  testing::Collector collector;
  collector.answer({400});  // not retryable: the batch is dropped at once
  const double before =
      counted(metrics::render(), "o11y_log_records_dropped_total{reason=\"export_failed\"}");
  init(logs_to(collector.url("/v1/logs")), EnvironmentUse::Ignore);
  get_logger("errors").info("rejected");
  logging::flush();
  get_logger("errors").info("accepted");
  logging::flush();
  EXPECT_EQ(collector.requests().size(), 2U);
  EXPECT_EQ(counted(metrics::render(), "o11y_log_records_dropped_total{reason=\"export_failed\"}"),
            before + 1);
}

TEST_F(OtlpLogs, A500DropsItsBatchUnretriedAndAGarbageAnswerStillCountsAsAccepted) {
  testing::Collector collector;
  collector.answer({500});
  const std::string failed = "o11y_log_records_dropped_total{reason=\"export_failed\"}";
  const double failed_before = counted(metrics::render(), failed);
  const double exported_before = counted(metrics::render(), "o11y_log_records_exported_total");
  init(logs_to(collector.url("/v1/logs")), EnvironmentUse::Ignore);
  get_logger("faults").info("answered_500");
  logging::flush();
  EXPECT_EQ(collector.requests().size(), 1U) << "a 500 is not retried";
  EXPECT_EQ(counted(metrics::render(), failed), failed_before + 1);
  collector.garbage(true);
  get_logger("faults").info("answered_garbage");
  logging::flush();
  EXPECT_EQ(collector.requests().size(), 2U);
  EXPECT_EQ(counted(metrics::render(), failed), failed_before + 1);
  EXPECT_EQ(counted(metrics::render(), "o11y_log_records_exported_total"), exported_before + 1);
}

TEST_F(OtlpLogs, UnreachableCollectorCostsTheCallerNothingAndTheFlushIsBounded) {
  // A port nothing listens on: connections are refused; records are dropped, never retried
  // beyond the export timeout.
  auto c = logs_to("http://127.0.0.1:9/v1/logs");
  c.logging.batch.export_timeout = 500ms;
  init(c, EnvironmentUse::Ignore);
  const double before =
      counted(metrics::render(), "o11y_log_records_dropped_total{reason=\"export_failed\"}");
  get_logger("down").info("lost");
  const auto start = std::chrono::steady_clock::now();
  logging::flush();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(counted(metrics::render(), "o11y_log_records_dropped_total{reason=\"export_failed\"}"),
            before + 1);
}

TEST_F(OtlpLogs, AForkedChildSendsOnlyItsOwnRecordsAndTheParentSendsWhatItQueued) {
  testing::NodeReceiver receiver(dir_);
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  auto c = logs_to(receiver.url("/v1/logs"));
  c.logging.batch.schedule_delay = 1h;
  init(c, EnvironmentUse::Ignore);
  get_logger("fork").info("queued_before_fork");
  const pid_t pid = ::fork();
  if (pid == 0) {
    get_logger("fork").info("from_child");
    logging::flush();
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  get_logger("fork").info("from_parent");
  logging::flush();
  const auto records = records_by_event(receiver.requests());
  EXPECT_EQ(records.count("queued_before_fork"), 1U);
  EXPECT_EQ(records.count("from_child"), 1U);
  EXPECT_EQ(records.count("from_parent"), 1U);
}

}  // namespace
}  // namespace o11y
