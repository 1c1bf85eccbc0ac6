// http_service: a small cpp-httplib order service instrumented with o11y. Every request gets a
// server span (continuing the caller's traceparent), a request log line and request metrics;
// the handlers add custom tags, declared-label counters, a histogram timer and an outbound
// call that carries the trace to the next service (here: this service's own /inventory).
//
//   http_service [PORT]        (default 8080; GET /orders/42, POST /orders, GET /metrics)
#include <httplib.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <o11y/http/httplib.hpp>
#include <o11y/o11y.hpp>
#include <string>
#include <thread>

namespace {

// Declared once, with their label names: a misspelt label is an exception, not a new series.
const o11y::Counter kOrdersPlaced =
    o11y::counter("orders_placed_total", "Orders accepted, by payment method.", {"payment_method"});
const o11y::Histogram kPricing =
    o11y::histogram("order_pricing_seconds", "Time to price an order.", {}, {0.001, 0.01, 0.1, 1});

std::string g_self;  // NOLINT(*-avoid-non-const-global-*): this service's base URL

void get_order(const httplib::Request& req, httplib::Response& res) {
  auto log = o11y::get_logger();  // "http_service.main"
  const auto id = req.matches[1].str();
  o11y::set_custom_tags(
      {{"tenant_id", req.has_header("X-Tenant") ? req.get_header_value("X-Tenant") : "public"}});
  // The outbound call: a CLIENT span, traceparent injected, the callee continues our trace.
  o11y::http::Client inventory(g_self);
  const auto stock = inventory.Get("/inventory/" + id);
  log.info("order_viewed", {{"order_id", id}, {"in_stock", stock && stock->body != "0"}});
  res.set_content(R"({"order_id":)" + id + R"(,"in_stock":)" + (stock ? stock->body : "null") + "}",
                  "application/json");
}

void place_order(const httplib::Request& req, httplib::Response& res) {
  auto log = o11y::get_logger();
  o11y::set_custom_tags(
      {{"tenant_id", req.has_header("X-Tenant") ? req.get_header_value("X-Tenant") : "public"}});
  const auto method = req.get_param_value("payment") == "invoice" ? "invoice" : "card";
  double amount = 0;
  {
    auto timer = kPricing.time();  // records the scope's duration when it ends
    auto span = o11y::start_span("price_order");
    span.set_attribute("payment.method", method);
    amount = 49.99;
  }
  kOrdersPlaced.add(1, {{"payment_method", method}});
  log.info("order_placed", {{"order_id", 123}, {"amount", amount}, {"payment_method", method}});
  res.status = 201;
  res.set_content(R"({"order_id":123})", "application/json");
}

void inventory(const httplib::Request& req, httplib::Response& res) {
  o11y::get_logger().debug("inventory_checked", {{"item", req.matches[1].str()}});
  res.set_content(req.matches[1].str() == "0" ? "0" : "7", "text/plain");
}

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  if (port <= 0 || port > 65535) {
    std::cerr << "usage: http_service [PORT]\n";
    return 2;
  }
  g_self = "http://127.0.0.1:" + std::to_string(port);
  // SIGINT/SIGTERM stop the server from a thread that waits for them. Blocked before any
  // thread starts, so every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  o11y::Config cfg;
  cfg.service_name = "http_service";
  o11y::init(cfg);

  httplib::Server server;
  o11y::http::instrument(server);
  server.Get(R"(/orders/(\d+))", o11y::http::route("/orders/{id}", get_order));
  server.Post("/orders", o11y::http::route("/orders", place_order));
  server.Get(R"(/inventory/(\d+))", o11y::http::route("/inventory/{id}", inventory));
  server.Get("/metrics", o11y::http::metrics_handler());

  std::thread([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    server.stop();
  }).detach();

  o11y::get_logger().info("listening", {{"address", g_self}});
  const bool ok = server.listen("127.0.0.1", port);
  o11y::shutdown();
  return ok ? 0 : 1;
}
