// monitoring/: the rules pass promtool, every alert is unit tested both ways and has a runbook,
// and every recording rule and dashboard query returns data when a real Prometheus, loading
// the rules, scrapes the running examples/orders_service.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/prometheus.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kMonitoring = O11Y_MONITORING_DIR;
const std::string kRecording = kMonitoring + "/rules/o11y-recording.rules.yml";
const std::string kAlerts = kMonitoring + "/rules/o11y-alerts.rules.yml";

/// The values of `key: value` lines in a YAML file.
std::vector<std::string> yaml_values(const std::string& path, const std::string& key) {
  std::vector<std::string> out;
  const std::regex line("^\\s*-?\\s*" + key + ":\\s*(\\S+)\\s*$");
  std::istringstream in(testing::read_file(path));
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line))
      out.push_back(m[1]);
  }
  return out;
}

TEST(Monitoring, RulesPassPromtoolCheckAndTheirUnitTests) {
  std::string out;
  ASSERT_EQ(testing::run("promtool check rules " + kRecording + " " + kAlerts + " 2>&1", out), 0)
      << out;
  ASSERT_EQ(
      testing::run("cd " + kMonitoring + "/tests && promtool test rules o11y-alerts.test.yml 2>&1",
                   out),
      0)
      << out;
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
}

TEST(Monitoring, EveryAlertIsTestedFiringAndQuietAndHasARunbook) {
  const auto alerts = yaml_values(kAlerts, "alert");
  ASSERT_GE(alerts.size(), 8U);
  const auto tests = testing::read_file(kMonitoring + "/tests/o11y-alerts.test.yml");
  const auto runbooks = testing::read_file(std::string(O11Y_SOURCE_DIR) + "/docs/alerts.md");
  for (const auto& alert : alerts) {
    // A case with exp_alerts (fires) and one without (must not).
    std::size_t firing = 0;
    std::size_t quiet = 0;
    const std::string name = "alertname: " + alert;
    for (auto at = tests.find(name); at != std::string::npos; at = tests.find(name, at + 1)) {
      const auto end = at + name.size();
      const auto next_case = tests.find("- eval_time", end);
      const auto next_group = tests.find("  - name:", end);
      const auto expected = tests.find("exp_alerts:", end);
      const bool fires = expected != std::string::npos &&
                         (next_case == std::string::npos || expected < next_case) &&
                         (next_group == std::string::npos || expected < next_group);
      ++(fires ? firing : quiet);
    }
    EXPECT_GE(firing, 1U) << alert << " has no case where it fires";
    EXPECT_GE(quiet, 1U) << alert << " has no case where it must stay quiet";
    EXPECT_NE(runbooks.find("## " + alert + "\n"), std::string::npos) << alert << ": no runbook";
  }
}

TEST(Monitoring, EveryRecordingRuleAndDashboardQueryReturnsDataFromTheExampleService) {
  testing::TempDir dir;
  const int port = testing::free_port();
  // Multiprocess mode (the worker's job metrics reach /metrics), and OTLP export to a port
  // nobody listens on, so the library's own drop counters have something to say.
  const std::vector<std::pair<const char*, std::string>> env{
      {"O11Y_MULTIPROC_DIR", dir.file("multiproc")},
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"},
      {"OTEL_EXPORTER_OTLP_TIMEOUT", "300"},
      {"OTEL_LOGS_EXPORTER", "otlp"},
      {"OTEL_BSP_SCHEDULE_DELAY", "200"},
      {"OTEL_BLRP_SCHEDULE_DELAY", "200"},
      // Shutdown tries the dead endpoint once more: bounded, so SIGTERM ends it in time.
      {"OTEL_BSP_EXPORT_TIMEOUT", "1000"},
      {"OTEL_BLRP_EXPORT_TIMEOUT", "1000"},
      {"OTEL_METRICS_EXPORTER", "none"},
      {"O11Y_TRACING_SAMPLE_RATE", "1"},
      {"O11Y_LOGGING_FORMAT", "json"}};
  for (const auto& [k, v] : env)
    ::setenv(k, v.c_str(), 1);
  std::filesystem::create_directories(dir.file("multiproc"));
  testing::Process service(
      {O11Y_ORDERS_SERVICE, "--port", std::to_string(port), "--sqlite", dir.file("orders.db")},
      dir.file("service.log"));
  for (const auto& [k, v] : env)
    ::unsetenv(k);
  httplib::Client cli("127.0.0.1", port);
  ASSERT_TRUE(testing::wait_until(
      [&] {
        const auto r = cli.Get("/metrics");
        return r && r->status == 200;
      },
      20s))
      << testing::read_file(dir.file("service.log"));
  testing::PrometheusServer prometheus(dir, port, {"--enable-feature=exemplar-storage"},
                                       {kRecording, kAlerts});
  ASSERT_TRUE(prometheus.started());

  // Queries, and the names of the recording rules.
  std::vector<std::string> queries = yaml_values(kRecording, "record");
  ASSERT_GE(queries.size(), 10U);
  const auto dashboard =
      json::parse(testing::read_file(kMonitoring + "/dashboards/o11y-overview.json"));
  std::size_t panel_queries = 0;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      // Grafana's own variable, as it would expand it at this scrape interval.
      const auto expr = std::regex_replace(target["expr"].get<std::string>(),
                                           std::regex("\\$__rate_interval"), "1m");
      queries.push_back(expr);
      ++panel_queries;
    }
  }
  ASSERT_GE(panel_queries, 15U);

  // Traffic over a few scrapes: orders (each queues a job), reads, and the N+1 listing.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::set<std::string> empty(queries.begin(), queries.end());
  while (!empty.empty() && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 3; ++i)
      (void)cli.Post("/orders", R"({"email":"ann@example.com","total":9.5})", "application/json");
    (void)cli.Get("/orders/1");
    (void)cli.Get("/orders");
    std::this_thread::sleep_for(1s);
    for (auto it = empty.begin(); it != empty.end();) {
      const auto r = prometheus.query(*it);
      const bool has_data =
          r.is_object() && r["status"] == "success" && !r["data"]["result"].empty();
      it = has_data ? empty.erase(it) : std::next(it);
    }
  }
  for (const auto& q : empty)
    ADD_FAILURE() << "no data for: " << q;
  EXPECT_EQ(service.stop(), 0);
}

}  // namespace
}  // namespace o11y
