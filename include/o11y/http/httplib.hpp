#pragma once

// The cpp-httplib adapter. Header-only on purpose: it compiles against the cpp-httplib the
// application uses (your program links cpp-httplib itself), and all the logic it calls lives
// in the library behind the framework-neutral <o11y/http.hpp>.
#include <httplib.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "o11y/http.hpp"
#include "o11y/metrics.hpp"

namespace o11y::http {

namespace detail {

/// The request in flight on this server thread: cpp-httplib runs routing, the handler, the
/// post-routing handler and the logger for one request on one thread, one request at a time.
inline std::optional<RequestScope>& request_slot() {
  thread_local std::optional<RequestScope> slot;
  return slot;
}

inline std::string joined_header(const httplib::Request& req, const char* name) {
  std::string out;
  const auto n = req.get_header_value_count(name);
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0)
      out += ',';
    out += req.get_header_value(name, i);
  }
  return out;
}

inline std::string host_without_port(const std::string& host) {
  if (!host.empty() && host.front() == '[')
    return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.rfind(':'));
}

}  // namespace detail

/// Instruments every request `svr` serves: a fresh context frame and a SERVER span (continuing
/// the caller's W3C trace context), span attributes after OpenTelemetry's HTTP conventions,
/// status from the response, the "request_finished" log line with the duration,
/// http_requests_total and http_request_duration_seconds, optionally a traceresponse header.
/// An exception escaping a handler becomes a plain 500 (never its message) and an exception
/// event on the span.
///
/// It takes the server's pre-routing, post-routing, exception and logger hooks: install your
/// own before calling it only if you do not need them kept. Call before listen().
/// Route templates: wrap a handler with route() or call set_route() inside it.
inline void instrument(httplib::Server& svr, ServerOptions options = {}) {
  auto opts = std::make_shared<const ServerOptions>(std::move(options));
  svr.set_pre_routing_handler([opts](const httplib::Request& req, httplib::Response&) {
    auto& slot = detail::request_slot();
    slot.reset();  // a request on this thread that never reached the logger
    const auto host = req.get_header_value("Host");
    const auto server_address = detail::host_without_port(host);
    const auto traceparent = req.get_header_value("traceparent");
    const auto tracestate = detail::joined_header(req, "tracestate");
    const auto user_agent = req.get_header_value("User-Agent");
    RequestInfo info{.method = req.method,
                     .path = req.path,
                     .server_address = server_address.empty() ? req.local_addr : server_address,
                     .server_port = req.local_port,
                     .client_address = req.remote_addr,
                     .user_agent = user_agent,
                     .traceparent = traceparent,
                     .tracestate = tracestate,
                     .duplicate_traceparent = req.get_header_value_count("traceparent") > 1};
    slot.emplace(info, *opts);
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_post_routing_handler([opts](const httplib::Request&, httplib::Response& res) {
    auto& slot = detail::request_slot();
    if (opts->traceresponse && slot && !slot->excluded())
      res.set_header("traceresponse", slot->traceresponse());
  });
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        auto& slot = detail::request_slot();
        try {
          std::rethrow_exception(std::move(ep));
        } catch (const std::exception& e) {
          if (slot)
            slot->record_exception(e);
        } catch (...) {
          if (slot)
            slot->record_exception("unknown", "an exception not derived from std::exception");
        }
        res.status = 500;
        res.set_content("Internal Server Error\n", "text/plain");
      });
  svr.set_logger([](const httplib::Request&, const httplib::Response& res) {
    auto& slot = detail::request_slot();
    if (slot) {
      slot->finish(res.status);
      slot.reset();
    }
  });
}

/// Wraps a handler so its requests carry this route template ("/orders/{id}") on the span and
/// in the metric labels: `svr.Get(R"(/orders/(\d+))", o11y::http::route("/orders/{id}", h))`.
template <class Handler>
[[nodiscard]] httplib::Server::Handler route(std::string route_template, Handler handler) {
  return [route_template = std::move(route_template), handler = std::move(handler)](
             const httplib::Request& req, httplib::Response& res) {
    set_route(route_template);
    handler(req, res);
  };
}

/// A /metrics handler serving the default registry (or the multiprocess aggregate), with
/// content negotiation and gzip.
[[nodiscard]] inline httplib::Server::Handler metrics_handler() {
  return [](const httplib::Request& req, httplib::Response& res) {
    auto r = metrics::handle_scrape(req.get_header_value("Accept"),
                                    req.get_header_value("Accept-Encoding"));
    res.status = r.status;
    if (!r.content_encoding.empty())
      res.set_header("Content-Encoding", r.content_encoding);
    res.set_content(std::move(r.body), r.content_type.c_str());
  };
}

/// A cpp-httplib client whose requests each get a CLIENT span (child of the current span) and
/// carry traceparent/tracestate. Same thread-safety as httplib::Client; never throws except
/// std::bad_alloc.
class Client {
 public:
  /// `base_url` as cpp-httplib takes it: "http://127.0.0.1:8080".
  explicit Client(const std::string& base_url) : base_(base_url), cli_(base_url) {
    const auto scheme_end = base_url.find("://");
    std::string rest = scheme_end == std::string::npos ? base_url : base_url.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find('/'));
    port_ = base_url.starts_with("https://") ? 443 : 80;
    const auto colon = rest.rfind(':');
    const auto bracket = rest.rfind(']');
    if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
      host_ = rest.substr(0, colon);
      port_ = std::atoi(rest.c_str() + colon + 1);  // NOLINT(cert-err34-c): 0 if malformed
    } else {
      host_ = rest;
    }
    while (!base_.empty() && base_.back() == '/')
      base_.pop_back();
  }

  httplib::Result Get(const std::string& path, httplib::Headers headers = {}) {
    return send("GET", path, headers, [&](const httplib::Headers& h) { return cli_.Get(path, h); });
  }
  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& content_type, httplib::Headers headers = {}) {
    return send("POST", path, headers,
                [&](const httplib::Headers& h) { return cli_.Post(path, h, body, content_type); });
  }
  /// The wrapped client, for settings (timeouts, keep-alive).
  [[nodiscard]] httplib::Client& raw() noexcept { return cli_; }

 private:
  template <class Send>
  httplib::Result send(std::string_view method, const std::string& path, httplib::Headers& headers,
                       Send&& do_send) {
    ClientScope scope(method, base_ + path, host_, port_);
    for (const auto& [k, v] : scope.headers()) {
      headers.erase(k);
      headers.emplace(k, v);
    }
    auto res = std::forward<Send>(do_send)(headers);
    if (res) {
      scope.finish(res->status);
    } else {
      scope.fail(httplib::to_string(res.error()));
    }
    return res;
  }

  std::string base_;
  httplib::Client cli_;
  std::string host_;
  int port_ = 0;
};

}  // namespace o11y::http
