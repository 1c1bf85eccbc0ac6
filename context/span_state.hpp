#pragma once

#include <cstdint>
#include <memory>

#include "context/frame.hpp"
#include "context/spin_lock.hpp"
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

/// A span and its frame in one allocation.
struct SpanBlock {
  /// User-provided (defined out of line), so make_shared's value-initialisation runs the
  /// member initialisers only, instead of first zeroing all 392 bytes (rep stos: 6% of a span).
  SpanBlock() noexcept;

  SpanState state;
  Frame frame;  ///< frame.span is &state; frame.span_owner stays null (no cycle)
};

class KnownKey;

/// What the library's own instrumentation may do to a Span beyond its public methods.
struct SpanAccess {
  /// Span::set_attribute() with a key whose traits are cached beside it. Never throws.
  static void set_attribute(Span& span, const KnownKey& key, ValueView value) noexcept;
};

}  // namespace o11y::detail
