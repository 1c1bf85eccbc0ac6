#include "o11y/http.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/internal_error.hpp"
#include "base/text.hpp"
#include "base/thread_instance.hpp"
#include "context/redact.hpp"
#include "context/span_state.hpp"
#include "integrations/span_attribute.hpp"
#include "integrations/work_unit.hpp"
#include "o11y/log.hpp"
#include "o11y/metrics.hpp"
#include "o11y/propagation.hpp"

namespace o11y::http {
namespace {

thread_local RequestScope* t_current = nullptr;  // NOLINT(*-avoid-non-const-global-*)

// The semantic-convention keys every request sets, their redaction traits cached beside them
// (see detail::KnownKey).
constinit const detail::KnownKey kMethod{"http.request.method"};
constinit const detail::KnownKey kMethodOriginal{"http.request.method_original"};
constinit const detail::KnownKey kUrlPath{"url.path"};
constinit const detail::KnownKey kUrlScheme{"url.scheme"};
constinit const detail::KnownKey kRoute{"http.route"};
constinit const detail::KnownKey kServerAddress{"server.address"};
constinit const detail::KnownKey kServerPort{"server.port"};
constinit const detail::KnownKey kClientAddress{"client.address"};
constinit const detail::KnownKey kUserAgent{"user_agent.original"};
constinit const detail::KnownKey kStatusCode{"http.response.status_code"};
constinit const detail::KnownKey kUrlFull{"url.full"};
constinit const detail::KnownKey kErrorType{"error.type"};

using detail::set;

Counter requests_total() {
  static const Counter c =
      counter("http_requests_total", "HTTP requests served, by method, route and status.",
              {"method", "route", "status"});
  return c;
}

Histogram request_duration() {
  static const Histogram h =
      histogram("http_request_duration_seconds", "Time to serve an HTTP request, in seconds.",
                {"method", "route"});
  return h;
}

/// The two metric series of one (method, route, status).
struct RequestMetrics {
  Counter::Child requests;
  Histogram::Child duration;
};

RequestMetrics look_up_series(std::string_view method, std::string_view route, int status) {
  return {requests_total().labels({method, route, std::to_string(status)}),
          request_duration().labels({method, route})};
}

/// RequestMetrics kept per thread. A labelled add() names, hashes and looks up its label
/// values in the family's table on every request; on a server thread, where the kernel and
/// other threads ran since its last request, those reads are cache misses (some 30 lines for
/// the two metrics, callgrind's cache model counts).
struct RequestSeries {
  std::string method;
  std::string route;
  int status = -1;  ///< -1: empty slot
  std::optional<RequestMetrics> metrics;
};

constexpr unsigned kSlotBits = 3;  // 8: a thread serves a few routes; more only costs misses
using SeriesSlots = std::array<RequestSeries, std::size_t{1} << kSlotBits>;

// `status` is 0 for a request that got no response, as its label says.
RequestMetrics request_series(std::string_view method, std::string_view route, int status) {
  auto* const slots = detail::thread_instance<SeriesSlots>();
  if (slots == nullptr) [[unlikely]]  // a thread_local destructor at thread exit
    return look_up_series(method, route, status);
  // Every part mixed into the top bits, which pick the slot.
  const std::uint64_t h =
      (std::uint64_t{std::hash<std::string_view>{}(route)} ^
       static_cast<std::uint64_t>(status) << 32U ^
       std::uint64_t{method.empty() ? 0U : static_cast<unsigned char>(method[0])} << 48U ^
       method.size()) *
      0x9e3779b97f4a7c15ULL;
  auto& slot = (*slots)[h >> (64U - kSlotBits)];
  if (slot.status == status && slot.route == route && slot.method == method) [[likely]]
    return *slot.metrics;
  // Looked up before the slot changes, so a throw (a label limit) leaves it as it was.
  const auto metrics = look_up_series(method, route, status);
  slot.method.assign(method);
  slot.route.assign(route);
  slot.status = status;
  slot.metrics = metrics;
  return metrics;
}

Logger& request_logger() {
  static Logger log = get_logger("o11y.http");
  return log;
}

SpanContext parent_from(const RequestInfo& info) {
  // Several traceparent headers make it invalid: a new trace starts (W3C).
  return propagation::extract_values(info.traceparent, info.tracestate,
                                     info.duplicate_traceparent ? 2 : 1);
}

/// "GET /orders/{id}", written into `out`, a stack buffer: a std::string of 16 characters or
/// more is a heap allocation, and the span copies the name anyway.
std::string_view span_name(o11y::detail::Buffer& out, std::string_view method,
                           std::string_view route) {
  out.append(method.data(), method.data() + method.size());
  if (!route.empty()) {
    out.push_back(' ');
    out.append(route.data(), route.data() + route.size());
  }
  return {out.data(), out.size()};
}

}  // namespace

std::string_view normalize_method(std::string_view method) noexcept {
  static constexpr std::array<std::string_view, 9> kKnown = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (auto m : kKnown) {
    if (m == method)
      return m;
  }
  return "_OTHER";
}

RequestScope::RequestScope(const RequestInfo& info, const ServerOptions& options)
    : method_(normalize_method(info.method)),
      path_(info.path),
      route_(info.route),
      start_(std::chrono::steady_clock::now()),
      options_(&options),
      outer_(t_current) {
  t_current = this;
  const auto& ex = options.excluded_paths;
  excluded_ = std::find(ex.begin(), ex.end(), info.path) != ex.end();
  if (excluded_)
    return;
  o11y::detail::Buffer name;
  span_ = start_span(span_name(name, method_, route_),
                     {.kind = SpanKind::Server, .parent = parent_from(info)});
  set(span_, kMethod, method_);
  if (method_ == "_OTHER")
    set(span_, kMethodOriginal, info.method);
  set(span_, kUrlPath, info.path);
  set(span_, kUrlScheme, info.scheme);
  if (!route_.empty())
    set(span_, kRoute, route_);
  if (!info.server_address.empty())
    set(span_, kServerAddress, info.server_address);
  if (info.server_port > 0)
    set(span_, kServerPort, info.server_port);
  if (!info.client_address.empty())
    set(span_, kClientAddress, info.client_address);
  if (!info.user_agent.empty())
    set(span_, kUserAgent, info.user_agent);
  detail::open_work_unit(this, &span_);
  if (options.request_hook) {
    try {
      options.request_hook(span_, info);
    } catch (...) {
      detail::report_internal_error("http", "the request hook threw; the request goes on");
    }
  }
}

RequestScope::~RequestScope() {
  // Never finished: the handler's thread unwound without a response the adapter saw.
  finish(failed_ ? 500 : 0);
  t_current = outer_;
}

void RequestScope::set_route(std::string_view route) noexcept {
  if (excluded_ || finished_)
    return;
  try {
    route_ = route;
    o11y::detail::Buffer name;
    span_.update_name(span_name(name, method_, route_));
    set(span_, kRoute, route_);
  } catch (...) {
    detail::report_internal_error("http", "could not set the route");
  }
}

void RequestScope::record_exception(const std::exception& ex) noexcept {
  failed_ = true;
  span_.record_exception(ex);
}

void RequestScope::record_exception(std::string_view type, std::string_view message) noexcept {
  failed_ = true;
  span_.add_event("exception", {{"exception.type", type}, {"exception.message", message}});
}

std::string RequestScope::traceresponse() const {
  const auto ctx = span_.context();
  if (!ctx.valid())
    return {};
  return propagation::format_traceparent(ctx);
}

void RequestScope::finish(int status) noexcept {
  if (finished_ || excluded_) {
    finished_ = true;
    return;
  }
  finished_ = true;
  detail::close_work_unit(this, route_);
  try {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (status > 0)
      set(span_, kStatusCode, status);
    // Server spans: 5xx is the server's fault, 4xx the client's (not an error here).
    if (status >= 500 || status <= 0 || failed_)
      span_.set_status(StatusCode::Error, status > 0 ? std::string_view{} : "no response");
    if (options_->response_hook) {
      try {
        options_->response_hook(span_, status);
      } catch (...) {
        detail::report_internal_error("http", "the response hook threw");
      }
    }
    if (options_->record_metrics) {
      const auto series = request_series(method_, route_, status > 0 ? status : 0);
      series.requests.add();
      series.duration.record(seconds);
    }
    if (options_->log_requests) {
      // Written while the span is current, so the line carries its trace and span ids.
      // In whole microseconds: a double of the exact milliseconds reads 0.011994999999999999.
      const double ms = std::round(seconds * 1e6) / 1e3;
      logging::log_request(request_logger(), method_, path_, route_, status, ms);
    }
  } catch (...) {
    detail::report_internal_error("http", "could not record a finished request");
  }
  span_.end();
}

RequestScope* current_request() noexcept {
  return t_current;
}

void set_route(std::string_view route) noexcept {
  if (t_current != nullptr)
    t_current->set_route(route);
}

ClientScope::ClientScope(std::string_view method, std::string_view url,
                         std::string_view server_address, int server_port) {
  const auto m = normalize_method(method);
  span_ = start_span(m, {.kind = SpanKind::Client});
  set(span_, kMethod, m);
  set(span_, kUrlFull, url);
  if (!server_address.empty())
    set(span_, kServerAddress, server_address);
  if (server_port > 0)
    set(span_, kServerPort, server_port);
  propagation::inject(span_.context(), headers_);
}

ClientScope::~ClientScope() {
  if (!finished_)
    fail("abandoned");
}

void ClientScope::finish(int status) noexcept {
  if (finished_)
    return;
  finished_ = true;
  set(span_, kStatusCode, status);
  if (status >= 400)
    span_.set_status(StatusCode::Error);
  span_.end();
}

void ClientScope::fail(std::string_view error) noexcept {
  if (finished_)
    return;
  finished_ = true;
  set(span_, kErrorType, error);
  span_.set_status(StatusCode::Error, error);
  span_.end();
}

}  // namespace o11y::http
