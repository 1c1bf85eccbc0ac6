#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/// The clock of span start and end times: the CPU's time-stamp counter where the kernel keeps
/// time with it itself (its clocksource is "tsc": invariant and synchronised across CPUs),
/// else CLOCK_MONOTONIC. A span reads the clock twice, and rdtsc costs about half of
/// clock_gettime() on a virtual machine.
///
/// Ticks are only ever subtracted from one another and converted with to_ns(). The first
/// use calibrates the counter against CLOCK_MONOTONIC over 2 ms (some 15 ppm: 15 us on a
/// second-long span). Thread-safe; never throws.
namespace o11y::detail::tick_clock {

/// What the first use decided. Constant-initialised, so reading it costs no guard.
struct State {
  enum Mode : int { Unknown = 0, Tsc = 1, Steady = 2, Calibrating = 3 };
  std::atomic<int> mode{Unknown};
  /// Nanoseconds per tick, times 2^32 (written before mode, read after it).
  std::uint64_t ns_per_tick_q32 = 1ULL << 32U;
  /// Ticks per nanosecond, times 2^32.
  std::uint64_t ticks_per_ns_q32 = 1ULL << 32U;
};
extern constinit State g_state;  // NOLINT(*-avoid-non-const-global-*)

// 64 x 64 -> 128-bit products keep the fixed point exact; __extension__ tells -Wpedantic
// that the non-standard type is on purpose.
__extension__ using U128 = unsigned __int128;

/// Decides the mode (once) and returns a reading.
std::uint64_t first_now() noexcept;

[[nodiscard]] inline std::uint64_t steady_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

/// Ticks now.
[[nodiscard]] inline std::uint64_t now() noexcept {
  const int mode = g_state.mode.load(std::memory_order_acquire);
#if defined(__x86_64__)
  if (mode == State::Tsc) [[likely]]
    return __rdtsc();
#endif
  if (mode == State::Steady)
    return steady_ns();
  return first_now();
}

/// Nanoseconds in `ticks`, a difference of two now() readings (valid once now() was called).
[[nodiscard]] inline std::uint64_t to_ns(std::uint64_t ticks) noexcept {
  if (g_state.mode.load(std::memory_order_acquire) != State::Tsc)
    return ticks;
  return static_cast<std::uint64_t>((static_cast<U128>(ticks) * g_state.ns_per_tick_q32) >> 32U);
}

/// Ticks in `ns` (the inverse of to_ns).
[[nodiscard]] inline std::uint64_t from_ns(std::uint64_t ns) noexcept {
  if (g_state.mode.load(std::memory_order_acquire) != State::Tsc)
    return ns;
  return static_cast<std::uint64_t>((static_cast<U128>(ns) * g_state.ticks_per_ns_q32) >> 32U);
}

/// One thread's mapping from readings to Unix time, which unix_ns_at() keeps per thread: the
/// wall clock at an anchor reading, plus the ticks since. Apart so that tests can give it a
/// wall clock of their own. Plain data, not thread-safe; never throws.
struct WallAnchor {
  std::uint64_t unix_ns = 0;
  std::uint64_t ticks = 0;
  std::uint64_t refresh_after = 0;  ///< ticks in a second
  std::uint64_t last = 0;           ///< the latest result: results never go backwards
  bool valid = false;

  /// Unix time in ns at reading `t`, without the hold below: the anchor plus (or minus, for a
  /// reading older than the anchor) the ticks between them. An unset anchor, or one a second
  /// older than `t`, is first set from `read()`, which returns the wall clock's Unix ns and a
  /// reading taken together, now. Results step when the anchor is set again.
  template <class ReadWall>
  [[nodiscard]] std::uint64_t convert(std::uint64_t t, ReadWall&& read) noexcept {
    if (!valid || (t > ticks && t - ticks > refresh_after)) [[unlikely]] {
      const auto [wall, now_ticks] = read();
      unix_ns = wall;
      ticks = now_ticks;
      refresh_after = from_ns(1'000'000'000);
      valid = true;
    }
    return t >= ticks ? unix_ns + to_ns(t - ticks) : unix_ns - to_ns(ticks - t);
  }

  /// convert(), held so that results never go backwards.
  template <class ReadWall>
  [[nodiscard]] std::uint64_t at(std::uint64_t t, ReadWall&& read) noexcept {
    std::uint64_t ns = convert(t, std::forward<ReadWall>(read));
    // The counter's rate and the wall clock's differ by some ppm, so a refresh can step back
    // a few us: hold the thread's time still rather than let a later line read earlier.
    if (ns < last)
      ns = last;
    last = ns;
    return ns;
  }
};

/// Unix time in ns for a reading this thread took: a per-thread anchor (the wall clock, read
/// at most once a second) plus the ticks since it. A wall-clock step
/// shows up within a second; one thread's results never go backwards.
[[nodiscard]] std::uint64_t unix_ns_at(std::uint64_t ticks) noexcept;

/// The wall clock's Unix ns and a reading, taken together now: what a WallAnchor is set from.
[[nodiscard]] std::pair<std::uint64_t, std::uint64_t> read_wall() noexcept;

/// unix_ns_at(now()): what log lines are stamped with.
[[nodiscard]] inline std::uint64_t unix_now_ns() noexcept {
  return unix_ns_at(now());
}

/// Whether ticks are the time-stamp counter's (else nanoseconds of CLOCK_MONOTONIC).
[[nodiscard]] inline bool uses_tsc() noexcept {
  (void)now();
  return g_state.mode.load(std::memory_order_acquire) == State::Tsc;
}

}  // namespace o11y::detail::tick_clock
