#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/words.hpp"
#include "metrics/exposed_names.hpp"
#include "metrics/native_histogram.hpp"
#include "o11y/metrics.hpp"

namespace o11y::detail {

enum class MetricType : std::uint8_t { Counter, Gauge, Histogram };

[[nodiscard]] inline ExposedKind exposed_kind(MetricType t) noexcept {
  return t == MetricType::Counter ? ExposedKind::Counter
         : t == MetricType::Gauge ? ExposedKind::Gauge
                                  : ExposedKind::Histogram;
}

/// A value cell: a double kept as its bits in a 64-bit atomic, so that a value store may place
/// cells in memory shared between processes (where std::atomic<double> is not guaranteed).
using Cell = std::atomic<std::uint64_t>;

inline double load_double(const Cell& c) noexcept {
  return std::bit_cast<double>(c.load(std::memory_order_relaxed));
}
inline void store_double(Cell& c, double v) noexcept {
  c.store(std::bit_cast<std::uint64_t>(v), std::memory_order_relaxed);
}
/// One compare-and-swap attempt; false when another thread changed the cell meanwhile.
inline bool try_add_double(Cell& c, double v) noexcept {
  auto old = c.load(std::memory_order_relaxed);
  return c.compare_exchange_strong(
      old, std::bit_cast<std::uint64_t>(std::bit_cast<double>(old) + v), std::memory_order_relaxed);
}
inline void add_double(Cell& c, double v) noexcept {
  auto old = c.load(std::memory_order_relaxed);
  while (!c.compare_exchange_weak(old, std::bit_cast<std::uint64_t>(std::bit_cast<double>(old) + v),
                                  std::memory_order_relaxed)) {
  }
}

/// The most labels one family may declare (keeps label lookups on the stack).
inline constexpr std::size_t kMaxLabels = 16;

/// Label values in declaration order, prepared for a lookup: one word each and their hash.
/// Lives on the stack; only the first n entries are ever written or read, so the arrays are
/// left uninitialised (zeroing them was a quarter of a labeled add).
struct Key {
  // Not "= default": that would be deleted (string_view has a non-trivial default constructor).
  Key() noexcept {}  // NOLINT(modernize-use-equals-default,*-member-init): see above
  union {
    std::string_view values[kMaxLabels];
  };
  union {
    std::uint64_t words[kMaxLabels];
  };
  std::size_t n = 0;
  std::uint64_t hash = 0;

  static constexpr std::uint64_t kSeed = 0xcbf29ce484222325ULL;
  [[nodiscard]] static std::uint64_t finalize(std::uint64_t h) noexcept { return h ^ (h >> 32U); }

  /// Computes words and hash once values[0, n) are set.
  void finish() noexcept {
    std::uint64_t h = kSeed;
    for (std::size_t i = 0; i < n; ++i) {
      words[i] = short_word(values[i]);
      h = mix_word(h, words[i]);
    }
    hash = finalize(h);
  }
  /// The key for these values, already in declaration order (at most kMaxLabels).
  template <class Range>
  void assign(const Range& in) noexcept {
    n = std::size(in);
    std::copy(std::begin(in), std::end(in), values);
    finish();
  }
};

struct Exemplar;

/// Where the cells of a series live: the heap here; a per-process memory-mapped file in
/// multiprocess mode. Thread-safe; cells stay valid for the life of the process.
class ValueStore {
 public:
  virtual ~ValueStore() = default;
  ValueStore() = default;
  ValueStore(const ValueStore&) = delete;
  ValueStore& operator=(const ValueStore&) = delete;
  ValueStore(ValueStore&&) = delete;
  ValueStore& operator=(ValueStore&&) = delete;

  /// n zeroed cells for one series of a family.
  virtual Cell* allocate(const Family& family, std::span<const std::string> label_values,
                         std::size_t n) = 0;
  /// n zeroed exemplar slots for the series whose cells are `cells`.
  virtual Exemplar* allocate_exemplars(const Family& family, const Cell* cells, std::size_t n) = 0;
  /// Zeroed, 8-byte aligned memory for one native histogram table of the series whose cells
  /// are `cells` (native_table_bytes()), or null for the heap. Never throws.
  virtual void* allocate_native_table(const Family& /*family*/, const Cell* /*cells*/,
                                      int /*schema*/, std::size_t /*bytes*/) noexcept {
    return nullptr;
  }
  /// Whether per-thread stripes (summed at scrape, in this process's memory) may be used.
  [[nodiscard]] virtual bool in_process() const noexcept = 0;
};

/// The last recorded value with the trace that recorded it: an OpenMetrics exemplar. Written
/// and read under a sequence lock made of atomics, so a reader never sees a torn exemplar.
struct Exemplar {
  std::atomic<std::uint64_t> seq{0};  // 64-bit: the layout is fixed, as in the file
  std::atomic<std::uint64_t> trace_hi{0};
  std::atomic<std::uint64_t> trace_lo{0};
  std::atomic<std::uint64_t> span{0};
  std::atomic<std::uint64_t> value{0};  // double bits
  std::atomic<std::uint64_t> time_ns{0};

