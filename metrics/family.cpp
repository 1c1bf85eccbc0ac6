#include "metrics/family.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>

#include "base/fork.hpp"
#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "context/frame.hpp"
#include "context/span_state.hpp"
#include "metrics/exposed_names.hpp"
#include "metrics/mp_writer.hpp"
#include "metrics/process_metrics.hpp"

namespace o11y {
namespace detail {
namespace {

// --- names -----------------------------------------------------------------------------

bool is_name_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) noexcept {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

// Prometheus data model: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*.
bool valid_metric_name(std::string_view n) noexcept {
  if (n.empty() || !(is_name_start(n[0]) || n[0] == ':'))
    return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return is_name_char(c) || c == ':'; });
}
bool valid_label_name(std::string_view n) noexcept {
  return !n.empty() && is_name_start(n[0]) && std::all_of(n.begin(), n.end(), is_name_char);
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string declared_list(const Family& f) {
  std::string out;
  for (const auto& n : f.label_names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

[[noreturn]] void fail(std::string_view metric, const std::string& what) {
  throw MetricError("metric " + quoted(metric) + ": " + what);
}

// --- stores and registry ---------------------------------------------------------------

class HeapValueStore final : public ValueStore {
 public:
  Cell* allocate(const Family& /*family*/, std::span<const std::string> /*values*/,
                 std::size_t n) override {
    auto cells = std::make_unique<Cell[]>(n);
    for (std::size_t i = 0; i < n; ++i)
      cells[i].store(0, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    blocks_.push_back(std::move(cells));
    return blocks_.back().get();
  }
  Exemplar* allocate_exemplars(const Family& /*family*/, const Cell* /*cells*/,
                               std::size_t n) override {
    std::lock_guard lock(mu_);
    exemplars_.push_back(std::make_unique<Exemplar[]>(n));
    return exemplars_.back().get();
  }
  [[nodiscard]] bool in_process() const noexcept override { return true; }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Cell[]>> blocks_;
  std::vector<std::unique_ptr<Exemplar[]>> exemplars_;
};

}  // namespace

struct RegistryImpl {
  /// The default registry keeps its values in the multiprocess directory when there is one;
  /// a registry of the user's own keeps them in this process.
  explicit RegistryImpl(bool default_registry) : multiprocess(default_registry) {}

  std::mutex mu;
  NameClaims claims;  // guarded by mu
  std::map<std::string, std::unique_ptr<Family>, std::less<>> by_name;
  std::vector<const Family*> in_order;
  HeapValueStore heap;
  std::unique_ptr<MmapValueStore> mp;  // when the multiprocess directory is configured

  bool multiprocess;

  ValueStore* store() {
    if (!multiprocess)
      return &heap;
    const std::string& dir = mp::freeze_configured_dir();
    if (dir.empty())
      return &heap;
    if (!mp)
      mp = std::make_unique<MmapValueStore>(dir);
    return mp.get();
  }
};

namespace {

void fork_prepare();
void fork_parent();
void fork_child();

RegistryImpl& registry() {
  static auto* r = [] {
    auto* reg = new RegistryImpl(true);  // NOLINT: families outlive every static that records
    register_fork_steps(ForkStage::Metrics, {fork_prepare, fork_parent, fork_child});
    return reg;
  }();
  return *r;
}

// fork(): every registry and family lock is held across it, so the child finds none taken.
void fork_prepare() {
  auto& r = registry();
  r.mu.lock();
  for (const auto& [name, f] : r.by_name)
    f->lock_for_fork();
}
void fork_parent() {
  auto& r = registry();
  for (const auto& [name, f] : r.by_name)
    f->unlock_after_fork();
  r.mu.unlock();
}
// The child must never write into its parent's file: a new file, and every series re-pointed
// at fresh zero cells in it. In-process (heap) values simply carry on, as fork() copies them.
void fork_child() {
  auto& r = registry();
  for (const auto& [name, f] : r.by_name)
    f->unlock_after_fork();
  if (r.mp) {
    r.mp->reopen_after_fork();
    for (const auto& [name, f] : r.by_name)
      f->reallocate_cells();
  }
  r.mu.unlock();
}

}  // namespace

namespace {
std::atomic<std::size_t> g_series_limit{10000};  // NOLINT(*-avoid-non-const-global-*)
}  // namespace

std::size_t series_limit() noexcept {
  return g_series_limit.load(std::memory_order_relaxed);
}

void set_series_limit(std::size_t limit) noexcept {
  g_series_limit.store(limit == 0 ? 1 : limit, std::memory_order_relaxed);
}

void metrics_after_fork() noexcept {
  auto& r = registry();
  // Without fork handlers having run, a lock may belong to a thread that does not exist here.
  std::unique_lock lock(r.mu, std::try_to_lock);
  if (!lock.owns_lock()) {
    report_internal_error("metrics", "after_fork: the registry is locked; metrics not reset");
    return;
  }
  try {
    if (r.mp && r.mp->owner_pid() != static_cast<int>(::getpid())) {
      r.mp->reopen_after_fork();
      for (const auto& [name, f] : r.by_name)
        f->reallocate_cells();
    }
  } catch (...) {
    report_internal_error("metrics", "after_fork: could not reopen the multiprocess file");
  }
}

namespace {

Family* declare(RegistryImpl& r, MetricType type, std::string_view name, std::string_view help,
                std::initializer_list<std::string_view> label_names, const Buckets& layout,
                GaugeMode mode, std::string_view unit) {
  std::vector<double> buckets = layout.bounds();
  const bool native = type == MetricType::Histogram && layout.native();
  if (!valid_metric_name(name)) {
    fail(name, "invalid metric name (want [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (name.substr(0, 2) == "__")
    fail(name, "names starting with \"__\" are reserved");
  if (label_names.size() > kMaxLabels) {
    fail(name, "declares " + std::to_string(label_names.size()) + " labels, at most " +
                   std::to_string(kMaxLabels) + " are supported");
  }
  std::vector<std::string> labels;
  for (auto l : label_names) {
    if (!valid_label_name(l))
      fail(name, "label " + quoted(l) + " is not a valid label name");
    if (l.substr(0, 2) == "__")
      fail(name, "label " + quoted(l) + " uses the reserved \"__\" prefix");
    if (type == MetricType::Histogram && l == "le") {
      fail(name, "label \"le\" is reserved for histogram buckets");
    }
    if (std::find(labels.begin(), labels.end(), l) != labels.end()) {
      fail(name, "label " + quoted(l) + " is declared twice");
    }
    labels.emplace_back(l);
  }
  if (native) {
    if (layout.schema() < kMinSchema || layout.schema() > kMaxSchema)
      fail(name,
           "native histogram schema " + std::to_string(layout.schema()) + " is outside -4..8");
    if (layout.max_buckets() == 0)
      fail(name, "a native histogram needs max_buckets of at least 1");
    if (!(layout.zero_threshold() >= 0) || std::isinf(layout.zero_threshold()))
      fail(name, "the zero threshold of a native histogram must be a finite number >= 0");
  }
  if (type == MetricType::Histogram) {
    // A native histogram has classic buckets only when asked (with_classic()): without, its
    // cells hold the count and sum alone.
    if (buckets.empty() && !native)
      buckets = metrics::default_buckets();
    if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0)
      buckets.pop_back();
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      if (!std::isfinite(buckets[i]))
        fail(name, "bucket bounds must be finite numbers");
      if (i > 0 && !(buckets[i] > buckets[i - 1])) {
        fail(name, "bucket bounds must be strictly increasing");
      }
    }
  }
  std::string base(name);
  if (type == MetricType::Counter && base.size() > 6 && base.ends_with("_total")) {
    base.resize(base.size() - 6);
  }
  if (!unit.empty()) {
    if (!valid_label_name(unit))
      fail(name, "unit " + quoted(unit) + " is not a valid name");
    if (!base.ends_with("_" + std::string(unit))) {
      fail(name,
           "with unit " + quoted(unit) + " the name must end in \"_" + std::string(unit) + "\"");
    }
  }

  std::lock_guard lock(r.mu);
  if (auto it = r.by_name.find(base); it != r.by_name.end()) {
    const Family& f = *it->second;
    const bool same_native =
        f.native == native && (!native || (f.native_schema == layout.schema() &&
                                           f.native_max_buckets == layout.max_buckets() &&
                                           f.native_zero_threshold == layout.zero_threshold()));
    if (f.type != type || f.label_names != labels || f.buckets != buckets || f.unit != unit ||
        !same_native) {
      fail(name, "is already declared as " +
                     ExposedNames::describe(exposed_kind(f.type), f.name, f.base_name) +
                     " with another type, labels, buckets or unit (labels: " + declared_list(f) +
                     ")");
    }
    return it->second.get();
  }
  // Two families must never share a name in a scrape: one validating scraper would then drop
  // every metric of the service, not just these two.
  const ExposedNames names(exposed_kind(type), base);
  std::string at;
  if (const auto* other = r.claims.clash(names, at)) {
    fail(name, "as " + ExposedNames::describe(exposed_kind(type), name, base) + " would expose \"" +
                   at + "\", which " +
                   ExposedNames::describe(other->kind, other->declared, other->base) +
                   " already exposes; a scrape holding both is rejected whole by promtool and "
                   "prometheus_client. Rename one of them");
  }
  auto f = std::make_unique<Family>();
  f->name = std::string(name);
  f->base_name = base;
  f->help = std::string(help);
  f->unit = std::string(unit);
  f->type = type;
  f->mode = mode;
  f->set_label_names(std::move(labels));
  f->buckets = std::move(buckets);
  if (native) {
    f->native = true;
    f->native_schema = layout.schema();
    f->native_max_buckets = layout.max_buckets();
    f->native_zero_threshold = layout.zero_threshold();
  }
  f->store = r.store();
  Family* raw = f.get();
  r.claims.claim(exposed_kind(type), raw->name, base);
  r.by_name.emplace(base, std::move(f));
  r.in_order.push_back(raw);
  return raw;
}

// --- hot paths -------------------------------------------------------------------------

std::size_t stripe_index() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t t_index = next.fetch_add(1, std::memory_order_relaxed) % 8;
  return t_index;
}

constexpr std::uint64_t kExemplarMinAgeNs = 100'000'000;  // 100 ms

// Out of line, so that the common case (no sampled span) needs no stack frame in the
// callers.
[[gnu::noinline]] void record_exemplar(Family& f, Series& s, std::size_t slot, double v,
                                       const SpanState* span) noexcept {
  Exemplar* e = s.exemplars.load(std::memory_order_acquire);
  if (e == nullptr && (e = f.exemplars_for(s)) == nullptr)
    return;
  e += slot;
  // An exemplar is kept for kExemplarMinAge before a newer one may replace it. Replaced on
  // every observation, it was a cache line that every request thread wrote, plus a clock
  // read on every request. A scrape (every 15 s or so) still finds one
  // at most that old; Prometheus' Java client keeps its exemplars 7 s for the same reason.
  const std::uint64_t now = coarse_unix_time_ns();
  const std::uint64_t last = e->time_ns.load(std::memory_order_relaxed);
  if (last != 0 && now < last + kExemplarMinAgeNs)
    return;
  const auto& ctx = span->data.context;  // ids never change after start
  e->write(ctx.trace_id.hi, ctx.trace_id.lo, ctx.span_id.value, v, unix_time_ns());
}

// The exemplar for a value: the active span, if it is sampled.
inline void maybe_exemplar(Family& f, Series& s, std::size_t slot, double v) noexcept {
  const Frame* frame = t_frame;
  if (frame != nullptr && frame->span != nullptr && frame->span->recording) [[unlikely]]
    record_exemplar(f, s, slot, v, frame->span);
}

Stripes* ensure_stripes(Series& s) {
  auto fresh = std::make_unique<Stripes>();
  Stripes* expected = nullptr;
  if (s.stripes.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel)) {
    s.owned_stripes = std::move(fresh);  // only the winner writes it
    return s.stripes.load(std::memory_order_acquire);
  }
  return expected;
}

// Label values from the call into declaration order, on the stack.
}  // namespace

void Exemplar::write(std::uint64_t hi, std::uint64_t lo, std::uint64_t span_id, double v,
                     std::uint64_t t) noexcept {
  // Odd sequence while writing; readers retry when they see it odd or changed.
  const auto s = seq.load(std::memory_order_relaxed);
  if ((s & 1U) != 0)
    return;  // another writer is mid-write: its exemplar is as recent
  auto expected = s;
  if (!seq.compare_exchange_strong(expected, s + 1, std::memory_order_acquire))
    return;
  trace_hi.store(hi, std::memory_order_relaxed);
  trace_lo.store(lo, std::memory_order_relaxed);
  span.store(span_id, std::memory_order_relaxed);
  value.store(std::bit_cast<std::uint64_t>(v), std::memory_order_relaxed);
  time_ns.store(t, std::memory_order_relaxed);
  seq.store(s + 2, std::memory_order_release);
}

bool Exemplar::read(Snapshot& out) const noexcept {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto s1 = seq.load(std::memory_order_acquire);
    if (s1 == 0)
      return false;
    if ((s1 & 1U) != 0)
      continue;
    out.trace_hi = trace_hi.load(std::memory_order_relaxed);
    out.trace_lo = trace_lo.load(std::memory_order_relaxed);
    out.span = span.load(std::memory_order_relaxed);
    out.value = std::bit_cast<double>(value.load(std::memory_order_relaxed));
    out.time_ns = time_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) == s1)
      return true;
  }
  return false;
}

