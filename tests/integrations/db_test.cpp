// QueryScope, N+1 detection and JobScope, observed through spans, log lines and metrics.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <o11y/db.hpp>
#include <o11y/http.hpp>
#include <o11y/jobs.hpp>
#include <o11y/log.hpp>
#include <o11y/metrics.hpp>
#include <o11y/propagation.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "integrations/work_unit.hpp"
#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using logging::LogCapture;
using nlohmann::json;
using testing::find_attr;

std::int64_t int_attr(const SpanData& s, std::string_view key) {
  const auto text = testing::attr_text(s, key);
  return text == "<absent>" ? -1 : std::stoll(text);
}

/// The value of one exposed sample line, or -1 when absent.
double sample(std::string_view line_start) {
  const auto text = metrics::render();
  const auto at = text.find(std::string(line_start) + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + line_start.size() + 1));
}

class Db : public testing::SpanTest {
 protected:
  void SetUp() override {
    SpanTest::SetUp();
    detail::set_db_config(DbConfig{});
  }
  void TearDown() override {
    detail::set_db_config(DbConfig{});
    SpanTest::TearDown();
  }
  LogCapture capture_;
};

TEST_F(Db, QuerySpanIsNamedByOperationAndTableWithConventionAttributes) {
  {
    db::QueryScope q({.system = "postgresql",
                      .query_text = "SELECT id FROM orders WHERE email = 'a@b.c'",
                      .db_namespace = "shop",
                      .server_address = "127.0.0.1",
                      .server_port = 5432});
    q.set_returned_rows(3);
    q.finish();
  }
  const auto span = spans_->find("SELECT orders");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->kind, SpanKind::Client);
  EXPECT_EQ(testing::attr_text(*span, "db.system.name"), "postgresql");
  EXPECT_EQ(testing::attr_text(*span, "db.namespace"), "shop");
  EXPECT_EQ(testing::attr_text(*span, "db.operation.name"), "SELECT");
  EXPECT_EQ(testing::attr_text(*span, "db.collection.name"), "orders");
  EXPECT_EQ(testing::attr_text(*span, "db.query.text"), "SELECT id FROM orders WHERE email = ?");
  EXPECT_EQ(testing::attr_text(*span, "db.query.summary"), "SELECT orders");
  EXPECT_EQ(testing::attr_text(*span, "server.address"), "127.0.0.1");
  EXPECT_EQ(int_attr(*span, "server.port"), 5432);
  EXPECT_EQ(int_attr(*span, "db.response.returned_rows"), 3);
  EXPECT_EQ(span->status, StatusCode::Unset);
}

TEST_F(Db, ExplicitOperationAndCollectionWinOverTheParsedOnes) {
  db::QueryScope q({.system = "postgresql",
                    .query_text = "SELECT 1",
                    .operation = "SELECT",
                    .collection = "orders"});
  q.finish();
  EXPECT_NE(spans_->find("SELECT orders"), nullptr);
}

TEST_F(Db, StatementCarriesTheSpansTraceparentAsASqlComment) {
  const std::string sql = "SELECT * FROM orders WHERE id = 42";
  std::string sent;
  SpanContext ctx;
  {
    db::QueryScope q({.system = "postgresql", .query_text = sql});
    sent = q.statement();
    ctx = q.span().context();
    // The recorded text is sanitized and has no comment; only what is sent carries it.
    EXPECT_EQ(q.query_text(), "SELECT * FROM orders WHERE id = ?");
  }
  EXPECT_EQ(sent, sql + " /*traceparent='" + propagation::format_traceparent(ctx) + "'*/");
  EXPECT_EQ(sent.substr(sql.size() + 16, 3), "00-");
}

