// Every example built and run as its README paragraph says, the pre-fork example scraped by a
// real Prometheus through a worker kill, and the o11y tool on the directory it leaves.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/prometheus.hpp"
#include "support/serving.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kExamples = O11Y_EXAMPLES_DIR;
const std::string kTool = O11Y_TOOL;

/// Sets environment variables for the processes a test starts, and removes them after.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::string>> vars) {
    for (const auto& [k, v] : vars) {
      ::setenv(k, v.c_str(), 1);
      names_.push_back(k);
    }
  }
  ~ScopedEnv() {
    for (const auto* n : names_)
      ::unsetenv(n);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<const char*> names_;
};

bool answers(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1s);
  const auto res = cli.Get(path);
  return res && res->status == 200;
}

TEST(Quickstart, PrintsLogLinesThatCarryTheTagsAndTheCallersTrace) {
  std::string out;
  ASSERT_EQ(testing::run(kExamples + "/quickstart 2>&1", out), 0) << out;
  const auto lines = testing::json_lines(out);
  ASSERT_FALSE(lines.empty()) << out;
  EXPECT_EQ(lines[0]["event"], "order_placed");
  EXPECT_EQ(lines[0]["tenant_id"], "acme");
  EXPECT_EQ(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(HttpService, ServesOrdersWithATracedOutboundCallMetricsAndLogs) {
  testing::TempDir dir;
  const int port = testing::free_port();
  const ScopedEnv env{{"OTEL_TRACES_EXPORTER", "console"},
                      {"OTEL_BSP_SCHEDULE_DELAY", "100"},
                      {"O11Y_LOGGING_FORMAT", "json"},
                      {"O11Y_TRACING_SAMPLE_RATE", "1"}};
  const auto log = dir.file("out.jsonl");
  {
    testing::Process service({kExamples + "/http_service", std::to_string(port)}, log);
    ASSERT_TRUE(testing::wait_until([&] { return answers(port, "/metrics"); }, 20s));
    httplib::Client cli("127.0.0.1", port);
    const std::string trace = "0af7651916cd43dd8448eb211c80319c";
    const auto got = cli.Get("/orders/42", {{"traceparent", "00-" + trace + "-b7ad6b7169203331-01"},
                                            {"X-Tenant", "acme"}});
    ASSERT_TRUE(got && got->status == 200);
    EXPECT_EQ(got->body, R"({"order_id":42,"in_stock":7})");
    const auto placed = cli.Post("/orders?payment=invoice", "", "application/json");
    ASSERT_TRUE(placed && placed->status == 201);
    const auto metrics = cli.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find(R"(orders_placed_total{payment_method="invoice"} 1)"),
              std::string::npos);
    EXPECT_NE(metrics->body.find("order_pricing_seconds_count 1"), std::string::npos);
    // Spans are exported every 100 ms; the inventory call's server span is the last to end.
    ASSERT_TRUE(testing::wait_until(
        [&] { return testing::read_file(log).find("\"GET /orders/{id}\"") != std::string::npos; },
        10s));
    // SIGTERM stops it cleanly, its logs flushed: not by the signal's default action.
    EXPECT_EQ(service.stop(), 0);
  }
  const auto lines = testing::json_lines(testing::read_file(log));
  std::map<std::string, json> spans;
  bool viewed = false;
  for (const auto& l : lines) {
    if (l.contains("traceId"))
      spans[l["name"]] = l;
    if (l.value("event", "") == "order_viewed") {
      viewed = true;
      EXPECT_EQ(l["trace_id"], "0af7651916cd43dd8448eb211c80319c");
      EXPECT_EQ(l["tenant_id"], "acme");
    }
  }
  EXPECT_TRUE(viewed);
  ASSERT_TRUE(spans.contains("GET /orders/{id}") && spans.contains("GET /inventory/{id}") &&
              spans.contains("GET"))
      << testing::read_file(log);
  const auto& front = spans["GET /orders/{id}"];
  const auto& client = spans["GET"];
  const auto& back = spans["GET /inventory/{id}"];
  EXPECT_EQ(front["traceId"], "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(client["parentSpanId"], front["spanId"]);
  EXPECT_EQ(back["parentSpanId"], client["spanId"]);
  EXPECT_EQ(back["traceId"], front["traceId"]);
}

TEST(QueueWorker, OneTraceRunsFromEachProducedMessageToItsConsumer) {
  std::string out;
  ASSERT_EQ(testing::run(kExamples + "/queue_worker 3 2>&1", out), 0) << out;
  std::map<std::string, json> producers;  // by span id
  std::vector<json> consumers;
  for (const auto& l : testing::json_lines(out)) {
    if (l.value("name", "") == "send order")
      producers[l["spanId"]] = l;
    if (l.value("name", "") == "process order")
      consumers.push_back(l);
  }
  ASSERT_EQ(producers.size(), 3U) << out;
  ASSERT_EQ(consumers.size(), 3U) << out;
  for (const auto& c : consumers) {
    ASSERT_TRUE(producers.contains(c["parentSpanId"])) << c.dump();
    const auto& p = producers[c["parentSpanId"]];
    EXPECT_EQ(c["traceId"], p["traceId"]);
    EXPECT_EQ(c["kind"], 5);
    EXPECT_EQ(p["kind"], 4);
    EXPECT_EQ(c["serviceName"], "queue_consumer");
    EXPECT_EQ(p["serviceName"], "queue_producer");
    ASSERT_EQ(c["links"].size(), 1U);
    EXPECT_EQ(c["links"][0]["spanId"], p["spanId"]);
  }
}

int whoami(int port) {
  httplib::Client cli("127.0.0.1", port);
  const auto res = cli.Get("/whoami");
  return res && res->status == 200 ? std::stoi(res->body) : -1;
}

TEST(PreforkWorkers, PrometheusSeesEveryRequestThroughAWorkerKillAndTheToolReadsTheDirectory) {
  testing::TempDir dir;
  const auto mp_dir = dir.file("multiproc");
  const int port = testing::free_port();
  const int metrics_port = testing::free_port();
  testing::Process master(
      {kExamples + "/prefork_workers", "--port", std::to_string(port), "--metrics-port",
       std::to_string(metrics_port), "--workers", "2", "--dir", mp_dir},
      dir.file("prefork.log"));
  ASSERT_TRUE(testing::wait_until(
      [&] { return answers(port, "/whoami") && answers(metrics_port, "/metrics"); }, 20s))
      << testing::read_file(dir.file("prefork.log"));
  testing::PrometheusServer prometheus(dir, metrics_port);
  ASSERT_TRUE(prometheus.started());

  // A request that got no answer reports why, with what the server logged.
  const auto view_order = [&](httplib::Client& c, int i) -> ::testing::AssertionResult {
    const auto res = c.Get("/orders/" + std::to_string(i));
    if (res)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << httplib::to_string(res.error()) << "\n"
                                         << testing::read_file(dir.file("prefork.log"));
  };
  httplib::Client cli("127.0.0.1", port);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(view_order(cli, i));
  ASSERT_TRUE(
      testing::wait_until([&] { return prometheus.scalar("sum(orders_viewed_total)") == 10; }, 60s))
      << "Prometheus never saw the first 10 requests";

  const int victim = whoami(port);
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(testing::wait_until(
      [&] {
        return testing::read_file(dir.file("prefork.log")).find("worker_replaced") !=
               std::string::npos;
      },
      10s));
  for (int i = 0; i < 5; ++i) {
    httplib::Client c("127.0.0.1", port);  // new connections: the dead worker's are gone
    ASSERT_TRUE(view_order(c, i));
  }
  ASSERT_TRUE(
      testing::wait_until([&] { return prometheus.scalar("sum(orders_viewed_total)") == 15; }, 60s))
      << "the killed worker's requests left the aggregate";
  EXPECT_EQ(prometheus.scalar("sum(resets(orders_viewed_total[10m]))"), 0.0)
      << "the counter went backwards when the worker died";
  EXPECT_EQ(prometheus.scalar("up{job=\"o11y\"}"), 1.0);

  // promtool on what the master serves: valid and lint-clean.
  httplib::Client mc("127.0.0.1", metrics_port);
  const auto scraped = mc.Get("/metrics");
  ASSERT_TRUE(scraped);
  const auto text_path = testing::write_file(dir, "scrape.txt", scraped->body);
  std::string out;
  EXPECT_EQ(testing::run("promtool check metrics < " + text_path + " 2>&1", out), 0) << out;
  EXPECT_EQ(out, "") << "promtool lint findings";

  // The tool on the same directory, while the workers run.
  ASSERT_EQ(testing::run(kTool + " metrics --dir " + mp_dir, out), 0) << out;
  EXPECT_NE(out.find("orders_viewed_total 15"), std::string::npos) << out;
  ASSERT_EQ(testing::run(kTool + " metrics --dir " + mp_dir + " --format openmetrics", out), 0);
  EXPECT_TRUE(out.ends_with("# EOF\n")) << out;
  ASSERT_EQ(testing::run(kTool + " compact --dir " + mp_dir, out), 0) << out;
  EXPECT_NE(out.find("absorbed"), std::string::npos) << out;
  ASSERT_EQ(testing::run(kTool + " metrics --dir " + mp_dir, out), 0) << out;
  EXPECT_NE(out.find("orders_viewed_total 15"), std::string::npos) << "compaction lost counts";

  const int serve_port = testing::free_port();
  {
    testing::Process serve(
        {kTool, "serve", "--dir", mp_dir, "--listen", "127.0.0.1:" + std::to_string(serve_port)});
    ASSERT_TRUE(testing::wait_until([&] { return answers(serve_port, "/metrics"); }, 10s));
    httplib::Client sc("127.0.0.1", serve_port);
    const auto served =
        sc.Get("/metrics", {{"Accept", "application/openmetrics-text; version=1.0.0"}});
    ASSERT_TRUE(served);
    EXPECT_NE(served->get_header_value("Content-Type").find("openmetrics"), std::string::npos);
    EXPECT_NE(served->body.find("orders_viewed_total 15"), std::string::npos);
  }

  // `o11y export`: the same aggregate, once, as OTLP/JSON to a collector.
  {
    httplib::Server collector;
    std::mutex mu;
    std::string exported;
    collector.Post("/v1/metrics", [&](const httplib::Request& req, httplib::Response& res) {
      const std::lock_guard lock(mu);
      exported = req.body;
      res.set_content("{}", "application/json");
    });
    const testing::Serving serving(collector);
    ASSERT_EQ(testing::run("OTEL_SERVICE_NAME=sidecar " + kTool + " export --dir " + mp_dir +
                               " --protocol http/json --endpoint http://127.0.0.1:" +
                               std::to_string(serving.port()),
                           out),
              0)
        << out;
    const std::lock_guard lock(mu);
    const auto request = json::parse(exported);
    const auto& rm = request["resourceMetrics"][0];
    EXPECT_NE(rm["resource"].dump().find("\"sidecar\""), std::string::npos) << rm["resource"];
    double viewed = -1;
    for (const auto& m : rm["scopeMetrics"][0]["metrics"]) {
      if (m["name"] == "orders_viewed")
        viewed = m["sum"]["dataPoints"][0]["asDouble"].get<double>();
    }
    EXPECT_EQ(viewed, 15.0) << exported;
  }
  ASSERT_EQ(testing::run(kTool + " export --dir " + mp_dir + " --endpoint http://127.0.0.1:" +
                             std::to_string(testing::free_port()) + " --timeout 2",
                         out),
            1)
      << "nothing listens there: exit status 1";
  EXPECT_NE(out.find("did not accept"), std::string::npos) << out;

  const auto check_cmd =
      "O11Y_MULTIPROC_DIR=" + mp_dir + " " + kTool +
      " check --json --no-span --metrics-url http://127.0.0.1:" + std::to_string(metrics_port) +
      "/metrics";
  ASSERT_EQ(testing::run(check_cmd, out), 0) << out;
  const auto report = json::parse(out);
  EXPECT_EQ(report["ok"], true) << out;
}

TEST(Tool, BadArgumentsGetAClearErrorAndExitStatus2) {
  testing::TempDir dir;
  std::string out;
  EXPECT_EQ(testing::run(kTool + " 2>&1", out), 2);
  EXPECT_NE(out.find("usage: o11y"), std::string::npos);
  EXPECT_EQ(testing::run(kTool + " frobnicate 2>&1", out), 2);
  EXPECT_NE(out.find("unknown command \"frobnicate\""), std::string::npos) << out;
  EXPECT_EQ(testing::run(kTool + " metrics 2>&1", out), 2);
  EXPECT_NE(out.find("--dir DIR is required"), std::string::npos) << out;
  EXPECT_EQ(testing::run(kTool + " metrics --dir 2>&1", out), 2);
  EXPECT_NE(out.find("--dir needs a value"), std::string::npos) << out;
  EXPECT_EQ(testing::run(kTool + " metrics --dir /nonexistent/o11y 2>&1", out), 1);
  EXPECT_NE(out.find("is not a directory"), std::string::npos) << out;
  EXPECT_EQ(
      testing::run(kTool + " metrics --dir " + dir.path().string() + " --format xml 2>&1", out), 2);
  EXPECT_NE(out.find("--format must be text or openmetrics"), std::string::npos) << out;
  EXPECT_EQ(
      testing::run(kTool + " serve --dir " + dir.path().string() + " --listen nope 2>&1", out), 2);
  EXPECT_NE(out.find("--listen must be HOST:PORT"), std::string::npos) << out;
  EXPECT_EQ(testing::run(kTool + " check --verbose 2>&1", out), 2);
  const std::string export_dir = kTool + " export --dir " + dir.path().string();
  EXPECT_EQ(testing::run(kTool + " export 2>&1", out), 2);
  EXPECT_NE(out.find("--dir DIR is required"), std::string::npos) << out;
  EXPECT_EQ(testing::run(export_dir + " --protocol grpc 2>&1", out), 2);
  EXPECT_NE(out.find("--protocol must be http/protobuf or http/json, not \"grpc\""),
            std::string::npos)
      << out;
  for (const std::string timeout : {"0", "-3", "soon"}) {
    EXPECT_EQ(testing::run(export_dir + " --timeout " + timeout + " 2>&1", out), 2) << timeout;
    EXPECT_NE(out.find("--timeout must be a positive number of seconds"), std::string::npos) << out;
  }
  EXPECT_EQ(testing::run(export_dir + " --endpoint ftp://127.0.0.1/v1/metrics 2>&1", out), 2);
  EXPECT_NE(out.find("ftp://127.0.0.1/v1/metrics"), std::string::npos) << out;
  for (const std::string command : {"check", "metrics", "serve", "compact", "export"}) {
    EXPECT_EQ(testing::run(kTool + " " + command + " --help", out), 0) << command;
    EXPECT_NE(out.find("usage: o11y " + command), std::string::npos) << out;
  }
}

TEST(Tool, CheckFailsOnMalformedVariablesAndAnUnsafeDirectory) {
  testing::TempDir dir;
  const auto unsafe = dir.file("unsafe");
  ASSERT_EQ(::mkdir(unsafe.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(unsafe.c_str(), 0777), 0);
  std::string out;
  EXPECT_EQ(testing::run("O11Y_MULTIPROC_DIR=" + unsafe + " O11Y_TRACING_SAMPLE_RATE=lots " +
                             kTool + " check 2>&1",
                         out),
            1);
  EXPECT_NE(out.find("O11Y_TRACING_SAMPLE_RATE=\"lots\""), std::string::npos) << out;
  EXPECT_NE(out.find("world-writable"), std::string::npos) << out;
  EXPECT_NE(out.find("some checks failed"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::is_empty(unsafe)) << "check must not write into the directory";
}

TEST(Tool, CheckSendsATestSpanAndATestLogRecordTheCollectorReceives) {
  httplib::Server collector;
  std::string body;
  std::string logs_body;
  std::mutex mu;
  std::string content_type;
  collector.Post("/v1/logs", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    logs_body += req.body;
    res.set_content("", "application/x-protobuf");
  });
  std::string metrics_body;
  collector.Post("/v1/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    metrics_body += req.body;
    res.set_content("", "application/x-protobuf");
  });
  collector.Post("/v1/traces", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    body = req.body;
    content_type = req.get_header_value("Content-Type");
    res.set_content("", "application/x-protobuf");
  });
  std::string out;
  int rc = 0;
  {
    const testing::Serving serving(collector);
    rc = testing::run("OTEL_SERVICE_NAME=checked OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:" +
                          std::to_string(serving.port()) + " " + kTool + " check --json",
                      out);
  }
  ASSERT_EQ(rc, 0) << out;
  const auto report = json::parse(out);
  std::string detail;
  for (const auto& c : report["checks"]) {
    if (c["check"] == "otlp endpoint")
      detail = c["detail"];
  }
  const auto at = detail.find("trace id ");
  ASSERT_NE(at, std::string::npos) << detail;
  const auto trace_id = detail.substr(at + 9, 32);
  // OTLP/protobuf, the default: the trace id travels as its 16 raw bytes.
  std::string raw_id;
  for (std::size_t i = 0; i + 1 < trace_id.size(); i += 2)
    raw_id.push_back(static_cast<char>(std::stoi(trace_id.substr(i, 2), nullptr, 16)));
  std::lock_guard lock(mu);
  EXPECT_EQ(content_type, "application/x-protobuf");
  EXPECT_NE(body.find(raw_id), std::string::npos) << "the test span's trace id is in the body";
  EXPECT_NE(body.find("checked"), std::string::npos) << "the service name travels with it";

  std::string logs_detail;
  for (const auto& c : report["checks"]) {
    if (c["check"] == "otlp logs endpoint") {
      EXPECT_TRUE(c["ok"].get<bool>()) << c;
      logs_detail = c["detail"];
    }
  }
  const auto id_at = logs_detail.find("check_id ");
  ASSERT_NE(id_at, std::string::npos) << logs_detail;
  const auto check_id = logs_detail.substr(id_at + 9, 32);
  EXPECT_NE(logs_body.find("o11y_check"), std::string::npos);
  EXPECT_NE(logs_body.find(check_id), std::string::npos) << "the record's field is in the body";
  EXPECT_NE(logs_body.find("checked"), std::string::npos) << "the service name travels with it";
  bool metrics_ok = false;
  for (const auto& c : report["checks"]) {
    if (c["check"] == "otlp metrics endpoint")
      metrics_ok = c["ok"].get<bool>();
  }
  EXPECT_TRUE(metrics_ok) << out;
  EXPECT_NE(metrics_body.find("checked"), std::string::npos) << "the resource travels with it";
}

TEST(Tool, CheckFailsWhenTheLogsEndpointRefusesTheRecord) {
  httplib::Server collector;
  collector.Post("/v1/traces", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("", "application/x-protobuf");
  });
  collector.Post("/v1/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("", "application/x-protobuf");
  });
  collector.Post("/v1/logs", [](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content("{\"message\":\"no\"}", "application/json");
  });
  std::string out;
  int rc = 0;
  {
    const testing::Serving serving(collector);
    rc = testing::run("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:" +
                          std::to_string(serving.port()) + " " + kTool + " check --json",
                      out);
  }
  EXPECT_EQ(rc, 1) << out;
  // The collector's refusal is also reported on stderr, which the helper captures too.
  const auto at = out.find("{\n  \"checks\"");
  ASSERT_NE(at, std::string::npos) << out;
  const auto report = json::parse(out.substr(at));
  bool seen = false;
  for (const auto& c : report["checks"]) {
    if (c["check"] == "otlp logs endpoint") {
      seen = true;
      EXPECT_FALSE(c["ok"].get<bool>()) << c;
    } else if (c["check"] == "otlp endpoint") {
      EXPECT_TRUE(c["ok"].get<bool>()) << c;
    }
  }
  EXPECT_TRUE(seen) << out;
}

}  // namespace
}  // namespace o11y
