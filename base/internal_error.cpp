#include "base/internal_error.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace o11y::detail {
namespace {

using Clock = std::chrono::steady_clock;

// Limits per distinct message: the first occurrence of a problem is always reported, repeats
// at most once a second with a count of what was held back. A global cap stops a flood of
// distinct messages from flooding stderr.
struct Limiter {
  struct Entry {
    std::size_t hash = 0;
    Clock::time_point last{};
    unsigned long long held_back = 0;
  };
  std::mutex mu;
  std::vector<Entry> entries;
  Clock::time_point window_start{};
  int in_window = 0;
  unsigned long long over_cap = 0;
};

Limiter& limiter() {
  static auto* l = new Limiter();  // NOLINT: used from atexit handlers and static destructors
  return *l;
}

constexpr std::size_t kMaxDistinct = 64;
constexpr int kMaxPerSecond = 20;
constexpr auto kRepeatInterval = std::chrono::seconds(1);

}  // namespace

void report_internal_error(std::string_view component, std::string_view message) noexcept {
  const std::size_t hash =
      std::hash<std::string_view>{}(component)*31U + std::hash<std::string_view>{}(message);
  unsigned long long held_back = 0;
  unsigned long long over_cap = 0;
  {
    auto& l = limiter();
    std::lock_guard lock(l.mu);
    const auto now = Clock::now();
    if (now - l.window_start >= std::chrono::seconds(1)) {
      l.window_start = now;
      l.in_window = 0;
    }
    auto it = std::find_if(l.entries.begin(), l.entries.end(),
                           [hash](const Limiter::Entry& e) { return e.hash == hash; });
    if (it != l.entries.end() && now - it->last < kRepeatInterval) {
      ++it->held_back;
      return;
    }
    if (l.in_window >= kMaxPerSecond) {
      ++l.over_cap;
      return;
    }
    ++l.in_window;
    over_cap = std::exchange(l.over_cap, 0);
    if (it == l.entries.end()) {
      if (l.entries.size() >= kMaxDistinct) {
        l.entries.erase(std::min_element(
            l.entries.begin(), l.entries.end(),
            [](const Limiter::Entry& a, const Limiter::Entry& b) { return a.last < b.last; }));
      }
      try {
        l.entries.push_back({hash, now, 0});
      } catch (...) {
        // Out of memory: report without remembering.
      }
    } else {
      it->last = now;
      held_back = std::exchange(it->held_back, 0);
    }
  }
  // stdio, not iostreams: safe in atexit handlers and after fork().
  if (over_cap > 0) {
    (void)std::fprintf(stderr, "o11y: %llu internal error report(s) suppressed\n", over_cap);
  }
  (void)std::fprintf(stderr, "o11y: %.*s: %.*s", static_cast<int>(component.size()),
                     component.data(), static_cast<int>(message.size()), message.data());
  if (held_back > 0) {
    (void)std::fprintf(stderr, " (and %llu more like it)\n", held_back);
  } else {
    (void)std::fputc('\n', stderr);
  }
}

}  // namespace o11y::detail
