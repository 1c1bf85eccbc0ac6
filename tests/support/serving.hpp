#pragma once

#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

namespace o11y::testing {

/// Serves a cpp-httplib server on 127.0.0.1 from a thread of its own while it lives, for the
/// collectors, callbacks and services the tests and benchmarks stand up. Register the routes
/// before constructing it. Port 0 picks a free port.
class Serving {
 public:
  explicit Serving(httplib::Server& server, int port = 0) : server_(server) {
    port_ = port == 0 ? server.bind_to_any_port("127.0.0.1")
                      : (server.bind_to_port("127.0.0.1", port) ? port : -1);
    if (port_ <= 0)
      return;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Serving() {
    server_.stop();
    if (thread_.joinable())
      thread_.join();
  }
  Serving(const Serving&) = delete;
  Serving& operator=(const Serving&) = delete;
  Serving(Serving&&) = delete;
  Serving& operator=(Serving&&) = delete;

  [[nodiscard]] bool listening() const { return port_ > 0; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server& server_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace o11y::testing
