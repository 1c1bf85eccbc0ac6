#pragma once

// `o11y stack`: a local Prometheus and Pushgateway for development, as child processes in a
// state directory, scraping the app with o11y's rules loaded.

#include <string>

namespace o11y::tool {

/// What `o11y stack start` was given.
struct StackOptions {
  std::string app_url;     ///< HOST:PORT serving /metrics
  std::string master_url;  ///< a multiprocess master's /metrics, when separate
  int prometheus_port = 9090;
  int pushgateway_port = 9091;
  std::string scrape_interval = "5s";
  std::string rules_dir;  ///< "" = the installed (or source tree's) monitoring/rules
  bool follow = false;    ///< logs --follow
};

/// Runs one action (start, stop, status, logs); returns the exit status (0 ok, 1 failed).
/// Messages go to stdout and stderr.
int stack(const std::string& action, const StackOptions& options, const char* argv0);

}  // namespace o11y::tool
