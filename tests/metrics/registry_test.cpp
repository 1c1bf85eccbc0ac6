// Registries of one's own beside the default: isolated families, their own render, dropped
// with their values.
#include <gtest/gtest.h>

#include <o11y/metrics.hpp>
#include <string>

#include "support/exposition_check.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using testing::contains;
using testing::sample;

TEST(MetricsRegistry, RendersOnlyItsOwnFamiliesAndTheDefaultNeverShowsThem) {
  counter("reg_requests_total", "In the default registry", {"route"}).add(1, {{"route", "/"}});
  metrics::Registry mine;
  auto requests = mine.counter("reg_requests_total", "Mine, other labels", {"status"});
  requests.add(3, {{"status", "ok"}});
  mine.gauge("reg_only_mine", "Mine only").set(7);

  const auto own = mine.render();
  EXPECT_EQ(sample(own, "reg_requests_total{status=\"ok\"}"), 3.0) << own;
  EXPECT_EQ(sample(own, "reg_only_mine"), 7.0) << own;
  EXPECT_FALSE(contains(own, "route=")) << own;
  EXPECT_FALSE(contains(own, "process_cpu_seconds_total")) << own;

  const auto global = metrics::render();
  EXPECT_EQ(sample(global, "reg_requests_total{route=\"/\"}"), 1.0);
  EXPECT_FALSE(contains(global, "reg_only_mine"));
  EXPECT_EQ(testing::exposition_problems(own, mine.render(metrics::Format::OpenMetrics)), "");
}

TEST(MetricsRegistry, AppliesTheDeclarationRulesWithinItself) {
  metrics::Registry mine;
  (void)mine.counter("reg_jobs_total", "Jobs");
  EXPECT_THROW((void)mine.gauge("reg_jobs_total", "Clashes with the counter's sample"),
               MetricError);
  EXPECT_THROW((void)mine.counter("reg_jobs_total", "Other labels", {"queue"}), MetricError);
  EXPECT_THROW((void)mine.histogram("bad name", "h"), MetricError);
  // The same name in another registry is another family.
  metrics::Registry other;
  EXPECT_NO_THROW((void)other.gauge("reg_jobs_total", "A gauge there"));
}

TEST(MetricsRegistry, ANewRegistryStartsFromNothing) {
  for (int round = 0; round < 3; ++round) {
    metrics::Registry mine;
    auto c = mine.counter("reg_rounds_total", "Per registry");
    EXPECT_EQ(c.value(), 0.0) << round;
    c.add(2);
    auto h = mine.histogram("reg_latency_seconds", "h", {}, {0.1, 1.0});
    h.record(0.5);
    EXPECT_EQ(h.count(), 1U);
    EXPECT_EQ(sample(mine.render(), "reg_rounds_total"), 2.0);
  }
}

}  // namespace
}  // namespace o11y
