#pragma once

// The OTLP receiver built on OpenTelemetry JS's generated types (integration/otlp_receiver.js),
// run as a child process for the length of a test.

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace o11y::testing {

/// Every request it receives is decoded (JSON or protobuf, gzip or not) and kept as one JSON
/// object: {"encoding", "gzip", "path", "headers", "request"} or {"error"}.
class NodeReceiver {
 public:
  explicit NodeReceiver(const TempDir& dir)
      : out_(dir.file("requests.jsonl")),
        log_(dir.file("receiver.log")),
        process_(
            {"node", O11Y_TEST_SOURCE_DIR "/integration/otlp_receiver.js", O11Y_NODE_MODULES, out_},
            log_) {
    wait_until(
        [this] {
          std::ifstream in(log_);
          return static_cast<bool>(in >> port_) && port_ > 0;
        },
        std::chrono::seconds(20));
  }
  [[nodiscard]] int port() const { return port_; }
  /// The URL of one signal's path ("/v1/traces", "/v1/logs").
  [[nodiscard]] std::string url(std::string_view path = "/v1/traces") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(log_);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  /// Every request the receiver decoded, in arrival order.
  [[nodiscard]] std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(out_);
    for (std::string line; std::getline(in, line);)
      out.push_back(nlohmann::json::parse(line));
    return out;
  }

 private:
  std::string out_;
  std::string log_;
  Process process_;
  int port_ = 0;
};

}  // namespace o11y::testing