TEST_F(Db, StatementIsSentAsWrittenWhenNotSampledPreparedCommentedOrNotSql) {
  const std::string sql = "SELECT 1";
  {
    db::QueryScope q({.system = "postgresql", .query_text = sql, .prepared = true});
    EXPECT_EQ(q.statement(), sql);
  }
  {
    db::QueryScope q({.system = "postgresql", .query_text = "SELECT 1 /* mine */"});
    EXPECT_EQ(q.statement(), "SELECT 1 /* mine */");
  }
  {
    db::QueryScope q({.system = "redis", .query_text = "GET ?", .sanitized = true});
    EXPECT_EQ(q.statement(), "GET ?");
  }
  {
    DbConfig off;
    off.sqlcommenter = false;
    detail::set_db_config(off);
    db::QueryScope q({.system = "postgresql", .query_text = sql});
    EXPECT_EQ(q.statement(), sql);
  }
  detail::set_db_config(DbConfig{});
  set_sample_rate(0.0);
  {
    db::QueryScope q({.system = "postgresql", .query_text = sql});
    EXPECT_EQ(q.statement(), sql);
  }
}

TEST_F(Db, TracestateIsUrlEncodedIntoTheComment) {
  const auto parent = propagation::extract_values(
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "congo=t61rcWkgMzE,rojo=00f0");
  auto outer = start_span("parent", {.parent = parent});
  db::QueryScope q({.system = "postgresql", .query_text = "SELECT 1"});
  EXPECT_NE(q.statement().find(",tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f0'*/"),
            std::string::npos)
      << q.statement();
}

TEST_F(Db, RecordQueryValuesKeepsTheTextAsWritten) {
  DbConfig c;
  c.record_query_values = true;
  detail::set_db_config(c);
  db::QueryScope q({.system = "sqlite", .query_text = "SELECT * FROM t WHERE id = 7"});
  EXPECT_EQ(q.query_text(), "SELECT * FROM t WHERE id = 7");
}

TEST_F(Db, FailedQueryIsAnErrorSpanWithTheStatusCodeAndAWarningLine) {
  {
    db::QueryScope q({.system = "postgresql", .query_text = "INSERT INTO orders VALUES (1)"});
    q.fail("23505", "duplicate key value violates unique constraint");
  }
  const auto span = spans_->find("INSERT orders");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Error);
  EXPECT_EQ(span->status_description, "duplicate key value violates unique constraint");
  EXPECT_EQ(testing::attr_text(*span, "db.response.status_code"), "23505");
  EXPECT_EQ(testing::attr_text(*span, "error.type"), "23505");
  const auto lines = capture_.lines_with_event("query_failed");
  ASSERT_EQ(lines.size(), 1U);
  const auto line = json::parse(lines[0]);
  EXPECT_EQ(line["level"], "warning");
  EXPECT_EQ(line["status_code"], "23505");
  EXPECT_EQ(line["query"], "INSERT INTO orders VALUES (?)");
  EXPECT_EQ(line["trace_id"], span->context.trace_id.to_hex());
}

TEST_F(Db, QueryAtOrOverTheThresholdWritesASlowQueryLine) {
  DbConfig c;
  // A query that does nothing stays under a second even on a loaded machine.
  c.slow_query = std::chrono::seconds(1);
  detail::set_db_config(c);
  { db::QueryScope fast({.system = "sqlite", .query_text = "SELECT 1"}); }
  EXPECT_TRUE(capture_.lines_with_event("slow_query").empty());
  c.slow_query = std::chrono::milliseconds(5);
  detail::set_db_config(c);
  {
    db::QueryScope slow({.system = "sqlite", .query_text = "SELECT 2"});
    std::this_thread::sleep_for(std::chrono::milliseconds(6));
  }
  const auto lines = capture_.lines_with_event("slow_query");
  ASSERT_EQ(lines.size(), 1U);
  const auto line = json::parse(lines[0]);
  EXPECT_EQ(line["query"], "SELECT ?");
  EXPECT_GE(line["duration_ms"].get<double>(), 5.0);
  EXPECT_EQ(line["threshold_ms"].get<double>(), 5.0);
}

