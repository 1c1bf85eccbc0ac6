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

// A bucket's table key: its index and sign in one int.
int key_of(int index, bool negative) noexcept {
  return index * 2 + (negative ? 1 : 0);
}
std::uint32_t stored_key(int key) noexcept {
  return static_cast<std::uint32_t>(key) ^ 0x80000000U;  // as native_stored_key()
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

static_assert(sizeof(std::atomic<std::uint32_t>) == 4 && sizeof(std::atomic<std::uint64_t>) == 8,
              "tables are shared with other processes as plain u32 keys and u64 counts");

struct NativeBuckets::Table {
  Table(int s, std::size_t capacity, std::size_t key_limit, void* memory)
      : schema(s),
        mask(capacity - 1),
        limit(key_limit),
        // NOLINTNEXTLINE(*-reinterpret-cast): zeroed memory laid out as native_table_bytes()
        keys(reinterpret_cast<std::atomic<std::uint32_t>*>(memory)),
        // NOLINTNEXTLINE(*-reinterpret-cast,*-pointer-arithmetic): the counts follow the keys
        counts(reinterpret_cast<std::atomic<std::uint64_t>*>(static_cast<char*>(memory) +
                                                             native_counts_offset(capacity))) {}
  const int schema;
  const std::size_t mask;
  const std::size_t limit;  ///< keys it takes before a rebuild
  std::atomic<std::uint32_t>* const keys;
  std::atomic<std::uint64_t>* const counts;
  std::atomic<std::size_t> used{0};
  std::atomic<int> in_flight{0};  ///< recorders between loading and leaving this table

  // Adds n to key's count; false when the key is new and the table has taken its limit.
  bool add(int key, std::uint64_t n, bool force) noexcept {
    const std::uint32_t want = stored_key(key);
    for (std::size_t i = mix(key) & mask, probes = 0; probes <= mask;
         i = (i + 1) & mask, ++probes) {
      std::uint32_t k = keys[i].load(std::memory_order_acquire);
      if (k == 0) {
        if (!force && used.load(std::memory_order_relaxed) >= limit)
          return false;
        if (keys[i].compare_exchange_strong(k, want, std::memory_order_acq_rel)) {
          used.fetch_add(1, std::memory_order_relaxed);
          k = want;
        }
      }
      if (k == want) {
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

NativeBuckets::NativeBuckets(int schema, std::size_t max_buckets, double zero_threshold,
                             NativeStorage storage)
    : max_buckets_(max_buckets),
      zero_threshold_(zero_threshold),
      zero_(storage.zero != nullptr ? storage.zero : &own_zero_),
      seq_(storage.seq != nullptr ? storage.seq : &own_seq_),
      table_memory_(std::move(storage.table)) {
  current_.store(new_table_locked(schema, kFirstCapacity), std::memory_order_release);
}

NativeBuckets::~NativeBuckets() = default;

NativeBuckets::Table* NativeBuckets::new_table_locked(int schema, std::size_t capacity) {
  const std::size_t bytes = native_table_bytes(capacity);
  void* memory = table_memory_ ? table_memory_(schema, bytes) : nullptr;
  if (memory == nullptr) {
    heap_.push_back(std::make_unique<std::uint64_t[]>(bytes / 8));  // NOLINT(*-avoid-c-arrays)
    memory = heap_.back().get();
  }
  tables_.push_back(
      std::make_unique<Table>(schema, capacity, limit_for(capacity, max_buckets_, schema), memory));
  return tables_.back().get();
}

int NativeBuckets::schema() const noexcept {
  return current_.load(std::memory_order_acquire)->schema;
}

template <class KeyAt>
void NativeBuckets::place(const KeyAt& key_at, std::uint64_t n) noexcept {
  for (;;) {
    Table* t = current_.load(std::memory_order_seq_cst);
    t->in_flight.fetch_add(1, std::memory_order_seq_cst);
    // A rebuild publishes its table, then waits for in_flight to drain: seeing the same
    // table here after announcing ourselves means it waits for us.
    if (current_.load(std::memory_order_seq_cst) != t) {
      t->in_flight.fetch_sub(1, std::memory_order_release);
      continue;
    }
    const bool done = t->add(key_at(t->schema), n, false);
    t->in_flight.fetch_sub(1, std::memory_order_release);
    if (done)
      return;
    rebuild(t);
  }
}

void NativeBuckets::record(double v) noexcept {
  if (std::isnan(v))
    return;
  if (std::fabs(v) <= zero_threshold_) {
    zero_->fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const double a = std::isinf(v) ? std::numeric_limits<double>::max() : std::fabs(v);
  place([a,
         negative = v < 0](int schema) { return key_of(native_bucket_index(a, schema), negative); },
        1);
}

void NativeBuckets::add(int index, int schema, bool negative, std::uint64_t n) noexcept {
  if (n == 0)
    return;
  place([index, schema,
         negative](int to) { return key_of(lowered_index(index, schema, to), negative); },
        n);
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
      fresh = new_table_locked(schema, capacity);
    } catch (...) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;  // the recorder drops its value; the table stays as it was
    }
    current_.store(fresh, std::memory_order_seq_cst);
    while (old->in_flight.load(std::memory_order_seq_cst) != 0)
      std::this_thread::yield();
    // Nobody writes to the old table now: move its counts over. A reader in another process
    // sums every table, so the move is bracketed by the sequence (odd while it runs).
    seq_->fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (std::size_t i = 0; i < old_capacity; ++i) {
      const std::uint32_t stored = old->keys[i].load(std::memory_order_acquire);
      const std::uint64_t n = old->counts[i].load(std::memory_order_relaxed);
      if (stored == 0 || n == 0)
        continue;
      const auto [index, negative] = native_key(stored);
      if (!fresh->add(key_of(lowered_index(index, old->schema, schema), negative), n, true))
        dropped_.fetch_add(n, std::memory_order_relaxed);
      old->counts[i].store(0, std::memory_order_relaxed);
    }
    seq_->fetch_add(1, std::memory_order_release);
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
  out.zero_count = zero_->load(std::memory_order_relaxed);
  for (std::size_t i = 0; i <= t->mask; ++i) {
    const std::uint32_t stored = t->keys[i].load(std::memory_order_acquire);
    const std::uint64_t n = t->counts[i].load(std::memory_order_relaxed);
    if (stored == 0 || n == 0)
      continue;
    const auto [index, negative] = native_key(stored);
    (negative ? out.negative : out.positive).emplace_back(index, n);
  }
  std::sort(out.positive.begin(), out.positive.end());
  std::sort(out.negative.begin(), out.negative.end());
  return out;
}

}  // namespace o11y::detail
