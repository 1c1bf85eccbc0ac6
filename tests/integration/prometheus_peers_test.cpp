// Our exposition checked by code nobody on this team wrote: promtool, Python's
// prometheus_client parsers, a real Prometheus server scraping serve(), a real Pushgateway.
#include <gtest/gtest.h>
#include <httplib.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <o11y/metrics.hpp>
#include <o11y/prometheus.hpp>
#include <o11y/trace.hpp>
#include <random>
#include <string>

#include "support/exposition_check.hpp"
#include "support/process.hpp"
#include "support/prometheus.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

using testing::run;

// One registry that uses every metric type, labels that need escaping and exemplars.
void record_everything() {
  static const bool once = [] {
    set_sample_rate(1.0);
    auto payments =
        counter("peer_payments_processed_total", "Total payments processed", {"status", "method"});
    auto latency =
        histogram("peer_payment_processing_seconds", "Payment processing time", {"method"});
    auto depth = gauge("peer_queue_depth", "Jobs waiting", {"queue"});
    auto sent = counter("peer_sent_bytes_total", "Bytes sent", {}, "bytes");
    auto span = start_span("peers");
    payments.add(3, {{"status", "success"}, {"method", "card"}});
    payments.add(1, {{"status", "failed"}, {"method", "quote\"back\\slash\nnewline"}});
    for (double v : {0.004, 0.02, 0.3, 0.6, 1.2, 3.0, 12.0})
      latency.record(v, {{"method", "card"}});
    depth.set(12, {{"queue", "email"}});
    sent.add(1024);
    return true;
  }();
  (void)once;
}

