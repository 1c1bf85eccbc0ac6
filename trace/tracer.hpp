#pragma once

#include <memory>
#include <vector>

#include "o11y/trace.hpp"

namespace o11y::detail {

/// What every span start and end consults: processors and resource. Immutable; replaced as a
/// whole when something is registered, and cached per thread so the hot path takes no lock.
struct TracerState {
  std::vector<std::shared_ptr<SpanProcessor>> processors;
  std::shared_ptr<const Resource> resource;
};

/// The current tracer state as seen by this thread (one atomic load when nothing changed).
[[nodiscard]] const TracerState& tracer_state() noexcept;

/// Whether spans record at all (O11Y_TRACING_ENABLED / OTEL_SDK_DISABLED).
void set_tracing_enabled(bool enabled) noexcept;
[[nodiscard]] bool tracing_enabled() noexcept;

/// Sampling decision for a new root trace with this id, at the current rate.
[[nodiscard]] bool sample_root(const TraceId& id) noexcept;

/// Shuts every registered processor down and unregisters them.
void shutdown_span_processors() noexcept;

}  // namespace o11y::detail
