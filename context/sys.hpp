#pragma once

// Small system helpers every module needs; one definition each.

#include <cstdint>
#include <string>

namespace o11y::detail {

/// Unix time now, in nanoseconds (the wall clock).
[[nodiscard]] std::uint64_t unix_time_ns() noexcept;

/// Unix time from the kernel's tick-updated copy (CLOCK_REALTIME_COARSE): a few ns to read
/// where unix_time_ns() costs some 20 ns on a VM, but up to a tick (1-10 ms) behind.
[[nodiscard]] std::uint64_t coarse_unix_time_ns() noexcept;

/// The readable name of a mangled type name (typeid(x).name()), or the name itself.
[[nodiscard]] std::string demangle(const char* mangled);

/// Names the calling thread ("o11y-export"), as `top -H`, gdb and perf show it; at most 15
/// characters. Failure is ignored: the name is a convenience.
void name_this_thread(const char* name) noexcept;

/// The text for an errno value. Thread-safe, unlike strerror.
[[nodiscard]] std::string errno_text(int err);

}  // namespace o11y::detail
