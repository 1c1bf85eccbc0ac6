#pragma once

#include <cmath>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

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

/// A whole file's bytes ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The JSON objects among a process's output lines (other lines skipped).
inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object())
      out.push_back(std::move(j));
  }
  return out;
}

}  // namespace o11y::testing