TEST(Promtool, CheckMetricsPassesWithoutLintWarnings) {
  record_everything();
  testing::TempDir dir;
  const auto path = testing::write_file(dir, "metrics.txt", metrics::render(metrics::Format::Text));
  std::string out;
  const int rc = run("promtool check metrics < " + path, out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << out;  // any lint finding is printed
}

// Debian's python3-prometheus-client lives under /usr/bin/python3, not a PATH python.
constexpr const char* kPython = "/usr/bin/python3";

TEST(PythonClient, ParsesOurTextFormat) {
  record_everything();
  testing::TempDir dir;
  const auto path = testing::write_file(dir, "metrics.txt", metrics::render(metrics::Format::Text));
  const auto script = testing::write_file(dir, "parse.py", R"(
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
card = [s for s in fams["peer_payments_processed"].samples if s.labels.get("method") == "card"]
assert card and card[0].value == 3.0, card
weird = [s for s in fams["peer_payments_processed"].samples if s.labels.get("status") == "failed"]
assert weird[0].labels["method"] == 'quote"back\\slash\nnewline', weird
count = [s for s in fams["peer_payment_processing_seconds"].samples if s.name.endswith("_count")]
assert count[0].value == 7.0, count
print("ok", len(fams))
)");
  std::string out;
  EXPECT_EQ(run(std::string(kPython) + " " + script + " " + path, out), 0) << out;
  EXPECT_TRUE(out.starts_with("ok")) << out;
}

TEST(PythonClient, ParsesOurOpenMetricsWithExemplars) {
  record_everything();
  testing::TempDir dir;
  const auto path =
      testing::write_file(dir, "metrics.om", metrics::render(metrics::Format::OpenMetrics));
  const auto script = testing::write_file(dir, "parse_om.py", R"(
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
hist = fams["peer_payment_processing_seconds"]
exemplars = [s.exemplar for s in hist.samples if s.exemplar is not None]
assert exemplars, "no exemplars"
assert len(exemplars[0].labels["trace_id"]) == 32 and len(exemplars[0].labels["span_id"]) == 16
pay = [s for s in fams["peer_payments_processed"].samples if s.exemplar is not None]
assert pay, "no counter exemplar"
assert fams["peer_sent_bytes"].unit == "bytes"
print("ok", len(exemplars))
)");
  std::string out;
  EXPECT_EQ(run(std::string(kPython) + " " + script + " " + path, out), 0) << out;
  EXPECT_TRUE(out.starts_with("ok")) << out;
}

TEST(PrometheusServer, ScrapesServeAndAnswersQueriesOnOurValues) {
  record_everything();
  auto endpoint = metrics::serve("127.0.0.1:0");
  testing::TempDir dir;
  testing::PrometheusServer prometheus(dir, endpoint.port());
  ASSERT_TRUE(prometheus.started());
  const bool scraped = testing::wait_until(
      [&] { return prometheus.scalar("peer_payments_processed_total{method=\"card\"}") == 3.0; },
      std::chrono::seconds(40));
  ASSERT_TRUE(scraped) << "prometheus never saw our counter";
  EXPECT_EQ(prometheus.scalar("peer_queue_depth{queue=\"email\"}"), 12.0);
  // 7 observations: the median falls in the (0.5, 0.75] bucket.
  const double p50 = prometheus.scalar(
      "histogram_quantile(0.5, sum by (le) (peer_payment_processing_seconds_bucket))");
  EXPECT_GT(p50, 0.5);
  EXPECT_LE(p50, 0.75);
  EXPECT_EQ(prometheus.scalar("up{job=\"o11y\"}"), 1.0);
}

TEST(PrometheusServer, ScrapesANativeHistogramOverProtobufAndItsQuantileIsWithinTheSchemaError) {
  auto h = histogram("peer_native_latency_seconds", "Latency.", {"method"}, Buckets::exponential());
  auto classic = histogram("peer_classic_seconds", "Classic beside it.", {}, {0.1, 1});
  auto both = histogram("peer_both_seconds", "Native with classic buckets.", {},
                        Buckets::exponential().with_classic({0.1, 1}));
  both.record(0.05);
  both.record(0.5);
  auto c = counter("peer_native_requests_total", "Requests.", {"method"});
  // 1000 values spread evenly in log space between 1 ms and 1 s: the median is 10^-1.5 s.
  double sum = 0;
  for (int i = 0; i < 1000; ++i) {
    const double v = std::pow(10.0, -3.0 + 3.0 * (i + 0.5) / 1000.0);
    h.record(v, {{"method", "card"}});
    sum += v;
  }
  classic.record(0.5);
  c.add(7, {{"method", "card"}});
  auto endpoint = metrics::serve("127.0.0.1:0");
  testing::TempDir dir;
  testing::PrometheusServer prometheus(dir, endpoint.port(),
                                       {"--enable-feature=native-histograms"});
  ASSERT_TRUE(prometheus.started());
  const std::string series = "peer_native_latency_seconds{method=\"card\"}";
  ASSERT_TRUE(testing::wait_until(
      [&] { return prometheus.scalar("histogram_count(" + series + ")") == 1000.0; },
      std::chrono::seconds(40)))
      << "Prometheus never saw the native histogram: " << prometheus.query("up").dump();
  EXPECT_NEAR(prometheus.scalar("histogram_sum(" + series + ")"), sum, sum * 1e-9);
  // Schema 3: a bucket spans a factor of 2^(1/8), about 9%; a quantile is off by less.
  for (const auto& [q, exact] :
       {std::pair{0.5, std::pow(10.0, -1.5)}, std::pair{0.9, std::pow(10.0, -0.3)},
        std::pair{0.1, std::pow(10.0, -2.7)}}) {
    const double got =
        prometheus.scalar("histogram_quantile(" + std::to_string(q) + ", " + series + ")");
    EXPECT_NEAR(got, exact, exact * 0.095) << "quantile " << q;
  }
  // The rest of the scrape came over protobuf too: a counter and a classic histogram.
  EXPECT_EQ(prometheus.scalar("peer_native_requests_total{method=\"card\"}"), 7.0);
  EXPECT_EQ(prometheus.scalar("peer_classic_seconds_bucket{le=\"1.0\"}"), 1.0);
  // Both in one histogram: Prometheus 2.42 keeps the native one when it has both.
  EXPECT_EQ(prometheus.scalar("histogram_count(peer_both_seconds)"), 2.0);
  EXPECT_EQ(prometheus.scalar("up{job=\"o11y\"}"), 1.0);
}

TEST(Pushgateway, ReceivesAPushAndShowsTheValues) {
  record_everything();
  testing::TempDir dir;
  const int port = testing::free_port();
  testing::Process gateway(
      {"prometheus-pushgateway", "--web.listen-address=127.0.0.1:" + std::to_string(port)},
      dir.file("pushgateway.log"));
  ASSERT_TRUE(gateway.started());
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  int status = -1;
  ASSERT_TRUE(testing::wait_until(
      [&] {
        status = metrics::push(url, "nightly_batch", {{"instance", "worker/1"}});
        return status == 200 || status == 202;
      },
      std::chrono::seconds(20)))
      << "last status " << status;
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("peer_payments_processed_total{instance=\"worker/"
                           "1\",job=\"nightly_batch\",method=\"card\",status=\"success\"} 3"),
            std::string::npos)
      << res->body.substr(0, 3000);
}

