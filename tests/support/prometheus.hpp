#pragma once

#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace o11y::testing {

/// Writes a file into the directory and returns its path.
inline std::string write_file(const TempDir& dir, const std::string& name,
                              const std::string& body) {
  const auto path = dir.file(name);
  std::ofstream(path) << body;
  return path;
}

/// A real Prometheus server (Debian's `prometheus`) on a free loopback port, scraping one
/// target every second, its data in `dir`.
class PrometheusServer {
 public:
  /// flags: more command-line flags ("--enable-feature=native-histograms"); rule_files: rule
  /// files to load, evaluated every second.
  PrometheusServer(const TempDir& dir, int target_port, const std::vector<std::string>& flags = {},
                   const std::vector<std::string>& rule_files = {})
      : port_(free_port()),
        process_(arguments(dir, target_port, port_, flags, rule_files),
                 dir.file("prometheus.log")) {}

  [[nodiscard]] bool started() const { return process_.started(); }
  [[nodiscard]] int port() const { return port_; }

  /// The result of an instant query, or null when Prometheus did not answer.
  [[nodiscard]] nlohmann::json query(const std::string& promql) const {
    httplib::Client client("127.0.0.1", port_);
    auto res = client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!res || res->status != 200)
      return {};
    return nlohmann::json::parse(res->body, nullptr, false);
  }

  /// The first sample's value of an instant query, -1 when there is none.
  [[nodiscard]] double scalar(const std::string& promql) const {
    const auto j = query(promql);
    if (!j.is_object() || j["status"] != "success" || j["data"]["result"].empty())
      return -1;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
  }

 private:
  static std::vector<std::string> arguments(const TempDir& dir, int target_port, int port,
                                            const std::vector<std::string>& flags,
                                            const std::vector<std::string>& rule_files) {
    std::string rules;
    if (!rule_files.empty()) {
      rules = "rule_files:\n";
      for (const auto& f : rule_files)
        rules += "  - " + f + "\n";
    }
    std::vector<std::string> args{
        "prometheus",
        "--config.file=" +
            write_file(dir, "prometheus.yml",
                       "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" + rules +
                           "scrape_configs:\n  - job_name: o11y\n    static_configs:\n"
                           "      - targets: ['127.0.0.1:" +
                           std::to_string(target_port) + "']\n"),
        "--storage.tsdb.path=" + dir.file("data"),
        "--web.listen-address=127.0.0.1:" + std::to_string(port)};
    args.insert(args.end(), flags.begin(), flags.end());
    return args;
  }
  int port_;
  Process process_;
};

}  // namespace o11y::testing
