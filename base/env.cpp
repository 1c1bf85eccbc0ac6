#include "base/env.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

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

}  // namespace

std::string_view trim_blanks(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

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
    const auto v = lower(trim_blanks(s));
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
    const std::string v(trim_blanks(s));
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

}  // namespace o11y::detail
