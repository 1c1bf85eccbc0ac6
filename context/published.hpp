#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace o11y::detail {

/// Read-mostly shared state for hot paths: an immutable T replaced as a whole by writers and
/// cached per thread by readers, so a read is one atomic load when nothing changed and takes
/// no lock. Tag makes one instance per use (the per-thread cache is keyed by it).
///
/// Thread-safe. A reader's reference stays valid until that thread's next get().
template <class T, class Tag>
class Published {
 public:
  Published() : state_(std::make_shared<const T>()) {}

  [[nodiscard]] const T& get() noexcept {
    thread_local Cache t_cache;
    const auto v = version_.load(std::memory_order_acquire);
    if (v != t_cache.version) {
      std::lock_guard lock(mu_);
      t_cache.state = state_;
      t_cache.version = version_.load(std::memory_order_relaxed);
    }
    return *t_cache.state;
  }

  /// A strong reference to the current state, for work that outlives one get().
  [[nodiscard]] std::shared_ptr<const T> snapshot() const {
    std::lock_guard lock(mu_);
    return state_;
  }

  /// Copies the current state, applies change to the copy and publishes it.
  template <class Change>
  void update(Change&& change) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<T>(*state_);
    std::forward<Change>(change)(*next);
    state_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

 private:
  struct Cache {
    std::uint64_t version = 0;
    std::shared_ptr<const T> state;
  };
  mutable std::mutex mu_;
  std::shared_ptr<const T> state_;
  std::atomic<std::uint64_t> version_{1};
};

}  // namespace o11y::detail
