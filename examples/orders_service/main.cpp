// orders_service: what happens inside a request, traced. A cpp-httplib order API whose handlers
// read and write orders through libpq (or SQLite when no PostgreSQL URL is given), cache
// through Redis when one is given, and hand a notification to a fork()ed job worker through a
// queue (a pipe carrying the trace context, as Celery carries it). One trace runs from the HTTP
// request through its queries to the job in the other process. GET /orders has a deliberate
// N+1 loop that the detector flags.
//
//   orders_service [--port P] [--pg URL] [--sqlite PATH] [--redis-port P]
//     POST /orders {"email": ..., "total": ...}   GET /orders/{id}   GET /orders   GET /metrics
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <o11y/db/hiredis.hpp>
#include <o11y/db/libpq.hpp>
#include <o11y/db/sqlite.hpp>
#include <o11y/http/httplib.hpp>
#include <o11y/jobs.hpp>
#include <o11y/o11y.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;

struct Order {
  long id = 0;
  std::string email;
  double total = 0;
};

/// The orders table behind one connection. Handlers run on the server's pool threads, one
/// connection serves them in turn.
class Store {
 public:
  virtual ~Store() = default;
  virtual long create(const std::string& email, double total) = 0;
  virtual std::optional<Order> find(long id) = 0;
  virtual std::vector<long> ids() = 0;
  virtual long item_count(long order_id) = 0;
  virtual void mark_notified(long id) = 0;

