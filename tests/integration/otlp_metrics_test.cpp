// Metrics over OTLP, configured through init() as a service would, against the receiver built
// on OpenTelemetry JS's generated types.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <o11y/context.hpp>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/collector.hpp"
#include "support/node_receiver.hpp"
#include "support/temp_dir.hpp"

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

/// The metric of this name in one decoded request, with the request's resource; null if absent.
json metric(const json& request, std::string_view name) {
  if (!request.contains("request"))
    return nullptr;
  for (const auto& rm : request["request"]["resourceMetrics"]) {
    for (const auto& sm : rm["scopeMetrics"]) {
      for (auto m : sm["metrics"]) {
        if (m["name"] == name) {
          m["resource"] = rm["resource"];
          m["scope"] = sm["scope"];
          return m;
        }
      }
    }
  }
  return nullptr;
}

std::vector<json> metrics_requests(const testing::NodeReceiver& r) {
  std::vector<json> out;
  for (auto& q : r.requests()) {
    EXPECT_FALSE(q.contains("error")) << q.dump();
    if (q.value("path", "") == "/v1/metrics")
      out.push_back(std::move(q));
  }
  return out;
}

Config metrics_to(const std::string& endpoint, OtlpEncoding encoding,
                  MetricsTemporality temporality = MetricsTemporality::Cumulative) {
  Config c;
  c.service_name = "checkout";
  c.environment = Environment::Production;
  c.logging.stdout_output = false;
  c.tracing.exporter = TracesExporter::None;
  c.tracing.sample_rate = 1.0;
  c.metrics.exporter = MetricsExporter::Otlp;
  c.metrics.otlp_endpoint = endpoint;
  c.metrics.otlp_encoding = encoding;
  c.metrics.temporality = temporality;
  c.metrics.export_interval = 1h;  // exports only when the test asks
  return c;
}

class OtlpMetrics : public ::testing::Test {
 protected:
  void TearDown() override {
    Config quiet;
    quiet.logging.stdout_output = false;
    quiet.metrics.exporter = MetricsExporter::None;
    init(quiet, EnvironmentUse::Ignore);
  }
  testing::TempDir dir_;
  // A member, so that it still answers the last export TearDown's init() asks for.
  testing::NodeReceiver receiver_{dir_};
};

