#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "o11y/export.hpp"

namespace o11y::otlp {

/// The transport options of one signal's settings (Config::logging, Config::metrics: the
/// otlp_* fields), its endpoint defaulting to the local collector's `default_path`.
template <class SignalConfig>
[[nodiscard]] OtlpOptions signal_options(const SignalConfig& c, std::string_view default_path) {
  OtlpOptions o;
  o.endpoint = c.otlp_endpoint.empty() ? "http://127.0.0.1:4318" + std::string(default_path)
                                       : c.otlp_endpoint;
  o.headers = c.otlp_headers;
  o.gzip = c.otlp_gzip;
  o.encoding = c.otlp_encoding;
  o.timeout = c.otlp_timeout;
  return o;
}

/// POSTs encoded OTLP requests to one endpoint over HTTP with libcurl: keep-alive, gzip when
/// configured, retries of 429/502/503/504 and connection failures with jittered exponential
/// backoff (Retry-After honoured), never past the caller's deadline. Failures are reported
/// through the rate-limited internal error channel, naming the endpoint. Used by one export
/// thread at a time; shutdown() may come from any thread. The constructor throws
/// std::invalid_argument for an endpoint that is not an http:// or https:// URL.
class HttpSender {
 public:
  using Clock = std::chrono::steady_clock;

  /// `what` names the payload in error messages ("spans", "log records").
  HttpSender(OtlpOptions options, std::string what);
  ~HttpSender();
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;
  HttpSender(HttpSender&&) = delete;
  HttpSender& operator=(HttpSender&&) = delete;

  /// Delivers one request body (encoded as options().encoding says); false on failure.
  bool send(std::string_view encoded, Clock::time_point deadline) noexcept;
  /// Interrupts a retry wait; later sends fail fast.
  void shutdown() noexcept;
  /// In a fork()ed child: abandons the parent's connection and waiters without closing them.
  void after_fork_child() noexcept;
  [[nodiscard]] const OtlpOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace o11y::otlp
