#include "tools/metric_lint.hpp"

#include <gtest/gtest.h>

namespace o11y::tool {
namespace {

bool has(const std::vector<std::string>& findings, std::string_view needle) {
  for (const auto& f : findings) {
    if (f.find(needle) != std::string::npos)
      return true;
  }
  return false;
}

TEST(MetricLint, AcceptsWellNamedFamilies) {
  const auto findings = lint_exposition(
      "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
      "http_requests_total{method=\"GET\"} 3\n"
      "# HELP request_duration_seconds Latency.\n# TYPE request_duration_seconds histogram\n"
      "request_duration_seconds_bucket{le=\"+Inf\"} 1\nrequest_duration_seconds_sum 0.2\n"
      "request_duration_seconds_count 1\n");
  EXPECT_TRUE(findings.empty()) << findings.front();
}

TEST(MetricLint, NamesEachViolationOfTheNamingGuide) {
  const auto findings = lint_exposition(
      "# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n"
      "# HELP queue_total Depth.\n# TYPE queue_total gauge\nqueue_total 1\n"
      "# HELP latency_milliseconds L.\n# TYPE latency_milliseconds gauge\nlatency_milliseconds 1\n"
      "# HELP CamelCase C.\n# TYPE CamelCase gauge\nCamelCase 1\n"
      "# TYPE undocumented gauge\nundocumented 1\n"
      "9bad 1\n");
  EXPECT_TRUE(has(findings, "jobs: counter metrics should have the _total suffix"));
  EXPECT_TRUE(has(findings, "queue_total: only counters should have the _total suffix"));
  EXPECT_TRUE(has(findings, "latency_milliseconds: use base units"));
  EXPECT_TRUE(has(findings, "CamelCase: metric names should be snake_case"));
  EXPECT_TRUE(has(findings, "undocumented: no help text"));
  EXPECT_TRUE(has(findings, "\"9bad 1\": not a valid sample"));
  EXPECT_EQ(findings.size(), 6U);
}

}  // namespace
}  // namespace o11y::tool