  void write(std::uint64_t hi, std::uint64_t lo, std::uint64_t span_id, double v,
             std::uint64_t t) noexcept;
  struct Snapshot {
    std::uint64_t trace_hi, trace_lo, span;
    double value;
    std::uint64_t time_ns;
  };
  /// False when nothing was ever written.
  bool read(Snapshot& out) const noexcept;
};
static_assert(sizeof(Exemplar) == 48, "the multiprocess file stores exemplars in 48-byte slots");

/// Eight stripes, one per thread group: a contended counter adds to its thread's stripe. 128
/// bytes apart, not 64: x86's adjacent-line prefetcher pairs lines, so two threads on
/// neighbouring 64-byte lines contend as if they shared one.
struct Stripes {
  struct alignas(128) Padded {
    Cell cell{0};
  };
  Padded stripe[8];
};

/// One labelled series. Immutable after creation except for its cells.
struct Series {
  std::uint64_t hash = 0;
  std::vector<std::string> values;  ///< in declaration order
  /// short_word() of the first values, so a lookup rarely touches the strings.
  static constexpr std::size_t kWords = 4;
  std::uint64_t words[kWords] = {};
  Cell* cells = nullptr;  ///< counter/gauge: 1; histogram: one per bucket (+Inf last), then sum
  std::atomic<Stripes*> stripes{nullptr};  ///< counters only, created on first contention
                                           /// Slots for the last exemplar (counter: 1; histogram:
                                           /// one per bucket), created by the first
  /// value recorded under a sampled span: series that never see one cost nothing.
  std::atomic<Exemplar*> exemplars{nullptr};
  std::unique_ptr<Stripes> owned_stripes;  ///< keeps stripes alive
  /// A native histogram's sparse buckets (its cells hold the count and sum, as a classic
  /// histogram without finite buckets, then the zero count and sequence the buckets use).
  std::unique_ptr<NativeBuckets> native;
  /// When it was created (unix ns): where OTLP's cumulative points start.
  std::uint64_t created_ns = 0;
};

/// The label value every label of the overflow series has (see series_limit()).
inline constexpr std::string_view kOverflowValue = "o11y_overflow";

/// Label sets one family may hold before new ones go to its overflow series.
[[nodiscard]] std::size_t series_limit() noexcept;
void set_series_limit(std::size_t limit) noexcept;

/// A metric family: name, help, declared labels, buckets and its series.
///
/// Lookup is lock-free: an open-addressing table of atomic Series pointers, published with
/// release stores and probed with acquire loads. Inserts take the mutex. A full table is
/// replaced by one twice the size; old tables stay allocated for readers still probing them.
struct Family {
  std::string name;       ///< as declared
  std::string base_name;  ///< exposition family name (counters without _total)
  std::string help;
  std::string unit;
  MetricType type = MetricType::Counter;
  GaugeMode mode = GaugeMode::All;
  std::vector<std::string> label_names;   ///< set with set_label_names()
  std::vector<std::uint64_t> name_words;  ///< short_word() of each label name
  std::vector<double> buckets;            ///< finite upper bounds, increasing; +Inf implied
  /// A native histogram (Buckets::exponential()): its schema, bucket limit and zero bucket.
  bool native = false;
  int native_schema = 0;
  std::size_t native_max_buckets = 0;
  double native_zero_threshold = 0;
  ValueStore* store = nullptr;
  /// Exempt from series_limit(): the families a scrape builds to aggregate a directory hold
  /// what every process recorded, each already guarded where it was recorded.
  bool unlimited = false;

  Family() = default;
  ~Family();
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;
  Family(Family&&) = delete;
  Family& operator=(Family&&) = delete;

  void set_label_names(std::vector<std::string> names) {
    label_names = std::move(names);
    name_words.clear();
    for (const auto& l : label_names)
      name_words.push_back(short_word(l));
  }

  /// Counter: the value. Gauge: the value and, for the most-recent modes, when it was set.
  /// Histogram: one count per bucket (+Inf last), then the sum; a native one then its zero
  /// bucket's count and its tables' sequence (NativeStorage).
  [[nodiscard]] std::size_t cell_count() const noexcept {
    if (type == MetricType::Histogram)
      return buckets.size() + (native ? 4 : 2);
    return type == MetricType::Gauge && tracks_time() ? 2 : 1;
  }
  [[nodiscard]] bool tracks_time() const noexcept {
    return mode == GaugeMode::MostRecent || mode == GaugeMode::LiveMostRecent;
  }

  /// fork(): held across it so no lock is left taken in the child.
  void lock_for_fork() { mu_.lock(); }
  void unlock_after_fork() { mu_.unlock(); }
  /// In a fork()ed child: fresh, zero cells from the store for every series.
  void reallocate_cells();
  /// A native histogram series' buckets, over its cells and tables from the store.
  [[nodiscard]] std::unique_ptr<NativeBuckets> make_native(Cell* cells) const;

