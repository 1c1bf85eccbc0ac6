#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "o11y/context.hpp"
#include "o11y/trace.hpp"

/// Framework-neutral HTTP instrumentation: what `<o11y/http/httplib.hpp>` is built on, and what
/// an adapter for any other server uses.
namespace o11y::http {

/// What the instrumentation needs to know about an incoming request. The views only need to
/// live for the RequestScope constructor.
struct RequestInfo {
  std::string_view method;
  /// The path without the query string.
  std::string_view path;
  /// The route template ("/orders/{id}"), when the router knows it already; else set later
  /// with set_route().
  std::string_view route = {};
  std::string_view scheme = "http";
  std::string_view server_address = {};
  int server_port = 0;
  std::string_view client_address = {};
  std::string_view user_agent = {};
  /// The W3C trace context headers, verbatim ("" when absent). Several tracestate headers
  /// are joined with ',' by the caller.
  std::string_view traceparent = {};
  std::string_view tracestate = {};
  /// More than one traceparent header was sent (which makes it invalid).
  bool duplicate_traceparent = false;
};

/// Settings for server instrumentation. A plain struct; copy freely.
struct ServerOptions {
  /// Requests to these exact paths get no span, no log line and no metrics (health checks and
  /// scrapes would drown the rest).
  std::vector<std::string> excluded_paths = {"/metrics", "/health", "/healthz",
                                             "/ready",   "/readyz", "/livez"};
  /// One "request_finished" log line per request, its level by status.
  bool log_requests = true;
  /// http_requests_total{method,route,status} and http_request_duration_seconds{method,route}.
  bool record_metrics = true;
  /// Send a `traceresponse` header (W3C Trace Context Level 2) so clients can find the trace.
  bool traceresponse = false;
  /// Called when the span has started, to add attributes (the authenticated user, say).
  std::function<void(Span&, const RequestInfo&)> request_hook = nullptr;
  /// Called before the span ends, with the response status.
  std::function<void(Span&, int status)> response_hook = nullptr;
};

/// One server request's observability: a fresh context frame (custom tags set by the handler
/// stay in this request), a SERVER span continuing the caller's trace, and at finish() the
/// span's status, the request log line and the request metrics.
///
/// Create it on the thread that runs the handler, and finish or destroy it on that thread.
/// Not copyable or movable. Never throws except std::bad_alloc from the constructor; hooks that
/// throw are caught and reported.
class RequestScope {
 public:
  RequestScope(const RequestInfo& info, const ServerOptions& options);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;
  RequestScope(RequestScope&&) = delete;
  RequestScope& operator=(RequestScope&&) = delete;

  /// True when the path is excluded: nothing is recorded.
  [[nodiscard]] bool excluded() const noexcept { return excluded_; }
  /// The route template: renames the span "{method} {route}" and labels the metrics.
  void set_route(std::string_view route) noexcept;
  /// Records an exception that escaped the handler (the response becomes a 500).
  void record_exception(const std::exception& ex) noexcept;
  void record_exception(std::string_view type, std::string_view message) noexcept;
  /// The server span (a no-op span when excluded).
  [[nodiscard]] Span& span() noexcept { return span_; }
  /// The value of the traceresponse header for this request.
  [[nodiscard]] std::string traceresponse() const;
  /// Ends the span with this status, writes the log line and the metrics. Later calls and the
  /// destructor then do nothing.
  void finish(int status) noexcept;

 private:
  Scope scope_;
  Span span_;
  std::string method_;
  std::string path_;
  std::string route_;
  std::chrono::steady_clock::time_point start_;
  const ServerOptions* options_;
  RequestScope* outer_ = nullptr;
  bool excluded_ = false;
  bool finished_ = false;
  bool failed_ = false;
};

/// The innermost RequestScope alive on this thread, or null.
[[nodiscard]] RequestScope* current_request() noexcept;

/// Sets the route template of the current request (from inside a handler). No-op outside one.
void set_route(std::string_view route) noexcept;

/// The method as OpenTelemetry's semantic conventions want it on spans and metric labels: one
/// of the nine standard methods, else "_OTHER" (so a client cannot invent label values).
[[nodiscard]] std::string_view normalize_method(std::string_view method) noexcept;

/// One outgoing request: a CLIENT span, child of the current span, and the headers to send.
/// Same threading rules as RequestScope; never throws except std::bad_alloc.
class ClientScope {
 public:
  /// `url` is the full URL (url.full); address and port name the server.
  ClientScope(std::string_view method, std::string_view url, std::string_view server_address,
              int server_port);
  ~ClientScope();
  ClientScope(const ClientScope&) = delete;
  ClientScope& operator=(const ClientScope&) = delete;
  ClientScope(ClientScope&&) = delete;
  ClientScope& operator=(ClientScope&&) = delete;

  /// traceparent (and tracestate) for the outgoing request, continuing the CLIENT span.
  [[nodiscard]] const std::map<std::string, std::string>& headers() const noexcept {
    return headers_;
  }
  [[nodiscard]] Span& span() noexcept { return span_; }
  /// The response arrived with this status (>= 400 marks the span as an error).
  void finish(int status) noexcept;
  /// No response: a connection error, a timeout.
  void fail(std::string_view error) noexcept;

 private:
  Span span_;
  std::map<std::string, std::string> headers_;
  bool finished_ = false;
};

}  // namespace o11y::http
