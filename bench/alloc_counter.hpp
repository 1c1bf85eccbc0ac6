#pragma once

// Replaces the global allocator of the benchmark binary that includes this (exactly one
// translation unit per binary) to count heap allocations: allocations per operation are part
// of every result.

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace o11y_bench {
inline std::atomic<std::uint64_t> g_allocs{0};

/// Reports allocations per iteration since `before` as the allocs_per_op counter.
inline void report_allocs(benchmark::State& state, std::uint64_t before) {
  state.counters["allocs_per_op"] = benchmark::Counter(
      static_cast<double>(g_allocs.load() - before), benchmark::Counter::kAvgIterations);
}
}  // namespace o11y_bench

// GCC sees malloc inside our operator new and free inside our operator delete after inlining
// and calls them mismatched; they are the replaced pair, so the warning is off here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  o11y_bench::g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n))
    return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t /*n*/) noexcept {
  std::free(p);
}