Family::Table::Table(std::size_t capacity)
    : mask(capacity - 1), slots(std::make_unique<std::atomic<Series*>[]>(capacity)) {
  for (std::size_t i = 0; i < capacity; ++i)
    slots[i].store(nullptr, std::memory_order_relaxed);
}

Family::~Family() = default;

Series* Family::get(std::span<const std::string_view> values) {
  Key key;
  key.assign(values);
  return get(key);
}

Series* Family::get_slow(const Key& key) {
  std::lock_guard lock(mu_);
  if (Series* s = find(key))
    return s;  // another thread created it meanwhile
  if (!unlimited && !label_names.empty() && series_.size() >= series_limit()) {
    // One caller inventing label values (a user id, a URL) must not exhaust memory: from here
    // on every new label set shares one overflow series.
    Key overflow;
    overflow.n = label_names.size();
    std::fill_n(overflow.values, overflow.n, kOverflowValue);
    overflow.finish();
    if (Series* s = find(overflow))
      return s;
    report_internal_error(
        "metrics", "metric " + name + " reached its limit of " + std::to_string(series_limit()) +
                       " label sets; new ones are counted under " + std::string(kOverflowValue));
    return create_locked(overflow);
  }
  return create_locked(key);
}

Series* Family::create_locked(const Key& key) {
  auto s = std::make_unique<Series>();
  s->hash = key.hash;
  s->values.assign(key.values, key.values + key.n);
  std::copy_n(key.words, std::min(key.n, Series::kWords), s->words);
  s->cells = store->allocate(*this, s->values, cell_count());
  s->created_ns = unix_time_ns();
  if (native)
    s->native = make_native(s->cells);

  Series* raw = s.get();
  series_.push_back(std::move(s));
  insert_locked(raw);
  return raw;
}

