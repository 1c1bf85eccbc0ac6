#pragma once

#include <httplib.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/serving.hpp"

namespace o11y::testing {

/// A real HTTP OTLP collector stand-in on 127.0.0.1 whose answers the test scripts: statuses
/// in turn (200 once they run out) and, if asked, a delay before each answer.
class Collector {
 public:
  Collector() {
    const auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      std::chrono::milliseconds delay{};
      int status = 200;
      bool garbage = false;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
        if (!statuses_.empty()) {
          status = statuses_.front();
          statuses_.erase(statuses_.begin());
        }
        delay = delay_;
        garbage = garbage_;
      }
      std::this_thread::sleep_for(delay);
      res.status = status;
      if (garbage && status == 200)
        res.set_content(std::string("\x01\x02not OTLP\xff", 12), "application/x-protobuf");
      else
        res.set_content(status == 200 ? "{}" : "{\"message\":\"bad\nthing\"}", "application/json");
    };
    for (const char* path : {"/v1/traces", "/v1/logs", "/v1/metrics"})
      server_.Post(path, handle);
    // An exporter keeps its connection open: a short keep-alive lets the server stop
    // promptly when the test ends.
    server_.set_keep_alive_timeout(1);
    serving_ = std::make_unique<Serving>(server_);
  }

  /// The URL of one signal's path ("/v1/traces", "/v1/logs").
  [[nodiscard]] std::string url(std::string_view path = "/v1/traces") const {
    return serving_->url() + std::string(path);
  }
  void answer(std::vector<int> statuses) {
    std::lock_guard lock(mu_);
    statuses_ = std::move(statuses);
  }
  /// Whether a 200 carries bytes that are no OTLP response at all.
  void garbage(bool on) {
    std::lock_guard lock(mu_);
    garbage_ = on;
  }
  void delay(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    delay_ = d;
  }
  std::vector<httplib::Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::vector<int> statuses_;
  std::chrono::milliseconds delay_{};
  bool garbage_ = false;
  std::vector<httplib::Request> requests_;
  httplib::Server server_;
  std::unique_ptr<Serving> serving_;  // last: stops before what handlers touch
};

}  // namespace o11y::testing
