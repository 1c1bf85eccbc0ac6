#pragma once

#include <cmath>
#include <cstddef>
#include <string>

namespace o11y::testing {

inline bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

/// How many times needle occurs in hay (overlapping occurrences counted).
inline std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
    ++n;
  return n;
}

/// The value of the sample line that starts with line_start ("name" or "name{labels}") in a
/// text exposition, NaN when there is none.
inline double sample(const std::string& text, const std::string& line_start) {
  const auto at = text.find("\n" + line_start + " ");
  if (at == std::string::npos)
    return std::nan("");
  return std::stod(text.substr(at + 1 + line_start.size() + 1));
}

}  // namespace o11y::testing
