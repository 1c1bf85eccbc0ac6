#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/sys.hpp"
#include "o11y/metrics.hpp"

namespace o11y::metrics {

struct Endpoint::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;

  ~Impl() {
    server.stop();
    if (thread.joinable())
      thread.join();
  }
};

Endpoint::Endpoint(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Endpoint::~Endpoint() = default;
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;

int Endpoint::port() const noexcept {
  return impl_ ? impl_->port : 0;
}

namespace {

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16U) |
                   (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8U) |
                   static_cast<unsigned char>(in[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6)
      out.push_back(kAlphabet[(n >> static_cast<unsigned>(shift)) & 63U]);
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16U;
    if (i + 1 < in.size())
      n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8U;
    out.push_back(kAlphabet[(n >> 18U) & 63U]);
    out.push_back(kAlphabet[(n >> 12U) & 63U]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(n >> 6U) & 63U] : '=');
    out.push_back('=');
  }
  return out;
}

/// Equality whose time does not depend on where the strings differ, for credentials.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  unsigned diff = a.size() == b.size() ? 0U : 1U;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

/// The Authorization header values that are accepted ("" when auth is off).
std::vector<std::string> accepted_credentials(const EndpointOptions& o) {
  std::vector<std::string> out;
  if (!o.basic_auth_user.empty() || !o.basic_auth_password.empty())
    out.push_back("Basic " + base64(o.basic_auth_user + ":" + o.basic_auth_password));
  if (!o.bearer_token.empty())
    out.push_back("Bearer " + o.bearer_token);
  return out;
}

}  // namespace

Endpoint serve(std::string_view address, const EndpointOptions& options) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    throw MetricError("serve: address \"" + std::string(address) + "\" is not host:port");
  }
  std::string host(address.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    std::size_t used = 0;
    const std::string p(address.substr(colon + 1));
    port = std::stoi(p, &used);
    if (used != p.size())
      port = -1;
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    throw MetricError("serve: port in \"" + std::string(address) +
                      "\" is not a number from 0 to 65535");
  }

  auto impl = std::make_unique<Endpoint::Impl>();
  const int max_scrapes = std::max(1, options.max_concurrent_scrapes);
  impl->server.Get("/metrics", [credentials = accepted_credentials(options), max_scrapes,
                                in_flight = std::make_shared<std::atomic<int>>(0)](
                                   const httplib::Request& req, httplib::Response& res) {
    if (!credentials.empty()) {
      const auto given = req.get_header_value("Authorization");
      bool ok = false;
      for (const auto& c : credentials)
        ok = constant_time_equal(given, c) || ok;
      if (!ok) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Basic realm=\"metrics\"");
        res.set_content("unauthorized\n", "text/plain");
        return;
      }
    }
    // Counted, not queued: a scraper that finds all slots busy comes back later.
    if (in_flight->fetch_add(1) >= max_scrapes) {
      in_flight->fetch_sub(1);
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_content("too many concurrent scrapes\n", "text/plain");
      return;
    }
    struct Release {
      std::atomic<int>& n;
      ~Release() { n.fetch_sub(1); }
    } release{*in_flight};
    const auto r =
        handle_scrape(req.get_header_value("Accept"), req.get_header_value("Accept-Encoding"));
    res.status = r.status;
    if (!r.content_encoding.empty())
      res.set_header("Content-Encoding", r.content_encoding);
    res.set_content(r.body, r.content_type);
  });
  // Error pages say nothing about the process: no paths, no exception texts.
  impl->server.set_exception_handler([](const httplib::Request& /*req*/, httplib::Response& res,
                                        const std::exception_ptr& /*ex*/) {
    res.status = 500;
    res.set_content("internal error\n", "text/plain");
  });
  impl->port = port == 0 ? impl->server.bind_to_any_port(host)
                         : (impl->server.bind_to_port(host, port) ? port : -1);
  if (impl->port < 0) {
    throw std::runtime_error("serve: cannot listen on " + std::string(address));
  }
  httplib::Server* server = &impl->server;
  impl->thread = detail::start_thread("o11y-metrics", [server] { server->listen_after_bind(); });
  return Endpoint(std::move(impl));
}

}  // namespace o11y::metrics
