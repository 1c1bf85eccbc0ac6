// The SQLite adapter: every statement on an instrumented connection, with no other change.
#include <gtest/gtest.h>

#include <o11y/db/sqlite.hpp>
#include <o11y/http.hpp>
#include <o11y/log.hpp>
#include <string>

#include "support/span_fixture.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

class Sqlite : public testing::SpanTest {
 protected:
  void SetUp() override {
    SpanTest::SetUp();
    path_ = (dir_.path() / "shop.db").string();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db_), SQLITE_OK);
    ASSERT_EQ(db::sqlite::instrument(db_), SQLITE_OK);
  }
  void TearDown() override {
    sqlite3_close(db_);
    SpanTest::TearDown();
  }
  void exec(const char* sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql, nullptr, nullptr, &error), SQLITE_OK) << error;
  }

  testing::TempDir dir_;
  std::string path_;
  sqlite3* db_ = nullptr;
};

TEST_F(Sqlite, EveryStatementOnAnInstrumentedConnectionIsAClientSpan) {
  exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT)");
  exec("INSERT INTO orders VALUES (1, 'a@example.com'); INSERT INTO orders VALUES (2, 'b')");
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db_, "SELECT email FROM orders WHERE id = ?", -1, &stmt, nullptr),
            SQLITE_OK);
  sqlite3_bind_int(stmt, 1, 2);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);

  const auto spans = spans_->spans();
  ASSERT_EQ(spans.size(), 4U);
  EXPECT_EQ(spans[0]->name, "CREATE orders");
  EXPECT_EQ(spans[1]->name, "INSERT orders");
  // SQLite's text of one statement of several keeps its ';'.
  EXPECT_EQ(testing::attr_text(*spans[1], "db.query.text"), "INSERT INTO orders VALUES (?, ?);");
  EXPECT_EQ(spans[3]->name, "SELECT orders");
  EXPECT_EQ(testing::attr_text(*spans[3], "db.query.text"),
            "SELECT email FROM orders WHERE id = ?");
  EXPECT_EQ(testing::attr_text(*spans[3], "db.system.name"), "sqlite");
  EXPECT_EQ(testing::attr_text(*spans[3], "db.namespace"), "shop.db");
  for (const auto& s : spans) {
    EXPECT_EQ(s->kind, SpanKind::Client);
    EXPECT_LE(s->start_time_ns, s->end_time_ns);
  }
}

TEST_F(Sqlite, SpanCoversTheStatementsRunTime) {
  exec("CREATE TABLE n (v INTEGER)");
  spans_->clear();
  // A recursive CTE that takes a few milliseconds.
  exec(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
      "INSERT INTO n SELECT x FROM c");
  const auto spans = spans_->spans();
  ASSERT_EQ(spans.size(), 1U);
  EXPECT_EQ(spans[0]->name, "INSERT n");
  EXPECT_GT(spans[0]->end_time_ns - spans[0]->start_time_ns, 1'000'000U);
}

TEST_F(Sqlite, RepeatedStatementInARequestIsFlaggedAsNPlusOne) {
  exec("CREATE TABLE items (id INTEGER, order_id INTEGER)");
  http::ServerOptions options;
  logging::LogCapture capture;
  {
    http::RequestScope request({.method = "GET", .path = "/list", .route = "/list"}, options);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db_, "SELECT id FROM items WHERE order_id = ?", -1, &stmt, nullptr),
        SQLITE_OK);
    for (int i = 0; i < 5; ++i) {
      sqlite3_bind_int(stmt, 1, i);
      while (sqlite3_step(stmt) == SQLITE_ROW) {
      }
      sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    request.finish(200);
  }
  const auto request = spans_->find("GET /list");
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(testing::attr_text(*request, "db.potential_n_plus_one"), "true");
  EXPECT_EQ(testing::attr_text(*request, "db.max_query_repetitions"), "5");
  EXPECT_EQ(capture.lines_with_event("n_plus_one_detected").size(), 1U);
}

TEST_F(Sqlite, UninstrumentStopsTracing) {
  ASSERT_EQ(db::sqlite::uninstrument(db_), SQLITE_OK);
  exec("CREATE TABLE quiet (v INTEGER)");
  EXPECT_TRUE(spans_->spans().empty());
}

}  // namespace
}  // namespace o11y