void Family::insert_locked(Series* s) {
  Table* t = table_.load(std::memory_order_relaxed);
  // Keep the table at most half full, so probes stay short.
  if (t == nullptr || (series_.size() * 2) > t->mask + 1) {
    const std::size_t capacity = t == nullptr ? 16 : (t->mask + 1) * 2;
    auto bigger = std::make_unique<Table>(capacity);
    for (const auto& existing : series_) {
      if (existing.get() == s)
        continue;
      std::size_t i = existing->hash & bigger->mask;
      while (bigger->slots[i].load(std::memory_order_relaxed) != nullptr)
        i = (i + 1) & bigger->mask;
      bigger->slots[i].store(existing.get(), std::memory_order_relaxed);
    }
    t = bigger.get();
    tables_.push_back(std::move(bigger));
    table_.store(t, std::memory_order_release);
  }
  std::size_t i = s->hash & t->mask;
  while (t->slots[i].load(std::memory_order_relaxed) != nullptr)
    i = (i + 1) & t->mask;
  t->slots[i].store(s, std::memory_order_release);
}

Exemplar* Family::exemplars_for(Series& s) noexcept {
  std::lock_guard lock(mu_);
  Exemplar* e = s.exemplars.load(std::memory_order_relaxed);
  if (e != nullptr)
    return e;
  try {
    e = store->allocate_exemplars(*this, s.cells, exemplar_count());
  } catch (...) {
    return nullptr;
  }
  s.exemplars.store(e, std::memory_order_release);
  return e;
}

