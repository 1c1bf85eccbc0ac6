#include "metrics/native_histogram.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <limits>
#include <new>
#include <thread>

namespace o11y::detail {
namespace {

// For a positive schema s, the upper bounds of the 2^s buckets of one power of two, scaled to
// [0.5, 1) as frexp() gives the fraction: 2^((j - n) / n) for j = 0 .. n-1.
const std::vector<double>& fraction_bounds(int schema) {
  static const auto kTables = [] {
    std::array<std::vector<double>, kMaxSchema + 1> t{};
    for (int s = 1; s <= kMaxSchema; ++s) {
      const int n = 1 << s;
      for (int j = 0; j < n; ++j)
        t[static_cast<std::size_t>(s)].push_back(std::exp2(static_cast<double>(j - n) / n));
    }
    return t;
  }();
  return kTables[static_cast<std::size_t>(schema)];
}

constexpr int kEmpty = INT_MIN;

// A bucket's table key: its index and sign in one int.
int key_of(int index, bool negative) noexcept {
  return index * 2 + (negative ? 1 : 0);
}
int index_of(int key) noexcept {
  return key >> 1;  // arithmetic: floor(key / 2)
}
bool negative_key(int key) noexcept {
  return (key & 1) != 0;
}

std::uint64_t mix(int key) noexcept {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(key)) * 0x9E3779B97F4A7C15ULL;
}

}  // namespace

int native_bucket_index(double v, int schema) noexcept {
  int exp = 0;
  const double frac = std::frexp(v, &exp);  // v = frac * 2^exp, frac in [0.5, 1)
  if (schema > 0) {
    const auto& bounds = fraction_bounds(schema);
    const auto j = std::lower_bound(bounds.begin(), bounds.end(), frac) - bounds.begin();
    return (exp - 1) * (1 << schema) + static_cast<int>(j);
  }
  int key = frac == 0.5 ? exp - 1 : exp;  // a power of two is its bucket's upper bound
  const int offset = (1 << -schema) - 1;
  return (key + offset) >> -schema;
}

struct NativeBuckets::Table {
  Table(int s, std::size_t capacity, std::size_t key_limit)
      : schema(s),
        mask(capacity - 1),
        limit(key_limit),
        keys(new std::atomic<int>[capacity]),
        counts(new std::atomic<std::uint64_t>[capacity]) {
    for (std::size_t i = 0; i < capacity; ++i) {
      keys[i].store(kEmpty, std::memory_order_relaxed);
      counts[i].store(0, std::memory_order_relaxed);
    }
  }
  const int schema;
  const std::size_t mask;
  const std::size_t limit;                               ///< keys it takes before a rebuild
  std::unique_ptr<std::atomic<int>[]> keys;              // NOLINT(*-avoid-c-arrays)
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts;  // NOLINT(*-avoid-c-arrays)
  std::atomic<std::size_t> used{0};
  std::atomic<int> in_flight{0};  ///< recorders between loading and leaving this table

  // Adds n to key's count; false when the key is new and the table has taken its limit.
  bool add(int key, std::uint64_t n, bool force) noexcept {
    for (std::size_t i = mix(key) & mask, probes = 0; probes <= mask;
         i = (i + 1) & mask, ++probes) {
      int k = keys[i].load(std::memory_order_acquire);
      if (k == kEmpty) {
        if (!force && used.load(std::memory_order_relaxed) >= limit)
          return false;
        if (keys[i].compare_exchange_strong(k, key, std::memory_order_acq_rel)) {
          used.fetch_add(1, std::memory_order_relaxed);
          k = key;
        }
      }
      if (k == key) {
        counts[i].fetch_add(n, std::memory_order_relaxed);
        return true;
      }
    }
    return false;  // full
  }
};

namespace {
// Tables start small: most series use a few dozen buckets.
constexpr std::size_t kFirstCapacity = 32;

std::size_t limit_for(std::size_t capacity, std::size_t max_buckets, int schema) {
  const std::size_t half = capacity / 2;  // probes stay short
  return schema > kMinSchema ? std::min(half, max_buckets) : half;
}
}  // namespace

