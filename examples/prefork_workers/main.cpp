// prefork_workers: a pre-fork server in multiprocess mode, the way gunicorn runs Django. A
// master forks N workers that all serve one port (SO_REUSEPORT); each worker writes its metrics
// to its own file in a shared directory, and the master serves the aggregate of the directory
// at its own /metrics. When a worker dies the master marks it dead (its counters stay in the
// aggregate, its live gauges leave) and forks a replacement.
//
//   prefork_workers [--port 8080] [--metrics-port 9464] [--workers 2] [--dir DIR]
//
// GET /orders/ID and POST /orders do work; GET /whoami answers the worker's pid.
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <o11y/http/httplib.hpp>
#include <o11y/o11y.hpp>
#include <set>
#include <string>
#include <thread>

namespace {

struct Options {
  int port = 8080;
  int metrics_port = 9464;
  int workers = 2;
  std::string dir;
};

o11y::Config config() {
  o11y::Config cfg;
  cfg.service_name = "prefork_workers";
  return cfg;
}

void get_order(const httplib::Request& req, httplib::Response& res) {
  static const auto viewed = o11y::counter("orders_viewed_total", "Orders looked at.");
  static const auto in_progress =
      o11y::gauge("orders_in_progress", "Requests being served.", {}, o11y::GaugeMode::LiveSum);
  in_progress.add(1);
  o11y::set_custom_tags(
      {{"tenant_id", req.has_header("X-Tenant") ? req.get_header_value("X-Tenant") : "public"}});
  viewed.add(1);
  {
    auto load = o11y::start_span("load_order");  // a child of the request's server span
    load.set_attribute("db.system", "sqlite");
  }
  o11y::get_logger().info("order_viewed", {{"order_id", req.matches[1].str()}});
  res.set_content(R"({"order_id":)" + req.matches[1].str() + "}", "application/json");
  in_progress.add(-1);
}

void place_order(const httplib::Request&, httplib::Response& res) {
  static const auto placed = o11y::counter(
      "orders_placed_total", "Orders accepted, by payment method.", {"payment_method"});
  static const auto pricing = o11y::histogram("order_pricing_seconds", "Time to price an order.");
  {
    auto timer = pricing.time();
    auto span = o11y::start_span("price_order");
    span.set_attribute("amount", 49.99);
  }
  placed.add(1, {{"payment_method", "card"}});
  o11y::get_logger().info("order_placed", {{"order_id", 123}, {"amount", 49.99}});
  res.status = 201;
  res.set_content(R"({"order_id":123})", "application/json");
}

[[noreturn]] void run_worker(const Options& opt) {
  // What gunicorn's post_fork hook does for OpenTelemetry: initialise again in the worker, so
  // it has its own service.instance.id (ids, span queue, export thread and metrics file are
  // renewed automatically at fork()).
  o11y::init(config());
  httplib::Server server;
  server.set_socket_options([](int sock) {
    int on = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  });
  o11y::http::instrument(server);
  server.Get(R"(/orders/(\d+))", o11y::http::route("/orders/{id}", get_order));
  server.Post("/orders", o11y::http::route("/orders", place_order));
  server.Get("/whoami",
             o11y::http::route("/whoami", [](const httplib::Request&, httplib::Response& res) {
               res.set_content(std::to_string(::getpid()), "text/plain");
             }));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  std::thread([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    server.stop();
  }).detach();
  o11y::get_logger().info("worker_started", {{"pid", ::getpid()}, {"port", opt.port}});
  const bool ok = server.listen("127.0.0.1", opt.port);
  o11y::shutdown();
  ::_exit(ok ? 0 : 1);
}

pid_t spawn(const Options& opt) {
  const pid_t pid = ::fork();
  if (pid == 0)
    run_worker(opt);
  return pid;
}

bool parse(int argc, char** argv, Options& opt) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--port") {
      opt.port = std::atoi(v.c_str());
    } else if (k == "--metrics-port") {
      opt.metrics_port = std::atoi(v.c_str());
    } else if (k == "--workers") {
      opt.workers = std::atoi(v.c_str());
    } else if (k == "--dir") {
      opt.dir = v;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && opt.port > 0 && opt.port < 65536 && opt.metrics_port > 0 &&
         opt.metrics_port < 65536 && opt.workers > 0 && opt.workers <= 64;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt)) {
    std::cerr << "usage: prefork_workers [--port 8080] [--metrics-port 9464] [--workers 2] "
                 "[--dir DIR]\n";
    return 2;
  }
  if (opt.dir.empty())
    opt.dir = "/tmp/o11y-prefork-" + std::to_string(::getpid());
  ::mkdir(opt.dir.c_str(), 0700);
  // Before the first metric: every process from here on writes to the directory.
  ::setenv("O11Y_MULTIPROC_DIR", opt.dir.c_str(), 1);

  // Signals are handled by the master's main loop, not by handlers; workers inherit the mask
  // and wait for theirs the same way.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  o11y::init(config());
  auto log = o11y::get_logger();
  std::set<pid_t> workers;
  for (int i = 0; i < opt.workers; ++i)
    workers.insert(spawn(opt));

  // The master serves the aggregate of every worker's file (and its own).
  auto endpoint = o11y::metrics::serve("127.0.0.1:" + std::to_string(opt.metrics_port));
  log.info("master_ready", {{"port", opt.port},
                            {"metrics_port", endpoint.port()},
                            {"workers", opt.workers},
                            {"multiproc_dir", opt.dir}});

  bool stopping = false;
  while (!workers.empty()) {
    int sig = 0;
    sigwait(&set, &sig);
    if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      stopping = true;
      log.info("master_stopping", {{"workers", static_cast<int>(workers.size())}});
      for (auto pid : workers)
        ::kill(pid, SIGTERM);
    }
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      workers.erase(pid);
      o11y::metrics::mark_process_dead(pid);
      const bool killed = WIFSIGNALED(status);
      const int sig_no = killed ? WTERMSIG(status) : 0;
      const int code = killed ? -1 : WEXITSTATUS(status);
      const o11y::Field fields[] = {{"pid", pid}, {"signal", sig_no}, {"exit_code", code}};
      log.log(stopping ? o11y::Level::Info : o11y::Level::Warning, "worker_exited", fields);
      if (!stopping) {
        const pid_t replacement = spawn(opt);
        workers.insert(replacement);
        log.info("worker_replaced", {{"old_pid", pid}, {"new_pid", replacement}});
      }
    }
  }
  o11y::shutdown();
  return 0;
}
