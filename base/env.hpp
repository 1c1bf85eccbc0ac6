#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "o11y/value.hpp"

namespace o11y::detail {

/// The variable's value, or nullopt when unset. Set-but-empty counts as unset, as the
/// OpenTelemetry SDK environment rules say.
[[nodiscard]] std::optional<std::string> env(const char* name);

/// Reports a malformed environment value on stderr, once per variable per process, naming the
/// variable, the value and what is used instead.
/// While alive, report_bad_env() on this thread appends its messages to `out` instead of
/// printing them (and every one is reported, not only the first per variable).
class EnvProblemCollector {
 public:
  explicit EnvProblemCollector(std::vector<std::string>& out);
  ~EnvProblemCollector();
  EnvProblemCollector(const EnvProblemCollector&) = delete;
  EnvProblemCollector& operator=(const EnvProblemCollector&) = delete;
  EnvProblemCollector(EnvProblemCollector&&) = delete;
  EnvProblemCollector& operator=(EnvProblemCollector&&) = delete;

 private:
  std::vector<std::string>* saved_;
};

void report_bad_env(std::string_view name, std::string_view value, std::string_view expected,
                    std::string_view using_instead);

/// "true/false/1/0/yes/no/on/off", case-insensitive.
[[nodiscard]] std::optional<bool> parse_bool(std::string_view s) noexcept;
/// A finite decimal number in [lo, hi].
[[nodiscard]] std::optional<double> parse_double_in(std::string_view s, double lo,
                                                    double hi) noexcept;
/// s without leading and trailing spaces and tabs.
[[nodiscard]] std::string_view trim_blanks(std::string_view s) noexcept;

}  // namespace o11y::detail
