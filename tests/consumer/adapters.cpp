// The client-library adapters, built against the installed package through their own targets
// (o11y::sqlite, o11y::libpq, o11y::hiredis, o11y::curl). Each traces one call; the servers
// that are not there (port 1 on loopback) make error spans, which is enough to prove the link.
#include <cstdio>
#include <memory>
#include <o11y/db/hiredis.hpp>
#include <o11y/db/libpq.hpp>
#include <o11y/db/sqlite.hpp>
#include <o11y/http/curl.hpp>
#include <o11y/o11y.hpp>

int main() {
  o11y::set_sample_rate(1.0);
  auto spans = std::make_shared<o11y::InMemorySpanProcessor>();
  o11y::add_span_processor(spans);

  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  o11y::db::sqlite::instrument(db);
  sqlite3_exec(db, "CREATE TABLE orders (id INTEGER)", nullptr, nullptr, nullptr);
  sqlite3_close(db);

  PGconn* conn = PQconnectdb("host=127.0.0.1 port=1 connect_timeout=2");
  PQclear(o11y::db::pq::exec(conn, "SELECT 1"));
  o11y::db::pq::finish(conn);

  redisContext* ctx = redisConnect("127.0.0.1", 1);
  freeReplyObject(o11y::db::redis::command(ctx, "PING"));
  redisFree(ctx);

  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, "http://127.0.0.1:1/");
  (void)o11y::http::curl::perform(easy);
  curl_easy_cleanup(easy);

  const bool ok = spans->find("CREATE orders") != nullptr && spans->find("SELECT") != nullptr &&
                  spans->find("PING") != nullptr && spans->find("GET") != nullptr &&
                  spans->find("SELECT")->status == o11y::StatusCode::Error;
  std::printf("adapters: %zu spans, %s\n", spans->spans().size(), ok ? "ok" : "MISSING");
  return ok ? 0 : 1;
}