TEST_F(OtlpMetrics, NodeDecodesCountersGaugesAndHistogramsWithExemplarsInBothEncodings) {
  auto& receiver = receiver_;
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  auto orders = counter("otlp_orders_total", "Orders placed.", {"status"});
  auto queue = gauge("otlp_queue_depth", "Jobs waiting.");
  auto latency = histogram("otlp_latency_seconds", "Request latency.", {"route"}, {0.1, 0.5, 1.0});
  std::vector<SpanContext> spans;
  for (const OtlpEncoding encoding : {OtlpEncoding::Protobuf, OtlpEncoding::Json}) {
    init(metrics_to(receiver.url("/v1/metrics"), encoding), EnvironmentUse::Ignore);
    // An exemplar is replaced only once it is 100 ms old: the second round's must replace the
    // first's.
    std::this_thread::sleep_for(150ms);
    {
      Scope scope;
      auto span = start_span("GET /orders");
      orders.add(2, {{"status", "ok"}});
      latency.record(0.3, {{"route", "/orders"}});
      spans.push_back(span.context());
    }
    queue.set(7);
    orders.add(1, {{"status", "failed"}});
    latency.record(0.05, {{"route", "/orders"}});
    latency.record(3.0, {{"route", "/orders"}});
    ASSERT_TRUE(metrics::force_flush(10s)) << receiver.log();
  }
  // The second init() also has the first exporter send what it has: one more protobuf request.
  const auto all = metrics_requests(receiver);
  ASSERT_EQ(all.size(), 3U) << receiver.log();
  const std::vector<json> requests = {all[0], all[2]};
  EXPECT_EQ(requests[0]["encoding"], "protobuf");
  EXPECT_EQ(all[1]["encoding"], "protobuf");
  EXPECT_EQ(requests[1]["encoding"], "json");
  for (std::size_t r = 0; r < requests.size(); ++r) {
    SCOPED_TRACE(requests[r]["encoding"].get<std::string>());
    const auto times = static_cast<double>(r + 1);  // cumulative: both rounds by the second
    const json sum = metric(requests[r], "otlp_orders");
    ASSERT_FALSE(sum.is_null()) << requests[r].dump().substr(0, 2000);
    EXPECT_EQ(attr(sum["resource"]["attributes"], "service.name")["stringValue"], "checkout");
    EXPECT_EQ(sum["description"], "Orders placed.");
    EXPECT_EQ(sum["sum"]["isMonotonic"], true);
    EXPECT_EQ(sum["sum"]["aggregationTemporality"], 2);
    bool saw_ok = false;
    for (const auto& dp : sum["sum"]["dataPoints"]) {
      const auto status = attr(dp["attributes"], "status")["stringValue"];
      EXPECT_LT(std::stoull(dp["startTimeUnixNano"].get<std::string>()),
                std::stoull(dp["timeUnixNano"].get<std::string>()));
      if (status == "ok") {
        saw_ok = true;
        EXPECT_DOUBLE_EQ(dp["asDouble"].get<double>(), 2 * times);
        ASSERT_EQ(dp["exemplars"].size(), 1U) << dp;
        EXPECT_EQ(dp["exemplars"][0]["traceId"], spans[r].trace_id.to_hex());
        EXPECT_EQ(dp["exemplars"][0]["spanId"], spans[r].span_id.to_hex());
        EXPECT_DOUBLE_EQ(dp["exemplars"][0]["asDouble"].get<double>(), 2);
      } else {
        EXPECT_EQ(status, "failed");
        EXPECT_DOUBLE_EQ(dp["asDouble"].get<double>(), 1 * times);
      }
    }
    EXPECT_TRUE(saw_ok);

    const json g = metric(requests[r], "otlp_queue_depth");
    ASSERT_FALSE(g.is_null());
    ASSERT_EQ(g["gauge"]["dataPoints"].size(), 1U);
    EXPECT_DOUBLE_EQ(g["gauge"]["dataPoints"][0]["asDouble"].get<double>(), 7);

    const json h = metric(requests[r], "otlp_latency_seconds");
    ASSERT_FALSE(h.is_null());
    EXPECT_EQ(h["histogram"]["aggregationTemporality"], 2);
    ASSERT_EQ(h["histogram"]["dataPoints"].size(), 1U);
    const json& dp = h["histogram"]["dataPoints"][0];
    EXPECT_EQ(attr(dp["attributes"], "route")["stringValue"], "/orders");
    EXPECT_EQ(dp["count"], std::to_string(3 * (r + 1)));
    EXPECT_DOUBLE_EQ(dp["sum"].get<double>(), 3.35 * times);
    const std::vector<std::string> buckets = {std::to_string(r + 1), std::to_string(r + 1), "0",
                                              std::to_string(r + 1)};
    EXPECT_EQ(dp["bucketCounts"].get<std::vector<std::string>>(), buckets);
    EXPECT_EQ(dp["explicitBounds"].get<std::vector<double>>(),
              (std::vector<double>{0.1, 0.5, 1.0}));
    bool exemplar_of_this_round = false;
    for (const auto& ex : dp["exemplars"])
      exemplar_of_this_round =
          exemplar_of_this_round || ex["traceId"] == spans[r].trace_id.to_hex();
    EXPECT_TRUE(exemplar_of_this_round) << dp["exemplars"];
  }
}

