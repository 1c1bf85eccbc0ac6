#pragma once

// Our own multiprocess files (docs/multiprocess-format.md), read in two passes over the
// mapping: validate() checks every record, so a bad file adds nothing; merge() then adds its
// series to the aggregate without copying them.

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

// What validate() learns of a file for merge(); kept between files and scrapes so that
// reading a file allocates nothing once the buffers have grown.
struct OwnFile {
  std::size_t used = 0;
  std::vector<FamilyMeta> families;  // the first nfamilies are this file's
  std::size_t nfamilies = 0;
  std::vector<std::uint32_t> series_family;  // this file's series, by index: their family
  std::vector<Aggregate::Binding> bindings;
  std::vector<std::uint32_t> series_agg;  // this file's series, by index: the aggregate's
  std::vector<std::string_view> values;
  // Native histograms: each series' sequence cell (null if not native), its tables' records
  // by series, and what one consistent read of a series' tables found.
  std::vector<const std::uint64_t*> native_seq;
  std::vector<std::pair<std::uint32_t, const char*>> native_tables;
  struct Bucket {
    int schema;
    int index;
    bool negative;
    std::uint64_t n;
  };
  std::vector<Bucket> native_read;
};

/// Pass one: the reason the file is unusable, or nullopt. Fills f and info for merge().
std::optional<std::string> validate(const Mapping& map, OwnFile& f, FileInfo& info);

/// Pass two, over a file validate() accepted with the same OwnFile: adds its series.
void merge(const Mapping& map, OwnFile& f, const FileInfo& info, Aggregate& agg);

}  // namespace o11y::detail::mp
