// Metrics over OTLP in multiprocess mode: the process that set up the exporter sends the
// directory's aggregate, its fork()ed workers send nothing, and export_directory() (what
// `o11y export --dir` runs) sends the same aggregate once. Part of o11y_multiprocess_tests,
// whose main() points O11Y_MULTIPROC_DIR at a fresh directory.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <o11y/export.hpp>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/node_receiver.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string multiproc_dir() {
  const char* d = std::getenv("O11Y_MULTIPROC_DIR");
  return d != nullptr ? d : "";
}

/// The metric of this name in the last /v1/metrics request, with its resource; null if absent.
json last_metric(const testing::NodeReceiver& r, std::string_view name) {
  json found = nullptr;
  for (const auto& q : r.requests()) {
    EXPECT_FALSE(q.contains("error")) << q.dump();
    if (q.value("path", "") != "/v1/metrics")
      continue;
    found = nullptr;
    for (const auto& rm : q["request"]["resourceMetrics"]) {
      for (const auto& sm : rm["scopeMetrics"]) {
        for (auto m : sm["metrics"]) {
          if (m["name"] == name) {
            m["resource"] = rm["resource"];
            found = m;
          }
        }
      }
    }
  }
  return found;
}

std::string resource_service(const json& m) {
  for (const auto& a : m["resource"]["attributes"]) {
    if (a["key"] == "service.name")
      return a["value"]["stringValue"];
  }
  return "";
}

class OtlpMultiprocess : public ::testing::Test {
 protected:
  void TearDown() override {
    Config quiet;
    quiet.logging.stdout_output = false;
    quiet.metrics.multiproc_dir = multiproc_dir();
    quiet.metrics.exporter = MetricsExporter::None;
    init(quiet, EnvironmentUse::Ignore);
  }
  testing::TempDir dir_;
  testing::NodeReceiver receiver_{dir_};
};

TEST_F(OtlpMultiprocess, TheExportingProcessSendsTheAggregateOfItsWorkersAndTheySendNothing) {
  ASSERT_GT(receiver_.port(), 0) << receiver_.log();
  ASSERT_TRUE(metrics::multiprocess_enabled());
  auto served = counter("otlp_mp_served_total", "Requests served.", {"worker"});
  auto latency = histogram("otlp_mp_latency_seconds", "Latency.", {}, {0.1, 1});
  Config c;
  c.service_name = "prefork";
  c.logging.stdout_output = false;
  c.tracing.exporter = TracesExporter::None;
  c.metrics.multiproc_dir = multiproc_dir();
  c.metrics.exporter = MetricsExporter::Otlp;
  c.metrics.otlp_endpoint = receiver_.url("/v1/metrics");
  c.metrics.otlp_encoding = OtlpEncoding::Json;
  c.metrics.export_interval = 1h;  // exports only when the test asks
  init(c, EnvironmentUse::Ignore);

  for (int w = 0; w < 2; ++w) {
    testing::in_child([&] {
      served.add(2 + w, {{"worker", "w"}});
      latency.record(0.5);
      // A worker's flush is a no-op: exporting is the parent's job.
      if (metrics::force_flush(5s))
        ::_exit(3);
    });
  }
  served.add(1, {{"worker", "w"}});
  ASSERT_TRUE(metrics::force_flush(10s)) << receiver_.log();

  const json m = last_metric(receiver_, "otlp_mp_served");
  ASSERT_FALSE(m.is_null()) << receiver_.log();
  EXPECT_EQ(resource_service(m), "prefork");
  ASSERT_EQ(m["sum"]["dataPoints"].size(), 1U) << m.dump();
  EXPECT_DOUBLE_EQ(m["sum"]["dataPoints"][0]["asDouble"].get<double>(), 2 + 3 + 1);
  const json h = last_metric(receiver_, "otlp_mp_latency_seconds");
  ASSERT_FALSE(h.is_null());
  const json p = h["histogram"]["dataPoints"][0];
  EXPECT_EQ(p["count"], "2");
  EXPECT_DOUBLE_EQ(p["sum"].get<double>(), 1.0);
  EXPECT_EQ(p["bucketCounts"], json::array({"0", "2", "0"}));
  std::size_t metrics_requests = 0;
  for (const auto& q : receiver_.requests())
    metrics_requests += q.value("path", "") == "/v1/metrics" ? 1U : 0U;
  EXPECT_EQ(metrics_requests, 1U) << "only the exporting process sends";
}

TEST_F(OtlpMultiprocess, ExportDirectorySendsTheAggregateOnceInProtobuf) {
  ASSERT_GT(receiver_.port(), 0) << receiver_.log();
  auto jobs = counter("otlp_mp_dir_jobs_total", "Jobs.");
  testing::in_child([&] { jobs.add(5); });
  jobs.add(2);
  OtlpOptions options;
  options.endpoint = receiver_.url("/v1/metrics");
  options.gzip = true;
  options.timeout = 10s;
  ASSERT_TRUE(metrics::export_directory(multiproc_dir(), options)) << receiver_.log();
  const json m = last_metric(receiver_, "otlp_mp_dir_jobs");
  ASSERT_FALSE(m.is_null()) << receiver_.log();
  EXPECT_DOUBLE_EQ(m["sum"]["dataPoints"][0]["asDouble"].get<double>(), 7);
  EXPECT_EQ(m["sum"]["aggregationTemporality"], 2) << "cumulative";
  EXPECT_EQ(m["sum"]["isMonotonic"], true);
  const auto requests = receiver_.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back()["encoding"], "protobuf");
  EXPECT_EQ(requests.back()["gzip"], true);
}