TEST_F(OtlpMetrics, DeltaTemporalityCarriesWhatWasRecordedSinceThePreviousExport) {
  auto& receiver = receiver_;
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  auto jobs = counter("otlp_delta_jobs_total", "Jobs run.");
  auto took = histogram("otlp_delta_seconds", "Job time.", {}, {1.0});
  init(metrics_to(receiver.url("/v1/metrics"), OtlpEncoding::Protobuf, MetricsTemporality::Delta),
       EnvironmentUse::Ignore);
  jobs.add(5);
  took.record(0.5);
  ASSERT_TRUE(metrics::force_flush(10s));
  jobs.add(2);
  took.record(2.0);
  ASSERT_TRUE(metrics::force_flush(10s));
  const auto requests = metrics_requests(receiver);
  ASSERT_EQ(requests.size(), 2U) << receiver.log();
  const std::vector<double> expected = {5, 2};
  for (std::size_t r = 0; r < 2; ++r) {
    const json sum = metric(requests[r], "otlp_delta_jobs");
    ASSERT_FALSE(sum.is_null());
    EXPECT_EQ(sum["sum"]["aggregationTemporality"], 1);
    EXPECT_DOUBLE_EQ(sum["sum"]["dataPoints"][0]["asDouble"].get<double>(), expected[r]);
    const json h = metric(requests[r], "otlp_delta_seconds");
    ASSERT_FALSE(h.is_null());
    EXPECT_EQ(h["histogram"]["dataPoints"][0]["count"], "1");
  }
  // Each delta starts where the one before ended.
  const json first = metric(requests[0], "otlp_delta_jobs")["sum"]["dataPoints"][0];
  const json second = metric(requests[1], "otlp_delta_jobs")["sum"]["dataPoints"][0];
  EXPECT_EQ(second["startTimeUnixNano"], first["timeUnixNano"]);
}

TEST_F(OtlpMetrics, ANativeHistogramIsAnExponentialHistogramInBothEncodings) {
  auto& receiver = receiver_;
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  auto h = histogram("otlp_native_seconds", "Latency.", {"route"}, Buckets::exponential(0));
  for (const double v : {3.0, 3.5, 5.0, -1.5, 0.0})
    h.record(v, {{"route", "/pay"}});
  for (const auto encoding : {OtlpEncoding::Json, OtlpEncoding::Protobuf}) {
    init(metrics_to(receiver.url("/v1/metrics"), encoding), EnvironmentUse::Ignore);
    ASSERT_TRUE(metrics::force_flush(10s));
  }
  const auto requests = metrics_requests(receiver);
  ASSERT_GE(requests.size(), 2U) << receiver.log();
  // The first request and the last: the JSON exporter also sends when init() replaces it.
  for (const std::size_t r : {std::size_t{0}, requests.size() - 1}) {
    const json m = metric(requests[r], "otlp_native_seconds");
    ASSERT_FALSE(m.is_null()) << requests[r].dump();
    EXPECT_EQ(requests[r]["encoding"], std::string(r == 0 ? "json" : "protobuf"));
    const json& e = m["exponentialHistogram"];
    EXPECT_EQ(e["aggregationTemporality"], 2);
    const json& dp = e["dataPoints"][0];
    EXPECT_EQ(attr(dp["attributes"], "route")["stringValue"], "/pay");
    // Protobuf leaves zeros (proto3 defaults) off the wire: absent means 0.
    EXPECT_EQ(dp.value("scale", 0), 0);
    EXPECT_EQ(dp["count"], "5");
    EXPECT_EQ(dp["zeroCount"], "1");
    EXPECT_DOUBLE_EQ(dp["sum"].get<double>(), 10.0);
    // Base 2: 3 and 3.5 in (2, 4], OTLP bucket 1; 5 in (4, 8], bucket 2; -1.5 in (1, 2], 0.
    EXPECT_EQ(dp["positive"]["offset"], 1);
    EXPECT_EQ(dp["positive"]["bucketCounts"].get<std::vector<std::string>>(),
              (std::vector<std::string>{"2", "1"}));
    EXPECT_EQ(dp["negative"].value("offset", 0), 0);
    EXPECT_EQ(dp["negative"]["bucketCounts"].get<std::vector<std::string>>(),
              (std::vector<std::string>{"1"}));
  }
}