TEST(Pushgateway, AnUnreachableGatewayIsANegativeStatusNotAnException) {
  EXPECT_LT(metrics::push("http://127.0.0.1:" + std::to_string(testing::free_port()), "job"), 0);
}

// Property: whatever mix of declarations with colliding names a service makes (our three
// kinds, and a prometheus-cpp registry's families beside them), every declaration either
// works or throws MetricError naming both metrics, and the exposition in both formats stays
// valid for promtool and both of prometheus_client's parsers.
TEST(ExpositionProperty, RandomCollidingDeclarationsNeverMakeAnInvalidScrape) {
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::vector<std::string> suffixes = {"",        "_total",   "_count", "_sum",
                                             "_bucket", "_created", "_info"};
  std::vector<std::shared_ptr<prometheus::Registry>> registries;
  for (int round = 0; round < 8; ++round) {
    const std::string prefix = "prop" + std::to_string(round) + "_";
    auto registry = std::make_shared<prometheus::Registry>();
    metrics::expose(registry);
    registries.push_back(registry);
    int accepted = 0;
    for (int i = 0; i < 10; ++i) {
      const std::string name = prefix + (rng() % 2 ? "a" : "b") + suffixes[rng() % suffixes.size()];
      const auto kind = rng() % 4;
      try {
        if (kind == 0) {
          counter(name, "h", {"k"}).add(1, {{"k", "v"}});
        } else if (kind == 1) {
          gauge(name, "h").set(2);
        } else if (kind == 2) {
          histogram(name, "h", {}, {1.0}).record(0.5);
        } else if (rng() % 2) {
          prometheus::BuildSummary()
              .Name(name)
              .Help("h")
              .Register(*registry)
              .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}})
              .Observe(1);
        } else {
          prometheus::BuildGauge().Name(name).Help("h").Register(*registry).Add({}).Set(3);
        }
        ++accepted;
      } catch (const MetricError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("\"" + name + "\""), std::string::npos) << what;
        EXPECT_NE(what.find("already"), std::string::npos) << what;
      } catch (const std::invalid_argument&) {
        // prometheus-cpp refusing a name it already holds with another type: its own rule.
      }
    }
    EXPECT_GT(accepted, 0);
    ::testing::internal::CaptureStderr();  // the left-out families are reported there
    const auto text = metrics::render(metrics::Format::Text);
    const auto om = metrics::render(metrics::Format::OpenMetrics);
    (void)::testing::internal::GetCapturedStderr();
    const auto problems = testing::exposition_problems(text, om);
    EXPECT_EQ(problems, "") << "round " << round << "\n" << text;
    if (!problems.empty())
      break;
  }
}

}  // namespace
}  // namespace o11y
