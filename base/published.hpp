#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/thread_instance.hpp"

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
    // The thread's cache as two plain words, read without the checks a thread_local object
    // needs: valid while `fast.version` is non-zero, which only the cache sets and its
    // destruction at thread exit clears.
    const Fast& fast = fast_view();
    if (fast.version == version_.load(std::memory_order_acquire)) [[likely]]
      return *fast.state;
    return get_slow();
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
  struct Fast {
    std::uint64_t version = 0;  // 0: not set (version_ starts at 1)
    const T* state = nullptr;
  };
  static Fast& fast_view() noexcept {
    thread_local constinit Fast fast{};
    return fast;
  }
  struct Cache {
    std::uint64_t version = 0;
    std::shared_ptr<const T> state;
    Cache() = default;
    Cache(const Cache&) = delete;
    Cache& operator=(const Cache&) = delete;
    Cache(Cache&&) = delete;
    Cache& operator=(Cache&&) = delete;
    ~Cache() { fast_view() = Fast{}; }
  };

  const T& get_slow() noexcept {
    auto* const cache = thread_instance<Cache, Tag>();
    if (cache == nullptr) [[unlikely]]
      return get_after_thread_exit();
    const auto v = version_.load(std::memory_order_acquire);
    if (v != cache->version) {
      std::lock_guard lock(mu_);
      cache->state = state_;
      cache->version = version_.load(std::memory_order_relaxed);
    }
    fast_view() = Fast{cache->version, cache->state.get()};
    return *cache->state;
  }

  // For a thread_local destructor that runs after this thread's cache was destroyed. With no
  // cache to hold the state, the state is kept here for ever, so the reference stays valid:
  // one per change of the state that such a call saw, a handful in a process's life.
  const T& get_after_thread_exit() noexcept {
    std::lock_guard lock(mu_);
    try {
      if (kept_.empty() || kept_.back() != state_)
        kept_.push_back(state_);
    } catch (...) {  // out of memory: the current state, valid until the next update()
    }
    return *state_;
  }

  mutable std::mutex mu_;
  std::shared_ptr<const T> state_;
  std::vector<std::shared_ptr<const T>> kept_;  // guarded by mu_
  std::atomic<std::uint64_t> version_{1};
};

}  // namespace o11y::detail