TEST_F(Db, DurationHistogramIsLabelledBySystemOperationAndTableOnly) {
  const std::string series =
      R"(db_client_operation_duration_seconds_count{system="sqlite",operation="UPDATE",collection="histo_test"})";
  const double before = std::max(sample(series), 0.0);
  for (int i = 0; i < 3; ++i) {
    db::QueryScope q(
        {.system = "sqlite", .query_text = "UPDATE histo_test SET n = " + std::to_string(i)});
  }
  EXPECT_EQ(sample(series), before + 3);
  EXPECT_EQ(metrics::render().find("UPDATE histo_test SET"), std::string::npos);
}

TEST_F(Db, ScopeLeftByAnExceptionFailsTheQuery) {
  try {
    db::QueryScope q({.system = "sqlite", .query_text = "DELETE FROM unwound"});
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  const auto span = spans_->find("DELETE unwound");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Error);
  EXPECT_EQ(testing::attr_text(*span, "error.type"), "exception");
}

TEST_F(Db, RepeatedStatementInARequestIsReportedAsNPlusOne) {
  const std::string counted = R"(db_n_plus_one_total{route="/orders/n1"})";
  const double before = std::max(sample(counted), 0.0);
  http::ServerOptions options;
  {
    http::RequestScope request({.method = "GET", .path = "/orders", .route = "/orders/n1"},
                               options);
    db::QueryScope list({.system = "sqlite", .query_text = "SELECT id FROM orders"});
    list.finish();
    for (int id = 0; id < 6; ++id) {
      db::QueryScope item(
          {.system = "sqlite",
           .query_text = "SELECT * FROM items WHERE order_id = " + std::to_string(id)});
    }
    request.finish(200);
  }
  const auto server = spans_->find("GET /orders/n1");
  ASSERT_NE(server, nullptr);
  const auto* flagged = find_attr(server->attributes, "db.potential_n_plus_one");
  ASSERT_NE(flagged, nullptr);
  EXPECT_EQ(flagged->to_string(), "true");
  EXPECT_EQ(int_attr(*server, "db.max_query_repetitions"), 6);
  EXPECT_EQ(int_attr(*server, "db.query_count"), 7);
  const auto lines = capture_.lines_with_event("n_plus_one_detected");
  ASSERT_EQ(lines.size(), 1U);
  const auto line = json::parse(lines[0]);
  EXPECT_EQ(line["statement"], "SELECT * FROM items WHERE order_id = ?");
  EXPECT_EQ(line["count"], 6);
  EXPECT_EQ(line["route"], "/orders/n1");
  EXPECT_EQ(line["trace_id"], server->context.trace_id.to_hex());
  EXPECT_EQ(sample(counted), before + 1);
}

TEST_F(Db, RequestBelowTheThresholdIsNotFlaggedButItsQueriesAreCounted) {
  http::ServerOptions options;
  {
    http::RequestScope request({.method = "GET", .path = "/few", .route = "/few"}, options);
    for (int id = 0; id < 4; ++id) {
      db::QueryScope item({.system = "sqlite",
                           .query_text = "SELECT * FROM items WHERE id = " + std::to_string(id)});
    }
    request.finish(200);
  }
  const auto server = spans_->find("GET /few");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(find_attr(server->attributes, "db.potential_n_plus_one"), nullptr);
  EXPECT_EQ(int_attr(*server, "db.query_count"), 4);
  EXPECT_TRUE(capture_.lines_with_event("n_plus_one_detected").empty());
}

TEST_F(Db, ThresholdComesFromTheConfiguration) {
  DbConfig c;
  c.n_plus_one_threshold = 2;
  detail::set_db_config(c);
  http::ServerOptions options;
  {
    http::RequestScope request({.method = "GET", .path = "/two", .route = "/two"}, options);
    for (int i = 0; i < 2; ++i)
      db::QueryScope q({.system = "sqlite", .query_text = "SELECT 1"});
    request.finish(200);
  }
  EXPECT_EQ(capture_.lines_with_event("n_plus_one_detected").size(), 1U);
}

