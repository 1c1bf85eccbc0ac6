#pragma once

// The sparse buckets of one native histogram series (Prometheus' native histograms, OTLP's
// exponential histograms): base-2 exponential buckets, as many as the values need.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace o11y::detail {

/// The smallest and largest schema Prometheus accepts.
inline constexpr int kMinSchema = -4;
inline constexpr int kMaxSchema = 8;

/// The Prometheus bucket index of a value v > 0 at a schema: bucket i holds (b^(i-1), b^i]
/// with b = 2^(2^-schema). Exact at every power of two.
[[nodiscard]] int native_bucket_index(double v, int schema) noexcept;

/// A bucket's index after lowering the schema by one (two neighbours merge).
[[nodiscard]] inline int coarser_index(int i) noexcept {
  return (i + 1) >> 1;  // an arithmetic shift: rounds towards -inf for negative indices too
}

/// One series' sparse buckets. Recording is lock-free: the buckets live in an open-addressing
/// table of (index, count) pairs whose keys are claimed with a compare-and-swap. When the
/// table fills or more than max_buckets are used, one recorder builds a bigger table or one
/// with a lower schema under a mutex, and the others retry on the new one. Reading
/// (snapshot()) takes that mutex, so it never sees a table half merged. Thread-safe; nothing
/// throws (an observation that cannot get memory is dropped and counted in dropped()).
class NativeBuckets {
 public:
  NativeBuckets(int schema, std::size_t max_buckets, double zero_threshold);
  ~NativeBuckets();
  NativeBuckets(const NativeBuckets&) = delete;
  NativeBuckets& operator=(const NativeBuckets&) = delete;
  NativeBuckets(NativeBuckets&&) = delete;
  NativeBuckets& operator=(NativeBuckets&&) = delete;

  /// Counts v in its bucket (NaN is left out of the buckets, as Prometheus' clients do).
  void record(double v) noexcept;

  struct Snapshot {
    int schema = 0;
    double zero_threshold = 0;
    std::uint64_t zero_count = 0;
    /// (index, count), by increasing index; counts are never 0.
    std::vector<std::pair<int, std::uint64_t>> positive;
    std::vector<std::pair<int, std::uint64_t>> negative;
    /// Every observation the buckets hold.
    [[nodiscard]] std::uint64_t count() const noexcept;
  };
  /// The buckets now. Throws only std::bad_alloc.
  [[nodiscard]] Snapshot snapshot() const;
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }

 private:
  struct Table;
  bool try_record(Table& t, int key) noexcept;
  void rebuild(Table* seen) noexcept;

  const std::size_t max_buckets_;
  const double zero_threshold_;
  std::atomic<Table*> current_;
  std::atomic<std::uint64_t> zero_count_{0};
  std::atomic<std::uint64_t> dropped_{0};
  mutable std::mutex mu_;                       // rebuilds and snapshots
  std::vector<std::unique_ptr<Table>> tables_;  // current and retired, under mu_
};

}  // namespace o11y::detail
