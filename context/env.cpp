#include "context/env.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "context/frame.hpp"

namespace o11y::detail {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

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

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at init only
  if (v == nullptr || *v == '\0')
    return std::nullopt;
  return std::string(v);
}

namespace {
thread_local std::vector<std::string>* t_collector = nullptr;  // NOLINT(*-non-const-global-*)
}  // namespace

EnvProblemCollector::EnvProblemCollector(std::vector<std::string>& out) : saved_(t_collector) {
  t_collector = &out;
}

EnvProblemCollector::~EnvProblemCollector() {
  t_collector = saved_;
}

void report_bad_env(std::string_view name, std::string_view value, std::string_view expected,
                    std::string_view using_instead) {
  if (t_collector != nullptr) {
    t_collector->push_back(std::string(name) + "=\"" + std::string(value.substr(0, 200)) +
                           "\" is not valid (expected " + std::string(expected) + "); using " +
                           std::string(using_instead));
    return;
  }
  static std::mutex mu;
  static std::set<std::string, std::less<>> reported;
  {
    std::lock_guard lock(mu);
    if (!reported.emplace(name).second)
      return;
  }
  std::string v(value.substr(0, 200));
  (void)std::fprintf(stderr, "o11y: %.*s=\"%s\" is not valid (expected %.*s); using %.*s\n",
                     static_cast<int>(name.size()), name.data(), v.c_str(),
                     static_cast<int>(expected.size()), expected.data(),
                     static_cast<int>(using_instead.size()), using_instead.data());
}

std::optional<bool> parse_bool(std::string_view s) noexcept {
  try {
    const auto v = lower(trim(s));
    if (v == "true" || v == "1" || v == "yes" || v == "on")
      return true;
    if (v == "false" || v == "0" || v == "no" || v == "off")
      return false;
  } catch (...) {
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<double> parse_double_in(std::string_view s, double lo, double hi) noexcept {
  try {
    const std::string v(trim(s));
    if (v.empty())
      return std::nullopt;
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used != v.size() || !std::isfinite(d) || d < lo || d > hi)
      return std::nullopt;
    return d;
  } catch (...) {
    return std::nullopt;
  }
}

bool parse_resource_attributes(std::string_view s, Attributes& out) {
  bool ok = true;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const auto comma = s.find(',', pos);
    const auto end = comma == std::string_view::npos ? s.size() : comma;
    const auto item = trim(s.substr(pos, end - pos));
    pos = end + 1;
    if (item.empty())
      continue;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      ok = false;
      continue;
    }
    const auto key = trim(item.substr(0, eq));
    auto value = percent_decode(trim(item.substr(eq + 1)));
    if (key.empty() || !value) {
      ok = false;
      continue;
    }
    upsert(out, key, ValueView(*value));
  }
  return ok;
}

}  // namespace o11y::detail
