#include "context/internal_error.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <utility>

namespace o11y::detail {
namespace {

std::atomic<unsigned long long> g_count{0};  // NOLINT(*-avoid-non-const-global-*)

struct Limiter {
  std::mutex mu;
  std::chrono::steady_clock::time_point window_start{};
  int in_window = 0;
  unsigned long long suppressed = 0;
};

Limiter& limiter() {
  static Limiter l;  // NOLINT: intentionally leaked-at-exit-safe function static
  return l;
}

constexpr int kPerSecond = 5;

}  // namespace

void report_internal_error(std::string_view component, std::string_view message) noexcept {
  g_count.fetch_add(1, std::memory_order_relaxed);
  auto& l = limiter();
  unsigned long long suppressed = 0;
  {
    std::lock_guard lock(l.mu);
    const auto now = std::chrono::steady_clock::now();
    if (now - l.window_start >= std::chrono::seconds(1)) {
      l.window_start = now;
      l.in_window = 0;
    }
    if (l.in_window >= kPerSecond) {
      ++l.suppressed;
      return;
    }
    ++l.in_window;
    suppressed = std::exchange(l.suppressed, 0);
  }
  // stdio, not iostreams: it is safe in atexit handlers and after a fork.
  if (suppressed > 0) {
    (void)std::fprintf(stderr, "o11y: %llu internal error report(s) suppressed\n", suppressed);
  }
  (void)std::fprintf(stderr, "o11y: %.*s: %.*s\n", static_cast<int>(component.size()),
                     component.data(), static_cast<int>(message.size()), message.data());
}

unsigned long long internal_error_count() noexcept {
  return g_count.load(std::memory_order_relaxed);
}

}  // namespace o11y::detail
