#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "metrics/otlp_metrics.hpp"
#include "o11y/metrics.hpp"

namespace o11y::detail {

struct DirectoryStats {
  std::uint64_t files_read = 0;
  std::uint64_t files_skipped = 0;
};

/// The aggregate of every process's file in dir: counters and histograms summed over live and
/// dead processes, gauges combined by their mode. Never throws for bad files: they are
/// skipped, counted (o11y_multiproc_files_skipped_total) and reported.
[[nodiscard]] std::string render_directory(const std::string& dir, metrics::Format fmt,
                                           DirectoryStats* stats = nullptr);

/// The same aggregate as series points, for an OTLP export. Bad files as above.
[[nodiscard]] std::vector<MetricFamilyPoints> directory_points(const std::string& dir,
                                                               DirectoryStats* stats = nullptr);

/// Merges the files of exited processes into the directory's archive and removes them.
/// Returns how many files were absorbed.
std::size_t compact_directory(const std::string& dir);

}  // namespace o11y::detail
