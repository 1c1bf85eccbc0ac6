#include "config/resource_attributes.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "base/env.hpp"

namespace o11y::detail {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;  // "%" needs two hex digits after it
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

bool parse_resource_attributes(std::string_view s, Attributes& out) {
  bool ok = true;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const auto comma = s.find(',', pos);
    const auto end = comma == std::string_view::npos ? s.size() : comma;
    const auto item = trim_blanks(s.substr(pos, end - pos));
    pos = end + 1;
    if (item.empty())
      continue;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      ok = false;
      continue;
    }
    const auto key = trim_blanks(item.substr(0, eq));
    auto value = percent_decode(trim_blanks(item.substr(eq + 1)));
    if (key.empty() || !value) {
      ok = false;
      continue;
    }
    // A repeated key: the later entry wins.
    auto it =
        std::find_if(out.begin(), out.end(), [&](const Attribute& a) { return a.key == key; });
    if (it != out.end()) {
      it->value = Value(std::move(*value));
    } else {
      out.push_back({std::string(key), Value(std::move(*value))});
    }
  }
  return ok;
}

}  // namespace o11y::detail