std::uint64_t unix_now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

TEST_F(OtlpMultiprocess, ExportDirectoryGivesASeriesTheSameStartEveryTimeAndAfterCompaction) {
  // A backend reads a cumulative point whose start moved as a counter reset: `o11y export`,
  // a new process each time, must say when the values began, not when it started.
  ASSERT_GT(receiver_.port(), 0) << receiver_.log();
  auto jobs = counter("otlp_mp_start_jobs_total", "Jobs.");
  const std::uint64_t before = unix_now_ns();
  testing::in_child([&] { jobs.add(3); });  // only the worker's file holds the series
  OtlpOptions options;
  options.endpoint = receiver_.url("/v1/metrics");
  options.timeout = 10s;
  using Times = std::pair<std::uint64_t, std::uint64_t>;  // start, time
  const auto start_of_export = [&]() -> Times {
    EXPECT_TRUE(metrics::export_directory(multiproc_dir(), options)) << receiver_.log();
    const json m = last_metric(receiver_, "otlp_mp_start_jobs");
    EXPECT_FALSE(m.is_null()) << receiver_.log();
    if (m.is_null())
      return {0, 0};
    const json& p = m["sum"]["dataPoints"][0];
    EXPECT_DOUBLE_EQ(p["asDouble"].get<double>(), 3);
    return {std::stoull(p["startTimeUnixNano"].get<std::string>()),
            std::stoull(p["timeUnixNano"].get<std::string>())};
  };
  const auto [first, first_time] = start_of_export();
  std::this_thread::sleep_for(20ms);
  const auto [second, second_time] = start_of_export();
  EXPECT_EQ(first, second) << "the start moved between two exports";
  EXPECT_GE(first, before) << "the series began when the worker's file was created";
  EXPECT_LT(first, first_time);
  EXPECT_LT(first_time, second_time);

  // Compaction folds the worker's file into the archive, which keeps the earliest start.
  ASSERT_GE(metrics::compact(multiproc_dir()), 1U);
  const auto [compacted, compacted_time] = start_of_export();
  EXPECT_LE(compacted, first);
  EXPECT_NE(compacted, 0U);
  EXPECT_EQ(start_of_export().first, compacted);
  (void)compacted_time;
}

TEST_F(OtlpMultiprocess, ExportDirectoryOfACollectorThatIsDownFailsWithinItsTimeout) {
  OtlpOptions options;
  options.endpoint = "http://127.0.0.1:9/v1/metrics";  // discard port: nothing listens
  options.timeout = 2s;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(metrics::export_directory(multiproc_dir(), options));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  options.endpoint = "ftp://127.0.0.1/v1/metrics";
  EXPECT_THROW((void)metrics::export_directory(multiproc_dir(), options), std::invalid_argument);
}

TEST_F(OtlpMultiprocess, ANativeHistogramOfEveryWorkerIsOneExponentialHistogram) {
  ASSERT_GT(receiver_.port(), 0) << receiver_.log();
  auto h = histogram("otlp_mp_native_seconds", "Latency.", {}, Buckets::exponential(0));
  h.record(1.0);  // OTLP's bucket 0 at scale 0 is (1, 2]: Prometheus' index 1 minus one
  testing::in_child([&] {
    h.record(1.5);
    h.record(3.0);
  });
  testing::in_child([&] { h.record(-4.0); });
  OtlpOptions options;
  options.endpoint = receiver_.url("/v1/metrics");
  options.timeout = 10s;
  ASSERT_TRUE(metrics::export_directory(multiproc_dir(), options)) << receiver_.log();
  const json m = last_metric(receiver_, "otlp_mp_native_seconds");
  ASSERT_FALSE(m.is_null()) << receiver_.log();
  const json& p = m["exponentialHistogram"]["dataPoints"][0];
  EXPECT_EQ(p["count"], "4") << p;
  EXPECT_DOUBLE_EQ(p["sum"].get<double>(), 1.5);
  EXPECT_EQ(p.value("scale", 0), 0);
  // 1 is Prometheus' bucket 0, OTLP's -1; 1.5 is (1, 2]; 3 is (2, 4]; -4 is (2, 4] negative.
  EXPECT_EQ(p["positive"]["offset"], -1) << p;
  EXPECT_EQ(p["positive"]["bucketCounts"], json::array({"1", "1", "1"})) << p;
  EXPECT_EQ(p["negative"]["offset"], 1) << p;
  EXPECT_EQ(p["negative"]["bucketCounts"], json::array({"1"})) << p;
}

}  // namespace
}  // namespace o11y
