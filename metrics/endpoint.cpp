#include <httplib.h>

#include <stdexcept>
#include <thread>

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

Endpoint serve(std::string_view address) {
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
  impl->server.Get("/metrics", [](const httplib::Request& req, httplib::Response& res) {
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
  impl->thread = std::thread([server] { server->listen_after_bind(); });
  return Endpoint(std::move(impl));
}

}  // namespace o11y::metrics
