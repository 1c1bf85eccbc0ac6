#pragma once

// Optional adapter between o11y and prometheus-cpp: only its includers need prometheus-cpp
// (Debian: prometheus-cpp-dev); link the CMake target o11y::prometheus.

#include <prometheus/collectable.h>

#include <memory>

namespace o11y::metrics {

/// Our families as a prometheus-cpp Collectable, for an existing prometheus::Exposer,
/// Gateway or anything else that collects:
/// `exposer.RegisterCollectable(o11y::metrics::collectable())`. Thread-safe: Collect() may run
/// concurrently with recording.
[[nodiscard]] std::shared_ptr<prometheus::Collectable> collectable();

/// Exposes a prometheus-cpp Collectable (an existing prometheus::Registry, say) through
/// render(), serve() and push() for as long as it lives; it is held weakly.
void expose(const std::shared_ptr<prometheus::Collectable>& collectable);

}  // namespace o11y::metrics
