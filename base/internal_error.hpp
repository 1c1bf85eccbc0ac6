#pragma once

#include <string_view>

namespace o11y::detail {

/// Reports a problem inside the library without throwing: to stderr, rate-limited (at most a
/// few lines per second, with a count of what was suppressed). Thread-safe.
void report_internal_error(std::string_view component, std::string_view message) noexcept;

}  // namespace o11y::detail