 protected:
  std::mutex mu_;
};

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK)
      throw std::runtime_error(PQerrorMessage(conn_));
    run("CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, email text, total numeric,"
        " notified boolean DEFAULT false)");
    run("CREATE TABLE IF NOT EXISTS items (order_id bigint, sku text)");
  }
  ~PostgresStore() override { o11y::db::pq::finish(conn_); }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  long create(const std::string& email, double total) override {
    std::lock_guard lock(mu_);
    const auto t = std::to_string(total);
    const char* values[] = {email.c_str(), t.c_str()};
    const Result r(o11y::db::pq::exec_params(
        conn_, "INSERT INTO orders (email, total) VALUES ($1, $2) RETURNING id", 2, nullptr, values,
        nullptr, nullptr, 0));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK)
      return 0;
    const auto id = std::atol(PQgetvalue(r.get(), 0, 0));
    const auto ids = std::to_string(id);
    const char* item[] = {ids.c_str()};
    Result(o11y::db::pq::exec_params(conn_, "INSERT INTO items VALUES ($1, 'sku-1'), ($1, 'sku-2')",
                                     1, nullptr, item, nullptr, nullptr, 0));
    return id;
  }
  std::optional<Order> find(long id) override {
    std::lock_guard lock(mu_);
    const auto ids = std::to_string(id);
    const char* values[] = {ids.c_str()};
    const Result r(o11y::db::pq::exec_params(conn_,
                                             "SELECT id, email, total FROM orders WHERE id = $1", 1,
                                             nullptr, values, nullptr, nullptr, 0));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) == 0)
      return std::nullopt;
    return Order{id, PQgetvalue(r.get(), 0, 1), std::atof(PQgetvalue(r.get(), 0, 2))};
  }
  std::vector<long> ids() override {
    std::lock_guard lock(mu_);
    const Result r(o11y::db::pq::exec(conn_, "SELECT id FROM orders ORDER BY id DESC LIMIT 10"));
    std::vector<long> out;
    for (int i = 0; i < PQntuples(r.get()); ++i)
      out.push_back(std::atol(PQgetvalue(r.get(), i, 0)));
    return out;
  }
  long item_count(long order_id) override {
    std::lock_guard lock(mu_);
    // Literal in the text on purpose: the sanitizer turns it into `?`, so the N+1 detector
    // sees one statement however many orders there are.
    const auto sql = "SELECT count(*) FROM items WHERE order_id = " + std::to_string(order_id);
    const Result r(o11y::db::pq::exec(conn_, sql.c_str()));
    return PQresultStatus(r.get()) == PGRES_TUPLES_OK ? std::atol(PQgetvalue(r.get(), 0, 0)) : 0;
  }
  void mark_notified(long id) override {
    std::lock_guard lock(mu_);
    const auto ids = std::to_string(id);
    const char* values[] = {ids.c_str()};
    Result(o11y::db::pq::exec_params(conn_, "UPDATE orders SET notified = true WHERE id = $1", 1,
                                     nullptr, values, nullptr, nullptr, 0));
  }

 private:
  /// Owns a PGresult.
  class Result {
   public:
    explicit Result(PGresult* r) : r_(r) {}
    ~Result() { PQclear(r_); }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    [[nodiscard]] PGresult* get() const { return r_; }

   private:
    PGresult* r_;
  };
  void run(const char* sql) { Result(PQexec(conn_, sql)); }

  PGconn* conn_;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
    sqlite3_busy_timeout(db_, 5000);  // the job worker writes to the same file
    sqlite3_exec(db_,
                 "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, email TEXT, "
                 "total REAL, notified INTEGER DEFAULT 0);"
                 "CREATE TABLE IF NOT EXISTS items (order_id INTEGER, sku TEXT)",
                 nullptr, nullptr, nullptr);
    // Every statement on this connection from now on is a span.
    o11y::db::sqlite::instrument(db_);
  }
  ~SqliteStore() override { sqlite3_close(db_); }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  long create(const std::string& email, double total) override {
    std::lock_guard lock(mu_);
    Statement insert(db_, "INSERT INTO orders (email, total) VALUES (?, ?)");
    sqlite3_bind_text(insert.get(), 1, email.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(insert.get(), 2, total);
    if (sqlite3_step(insert.get()) != SQLITE_DONE)
      return 0;
    const auto id = static_cast<long>(sqlite3_last_insert_rowid(db_));
    Statement items(db_, "INSERT INTO items VALUES (?, 'sku-1'), (?, 'sku-2')");
    sqlite3_bind_int64(items.get(), 1, id);
    sqlite3_bind_int64(items.get(), 2, id);
    sqlite3_step(items.get());
    return id;
  }
  std::optional<Order> find(long id) override {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT id, email, total FROM orders WHERE id = ?");
    sqlite3_bind_int64(s.get(), 1, id);
    if (sqlite3_step(s.get()) != SQLITE_ROW)
      return std::nullopt;
    return Order{id, reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1)),
                 sqlite3_column_double(s.get(), 2)};
  }
  std::vector<long> ids() override {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT id FROM orders ORDER BY id DESC LIMIT 10");
    std::vector<long> out;
    while (sqlite3_step(s.get()) == SQLITE_ROW)
      out.push_back(static_cast<long>(sqlite3_column_int64(s.get(), 0)));
    return out;
  }
  long item_count(long order_id) override {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT count(*) FROM items WHERE order_id = ?");
    sqlite3_bind_int64(s.get(), 1, order_id);
    return sqlite3_step(s.get()) == SQLITE_ROW ? static_cast<long>(sqlite3_column_int64(s.get(), 0))
                                               : 0;
  }
  void mark_notified(long id) override {
    std::lock_guard lock(mu_);
    Statement s(db_, "UPDATE orders SET notified = 1 WHERE id = ?");
    sqlite3_bind_int64(s.get(), 1, id);
    sqlite3_step(s.get());
  }

 private:
  /// Owns a prepared statement.
  class Statement {
   public:
    Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
    ~Statement() { sqlite3_finalize(s_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    [[nodiscard]] sqlite3_stmt* get() const { return s_; }

   private:
    sqlite3_stmt* s_ = nullptr;
  };

  sqlite3* db_ = nullptr;
};

/// A read-through cache of orders in Redis, when one is given.
class Cache {
 public:
  explicit Cache(int port) {
    if (port > 0) {
      ctx_ = redisConnect("127.0.0.1", port);
      if (ctx_ != nullptr && ctx_->err != 0) {
        redisFree(ctx_);
        ctx_ = nullptr;
      }
    }
  }
  ~Cache() {
    if (ctx_ != nullptr)
      redisFree(ctx_);
  }
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  std::optional<std::string> get(long id) {
    if (ctx_ == nullptr)
      return std::nullopt;
    std::lock_guard lock(mu_);
    auto* r = o11y::db::redis::command(ctx_, "GET order:%ld", id);
    std::optional<std::string> out;
    if (r != nullptr && r->type == REDIS_REPLY_STRING)
      out = std::string(r->str, r->len);
    freeReplyObject(r);
    return out;
  }
  void put(long id, const std::string& value) {
    if (ctx_ == nullptr)
      return;
    std::lock_guard lock(mu_);
    freeReplyObject(o11y::db::redis::command(ctx_, "SET order:%ld %s EX 60", id, value.c_str()));
  }

 private:
  redisContext* ctx_ = nullptr;
  std::mutex mu_;
};

struct Options {
  int port = 8080;
  std::string pg_url;
  std::string sqlite_path = "/tmp/o11y-orders.db";
  int redis_port = 0;
};

std::unique_ptr<Store> open_store(const Options& o) {
  if (!o.pg_url.empty())
    return std::make_unique<PostgresStore>(o.pg_url);
  return std::make_unique<SqliteStore>(o.sqlite_path);
}

/// The job worker: reads one JSON message per line and runs the notification job in the
/// trace of the request that queued it.
void work(FILE* queue, const Options& options) {
  o11y::Config cfg;
  cfg.service_name = "orders_worker";
  o11y::init(cfg);
  auto store = open_store(options);
  char line[4096];
  while (std::fgets(line, sizeof line, queue) != nullptr) {
    const auto message = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded())
      continue;
    const auto headers = message.value("headers", std::map<std::string, std::string>{});
    const auto id = message.value("order_id", 0L);
    const auto task_id = "notify-" + std::to_string(id);
    o11y::jobs::JobScope job("send_notification", headers,
                             {.task_id = task_id, .queue = "notifications"});
    o11y::set_custom_tags({{"order_id", id}});
    try {
      const auto order = store->find(id);
      if (!order)
        throw std::runtime_error("order not found");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // "sending the email"
      store->mark_notified(id);
      job.succeed();
    } catch (const std::exception& ex) {
      job.fail(ex);
    }
  }
  o11y::shutdown();
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--port") {
      o.port = std::atoi(v.c_str());
    } else if (k == "--pg") {
      o.pg_url = v;
    } else if (k == "--sqlite") {
      o.sqlite_path = v;
    } else if (k == "--redis-port") {
      o.redis_port = std::atoi(v.c_str());
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  int fds[2];
  if (::pipe(fds) != 0) {
    std::perror("pipe");
    return 1;
  }
  // The worker is forked first, before any thread exists, as a pre-fork server would.
  const pid_t worker = ::fork();
  if (worker == 0) {
    ::close(fds[1]);
    FILE* in = ::fdopen(fds[0], "r");
    work(in, options);
    std::fclose(in);
    ::_exit(0);
  }
  ::close(fds[0]);
  FILE* queue = ::fdopen(fds[1], "w");
  std::mutex queue_mu;

  o11y::Config cfg;
  cfg.service_name = "orders_service";
  o11y::init(cfg);
  auto log = o11y::get_logger();
  auto store = open_store(options);
  Cache cache(options.redis_port);

  httplib::Server svr;
  o11y::http::instrument(svr);
  svr.Post("/orders",
           o11y::http::route("/orders", [&](const httplib::Request& req, httplib::Response& res) {
             const auto body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
             const auto email = body.is_object() ? body.value("email", "") : "";
             const auto total = body.is_object() ? body.value("total", 0.0) : 0.0;
             const long id = store->create(email, total);
             if (id == 0) {
               res.status = 500;
               return;
             }
             o11y::set_custom_tags({{"order_id", id}});
             {
               // The producer side: the message carries this span's context to the worker.
               auto span = o11y::start_span("send_notification publish",
                                            {.kind = o11y::SpanKind::Producer});
               const json message{{"order_id", id}, {"headers", o11y::propagation::to_carrier()}};
               std::lock_guard lock(queue_mu);
               std::fprintf(queue, "%s\n", message.dump().c_str());
               std::fflush(queue);
             }
             log.info("order_placed", {{"total", total}});
             res.status = 201;
             res.set_content(json{{"id", id}}.dump(), "application/json");
           }));
  svr.Get(R"(/orders/(\d+))", o11y::http::route("/orders/{id}", [&](const httplib::Request& req,
                                                                    httplib::Response& res) {
            const long id = std::atol(req.matches[1].str().c_str());
            if (auto cached = cache.get(id)) {
              res.set_content(*cached, "application/json");
              return;
            }
            const auto order = store->find(id);
            if (!order) {
              res.status = 404;
              return;
            }
            const auto body =
                json{{"id", order->id}, {"email", order->email}, {"total", order->total}}.dump();
            cache.put(id, body);
            res.set_content(body, "application/json");
          }));
  // The deliberate N+1: one query for the list, then one per order.
  svr.Get("/orders",
          o11y::http::route("/orders", [&](const httplib::Request&, httplib::Response& res) {
            json out = json::array();
            for (const long id : store->ids())
              out.push_back({{"id", id}, {"items", store->item_count(id)}});
            res.set_content(out.dump(), "application/json");
          }));
  svr.Get("/metrics", o11y::http::metrics_handler());

  // SIGTERM/SIGINT stop the server; the worker ends when the queue closes.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    svr.stop();
  });
  log.info("orders_service_started",
           {{"port", options.port},
            {"database", options.pg_url.empty() ? "sqlite" : "postgresql"},
            {"cache", options.redis_port > 0 ? "redis" : "none"}});
  const bool ok = svr.listen("127.0.0.1", options.port);
  if (!ok) {
    log.error("listen_failed", {{"port", options.port}});
    ::kill(::getpid(), SIGTERM);
  }
  stopper.join();
  std::fclose(queue);
  int status = 0;
  ::waitpid(worker, &status, 0);
  o11y::shutdown();
  return ok ? 0 : 1;
}
