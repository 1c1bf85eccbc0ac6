#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/prefetch.hpp"
#include "base/spin_lock.hpp"
#include "context/frame.hpp"
#include "o11y/trace.hpp"

namespace o11y::detail {

/// OpenTelemetry's default span limits: enough for real spans, bounded against hostile input.
inline constexpr std::size_t kMaxSpanAttributes = 128;
inline constexpr std::size_t kMaxSpanEvents = 128;

/// A live span. `data` is guarded by `mu` until `ended`; after that it is immutable and shared
/// with processors through an aliasing shared_ptr (no copy).
///
/// Allocated together with the frame start_span() makes current (SpanBlock): one allocation
/// per span instead of two. Span handles, that frame and processors all hold aliasing
/// pointers into the block.
struct SpanState {
  SpanData data;
  SpinLock mu;
  bool ended = false;             // guarded by mu
  bool recording = false;         // immutable after start
  std::uint64_t start_ticks = 0;  ///< tick_clock::now() at start
  /// The frame that was current when the span started; restored when it ends.
  std::shared_ptr<const Frame> prev_frame;  // guarded by mu
  const void* owner = nullptr;              // context slot of the starting thread
};

/// A span and its frame in one allocation, recycled: when the last reference goes, the block is
/// cleared and kept by the releasing thread for its next start_span(), with the buffers of its
/// attribute list and name (see span.cpp, "Recycling").
struct SpanBlock {
  /// User-provided (defined out of line), so value-initialisation runs the member initialisers
  /// only, instead of first zeroing the whole block with rep stos on every span.
  SpanBlock() noexcept;

  /// Back to the state of a new block, keeping what buffers are worth keeping. Releases every
  /// reference the span held (its parent's frame, its resource) at once. Never throws.
  void clear() noexcept;

  SpanState state;
  Frame frame;  ///< frame.span is &state; frame.span_owner stays null (no cycle)
  /// Where the shared_ptr control block of this block lives: no allocation for it either.
  alignas(std::max_align_t) std::byte control[48]{};  // NOLINT(*-avoid-c-arrays)
};

/// Fetches for writing the lines of the block a finished span lives in (prefetch.hpp): the
/// producer that releases it clears every part of the block, then starts its next span there.
/// A span the library started is its block's first bytes (span_recycling_test.cpp checks the
/// layout); for SpanData made elsewhere, the lines past it are fetched for nothing. Never faults.
inline void prefetch_block_for_write(const SpanData& d) noexcept {
  prefetch_for_write(&d, sizeof(SpanBlock));
}

class KnownKey;

/// What the library's own instrumentation may do to a Span beyond its public methods.
struct SpanAccess {
  /// Span::set_attribute() with a key whose traits are cached beside it. Never throws.
  static void set_attribute(Span& span, const KnownKey& key, ValueView value) noexcept;
};

}  // namespace o11y::detail
