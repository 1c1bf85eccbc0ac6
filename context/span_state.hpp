#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "context/frame.hpp"
#include "o11y/trace.hpp"

namespace o11y::detail {

/// OpenTelemetry's default span limits: enough for real spans, bounded against hostile input.
inline constexpr std::size_t kMaxSpanAttributes = 128;
inline constexpr std::size_t kMaxSpanEvents = 128;

/// A live span. `data` is guarded by `mu` until `ended`; after that it is immutable and shared
/// with processors through an aliasing shared_ptr (no copy).
struct SpanState {
  SpanData data;
  std::mutex mu;
  bool ended = false;      // guarded by mu
  bool recording = false;  // immutable after start
  std::uint64_t start_steady_ns = 0;
  /// The frame that was current when the span started; restored when it ends.
  std::shared_ptr<const Frame> prev_frame;  // guarded by mu
  const void* owner = nullptr;              // context slot of the starting thread
};

}  // namespace o11y::detail
