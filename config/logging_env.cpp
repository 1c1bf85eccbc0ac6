// The logging section of the environment: level names and the O11Y_LOGGING_* variables.
#include <string>
#include <string_view>

#include "base/env.hpp"
#include "config/environment.hpp"

namespace o11y::detail {

std::optional<Level> parse_level(std::string_view s) noexcept {
  if (s == "debug")
    return Level::Debug;
  if (s == "info")
    return Level::Info;
  if (s == "warning" || s == "warn")
    return Level::Warning;
  if (s == "error")
    return Level::Error;
  if (s == "critical")
    return Level::Critical;
  if (s == "off")
    return Level::Off;
  return std::nullopt;
}

LoggingConfig apply_logging_env(LoggingConfig c) {
  if (auto v = env("O11Y_LOGGING_FORMAT")) {
    if (*v == "json") {
      c.format = LogFormat::Json;
    } else if (*v == "console") {
      c.format = LogFormat::Console;
    } else {
      report_bad_env("O11Y_LOGGING_FORMAT", *v, "json or console", "the default format");
    }
  }
  if (auto v = env("O11Y_LOGGING_LEVEL")) {
    if (auto l = parse_level(*v)) {
      c.level = *l;
    } else {
      report_bad_env("O11Y_LOGGING_LEVEL", *v, "debug, info, warning, error, critical or off",
                     std::string(to_string(c.level)));
    }
  }
  if (auto v = env("O11Y_LOGGING_LEVELS")) {
    // "orders=debug,orders.payments=warning", merged into what code set.
    bool ok = true;
    std::string_view rest(*v);
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      auto item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!item.empty() && item.front() == ' ')
        item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ')
        item.remove_suffix(1);
      if (item.empty())
        continue;
      const auto eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0 || !parse_level(item.substr(eq + 1))) {
        ok = false;
        continue;
      }
      c.levels.insert_or_assign(std::string(item.substr(0, eq)), *parse_level(item.substr(eq + 1)));
    }
    if (!ok) {
      report_bad_env("O11Y_LOGGING_LEVELS", *v, "comma-separated logger=level pairs",
                     "the well-formed pairs only");
    }
  }
  if (auto v = env("O11Y_LOGGING_FILE_PATH"))
    c.file_path = *v;
  if (auto v = env("O11Y_LOGGING_FILE_MAX_BYTES")) {
    if (auto d = parse_double_in(*v, 1024, 1e15)) {
      c.file_max_bytes = static_cast<std::size_t>(*d);
    } else {
      report_bad_env("O11Y_LOGGING_FILE_MAX_BYTES", *v, "a byte count of at least 1024",
                     std::to_string(c.file_max_bytes));
    }
  }
  if (auto v = env("O11Y_LOGGING_FILE_MAX_FILES")) {
    if (auto d = parse_double_in(*v, 1, 1000)) {
      c.file_max_files = static_cast<std::size_t>(*d);
    } else {
      report_bad_env("O11Y_LOGGING_FILE_MAX_FILES", *v, "a whole number from 1 to 1000",
                     std::to_string(c.file_max_files));
    }
  }
  if (auto v = env("O11Y_LOGGING_ASYNC")) {
    if (auto b = parse_bool(*v)) {
      c.async = *b;
    } else {
      report_bad_env("O11Y_LOGGING_ASYNC", *v, "true or false", c.async ? "true" : "false");
    }
  }
  if (auto v = env("O11Y_LOGGING_STDOUT")) {
    if (auto b = parse_bool(*v)) {
      c.stdout_output = *b;
    } else {
      report_bad_env("O11Y_LOGGING_STDOUT", *v, "true or false",
                     c.stdout_output ? "true" : "false");
    }
  }
  if (auto v = env("O11Y_LOGGING_ASYNC_POLICY")) {
    if (*v == "block" || *v == "drop") {
      c.async_drop_when_full = *v == "drop";
    } else {
      report_bad_env("O11Y_LOGGING_ASYNC_POLICY", *v, "block or drop",
                     c.async_drop_when_full ? "drop" : "block");
    }
  }
  if (auto v = env("O11Y_SOURCE_ROOT"))
    c.source_root = *v;
  apply_logs_export_env(c);
  return c;
}

std::optional<std::string> multiproc_dir_from_environment() {
  if (auto v = env("O11Y_MULTIPROC_DIR"))
    return v;
  return env("PROMETHEUS_MULTIPROC_DIR");
}

}  // namespace o11y::detail
