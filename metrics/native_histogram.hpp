#pragma once

// The sparse buckets of one native histogram series (Prometheus' native histograms, OTLP's
// exponential histograms): base-2 exponential buckets, as many as the values need.

#include <atomic>
#include <cstdint>
#include <functional>
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
/// A bucket's index at schema `to` (at most `from`): the coarser bucket that holds it.
[[nodiscard]] inline int lowered_index(int i, int from, int to) noexcept {
  for (int s = from; s > to; --s)
    i = coarser_index(i);
  return i;
}

/// Where one series' buckets live. In-process series leave it empty; in multiprocess mode the
/// zero count and the sequence are cells of the series in the process's file, and each table
/// is a record of that file, so a scrape in another process reads them.
struct NativeStorage {
  /// The zero bucket's count; null: kept inside.
  std::atomic<std::uint64_t>* zero = nullptr;
  /// Odd while counts move from one table to the next: a reader of every table retries.
  std::atomic<std::uint64_t>* seq = nullptr;
  /// Zeroed, 8-byte aligned memory of `bytes` for a table at `schema`, owned elsewhere; empty,
  /// or null returned: the heap.
  std::function<void*(int schema, std::size_t bytes)> table;
};

/// The bytes of a table of `capacity` slots: the keys (u32 each), then the counts (u64 each).
/// A key is the bucket's index times two plus one for a negative bucket, stored XOR 2^31, so
/// zeroed memory is an empty table.
[[nodiscard]] inline std::size_t native_counts_offset(std::size_t capacity) noexcept {
  return (4 * capacity + 7) & ~std::size_t{7};  // the keys, padded to 8
}
[[nodiscard]] inline std::size_t native_table_bytes(std::size_t capacity) noexcept {
  return native_counts_offset(capacity) + 8 * capacity;
}
/// A bucket's stored key.
[[nodiscard]] inline std::uint32_t native_stored_key(int index, bool negative) noexcept {
  return static_cast<std::uint32_t>(index * 2 + (negative ? 1 : 0)) ^ 0x80000000U;
}
/// A stored key's bucket: (index, negative). Stored 0 is an empty slot.
[[nodiscard]] inline std::pair<int, bool> native_key(std::uint32_t stored) noexcept {
  const auto key = static_cast<std::int32_t>(stored ^ 0x80000000U);
  return {key >> 1, (key & 1) != 0};  // arithmetic shift: floor(key / 2)
}

/// One series' sparse buckets. Recording is lock-free: the buckets live in an open-addressing
/// table of (key, count) slots whose keys are claimed with a compare-and-swap. When the
/// table fills or more than max_buckets are used, one recorder builds a bigger table or one
/// with a lower schema under a mutex, moves the counts over (old slots become zero) and the
/// others retry on the new one. Reading (snapshot()) takes that mutex, so it never sees a
/// table half moved; a reader in another process sums every table and checks the sequence.
/// Thread-safe; nothing throws (an observation that cannot get memory is dropped and counted
/// in dropped()).
class NativeBuckets {
 public:
  NativeBuckets(int schema, std::size_t max_buckets, double zero_threshold,
                NativeStorage storage = {});
  ~NativeBuckets();
  NativeBuckets(const NativeBuckets&) = delete;
  NativeBuckets& operator=(const NativeBuckets&) = delete;
  NativeBuckets(NativeBuckets&&) = delete;
  NativeBuckets& operator=(NativeBuckets&&) = delete;

  /// Counts v in its bucket (NaN is left out of the buckets, as Prometheus' clients do).
  void record(double v) noexcept;
  /// Adds n to the bucket `index` of a schema at least the buckets' own (aggregating other
  /// processes' buckets); lowered to the buckets' schema.
  void add(int index, int schema, bool negative, std::uint64_t n) noexcept;

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
  [[nodiscard]] int schema() const noexcept;

 private:
  struct Table;
  /// Adds n to the key key_at(schema) gives for the current table's schema.
  template <class KeyAt>
  void place(const KeyAt& key_at, std::uint64_t n) noexcept;
  Table* new_table_locked(int schema, std::size_t capacity);
  void rebuild(Table* seen) noexcept;

  const std::size_t max_buckets_;
  const double zero_threshold_;
  std::atomic<Table*> current_;
  std::atomic<std::uint64_t> own_zero_{0};
  std::atomic<std::uint64_t> own_seq_{0};
  std::atomic<std::uint64_t>* zero_;
  std::atomic<std::uint64_t>* seq_;
  std::function<void*(int, std::size_t)> table_memory_;
  std::atomic<std::uint64_t> dropped_{0};
  mutable std::mutex mu_;                               // rebuilds and snapshots
  std::vector<std::unique_ptr<Table>> tables_;          // current and retired, under mu_
  std::vector<std::unique_ptr<std::uint64_t[]>> heap_;  // NOLINT(*-avoid-c-arrays): tables' memory
};

}  // namespace o11y::detail
