#pragma once

// One fork() path for the whole library. Each module registers its steps under a stage, and
// a single pthread_atfork handler runs them in a fixed, documented order instead of the order
// in which the modules happened to be first used.
//
// Prepare runs the stages top to bottom; parent and child run them bottom to top:
//
//   prepare:  Logging -> Spans -> Metrics
//   child:    Clock -> Ids -> Metrics -> Spans -> Logging   (parent: the same, no Clock/Ids)
//
// Logging prepares first because flushing lines may reach any other module (a sink that
// counts, say), which must not be holding its locks yet; metrics prepare last because every
// other module may record metrics until then. In the child, the clock and the id generators
// are made safe before anything else runs.

#include <cstddef>
#include <cstdint>

namespace o11y::detail {

enum class ForkStage : std::uint8_t {
  Logging,  ///< flushes lines, holds the setup lock; the child rebuilds its writer
  Spans,    ///< batch span processors hold their queue locks; the child gets empty queues
  Metrics,  ///< the registry and family locks; the child gets its own multiprocess file
  Ids,      ///< the child's id generators reseed
  Clock,    ///< a calibration cut short by fork() starts over in the child
};
inline constexpr std::size_t kForkStages = 5;

/// A module's steps; any may be null.
struct ForkSteps {
  void (*prepare)() = nullptr;
  void (*parent)() = nullptr;
  void (*child)() = nullptr;
};

/// Registers the steps of a stage, once: a later call for the same stage is ignored and returns
/// false. Safe during static initialisation (the table is constant-initialised) and from any
/// thread.
bool register_fork_steps(ForkStage stage, ForkSteps steps) noexcept;

}  // namespace o11y::detail
