// The libpq adapter against a real PostgreSQL: what the server saw (its statement log) and what
// the spans say.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <fstream>
#include <o11y/db.hpp>
#include <o11y/db/libpq.hpp>
#include <o11y/http/httplib.hpp>
#include <o11y/log.hpp>
#include <o11y/propagation.hpp>
#include <sstream>
#include <string>

#include "support/db_servers.hpp"
#include "support/process.hpp"
#include "support/serving.hpp"
#include "support/span_fixture.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using testing::DbServers;

class Postgres : public testing::SpanTest {
 protected:
  void SetUp() override {
    SpanTest::SetUp();
    O11Y_REQUIRE_DB_SERVERS();
    conn_ = PQconnectdb(DbServers::get().pg_url().c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    // CTest runs tests in parallel processes: each gets a schema of its own.
    const std::string schema = "t" + std::to_string(::getpid());
    plain(("DROP SCHEMA IF EXISTS " + schema + " CASCADE").c_str());
    plain(("CREATE SCHEMA " + schema).c_str());
    plain(("SET search_path TO " + schema).c_str());
    plain("CREATE TABLE orders (id int PRIMARY KEY, email text)");
    plain("INSERT INTO orders VALUES (1, 'a@example.com'), (2, 'b@example.com')");
    spans_->clear();
  }
  void TearDown() override {
    if (conn_ != nullptr)
      db::pq::finish(conn_);
    SpanTest::TearDown();
  }
  // Setup statements, untraced.
  void plain(const char* sql) {
    PGresult* r = PQexec(conn_, sql);
    ASSERT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
        << PQresultErrorMessage(r);
    PQclear(r);
  }
  /// The server's statement log holds this text, within a few seconds (it is written by
  /// another process).
  static bool server_logged(const std::string& text) {
    return testing::wait_until(
        [&] {
          return testing::read_file(DbServers::get().pg_log()).find(text) != std::string::npos;
        },
        5s);
  }

  PGconn* conn_ = nullptr;
};

TEST_F(Postgres, ExecIsAClientSpanAndTheServerLogsItsTraceparent) {
  PGresult* r = db::pq::exec(conn_, "SELECT id, email FROM orders WHERE id = 1");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 1)), "a@example.com");
  PQclear(r);
  const auto span = spans_->find("SELECT orders");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(testing::attr_text(*span, "db.system.name"), "postgresql");
  EXPECT_EQ(testing::attr_text(*span, "db.namespace"), "o11y_test");
  EXPECT_EQ(testing::attr_text(*span, "server.address"), "127.0.0.1");
  EXPECT_EQ(testing::attr_text(*span, "server.port"), std::to_string(DbServers::get().pg_port()));
  EXPECT_EQ(testing::attr_text(*span, "db.query.text"),
            "SELECT id, email FROM orders WHERE id = ?");
  EXPECT_EQ(testing::attr_text(*span, "db.response.returned_rows"), "1");
  EXPECT_TRUE(server_logged("SELECT id, email FROM orders WHERE id = 1 /*traceparent='" +
                            propagation::format_traceparent(span->context) + "'*/"));
}

TEST_F(Postgres, UniqueViolationIsAnErrorSpanWithItsSqlstateAndTheConnectionGoesOn) {
  PGresult* r = db::pq::exec(conn_, "INSERT INTO orders VALUES (1, 'dup@example.com')");
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  PQclear(r);
  const auto span = spans_->find("INSERT orders");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Error);
  EXPECT_EQ(testing::attr_text(*span, "db.response.status_code"), "23505");
  EXPECT_EQ(testing::attr_text(*span, "error.type"), "23505");
  EXPECT_NE(span->status_description.find("duplicate key"), std::string::npos);
  // The value is in the server's DETAIL, which is not recorded.
  EXPECT_EQ(span->status_description.find("dup@example.com"), std::string::npos);

  r = db::pq::exec(conn_, "SELECT count(*) FROM orders");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 0)), "2");
  PQclear(r);
}

