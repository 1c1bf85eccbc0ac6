// examples/orders_service as a user runs it: on SQLite alone, and on the throw-away PostgreSQL
// and Redis. One trace runs from the HTTP request through its queries to the forked job
// worker's job; the N+1 endpoint is flagged.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/db_servers.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kService = O11Y_ORDERS_SERVICE;

std::string attr(const json& span, const std::string& key) {
  for (const auto& a : span.value("attributes", json::array())) {
    if (a.value("key", "") == key) {
      const auto& v = a["value"];
      if (v.contains("stringValue"))
        return v["stringValue"];
      if (v.contains("intValue"))
        return v["intValue"].is_string() ? v["intValue"].get<std::string>()
                                         : std::to_string(v["intValue"].get<long>());
      if (v.contains("boolValue"))
        return v["boolValue"].get<bool>() ? "true" : "false";
    }
  }
  return "<absent>";
}

/// Runs the service with `args`, places an order, reads it twice and lists orders, then
/// checks the trace from the POST through its queries to the job, and the N+1 flag.
void run_and_check(std::vector<std::string> args, const std::string& system) {
  testing::TempDir dir;
  const int port = testing::free_port();
  args.insert(args.begin(), {kService, "--port", std::to_string(port)});
  ::setenv("OTEL_TRACES_EXPORTER", "console", 1);
  ::setenv("OTEL_BSP_SCHEDULE_DELAY", "100", 1);
  ::setenv("O11Y_LOGGING_FORMAT", "json", 1);
  ::setenv("O11Y_TRACING_SAMPLE_RATE", "1", 1);
  const auto log = dir.file("out.jsonl");
  long id = 0;
  {
    testing::Process service(args, log);
    httplib::Client cli("127.0.0.1", port);
    ASSERT_TRUE(testing::wait_until(
        [&] {
          const auto r = cli.Get("/metrics");
          return r && r->status == 200;
        },
        20s))
        << testing::read_file(log);
    for (int i = 0; i < 5; ++i) {
      const auto placed =
          cli.Post("/orders", R"({"email":"ann@example.com","total":49.99})", "application/json");
      ASSERT_TRUE(placed && placed->status == 201) << testing::read_file(log);
      id = json::parse(placed->body)["id"];
    }
    for (int i = 0; i < 2; ++i) {
      const auto got = cli.Get("/orders/" + std::to_string(id));
      ASSERT_TRUE(got && got->status == 200);
      EXPECT_EQ(json::parse(got->body)["email"], "ann@example.com");
    }
    const auto listed = cli.Get("/orders");
    ASSERT_TRUE(listed && listed->status == 200);
    ASSERT_TRUE(testing::wait_until(
        [&] {
          const auto text = testing::read_file(log);
          std::size_t jobs = 0;
          for (std::size_t at = 0; (at = text.find("\"task_succeeded\"", at)) != std::string::npos;
               ++at) {
            ++jobs;
          }
          return jobs == 5 && text.find("\"GET /orders\"") != std::string::npos;
        },
        15s))
        << testing::read_file(log);
    EXPECT_EQ(service.stop(), 0);
  }
  ::unsetenv("OTEL_TRACES_EXPORTER");
  ::unsetenv("OTEL_BSP_SCHEDULE_DELAY");
  ::unsetenv("O11Y_LOGGING_FORMAT");
  ::unsetenv("O11Y_TRACING_SAMPLE_RATE");

  const auto lines = testing::json_lines(testing::read_file(log));
  std::map<std::string, json> by_id;
  std::vector<json> posts;
  std::vector<json> jobs;
  for (const auto& l : lines) {
    if (!l.contains("traceId"))
      continue;
    by_id[l["spanId"]] = l;
    if (l["name"] == "POST /orders")
      posts.push_back(l);
    if (l["name"] == "send_notification")
      jobs.push_back(l);
  }
  ASSERT_EQ(posts.size(), 5U);
  ASSERT_EQ(jobs.size(), 5U);
  // Each job continues its request's trace: job -> publish (PRODUCER) -> POST /orders.
  for (const auto& job : jobs) {
    EXPECT_EQ(job["serviceName"], "orders_worker");
    ASSERT_TRUE(by_id.contains(job["parentSpanId"])) << job.dump();
    const auto& publish = by_id[job["parentSpanId"]];
    EXPECT_EQ(publish["name"], "send_notification publish");
    EXPECT_EQ(publish["traceId"], job["traceId"]);
    ASSERT_TRUE(by_id.contains(publish["parentSpanId"]));
    EXPECT_EQ(by_id[publish["parentSpanId"]]["name"], "POST /orders");
    // The job's own queries are its children, in the worker.
    std::size_t queries = 0;
    for (const auto& [span_id, s] : by_id) {
      if (s.value("parentSpanId", "") == job["spanId"] && attr(s, "db.system.name") == system)
        ++queries;
    }
    EXPECT_EQ(queries, 2U) << job.dump();
  }
  // The request's INSERT is its child, with the sanitized text.
  std::size_t inserts = 0;
  for (const auto& [span_id, s] : by_id) {
    if (s["name"] == "INSERT orders" && s.value("parentSpanId", "") == posts[0]["spanId"]) {
      ++inserts;
      EXPECT_EQ(attr(s, "db.system.name"), system);
      EXPECT_EQ(attr(s, "db.query.text").find("ann@example.com"), std::string::npos);
    }
  }
  EXPECT_EQ(inserts, 1U);
  // The deliberate N+1.
  bool flagged = false;
  for (const auto& [span_id, s] : by_id) {
    if (s["name"] == "GET /orders") {
      EXPECT_EQ(attr(s, "db.potential_n_plus_one"), "true") << s.dump();
      EXPECT_EQ(attr(s, "db.query_count"), "6");
      flagged = true;
    }
  }
  EXPECT_TRUE(flagged);
  std::size_t warnings = 0;
  for (const auto& l : lines)
    warnings += l.value("event", "") == "n_plus_one_detected" ? 1U : 0U;
  EXPECT_EQ(warnings, 1U);
}

TEST(OrdersService, OnSqliteOneTraceRunsFromTheRequestThroughItsQueriesToTheJob) {
  testing::TempDir dir;
  run_and_check({"--sqlite", dir.file("orders.db")}, "sqlite");
}

TEST(OrdersService, OnPostgresAndRedisOneTraceRunsFromTheRequestThroughItsQueriesToTheJob) {
  O11Y_REQUIRE_DB_SERVERS();
  const auto& servers = testing::DbServers::get();
  run_and_check({"--pg", servers.pg_url(), "--redis-port", std::to_string(servers.redis_port())},
                "postgresql");
}

}  // namespace
}  // namespace o11y
