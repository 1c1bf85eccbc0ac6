#pragma once

#include <atomic>
#include <thread>

namespace o11y::detail {

/// A lock for data held for a few dozen instructions and almost never contended (one span's
/// fields): uncontended, lock() and unlock() are one atomic exchange and one store, where a
/// pthread mutex costs two library calls; that was a fifth of setting a span attribute.
/// Contended, it spins briefly and then yields the CPU to the holder. Not recursive.
class SpinLock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < 64) {
          relax();
        } else {
          std::this_thread::yield();
          spins = 0;
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  std::atomic<bool> locked_{false};
};

}  // namespace o11y::detail
