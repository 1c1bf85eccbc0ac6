#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <typeinfo>
#include <unordered_map>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "base/text.hpp"
#include "base/tick_clock.hpp"
#include "context/frame.hpp"
#include "logging/pipeline.hpp"
#include "logging/record.hpp"
#include "o11y/log.hpp"

namespace o11y {
namespace detail {
namespace {

// Every logger ever named. Cores are never freed, so a Logger may hold a raw pointer and live
// in a static.
struct Registry {
  std::mutex mu;
  std::unordered_map<std::string, LoggerCore*> by_name;
  std::unordered_map<const char*, LoggerCore*> by_file;  // source_location file pointers
  Level global = Level::Info;
  std::map<std::string, Level, std::less<>> levels;
  std::string source_root;
};

Registry& registry() {
  static auto* r = new Registry();  // NOLINT: never destroyed; loggers in statics outlive it
  return *r;
}

// The longest configured prefix (at a '.' boundary) of name wins; otherwise the global level.
Level level_for(const Registry& r, std::string_view name) {
  std::size_t best = 0;
  Level level = r.global;
  for (const auto& [prefix, lvl] : r.levels) {
    const bool matches =
        name == prefix || (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix &&
                           name[prefix.size()] == '.');
    if (matches && prefix.size() >= best) {
      best = prefix.size();
      level = lvl;
    }
  }
  return level;
}

LoggerCore* core_for(Registry& r, std::string_view name) {
  auto it = r.by_name.find(std::string(name));
  if (it != r.by_name.end())
    return it->second;
  auto* core = new LoggerCore();  // NOLINT(cppcoreguidelines-owning-memory): lives for ever
  core->name = std::string(name);
  core->level.store(static_cast<std::uint8_t>(level_for(r, name)), std::memory_order_relaxed);
  r.by_name.emplace(core->name, core);
  return core;
}

std::string name_for_path(std::string_view path, std::string_view root) {
  if (!root.empty() && path.substr(0, root.size()) == root) {
    path.remove_prefix(root.size());
  } else if (const auto src = path.rfind("/src/"); src != std::string_view::npos) {
    path.remove_prefix(src + 5);
  } else if (path.substr(0, 4) == "src/") {
    path.remove_prefix(4);
  } else if (!path.empty() && path.front() == '/') {
    // An absolute path outside any known root: its last directory and file name.
    const auto last = path.find_last_of('/');
    const auto prev = last == 0 ? std::string_view::npos : path.find_last_of('/', last - 1);
    path.remove_prefix(prev == std::string_view::npos ? last + 1 : prev + 1);
  }
  while (!path.empty() && (path.front() == '/' || path.front() == '.'))
    path.remove_prefix(1);
  const auto file_start = path.find_last_of('/') + 1;  // 0 when there is no slash
  if (const auto dot = path.find('.', file_start); dot != std::string_view::npos) {
    path = path.substr(0, dot);
  }
  std::string name(path);
  for (auto& c : name) {
    if (c == '/')
      c = '.';
  }
  return name.empty() ? std::string("root") : name;
}

}  // namespace

void apply_logger_levels(Level global, const std::map<std::string, Level, std::less<>>& levels) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.global = global;
  r.levels = levels;
  for (auto& [name, core] : r.by_name) {
    core->level.store(static_cast<std::uint8_t>(level_for(r, name)), std::memory_order_relaxed);
  }
}

void set_logger_source_root(std::string root) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.source_root = std::move(root);
}

}  // namespace detail

std::string_view to_string(Level level) noexcept {
  switch (level) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warning:
      return "warning";
    case Level::Error:
      return "error";
    case Level::Critical:
      return "critical";
    case Level::Off:
      return "off";
  }
  return "unknown";
}

Logger get_logger(std::string_view name) {
  detail::ensure_logging_configured();
  auto& r = detail::registry();
  std::lock_guard lock(r.mu);
  return Logger(detail::core_for(r, name));
}

Logger get_logger(SourceLocation loc) {
  detail::ensure_logging_configured();
  auto& r = detail::registry();
  std::lock_guard lock(r.mu);
  const char* file = loc.file_name();
  if (auto it = r.by_file.find(file); it != r.by_file.end())
    return Logger(it->second);
  auto* core = detail::core_for(r, detail::name_for_path(file, r.source_root));
  r.by_file.emplace(file, core);
  return Logger(core);
}

Logger Logger::bind(std::initializer_list<Field> fields) const {
  auto merged = bound_ ? std::make_shared<Attributes>(*bound_) : std::make_shared<Attributes>();
  for (const auto& f : fields)
    detail::upsert_user(*merged, f.key, f.value);
  Logger out(core_);
  out.bound_ = std::move(merged);
  return out;
}

void Logger::exception(std::string_view event, const std::exception& ex,
                       std::initializer_list<Field> fields, Loc loc) const noexcept {
  if (enabled(Level::Error)) {
    write(Level::Error, event, std::span<const Field>(fields.begin(), fields.size()), loc, &ex);
  }
}

void Logger::write(Level level, std::string_view event, std::span<const Field> fields,
                   const Loc& loc, const std::exception* ex) const noexcept {
  try {
    detail::Record r = detail::record_for(*core_, bound_.get(), level, event, fields, loc);
    if (ex != nullptr) [[unlikely]] {
      const std::string type = detail::demangle(typeid(*ex).name());
      r.exception_type = type;
      r.exception_message = ex->what();
      detail::dispatch(r);
      return;
    }
    detail::dispatch(r);
  } catch (...) {
    detail::count_dropped_line();
    detail::report_internal_error("logging", "could not build a log record");
  }
}

void Logger::write_event(Level level, const detail::EventSite& site, const ValueView* values,
                         const Loc& loc) const noexcept {
  detail::dispatch_event(*core_, bound_.get(), level, site, values, loc);
}

namespace logging {

std::string logger_name_for_path(std::string_view path) {
  auto& r = detail::registry();
  std::string root;
  {
    std::lock_guard lock(r.mu);
    root = r.source_root;
  }
  return detail::name_for_path(path, root);
}

void log_request(const Logger& logger, std::string_view method, std::string_view path,
                 std::string_view route, int status, double duration_ms,
                 std::span<const Field> extra, SourceLocation loc) noexcept {
  const Level level = level_for_status(status);
  if (!logger.enabled(level))
    return;
  const Field base[] = {{"method", method},
                        {"path", path},
                        {"route", route},
                        {"status", status},
                        {"duration_ms", duration_ms}};
  if (extra.empty()) {  // the usual case, without clearing the 37-field array below
    logger.log(level, "request_finished", std::span<const Field>(base), loc);
    return;
  }
  constexpr std::size_t kMaxExtra = 32;
  Field fields[5 + kMaxExtra];
  std::copy(std::begin(base), std::end(base), fields);
  const std::size_t n = extra.size() < kMaxExtra ? extra.size() : kMaxExtra;
  for (std::size_t i = 0; i < n; ++i)
    fields[5 + i] = extra[i];
  logger.log(level, "request_finished", std::span<const Field>(fields, 5 + n), loc);
}

}  // namespace logging
}  // namespace o11y