TEST_F(OtlpMetrics, ANativeHistogramInDeltaCarriesOnlyTheNewObservations) {
  auto& receiver = receiver_;
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  auto h = histogram("otlp_native_delta_seconds", "Latency.", {}, Buckets::exponential(1));
  init(metrics_to(receiver.url("/v1/metrics"), OtlpEncoding::Json, MetricsTemporality::Delta),
       EnvironmentUse::Ignore);
  h.record(1.0);
  h.record(1.0);
  ASSERT_TRUE(metrics::force_flush(10s));
  h.record(1.0);
  h.record(8.0);
  ASSERT_TRUE(metrics::force_flush(10s));
  const auto requests = metrics_requests(receiver);
  ASSERT_EQ(requests.size(), 2U) << receiver.log();
  const json second =
      metric(requests[1], "otlp_native_delta_seconds")["exponentialHistogram"]["dataPoints"][0];
  EXPECT_EQ(second["count"], "2");
  EXPECT_DOUBLE_EQ(second["sum"].get<double>(), 9.0);
  // Schema 1: 1.0 is Prometheus' bucket 0 (OTLP -1), 8.0 bucket 6 (OTLP 5).
  EXPECT_EQ(second["positive"]["offset"], -1);
  EXPECT_EQ(second["positive"]["bucketCounts"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"1", "0", "0", "0", "0", "0", "1"}));
}

TEST_F(OtlpMetrics, CumulativePointsStartWhenTheirSeriesWasCreated) {
  auto& receiver = receiver_;
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  const auto unix_ns = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  };
  auto c = counter("otlp_started_total", "Series started at different times.", {"k"});
  init(metrics_to(receiver.url("/v1/metrics"), OtlpEncoding::Json), EnvironmentUse::Ignore);
  c.add(1, {{"k", "early"}});
  std::this_thread::sleep_for(50ms);
  const std::uint64_t before_late = unix_ns();
  c.add(1, {{"k", "late"}});
  ASSERT_TRUE(metrics::force_flush(10s));
  const auto requests = metrics_requests(receiver);
  ASSERT_EQ(requests.size(), 1U) << receiver.log();
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> times;  // start, time
  const json m = metric(requests[0], "otlp_started");
  for (const auto& dp : m["sum"]["dataPoints"]) {
    times[attr(dp["attributes"], "k")["stringValue"]] = {
        std::stoull(dp["startTimeUnixNano"].get<std::string>()),
        std::stoull(dp["timeUnixNano"].get<std::string>())};
  }
  ASSERT_EQ(times.size(), 2U);
  EXPECT_LT(times["early"].first, before_late);
  EXPECT_GE(times["late"].first, before_late);
  EXPECT_LE(times["late"].first, times["late"].second);
}

TEST_F(OtlpMetrics, AForkedWorkerExportsNothingAndTheParentKeepsExporting) {
  auto& receiver = receiver_;
  ASSERT_GT(receiver.port(), 0) << receiver.log();
  auto c = counter("otlp_fork_total", "Forked.");
  init(metrics_to(receiver.url("/v1/metrics"), OtlpEncoding::Protobuf), EnvironmentUse::Ignore);
  const pid_t pid = ::fork();
  if (pid == 0) {
    c.add(1);
    ::_exit(metrics::force_flush(5s) ? 1 : 0);  // the parent's exporter: nothing to flush here
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  c.add(3);
  ASSERT_TRUE(metrics::force_flush(10s));
  const auto requests = metrics_requests(receiver);
  ASSERT_EQ(requests.size(), 1U) << receiver.log();
  EXPECT_DOUBLE_EQ(
      metric(requests[0], "otlp_fork")["sum"]["dataPoints"][0]["asDouble"].get<double>(), 3);
}

TEST_F(OtlpMetrics, ARefusedExportIsReportedAndTheNextOneStillGoesOut) {
  testing::Collector collector;
  collector.answer({400});
  auto c = counter("otlp_refused_total", "Refused.");
  c.add(1);
  auto cfg = metrics_to(collector.url("/v1/metrics"), OtlpEncoding::Protobuf);
  cfg.metrics.export_timeout = 2s;
  init(cfg, EnvironmentUse::Ignore);
  EXPECT_FALSE(metrics::force_flush(5s)) << "a 400 is not retried: the export failed";
  EXPECT_TRUE(metrics::force_flush(5s));
  EXPECT_EQ(collector.requests().size(), 2U);
  Config quiet;
  quiet.logging.stdout_output = false;
  quiet.metrics.exporter = MetricsExporter::None;
  init(quiet, EnvironmentUse::Ignore);  // its last export, while the collector still answers
}

double exports_counted(std::string_view outcome) {
  const std::string text = metrics::render();
  const std::string series =
      "\no11y_metric_exports_total{outcome=\"" + std::string(outcome) + "\"} ";
  const auto at = text.find(series);
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size()));
}

