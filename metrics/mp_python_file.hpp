#pragma once

// Python prometheus_client's multiprocess files (*.db), read whole into a FileData and merged
// into the same aggregate as ours, so mixed fleets share one /metrics.

#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/mp_aggregate.hpp"
#include "metrics/mp_files.hpp"

namespace o11y::detail::mp {

// One parsed prometheus_client file: its families and series, owning the label values.
struct SeriesData {
  std::uint32_t family = 0;
  std::vector<std::string_view> values;  // into owned
  std::vector<std::uint64_t> cells;      // raw bits
};
struct FileData {
  Mapping map;
  std::vector<FamilyMeta> families;
  std::vector<SeriesData> series;
  std::deque<std::string> owned;
};

/// Parses one *.db file (its name says the type, gauge mode and pid). The reason it is unusable,
/// or nullopt.
std::optional<std::string> read_python_file(const std::string& path, const std::string& name,
                                            FileData& out, FileInfo& info);

/// Adds a parsed file's series to the aggregate.
void merge(const FileData& file, const FileInfo& info, Aggregate& agg);

}  // namespace o11y::detail::mp
