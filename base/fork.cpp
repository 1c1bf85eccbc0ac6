#include "base/fork.hpp"

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstddef>

#include "base/internal_error.hpp"

namespace o11y::detail {
namespace {

using Step = void (*)();

struct Stage {
  std::atomic<Step> prepare{nullptr};
  std::atomic<Step> parent{nullptr};
  std::atomic<Step> child{nullptr};
  std::atomic<bool> taken{false};
};

// Constant-initialised: registrations from other translation units' static initialisers may
// come before this file's dynamic initialisation would.
constinit std::array<Stage, kForkStages> g_stages{};  // NOLINT(*-avoid-non-const-global-*)
constinit std::atomic<bool> g_installed{false};       // NOLINT(*-avoid-non-const-global-*)

void run(std::atomic<Step> Stage::*which, bool top_down) noexcept {
  for (std::size_t i = 0; i < kForkStages; ++i) {
    const auto& stage = g_stages[top_down ? i : kForkStages - 1 - i];
    if (const Step step = (stage.*which).load(std::memory_order_acquire))
      step();
  }
}

void on_prepare() {
  run(&Stage::prepare, true);
}
void on_parent() {
  run(&Stage::parent, false);
}
void on_child() {
  run(&Stage::child, false);
}

}  // namespace

bool register_fork_steps(ForkStage stage, ForkSteps steps) noexcept {
  auto& s = g_stages[static_cast<std::size_t>(stage)];
  if (s.taken.exchange(true))
    return false;
  // The steps are in place before the handler that runs them can be.
  s.prepare.store(steps.prepare, std::memory_order_release);
  s.parent.store(steps.parent, std::memory_order_release);
  s.child.store(steps.child, std::memory_order_release);
  if (!g_installed.exchange(true) && pthread_atfork(on_prepare, on_parent, on_child) != 0)
    report_internal_error("fork", "could not register the fork handlers");
  return true;
}

}  // namespace o11y::detail