TEST_F(Postgres, SyntaxErrorIsRecordedWithSqlstate42601) {
  PGresult* r = db::pq::exec(conn_, "SELEC oops");
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  PQclear(r);
  const auto span = spans_->find("SELEC");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(testing::attr_text(*span, "db.response.status_code"), "42601");
}

TEST_F(Postgres, ExecParamsKeepsPlaceholdersAndNeverRecordsTheValues) {
  const char* values[] = {"b@example.com"};
  PGresult* r = db::pq::exec_params(conn_, "SELECT id FROM orders WHERE email = $1", 1, nullptr,
                                    values, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 0)), "2");
  PQclear(r);
  const auto span = spans_->find("SELECT orders");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(testing::attr_text(*span, "db.query.text"), "SELECT id FROM orders WHERE email = $1");
  for (const auto& a : span->attributes)
    EXPECT_EQ(a.value.to_string().find("b@example.com"), std::string::npos) << a.key;
  EXPECT_TRUE(server_logged("SELECT id FROM orders WHERE email = $1 /*traceparent='" +
                            propagation::format_traceparent(span->context) + "'*/"));
}

TEST_F(Postgres, PreparedStatementIsSentAsWrittenAndItsExecutionsCarryItsText) {
  PGresult* r =
      db::pq::prepare(conn_, "by_id", "SELECT email FROM orders WHERE id = $1", 1, nullptr);
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  const char* values[] = {"2"};
  r = db::pq::exec_prepared(conn_, "by_id", 1, values, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  const auto prepared = spans_->find("PREPARE");
  ASSERT_NE(prepared, nullptr);
  const auto executed = spans_->find("SELECT orders");
  ASSERT_NE(executed, nullptr);
  EXPECT_EQ(testing::attr_text(*executed, "db.query.text"),
            "SELECT email FROM orders WHERE id = $1");
  EXPECT_TRUE(server_logged("SELECT email FROM orders WHERE id = $1"));
  EXPECT_EQ(testing::read_file(DbServers::get().pg_log())
                .find("SELECT email FROM orders WHERE id = $1 /*traceparent="),
            std::string::npos);
}

TEST_F(Postgres, QueriesInsideAServedRequestShareItsTraceAndAnNPlusOneLoopIsFlagged) {
  httplib::Server server;
  http::instrument(server);
  server.Get("/orders", [this](const httplib::Request&, httplib::Response& res) {
    http::set_route("/orders");
    PGresult* ids = db::pq::exec(conn_, "SELECT id FROM orders ORDER BY id");
    std::string body;
    for (int i = 0; i < PQntuples(ids); ++i) {
      // The deliberate N+1: one query per row, five times over.
      for (int repeat = 0; repeat < 3; ++repeat) {
        const std::string sql =
            "SELECT email FROM orders WHERE id = " + std::string(PQgetvalue(ids, i, 0));
        PGresult* one = db::pq::exec(conn_, sql.c_str());
        body += PQgetvalue(one, 0, 0);
        PQclear(one);
      }
    }
    PQclear(ids);
    res.set_content(body, "text/plain");
  });
  testing::Serving serving(server);
  logging::LogCapture capture;
  httplib::Client client("127.0.0.1", serving.port());
  const auto res = client.Get("/orders");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  std::shared_ptr<const SpanData> request;
  ASSERT_TRUE(
      testing::wait_until([&] { return (request = spans_->find("GET /orders")) != nullptr; }, 5s));
  std::size_t children = 0;
  for (const auto& s : spans_->spans()) {
    if (s->kind == SpanKind::Client && testing::attr_text(*s, "db.system.name") == "postgresql") {
      EXPECT_EQ(s->context.trace_id, request->context.trace_id);
      EXPECT_EQ(s->parent_span_id, request->context.span_id);
      ++children;
    }
  }
  EXPECT_EQ(children, 7U);
  EXPECT_EQ(testing::attr_text(*request, "db.potential_n_plus_one"), "true");
  EXPECT_EQ(testing::attr_text(*request, "db.max_query_repetitions"), "6");
  EXPECT_EQ(testing::attr_text(*request, "db.query_count"), "7");
  EXPECT_EQ(capture.lines_with_event("n_plus_one_detected").size(), 1U);
}

}  // namespace
}  // namespace o11y
