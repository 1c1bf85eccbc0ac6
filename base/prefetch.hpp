#pragma once

// Memory another core has read, fetched ahead for writing. A span the export thread encoded
// sits in that core's cache; the producer that reuses its block writes every line of it again,
// and each write first waits for the other core to give the line up, a stall that lands on
// the producer's next atomic instruction. Asked for early, the lines arrive while the producer
// does other work (figures: docs/performance.md, "Span recycling").

#include <cstddef>

namespace o11y::detail {

inline constexpr std::size_t kCacheLine = 64;

/// Asks for one cache line, the one holding `p`, in a state that allows writing. A hint:
/// never faults, never blocks.
inline void prefetch_line_for_write(const char* p) noexcept {
#if defined(__x86_64__)
  // PREFETCHW, whatever -march says: __builtin_prefetch(p, 1) becomes a plain read prefetch
  // (prefetcht0) on a baseline x86-64 build, which leaves the line shared and the write still
  // waiting. CPUs without PRFCHW execute this encoding as a NOP.
  asm volatile("prefetchw %0" : : "m"(*p));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

/// Every cache line of [p, p + bytes), as prefetch_line_for_write().
inline void prefetch_for_write(const void* p, std::size_t bytes) noexcept {
  if (bytes == 0)
    return;
  const auto* c = static_cast<const char*>(p);
  // One address a line apart covers each line but perhaps the last, unless p is line-aligned.
  for (std::size_t at = 0; at < bytes; at += kCacheLine)
    prefetch_line_for_write(c + at);       // NOLINT(*-pointer-arithmetic)
  prefetch_line_for_write(c + bytes - 1);  // NOLINT(*-pointer-arithmetic)
}

}  // namespace o11y::detail