TEST_F(OtlpMetrics, A500IsNotRetriedA503IsAndAGarbageAnswerStillCountsAsAccepted) {
  testing::Collector collector;
  auto c = counter("otlp_faults_total", "Faults.");
  c.add(1);
  auto cfg = metrics_to(collector.url("/v1/metrics"), OtlpEncoding::Protobuf);
  cfg.metrics.export_timeout = 4s;
  init(cfg, EnvironmentUse::Ignore);
  const double ok_before = exports_counted("ok");
  const double failed_before = exports_counted("failed");

  collector.answer({500});
  EXPECT_FALSE(metrics::force_flush(10s)) << "a 500 fails the export";
  EXPECT_EQ(collector.requests().size(), 1U) << "a 500 is not retried";
  EXPECT_EQ(exports_counted("failed"), failed_before + 1);

  collector.answer({503});
  EXPECT_TRUE(metrics::force_flush(10s)) << "a 503 is retried, and the retry is accepted";
  EXPECT_EQ(collector.requests().size(), 3U);

  // A 200 means accepted, whatever its body says: the export is not repeated.
  collector.garbage(true);
  c.add(1);
  EXPECT_TRUE(metrics::force_flush(10s));
  EXPECT_EQ(collector.requests().size(), 4U);
  EXPECT_EQ(exports_counted("ok"), ok_before + 2);
  EXPECT_EQ(exports_counted("failed"), failed_before + 1);
  // The request after the failure carries the counts the collector missed.
  const auto last = collector.requests().back();
  EXPECT_NE(last.body.find("otlp_faults"), std::string::npos);
  Config quiet;
  quiet.logging.stdout_output = false;
  quiet.metrics.exporter = MetricsExporter::None;
  init(quiet, EnvironmentUse::Ignore);  // its last export, while the collector still answers
}

TEST_F(OtlpMetrics, ACollectorThatIsDownFailsTheExportWithinItsTimeoutAndIsCounted) {
  auto c = counter("otlp_down_total", "Down.");
  c.add(1);
  auto cfg = metrics_to("http://127.0.0.1:9/v1/metrics", OtlpEncoding::Protobuf);  // discard port
  cfg.metrics.export_timeout = 1s;
  init(cfg, EnvironmentUse::Ignore);
  const double failed_before = exports_counted("failed");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(metrics::force_flush(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s) << "bounded by the export timeout";
  EXPECT_EQ(exports_counted("failed"), failed_before + 1);
  c.add(1);  // recording goes on as before
  EXPECT_EQ(c.value(), 2.0);
}

TEST_F(OtlpMetrics, ASlowCollectorBoundsTheFlushByTheExportTimeout) {
  testing::Collector collector;
  collector.delay(3s);
  auto cfg = metrics_to(collector.url("/v1/metrics"), OtlpEncoding::Protobuf);
  cfg.metrics.export_timeout = 500ms;
  init(cfg, EnvironmentUse::Ignore);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(metrics::force_flush(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
  Config quiet;
  quiet.logging.stdout_output = false;
  quiet.metrics.exporter = MetricsExporter::None;
  init(quiet, EnvironmentUse::Ignore);  // before the collector goes: it still holds a request
}

}  // namespace
}  // namespace o11y
