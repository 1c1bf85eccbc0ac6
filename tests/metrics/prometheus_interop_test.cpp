#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <o11y/metrics.hpp>
#include <o11y/prometheus.hpp>
#include <string>

#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using testing::contains;

TEST(PrometheusInterop, OurFamiliesAppearThroughPrometheusCppsOwnSerializer) {
  auto ours = counter("interop_ours_total", "Ours", {"k"});
  ours.add(7, {{"k", "v"}});
  auto hist = histogram("interop_ours_seconds", "Ours too", {}, {0.5, 1.0});
  hist.record(0.7);
  const auto families = metrics::collectable()->Collect();
  const std::string text = prometheus::TextSerializer().Serialize(families);
  EXPECT_TRUE(contains(text, "interop_ours_total{k=\"v\"} 7")) << text.substr(0, 2000);
  EXPECT_TRUE(contains(text, "interop_ours_seconds_bucket{le=\"1\"} 1")) << text.substr(0, 2000);
  EXPECT_TRUE(contains(text, "interop_ours_seconds_count 1"));
}

TEST(PrometheusInterop, AnExistingRegistryIsExposedThroughRenderWhileItLives) {
  std::string om;
  {
    auto registry = std::make_shared<prometheus::Registry>();
    auto& requests = prometheus::BuildCounter()
                         .Name("legacy_requests_total")
                         .Help("Legacy requests")
                         .Register(*registry);
    requests.Add({{"path", "/a\"b"}}).Increment(3);
    auto& temp =
        prometheus::BuildGauge().Name("legacy_temperature").Help("Temperature").Register(*registry);
    temp.Add({}).Set(21.5);
    auto& lat = prometheus::BuildHistogram()
                    .Name("legacy_latency_seconds")
                    .Help("Latency")
                    .Register(*registry);
    lat.Add({}, prometheus::Histogram::BucketBoundaries{0.1, 1.0}).Observe(0.5);
    auto& sizes = prometheus::BuildSummary().Name("legacy_sizes").Help("Sizes").Register(*registry);
    sizes.Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}}).Observe(10);
    metrics::expose(registry);

    const auto text = metrics::render(metrics::Format::Text);
    EXPECT_TRUE(contains(text, "legacy_requests_total{path=\"/a\\\"b\"} 3\n")) << text;
    EXPECT_TRUE(contains(text, "legacy_temperature 21.5\n"));
    EXPECT_TRUE(contains(text, "legacy_latency_seconds_bucket{le=\"1.0\"} 1\n"));
    EXPECT_TRUE(contains(text, "legacy_sizes{quantile=\"0.5\"} 10\n"));
    om = metrics::render(metrics::Format::OpenMetrics);
    EXPECT_TRUE(contains(om, "# TYPE legacy_requests counter\n")) << om;
    EXPECT_TRUE(contains(om, "legacy_requests_total{path=\"/a\\\"b\"} 3\n"));
  }
  // Held weakly: once the registry is gone, so are its families.
  EXPECT_FALSE(contains(metrics::render(metrics::Format::Text), "legacy_temperature"));

  // Python's OpenMetrics parser accepts the mixed output.
  testing::TempDir dir;
  std::ofstream(dir.file("mixed.om")) << om;
  std::string out;
  const int rc = testing::run(
      "/usr/bin/python3 -c \"import sys; from prometheus_client.openmetrics.parser import "
      "text_string_to_metric_families as p; print(len(list(p(open(sys.argv[1]).read()))))\" " +
          dir.file("mixed.om"),
      out);
  EXPECT_EQ(rc, 0) << out;
}

}  // namespace
}  // namespace o11y

namespace o11y {
namespace {

TEST(PrometheusInterop, AnExposedFamilyWhoseNameClashesIsLeftOutCountedAndReportedOnce) {
  auto ours = counter("interop_clash_orders_total", "Ours");
  ours.add(5);
  auto registry = std::make_shared<prometheus::Registry>();
  // A gauge named like our counter's sample, and a summary whose _count our family does not use.
  prometheus::BuildGauge()
      .Name("interop_clash_orders_total")
      .Help("Theirs")
      .Register(*registry)
      .Add({})
      .Set(99);
  prometheus::BuildGauge()
      .Name("interop_clash_free")
      .Help("No clash")
      .Register(*registry)
      .Add({})
      .Set(1);
  metrics::expose(registry);

  ::testing::internal::CaptureStderr();
  const auto text = metrics::render(metrics::Format::Text);
  const auto again = metrics::render(metrics::Format::OpenMetrics);
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(text, "interop_clash_orders_total 5\n")) << text;
  EXPECT_FALSE(contains(text, "interop_clash_orders_total 99")) << text;
  EXPECT_TRUE(contains(text, "interop_clash_free 1\n")) << text;
  EXPECT_TRUE(contains(again, "interop_clash_free 1\n")) << again;
  EXPECT_TRUE(contains(text, "o11y_metric_families_skipped_total 1\n")) << text;
  EXPECT_TRUE(contains(again, "o11y_metric_families_skipped_total 2\n")) << again;
  // Reported once, naming both families.
  const auto first = err.find("interop_clash_orders_total");
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_TRUE(contains(err, "gauge \"interop_clash_orders_total\"")) << err;
  EXPECT_TRUE(contains(err, "counter \"interop_clash_orders_total\"")) << err;
  EXPECT_EQ(err.find("left out", err.find("left out") + 1), std::string::npos) << err;

  // Both outputs pass promtool.
  testing::TempDir dir;
  std::ofstream(dir.file("clash.txt")) << text;
  std::string out;
  EXPECT_EQ(testing::run("promtool check metrics < " + dir.file("clash.txt"), out), 0) << out;
}

}  // namespace
}  // namespace o11y
