#pragma once

#include <optional>
#include <string>
#include <vector>

#include "o11y/metrics.hpp"

namespace o11y::detail {

struct Family;

/// What the other Prometheus clients export as process_*: read from /proc at scrape time.
struct ProcessMetrics {
  double cpu_seconds = 0;
  double virtual_memory_bytes = 0;
  double resident_memory_bytes = 0;
  double start_time_seconds = 0;
  double open_fds = 0;
  double max_fds = 0;
};

/// Reads /proc/self; nullopt where /proc is unavailable.
[[nodiscard]] std::optional<ProcessMetrics> read_process_metrics();

/// One process_* family as every format writes it.
struct ProcessSample {
  const char* base;  ///< without _total
  bool counter;
  const char* help;
  double value;
};
[[nodiscard]] std::vector<ProcessSample> process_samples(const ProcessMetrics& p);

/// Prometheus' delimited protobuf exposition of these families (with_extras as below).
[[nodiscard]] std::string render_protobuf(const std::vector<const Family*>& families,
                                          bool with_extras);

/// The exposition of these families in a format; with_extras adds the process metrics and
/// the families of exposed prometheus-cpp collectables.
[[nodiscard]] std::string render_families(const std::vector<const Family*>& families,
                                          metrics::Format fmt, bool with_extras);

}  // namespace o11y::detail