NativeBuckets::NativeBuckets(int schema, std::size_t max_buckets, double zero_threshold)
    : max_buckets_(max_buckets), zero_threshold_(zero_threshold) {
  tables_.push_back(std::make_unique<Table>(schema, kFirstCapacity,
                                            limit_for(kFirstCapacity, max_buckets, schema)));
  current_.store(tables_.back().get(), std::memory_order_release);
}

NativeBuckets::~NativeBuckets() = default;

void NativeBuckets::record(double v) noexcept {
  if (std::isnan(v))
    return;
  if (std::fabs(v) <= zero_threshold_) {
    zero_count_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  for (;;) {
    Table* t = current_.load(std::memory_order_seq_cst);
    t->in_flight.fetch_add(1, std::memory_order_seq_cst);
    // A rebuild publishes its table, then waits for in_flight to drain: seeing the same
    // table here after announcing ourselves means it waits for us.
    if (current_.load(std::memory_order_seq_cst) != t) {
      t->in_flight.fetch_sub(1, std::memory_order_release);
      continue;
    }
    const double a = std::fabs(v);
    const int index = std::isinf(a)
                          ? native_bucket_index(std::numeric_limits<double>::max(), t->schema)
                          : native_bucket_index(a, t->schema);
    const bool done = t->add(key_of(index, v < 0), 1, false);
    t->in_flight.fetch_sub(1, std::memory_order_release);
    if (done)
      return;
    rebuild(t);
  }
}

void NativeBuckets::rebuild(Table* seen) noexcept {
  std::lock_guard lock(mu_);
  Table* old = current_.load(std::memory_order_seq_cst);
  if (old != seen)
    return;  // another recorder rebuilt it already
  for (;;) {
    const std::size_t old_capacity = old->mask + 1;
    const bool too_many =
        old->schema > kMinSchema && old->used.load(std::memory_order_relaxed) >= max_buckets_;
    const int schema = too_many ? old->schema - 1 : old->schema;
    const std::size_t capacity = too_many ? old_capacity : old_capacity * 2;
    Table* fresh = nullptr;
    try {
      tables_.push_back(
          std::make_unique<Table>(schema, capacity, limit_for(capacity, max_buckets_, schema)));
      fresh = tables_.back().get();
    } catch (...) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;  // the recorder drops its value; the table stays as it was
    }
    current_.store(fresh, std::memory_order_seq_cst);
    while (old->in_flight.load(std::memory_order_seq_cst) != 0)
      std::this_thread::yield();
    // Nobody writes to the old table now: move its counts over.
    for (std::size_t i = 0; i < old_capacity; ++i) {
      const int key = old->keys[i].load(std::memory_order_acquire);
      const std::uint64_t n = old->counts[i].load(std::memory_order_relaxed);
      if (key == kEmpty || n == 0)
        continue;
      int index = index_of(key);
      for (int s = old->schema; s > schema; --s)
        index = coarser_index(index);
      if (!fresh->add(key_of(index, negative_key(key)), n, true))
        dropped_.fetch_add(n, std::memory_order_relaxed);
    }
    // Merging can leave it over the limit still (each step at most halves the buckets).
    if (!(fresh->schema > kMinSchema && fresh->used.load(std::memory_order_relaxed) > max_buckets_))
      return;
    old = fresh;
  }
}

std::uint64_t NativeBuckets::Snapshot::count() const noexcept {
  std::uint64_t n = zero_count;
  for (const auto& [i, c] : positive)
    n += c;
  for (const auto& [i, c] : negative)
    n += c;
  return n;
}

NativeBuckets::Snapshot NativeBuckets::snapshot() const {
  Snapshot out;
  std::lock_guard lock(mu_);
  const Table* t = current_.load(std::memory_order_acquire);
  out.schema = t->schema;
  out.zero_threshold = zero_threshold_;
  out.zero_count = zero_count_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i <= t->mask; ++i) {
    const int key = t->keys[i].load(std::memory_order_acquire);
    const std::uint64_t n = t->counts[i].load(std::memory_order_relaxed);
    if (key == kEmpty || n == 0)
      continue;
    (negative_key(key) ? out.negative : out.positive).emplace_back(index_of(key), n);
  }
  std::sort(out.positive.begin(), out.positive.end());
  std::sort(out.negative.begin(), out.negative.end());
  return out;
}

}  // namespace o11y::detail