void Family::reallocate_cells() {
  std::lock_guard lock(mu_);
  for (const auto& s : series_) {
    s->cells = store->allocate(*this, s->values, cell_count());
    s->exemplars.store(nullptr, std::memory_order_relaxed);  // the child has none yet
    if (native)
      s->native = make_native(s->cells);
  }
}

std::unique_ptr<NativeBuckets> Family::make_native(Cell* cells) const {
  const std::size_t nb = buckets.size();
  NativeStorage storage;
  storage.zero = &cells[nb + 2];
  storage.seq = &cells[nb + 3];
  storage.table = [this, cells](int schema, std::size_t bytes) {
    return store->allocate_native_table(*this, cells, schema, bytes);
  };
  return std::make_unique<NativeBuckets>(native_schema, native_max_buckets, native_zero_threshold,
                                         std::move(storage));
}

std::vector<const Series*> Family::all_series() const {
  std::lock_guard lock(mu_);
  std::vector<const Series*> out;
  out.reserve(series_.size());
  for (const auto& s : series_)
    out.push_back(s.get());
  return out;
}

void Family::key_positional(std::initializer_list<std::string_view> values, Key& key) const {
  check_count(values.size());
  key.assign(values);
}

void Family::key_named_slow(std::initializer_list<Label> labels, Key& key) const {
  const std::size_t n = label_names.size();
  std::string_view* out = key.values;
  for (const auto& l : labels) {
    if (std::find(label_names.begin(), label_names.end(), l.name) == label_names.end()) {
      fail(name,
           "label " + quoted(l.name) + " is not declared (declared: " + declared_list(*this) + ")");
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t found = 0;
    for (const auto& l : labels) {
      if (l.name == label_names[i]) {
        out[i] = l.value;
        ++found;
      }
    }
    if (found == 0) {
      fail(name, "label " + quoted(label_names[i]) +
                     " is missing (declared: " + declared_list(*this) + ")");
    }
    if (found > 1)
      fail(name, "label " + quoted(label_names[i]) + " is given more than once");
  }
  key.n = n;
  key.finish();
}

void Family::check_count(std::size_t n) const {
  if (n != label_names.size()) {
    fail(name, "labels() got " + std::to_string(n) + " value(s) for " +
                   std::to_string(label_names.size()) + " declared label(s) (" +
                   declared_list(*this) + ")");
  }
}

namespace {
// Contended: from now on each thread group adds to its own cache line.
[[gnu::noinline]] void counter_add_contended(Family& f, Series& s, double v) noexcept {
  try {
    Stripes* fresh = f.store->in_process() ? ensure_stripes(s) : nullptr;
    add_double(fresh != nullptr ? fresh->stripe[stripe_index()].cell : s.cells[0], v);
  } catch (...) {
    add_double(s.cells[0], v);
  }
}
}  // namespace

void counter_add(Family& f, Series& s, double v) noexcept {
  if (Stripes* st = s.stripes.load(std::memory_order_acquire)) {
    add_double(st->stripe[stripe_index()].cell, v);
  } else if (!try_add_double(s.cells[0], v)) [[unlikely]] {
    counter_add_contended(f, s, v);
  }
  maybe_exemplar(f, s, 0, v);
}

double counter_value(const Series& s) noexcept {
  double v = load_double(s.cells[0]);
  if (const Stripes* st = s.stripes.load(std::memory_order_acquire)) {
    for (const auto& p : st->stripe)
      v += load_double(p.cell);
  }
  return v;
}

void gauge_set(const Family& f, Series& s, double v) noexcept {
  store_double(s.cells[0], v);
  if (f.tracks_time())
    s.cells[1].store(unix_time_ns(), std::memory_order_relaxed);
}
void gauge_add(const Family& f, Series& s, double v) noexcept {
  add_double(s.cells[0], v);
  if (f.tracks_time())
    s.cells[1].store(unix_time_ns(), std::memory_order_relaxed);
}

void histogram_record(Family& f, Series& s, double v) noexcept {
  const auto& b = f.buckets;
  // le is inclusive: the first bucket whose bound is >= v. NaN lands in +Inf, as in the
  // other Prometheus clients.
  const std::size_t i =
      b.size() <= 16
          ? static_cast<std::size_t>(
                std::find_if(b.begin(), b.end(), [v](double x) { return v <= x; }) - b.begin())
          : static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
  s.cells[i].fetch_add(1, std::memory_order_relaxed);
  add_double(s.cells[b.size() + 1], v);
  if (s.native)
    s.native->record(v);
  maybe_exemplar(f, s, i, v);
}

std::vector<const Family*> all_families() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  return r.in_order;
}

