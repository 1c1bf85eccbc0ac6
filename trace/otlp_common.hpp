#pragma once

// What the OTLP/JSON and OTLP/protobuf trace encodings share: the instrumentation scope, the
// mapping of our enums and flags, and the grouping of a batch by resource.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

#include "o11y/export.hpp"
#include "o11y/trace.hpp"
#include "otlp/scope.hpp"

namespace o11y::otlp {

// Span.flags: the W3C trace flags in bits 0-7, then whether the parent's remoteness is known
// (bit 8) and whether it was remote (bit 9).
inline constexpr std::uint32_t kHasIsRemote = 0x100;
inline constexpr std::uint32_t kIsRemote = 0x200;

inline int kind_number(SpanKind k) {
  // SPAN_KIND_UNSPECIFIED is 0; ours start at INTERNAL = 1.
  return static_cast<int>(k) + 1;
}

inline int status_number(StatusCode c) {
  return static_cast<int>(c);  // UNSET 0, OK 1, ERROR 2 in both
}

inline std::uint32_t span_flags(const SpanData& s) {
  return s.context.flags | kHasIsRemote | (s.parent_remote ? kIsRemote : 0U);
}

/// Spans grouped by the resource they carry, in first-seen order.
inline std::vector<std::pair<const Resource*, std::vector<const SpanData*>>> group(
    SpanBatch spans) {
  std::vector<std::pair<const Resource*, std::vector<const SpanData*>>> groups;
  for (const auto& s : spans) {
    if (!s)
      continue;
    const Resource* r = s->resource.get();
    auto it =
        std::find_if(groups.begin(), groups.end(), [r](const auto& g) { return g.first == r; });
    if (it == groups.end()) {
      groups.emplace_back(r, std::vector<const SpanData*>{});
      it = std::prev(groups.end());
    }
    it->second.push_back(s.get());
  }
  return groups;
}

}  // namespace o11y::otlp