  [[nodiscard]] std::size_t exemplar_count() const noexcept {
    return type == MetricType::Counter ? 1 : type == MetricType::Histogram ? buckets.size() + 1 : 0;
  }
  /// The series' exemplar slots, created on first use; null if they cannot be had.
  Exemplar* exemplars_for(Series& s) noexcept;

  /// The series for this key, created if new. Throws only std::bad_alloc. Inline, as is
  /// find(): together they are most of a labeled add.
  [[gnu::always_inline]] Series* get(const Key& key) {
    if (Series* s = find(key))
      return s;
    return get_slow(key);
  }
  /// The series for these label values (declaration order), created if new.
  Series* get(std::span<const std::string_view> values);
  /// The series if it exists, else null. Never allocates; lock-free.
  [[nodiscard]] Series* find(const Key& key) const noexcept;
  /// A snapshot of every series, for rendering.
  [[nodiscard]] std::vector<const Series*> all_series() const;

  /// The key for labels given by name; throws MetricError naming the metric and the label
  /// that is missing, extra or misspelt.
  void key_named(std::initializer_list<Label> labels, Key& key) const {
    // Fast path, inline: every label given, in declaration order; names compared as words,
    // values turned into words and hashed in the same pass.
    const std::size_t n = label_names.size();
    key.n = n;
    if (labels.size() == n) {
      std::size_t i = 0;
      std::uint64_t h = Key::kSeed;
      for (const auto& l : labels) {
        const auto w = short_word(l.name);
        if (w != name_words[i] || (!word_is_exact(w) && l.name != label_names[i]))
          break;
        key.values[i] = l.value;
        key.words[i] = short_word(l.value);
        h = mix_word(h, key.words[i]);
        ++i;
      }
      if (i == n) {
        key.hash = Key::finalize(h);
        return;
      }
    }
    key_named_slow(labels, key);
  }
  /// The key for positional label values; throws MetricError for a wrong count.
  void key_positional(std::initializer_list<std::string_view> values, Key& key) const;
  /// Throws MetricError unless n label values were given.
  void check_count(std::size_t n) const;

 private:
  struct Table {
    explicit Table(std::size_t capacity);
    std::size_t mask;
    std::unique_ptr<std::atomic<Series*>[]> slots;
  };
  void key_named_slow(std::initializer_list<Label> labels, Key& key) const;
  Series* get_slow(const Key& key);
  void insert_locked(Series* s);
  Series* create_locked(const Key& key);

  mutable std::mutex mu_;
  std::atomic<Table*> table_{nullptr};
  std::vector<std::unique_ptr<Table>> tables_;   // current and retired, guarded by mu_
  std::vector<std::unique_ptr<Series>> series_;  // guarded by mu_
};

// Always inlined: as a call it was a fifth of a labeled add.
[[gnu::always_inline]] inline Series* Family::find(const Key& key) const noexcept {
  const Table* t = table_.load(std::memory_order_acquire);
  if (t == nullptr)
    return nullptr;
  for (std::size_t i = key.hash & t->mask;; i = (i + 1) & t->mask) {
    Series* s = t->slots[i].load(std::memory_order_acquire);
    if (s == nullptr)
      return nullptr;
    if (s->hash != key.hash)
      continue;  // every series of a family has key.n values
    std::size_t k = 0;
    for (; k < key.n; ++k) {
      if (k < Series::kWords) {
        if (s->words[k] != key.words[k] ||
            (!word_is_exact(key.words[k]) && !short_equal(key.values[k], s->values[k])))
          break;
      } else if (!short_equal(key.values[k], s->values[k])) {
        break;
      }
    }
    if (k == key.n)
      return s;
  }
}

/// Adds to a counter series, striping it on contention. Records an exemplar when a sampled
/// span is active.
void counter_add(Family& f, Series& s, double v) noexcept;
void gauge_set(const Family& f, Series& s, double v) noexcept;
void gauge_add(const Family& f, Series& s, double v) noexcept;
void histogram_record(Family& f, Series& s, double v) noexcept;
[[nodiscard]] double counter_value(const Series& s) noexcept;

/// Every family of the default registry, in declaration order.
[[nodiscard]] std::vector<const Family*> all_families();

/// The default registry's owner of the first of these names it holds (its own families' and
/// the library's), with that name in `at`; nullopt when all are free.
[[nodiscard]] std::optional<NameClaims::Owner> default_registry_clash(const ExposedNames& names,
                                                                      std::string& at);

/// In a fork()ed child whose fork handlers did not run: a new multiprocess file and fresh
/// cells (see o11y::after_fork()). A no-op when this process already has its own file.
void metrics_after_fork() noexcept;

}  // namespace o11y::detail
