// trace_context_service: the service side of the W3C Trace Context test harness
// (https://github.com/w3c/trace-context/tree/main/test), built with o11y's cpp-httplib
// integration.
//
//   trace_context_service PORT
//
// The harness POSTs /test with a JSON array of {"url": ..., "arguments": ...}. For each item we
// POST `arguments` as JSON to `url` from a CLIENT span that is a child of the request's SERVER
// span, so the callee receives our traceparent/tracestate continuing the harness's trace.
// Then we answer 200.
#include <httplib.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <o11y/http/httplib.hpp>
#include <o11y/o11y.hpp>
#include <string>

namespace {

/// "http://host:port/path?q" -> {"http://host:port", "/path?q"}.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos)
    return {url, "/"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

void run_test_case(const httplib::Request& req, httplib::Response& res) {
  nlohmann::json cases;
  try {
    cases = nlohmann::json::parse(req.body);
  } catch (const nlohmann::json::exception&) {
    res.status = 400;
    res.set_content("the body must be a JSON array\n", "text/plain");
    return;
  }
  if (!cases.is_array()) {
    res.status = 400;
    res.set_content("the body must be a JSON array\n", "text/plain");
    return;
  }
  for (const auto& item : cases) {
    if (!item.is_object() || !item.contains("url") || !item["url"].is_string())
      continue;
    const auto [base, path] = split_url(item["url"].get<std::string>());
    o11y::http::Client client(base);
    client.raw().set_connection_timeout(std::chrono::seconds(5));
    const auto arguments = item.contains("arguments") ? item["arguments"] : nlohmann::json::array();
    (void)client.Post(path, arguments.dump(), "application/json");
  }
  res.status = 200;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: trace_context_service PORT\n";
    return 2;
  }
  const int port = std::atoi(argv[1]);
  if (port <= 0 || port > 65535) {
    std::cerr << "trace_context_service: PORT must be 1-65535, got \"" << argv[1] << "\"\n";
    return 2;
  }
  o11y::Config cfg;
  cfg.service_name = "trace_context_service";
  cfg.tracing.sample_rate = 1.0;
  o11y::init(cfg);

  httplib::Server server;
  o11y::http::instrument(server);
  server.Post("/test", o11y::http::route("/test", run_test_case));
  std::cerr << "trace_context_service: listening on 127.0.0.1:" << port << "\n";
  if (!server.listen("127.0.0.1", port)) {
    std::cerr << "trace_context_service: cannot listen on 127.0.0.1:" << port << "\n";
    return 1;
  }
  return 0;
}