std::optional<NameClaims::Owner> default_registry_clash(const ExposedNames& names,
                                                        std::string& at) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  if (const auto* owner = r.claims.clash(names, at))
    return *owner;
  return std::nullopt;
}

}  // namespace detail

// --- public API ------------------------------------------------------------------------

Counter counter(std::string_view name, std::string_view help,
                std::initializer_list<std::string_view> label_names, std::string_view unit) {
  return Counter(detail::declare(detail::registry(), detail::MetricType::Counter, name, help,
                                 label_names, {}, GaugeMode::All, unit));
}

Gauge gauge(std::string_view name, std::string_view help,
            std::initializer_list<std::string_view> label_names, GaugeMode mode,
            std::string_view unit) {
  return Gauge(detail::declare(detail::registry(), detail::MetricType::Gauge, name, help,
                               label_names, {}, mode, unit));
}

Histogram histogram(std::string_view name, std::string_view help,
                    std::initializer_list<std::string_view> label_names, const Buckets& buckets,
                    std::string_view unit) {
  return Histogram(detail::declare(detail::registry(), detail::MetricType::Histogram, name, help,
                                   label_names, buckets, GaugeMode::All, unit));
}

namespace {
[[noreturn, gnu::noinline, gnu::cold]] void throw_bad_increment(const detail::Family& f, double v) {
  throw MetricError("metric \"" + f.name + "\": counter increment " + std::to_string(v) +
                    " is negative or NaN; counters only go up");
}
void check_increment(const detail::Family& f, double v) {
  if (!(v >= 0)) [[unlikely]]
    throw_bad_increment(f, v);
}
}  // namespace

