#pragma once

// Small system helpers every module needs; one definition each.

#include <cstdint>
#include <string>

namespace o11y::detail {

/// Unix time now, in nanoseconds (the wall clock).
[[nodiscard]] std::uint64_t unix_time_ns() noexcept;

/// The readable name of a mangled type name (typeid(x).name()), or the name itself.
[[nodiscard]] std::string demangle(const char* mangled);

/// The text for an errno value. Thread-safe, unlike strerror.
[[nodiscard]] std::string errno_text(int err);

}  // namespace o11y::detail