TEST_F(Db, QueriesOutsideAnyRequestAreNotCounted) {
  for (int i = 0; i < 10; ++i)
    db::QueryScope q({.system = "sqlite", .query_text = "SELECT 1"});
  EXPECT_TRUE(capture_.lines_with_event("n_plus_one_detected").empty());
}

TEST_F(Db, JobContinuesTheProducersTraceAndLogsStartAndSuccess) {
  std::map<std::string, std::string> headers;
  SpanContext producer;
  {
    auto send = start_span("enqueue", {.kind = SpanKind::Producer});
    producer = send.context();
    propagation::inject(headers);
  }
  const std::string counted = R"(jobs_total{job="send_notification",outcome="success"})";
  const double before = std::max(sample(counted), 0.0);
  {
    jobs::JobScope job("send_notification", headers, {.task_id = "t-1", .queue = "mail"});
    set_custom_tags({{"tenant_id", "acme"}});
    job.succeed();
  }
  const auto span = spans_->find("send_notification");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->kind, SpanKind::Consumer);
  EXPECT_EQ(span->context.trace_id, producer.trace_id);
  EXPECT_EQ(span->parent_span_id, producer.span_id);
  ASSERT_EQ(span->links.size(), 1U);
  EXPECT_EQ(testing::attr_text(*span, "messaging.message.id"), "t-1");
  EXPECT_EQ(testing::attr_text(*span, "messaging.destination.name"), "mail");
  EXPECT_EQ(testing::attr_text(*span, "tenant_id"), "acme");

  const auto started = capture_.lines_with_event("task_started");
  const auto succeeded = capture_.lines_with_event("task_succeeded");
  ASSERT_EQ(started.size(), 1U);
  ASSERT_EQ(succeeded.size(), 1U);
  const auto line = json::parse(succeeded[0]);
  EXPECT_EQ(line["task_name"], "send_notification");
  EXPECT_EQ(line["task_id"], "t-1");
  EXPECT_TRUE(line["duration_ms"].is_number());
  EXPECT_EQ(line["trace_id"], producer.trace_id.to_hex());
  EXPECT_EQ(line["tenant_id"], "acme");
  EXPECT_EQ(sample(counted), before + 1);
  // The job's tags stayed in the job's frame.
  EXPECT_TRUE(Context::current().custom_tags().empty());
}

TEST_F(Db, JobFailedWithAnExceptionLogsTaskFailedAndIsAnErrorSpan) {
  {
    jobs::JobScope job("charge_card", std::map<std::string, std::string>{}, {.task_id = "t-2"});
    job.fail(std::invalid_argument("card declined"));
  }
  const auto span = spans_->find("charge_card");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Error);
  EXPECT_EQ(testing::attr_text(*span, "error.type"), "std::invalid_argument");
  const auto lines = capture_.lines_with_event("task_failed");
  ASSERT_EQ(lines.size(), 1U);
  const auto line = json::parse(lines[0]);
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["exception_message"], "card declined");
  EXPECT_EQ(line["task_id"], "t-2");
}

TEST_F(Db, JobEndedWithoutAnOutcomeCountsAsFailed) {
  const std::string counted = R"(jobs_total{job="forgotten",outcome="failure"})";
  const double before = std::max(sample(counted), 0.0);
  { jobs::JobScope job("forgotten", std::map<std::string, std::string>{}); }
  const auto span = spans_->find("forgotten");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(testing::attr_text(*span, "error.type"), "abandoned");
  EXPECT_EQ(sample(counted), before + 1);
}

TEST_F(Db, QueriesInAJobAreCheckedForNPlusOneUnderTheJobsName) {
  {
    jobs::JobScope job("rebuild_index", std::map<std::string, std::string>{});
    for (int i = 0; i < 5; ++i) {
      db::QueryScope q(
          {.system = "sqlite", .query_text = "SELECT * FROM docs WHERE id = " + std::to_string(i)});
    }
    job.succeed();
  }
  const auto lines = capture_.lines_with_event("n_plus_one_detected");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(json::parse(lines[0])["route"], "rebuild_index");
}

}  // namespace
}  // namespace o11y