void Counter::Child::add(double value) const {
  check_increment(*family_, value);
  detail::counter_add(*family_, *series_, value);
}
double Counter::Child::value() const noexcept {
  return detail::counter_value(*series_);
}

void Counter::add(double value, std::initializer_list<Label> labels) const {
  check_increment(*family_, value);
  detail::Key key;
  family_->key_named(labels, key);
  detail::counter_add(*family_, *family_->get(key), value);
}

Counter::Child Counter::labels(std::initializer_list<std::string_view> values) const {
  detail::Key key;
  family_->key_positional(values, key);
  return {family_, family_->get(key)};
}

double Counter::value(std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  const auto* s = family_->find(key);
  return s != nullptr ? detail::counter_value(*s) : 0.0;
}

void Gauge::Child::set(double value) const noexcept {
  detail::gauge_set(*family_, *series_, value);
}
void Gauge::Child::add(double value) const noexcept {
  detail::gauge_add(*family_, *series_, value);
}
double Gauge::Child::value() const noexcept {
  return detail::load_double(series_->cells[0]);
}

void Gauge::set(double value, std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  detail::gauge_set(*family_, *family_->get(key), value);
}
void Gauge::add(double value, std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  detail::gauge_add(*family_, *family_->get(key), value);
}
Gauge::Child Gauge::labels(std::initializer_list<std::string_view> values) const {
  detail::Key key;
  family_->key_positional(values, key);
  return {family_, family_->get(key)};
}
double Gauge::value(std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  const auto* s = family_->find(key);
  return s != nullptr ? detail::load_double(s->cells[0]) : 0.0;
}

