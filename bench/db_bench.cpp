// What database instrumentation adds to a query, measured beside the bare call in one run:
// the sanitizer on a 1 KiB statement, QueryScope alone, and each adapter against its client
// library (SQLite in memory; PostgreSQL and Redis on loopback when their addresses are given).
//
// Run (with the test command's throw-away servers):
//   bash scripts/db_servers.sh start /tmp/o11y-bench-db && set -a && . /tmp/o11y-bench-db/env &&
//   set +a && build/release/bench/o11y_db_bench; bash scripts/db_servers.sh stop /tmp/o11y-bench-db
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdlib>
#include <o11y/config.hpp>
#include <o11y/db.hpp>
#include <o11y/db/hiredis.hpp>
#include <o11y/db/libpq.hpp>
#include <o11y/db/sqlite.hpp>
#include <o11y/trace.hpp>
#include <string>

namespace {

void configure(bool sqlcommenter = true) {
  o11y::Config cfg;
  cfg.db.sqlcommenter = sqlcommenter;
  cfg.service_name = "db_bench";
  cfg.environment = o11y::Environment::Production;
  // Every query sampled: the span, its attributes and the sqlcommenter comment are all paid.
  cfg.tracing.sample_rate = 1.0;
  cfg.tracing.exporter = o11y::TracesExporter::None;
  cfg.logging.stdout_output = false;
  o11y::init(cfg, o11y::EnvironmentUse::Ignore);
}

// An ORM-style statement of about 1 KiB: a wide column list, string, number and IN literals.
std::string statement_1kib() {
  std::string s = "SELECT ";
  for (int i = 0; i < 24; ++i)
    s += "orders.column_" + std::to_string(i) + ", ";
  s += "orders.id FROM orders JOIN customers ON customers.id = orders.customer_id WHERE "
       "customers.email = 'someone.with.a.long.name@example.com' AND orders.total > 1234.56 AND "
       "orders.status IN ('paid', 'shipped', 'delivered') AND orders.created_at > "
       "'2026-01-01 00:00:00' AND orders.region_id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10) ";
  while (s.size() < 1024)
    s += "AND orders.flag_" + std::to_string(s.size()) + " = TRUE ";
  s.resize(1024);
  return s;
}

void BM_Sanitize1KiB(benchmark::State& state) {
  const auto sql = statement_1kib();
  for (auto _ : state)
    benchmark::DoNotOptimize(o11y::db::sanitize(sql));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sql.size()));
}
BENCHMARK(BM_Sanitize1KiB);

void BM_QueryScopeAlone(benchmark::State& state) {
  configure();
  for (auto _ : state) {
    o11y::db::QueryScope q({.system = "postgresql",
                            .query_text = "SELECT id, total FROM orders WHERE id = 42",
                            .db_namespace = "shop",
                            .server_address = "127.0.0.1",
                            .server_port = 5432});
    benchmark::DoNotOptimize(q.statement().data());
    q.finish();
  }
}
BENCHMARK(BM_QueryScopeAlone);

// SQLite in memory: a primary-key lookup through a prepared statement.
template <bool Instrumented>
void BM_SqliteLookup(benchmark::State& state) {
  configure();
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  sqlite3_exec(db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)", nullptr, nullptr,
               nullptr);
  sqlite3_exec(db, "INSERT INTO orders VALUES (42, 9.5)", nullptr, nullptr, nullptr);
  if (Instrumented)
    o11y::db::sqlite::instrument(db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT total FROM orders WHERE id = ?", -1, &stmt, nullptr);
  for (auto _ : state) {
    sqlite3_bind_int(stmt, 1, 42);
    while (sqlite3_step(stmt) == SQLITE_ROW)
      benchmark::DoNotOptimize(sqlite3_column_double(stmt, 0));
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}
BENCHMARK_TEMPLATE(BM_SqliteLookup, false)->Name("BM_SqliteLookup/bare");
BENCHMARK_TEMPLATE(BM_SqliteLookup, true)->Name("BM_SqliteLookup/o11y");

// PostgreSQL on loopback: SELECT 1, the round trip the instrumentation must stay within 3% of.
template <bool Instrumented, bool Commenter = true>
void BM_PostgresSelect1(benchmark::State& state) {
  const char* url = std::getenv("O11Y_TEST_PG_URL");
  if (url == nullptr) {
    state.SkipWithError("O11Y_TEST_PG_URL is not set (see the command at the top)");
    return;
  }
  configure(Commenter);
  PGconn* conn = PQconnectdb(url);
  if (PQstatus(conn) != CONNECTION_OK) {
    state.SkipWithError(PQerrorMessage(conn));
    PQfinish(conn);
    return;
  }
  for (auto _ : state) {
    PGresult* r = Instrumented ? o11y::db::pq::exec(conn, "SELECT 1") : PQexec(conn, "SELECT 1");
    benchmark::DoNotOptimize(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQfinish(conn);
}
BENCHMARK_TEMPLATE(BM_PostgresSelect1, false)->Name("BM_PostgresSelect1/bare")->UseRealTime();
BENCHMARK_TEMPLATE(BM_PostgresSelect1, true)->Name("BM_PostgresSelect1/o11y")->UseRealTime();
BENCHMARK_TEMPLATE(BM_PostgresSelect1, true, false)
    ->Name("BM_PostgresSelect1/o11y_no_sqlcommenter")
    ->UseRealTime();

template <bool Instrumented>
void BM_RedisGet(benchmark::State& state) {
  const char* port = std::getenv("O11Y_TEST_REDIS_PORT");
  if (port == nullptr) {
    state.SkipWithError("O11Y_TEST_REDIS_PORT is not set (see the command at the top)");
    return;
  }
  configure();
  redisContext* c = redisConnect("127.0.0.1", std::atoi(port));
  if (c == nullptr || c->err != 0) {
    state.SkipWithError("cannot connect to Redis");
    return;
  }
  freeReplyObject(redisCommand(c, "SET bench:key %s", "value"));
  for (auto _ : state) {
    auto* r = static_cast<redisReply*>(Instrumented ? o11y::db::redis::command(c, "GET bench:key")
                                                    : redisCommand(c, "GET bench:key"));
    benchmark::DoNotOptimize(r->str);
    freeReplyObject(r);
  }
  redisFree(c);
}
BENCHMARK_TEMPLATE(BM_RedisGet, false)->Name("BM_RedisGet/bare")->UseRealTime();
BENCHMARK_TEMPLATE(BM_RedisGet, true)->Name("BM_RedisGet/o11y")->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
