#include "base/tick_clock.hpp"

#include <pthread.h>

#include <cmath>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

#include "base/fork.hpp"
#include "base/sys.hpp"

namespace o11y::detail::tick_clock {

constinit State g_state;  // NOLINT(*-avoid-non-const-global-*)

namespace {

// Trusted only when the kernel trusts it: the kernel checks at boot that the counter is
// invariant and synchronised across CPUs, and drops it as clocksource when it misbehaves.
bool kernel_keeps_time_with_tsc() noexcept {
  try {
    std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    std::string name;
    return std::getline(f, name) && name == "tsc";
  } catch (...) {
    return false;
  }
}

// Or when the processor says its counter is invariant (constant rate, running in every power
// state) and the hypervisor marks it reliable: virtual machines often keep time with their
// own paravirtual clock (kvm-clock) built on that same counter, and reading it through
// clock_gettime costs every log call a system-clock read there.
bool cpu_vouches_for_tsc() noexcept {
  try {
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);) {
      if (line.rfind("flags", 0) != 0)
        continue;
      line.push_back(' ');
      return line.find(" constant_tsc ") != std::string::npos &&
             line.find(" nonstop_tsc ") != std::string::npos &&
             line.find(" tsc_reliable ") != std::string::npos;
    }
  } catch (...) {
  }
  return false;
}

#if defined(__x86_64__)
struct Pair {
  std::uint64_t ticks = 0;
  std::uint64_t ns = 0;
};

// A counter reading and a steady-clock reading taken together: the clock read between two
// counter reads, keeping the tightest of a few tries. An interrupt or a page fault inside one
// pair would otherwise skew the rate by its length.
Pair read_pair() noexcept {
  Pair best;
  std::uint64_t best_gap = ~std::uint64_t{0};
  for (int i = 0; i < 8; ++i) {
    const std::uint64_t a = __rdtsc();
    const std::uint64_t m = steady_ns();
    const std::uint64_t b = __rdtsc();
    if (b >= a && b - a < best_gap) {
      best_gap = b - a;
      best = {a + (b - a) / 2, m};
    }
  }
  return best;
}
#endif

void calibrate() noexcept {
#if defined(__x86_64__)
  if (kernel_keeps_time_with_tsc() || cpu_vouches_for_tsc()) {
    constexpr std::uint64_t kCalibrationNs = 2'000'000;
    const Pair p0 = read_pair();
    while (steady_ns() - p0.ns < kCalibrationNs) {
    }
    const Pair p1 = read_pair();
    const double ns_per_tick =
        p1.ticks > p0.ticks && p1.ns > p0.ns
            ? static_cast<double>(p1.ns - p0.ns) / static_cast<double>(p1.ticks - p0.ticks)
            : 0.0;
    // A counter between 10 MHz and 100 GHz; anything else is not a clock we understand.
    if (std::isfinite(ns_per_tick) && ns_per_tick > 0.01 && ns_per_tick < 100.0) {
      constexpr double kQ32 = 4294967296.0;
      g_state.ns_per_tick_q32 = static_cast<std::uint64_t>(ns_per_tick * kQ32);
      g_state.ticks_per_ns_q32 = static_cast<std::uint64_t>(kQ32 / ns_per_tick);
      g_state.mode.store(State::Tsc, std::memory_order_release);
      return;
    }
  }
#endif
  g_state.mode.store(State::Steady, std::memory_order_release);
}

}  // namespace

std::uint64_t first_now() noexcept {
  // A child fork()ed while another thread calibrated has no one to finish it: start over.
  static const bool kForkHandler = [] {
    register_fork_steps(ForkStage::Clock, {nullptr, nullptr, [] {
                                             int calibrating = State::Calibrating;
                                             g_state.mode.compare_exchange_strong(calibrating,
                                                                                  State::Unknown);
                                           }});
    return true;
  }();
  (void)kForkHandler;
  int expected = State::Unknown;
  if (g_state.mode.compare_exchange_strong(expected, State::Calibrating)) {
    calibrate();
  } else {
    // Another thread calibrates: wait for it (2 ms, once per process), as every reading
    // must come from the same clock.
    while (g_state.mode.load(std::memory_order_acquire) == State::Calibrating)
      std::this_thread::yield();
  }
  return now();
}

std::pair<std::uint64_t, std::uint64_t> read_wall() noexcept {
  const std::uint64_t wall = unix_time_ns();
  return {wall, now()};
}

std::uint64_t unix_ns_at(std::uint64_t ticks) noexcept {
  thread_local WallAnchor t_anchor;
  return t_anchor.at(ticks, read_wall);
}

}  // namespace o11y::detail::tick_clock