Histogram::Timer::Timer(detail::Family* family, detail::Series* series) noexcept
    : family_(family), series_(series), start_(std::chrono::steady_clock::now()) {}

Histogram::Timer::~Timer() {
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  detail::histogram_record(*family_, *series_, elapsed.count());
}

void Histogram::Child::record(double value) const noexcept {
  detail::histogram_record(*family_, *series_, value);
}
Histogram::Timer Histogram::Child::time() const noexcept {
  return {family_, series_};
}

void Histogram::record(double value, std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  detail::histogram_record(*family_, *family_->get(key), value);
}
Histogram::Timer Histogram::time(std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  return {family_, family_->get(key)};
}
Histogram::Child Histogram::labels(std::initializer_list<std::string_view> values) const {
  detail::Key key;
  family_->key_positional(values, key);
  return {family_, family_->get(key)};
}

std::uint64_t Histogram::count(std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  const auto* s = family_->find(key);
  if (s == nullptr)
    return 0;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i <= family_->buckets.size(); ++i) {
    n += s->cells[i].load(std::memory_order_relaxed);
  }
  return n;
}

double Histogram::sum(std::initializer_list<Label> labels) const {
  detail::Key key;
  family_->key_named(labels, key);
  const auto* s = family_->find(key);
  return s != nullptr ? detail::load_double(s->cells[family_->buckets.size() + 1]) : 0.0;
}

namespace metrics {

Registry::Registry() : impl_(std::make_unique<detail::RegistryImpl>(false)) {}
Registry::~Registry() = default;

Counter Registry::counter(std::string_view name, std::string_view help,
                          std::initializer_list<std::string_view> label_names,
                          std::string_view unit) {
  return Counter(detail::declare(*impl_, detail::MetricType::Counter, name, help, label_names, {},
                                 GaugeMode::All, unit));
}

Gauge Registry::gauge(std::string_view name, std::string_view help,
                      std::initializer_list<std::string_view> label_names, GaugeMode mode,
                      std::string_view unit) {
  return Gauge(
      detail::declare(*impl_, detail::MetricType::Gauge, name, help, label_names, {}, mode, unit));
}

Histogram Registry::histogram(std::string_view name, std::string_view help,
                              std::initializer_list<std::string_view> label_names,
                              const Buckets& buckets, std::string_view unit) {
  return Histogram(detail::declare(*impl_, detail::MetricType::Histogram, name, help, label_names,
                                   buckets, GaugeMode::All, unit));
}

std::string Registry::render(Format format) const {
  std::vector<const detail::Family*> families;
  {
    std::lock_guard lock(impl_->mu);
    families = impl_->in_order;
  }
  return detail::render_families(families, format, false);
}

}  // namespace metrics

namespace metrics {
const std::vector<double>& default_buckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                               0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};
  return kBuckets;
}
}  // namespace metrics

}  // namespace o11y
