#include "metrics/mp_aggregate.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>

#include "base/internal_error.hpp"
#include "base/words.hpp"
#include "metrics/mp_format.hpp"
#include "metrics/native_histogram.hpp"
#include "metrics/process_metrics.hpp"

namespace o11y::detail::mp {
namespace {

constexpr std::uint64_t kSeed = 0xcbf29ce484222325ULL;

double load_bits(const std::uint64_t* cells, std::size_t i) noexcept {
  return std::bit_cast<double>(__atomic_load_n(cells + i, __ATOMIC_RELAXED));
}
std::uint64_t load_raw(const std::uint64_t* cells, std::size_t i) noexcept {
  return __atomic_load_n(cells + i, __ATOMIC_RELAXED);
}

// Cells and exemplar slots for the families render() builds: plain heap blocks that live as
// long as the render.
class RenderStore final : public ValueStore {
 public:
  Cell* allocate(const Family& /*f*/, std::span<const std::string> /*v*/, std::size_t n) override {
    blocks_.push_back(std::make_unique<Cell[]>(n));
    for (std::size_t i = 0; i < n; ++i)
      blocks_.back()[i].store(0, std::memory_order_relaxed);
    return blocks_.back().get();
  }
  Exemplar* allocate_exemplars(const Family& /*f*/, const Cell* /*cells*/, std::size_t n) override {
    exemplars_.push_back(std::make_unique<Exemplar[]>(n));
    return exemplars_.back().get();
  }
  [[nodiscard]] bool in_process() const noexcept override { return true; }

 private:
  std::vector<std::unique_ptr<Cell[]>> blocks_;
  std::vector<std::unique_ptr<Exemplar[]>> exemplars_;
};

std::string counter_declared(const FamilyMeta& m) {
  return m.type == MetricType::Counter ? m.name + "_total" : m.name;
}

}  // namespace

void Aggregate::clear() {
  families_.clear();
  by_name_.clear();
  counted_.clear();
  series_.clear();
  std::fill(slots_.begin(), slots_.end(), 0U);
  values_.clear();
  cells_.clear();
  exemplars_.clear();
  natives_.clear();
  pid_texts_.clear();
  last_pid_ = -1;
  earliest_start_ns_ = 0;
  if (purpose_ == Purpose::Scrape)  // a compaction does not check names
    claims_.reset();
}

void Aggregate::left_out(const std::string& key, const std::string& why) {
  if (purpose_ == Purpose::Compact) {
    report_internal_error("metrics", "compaction: " + why);
    return;
  }
  // Counted once per scrape however many files repeat it; reported once per process.
  if (std::find(counted_.begin(), counted_.end(), key) == counted_.end()) {
    counted_.push_back(key);
    skip_clashing_family(key, why);
  }
}

Aggregate::Binding Aggregate::bind(const FamilyMeta& meta, int pid) {
  Binding b;
  if (meta.labels.size() > kMaxLabels) {
    left_out("labels " + meta.name,
             "multiprocess metric \"" + meta.name + "\" of pid " + std::to_string(pid) +
                 " declares " + std::to_string(meta.labels.size()) + " labels, more than " +
                 std::to_string(kMaxLabels) + "; its series are left out of the scrape");
    return b;
  }
  const auto kind = exposed_kind(meta.type);
  if (auto it = by_name_.find(meta.name); it != by_name_.end()) {
    if (it->second == kNone)
      return b;  // left out already
    const Fam& f = families_[it->second];
    if (f.meta.same_shape(meta)) {
      b.family = it->second;
      return b;
    }
    // Python keeps label names sorted, we keep declaration order: the same set in another
    // order merges, with the values reordered.
    if (f.meta.type == meta.type && f.meta.mode == meta.mode && f.meta.buckets == meta.buckets &&
        f.meta.same_native(meta) && f.meta.labels.size() == meta.labels.size() &&
        std::is_permutation(f.meta.labels.begin(), f.meta.labels.end(), meta.labels.begin())) {
      b.family = it->second;
      b.reorder = true;
      for (std::size_t i = 0; i < f.meta.labels.size(); ++i) {
        const auto at = std::find(meta.labels.begin(), meta.labels.end(), f.meta.labels[i]);
        b.from[i] = static_cast<std::uint8_t>(at - meta.labels.begin());
      }
      return b;
    }
    left_out("shape " + meta.name,
             "multiprocess metric " +
                 ExposedNames::describe(kind, counter_declared(meta), meta.name) + " of pid " +
                 std::to_string(pid) +
                 " is left out of the scrape: a file read before it declares that name as " +
                 ExposedNames::describe(exposed_kind(f.meta.type), counter_declared(f.meta),
                                        f.meta.name) +
                 " with another type, labels or buckets");
    return b;
  }
  // A scrape must stay one family per name; a compaction keeps what it finds (see Purpose).
  if (purpose_ == Purpose::Scrape && claim_names(meta, kind, pid) == kNone) {
    by_name_.emplace(meta.name, kNone);
    return b;
  }
  const auto id = static_cast<std::uint32_t>(families_.size());
  Fam& f = families_.emplace_back();
  f.meta = meta;
  f.per_pid = meta.type == MetricType::Gauge &&
              (meta.mode == GaugeMode::All || meta.mode == GaugeMode::LiveAll);
  f.nvalues = meta.labels.size() + (f.per_pid ? 1 : 0);
  f.ncells = meta.type == MetricType::Histogram ? meta.cells() : 1;
  by_name_.emplace(meta.name, id);
  if (purpose_ == Purpose::Scrape)
    claims_.claim(kind, counter_declared(meta), meta.name);
  b.family = id;
  return b;
}

std::uint32_t Aggregate::claim_names(const FamilyMeta& meta, ExposedKind kind, int pid) {
  std::string at;
  const auto* owner = claims_.clash(ExposedNames(kind, meta.name), at);
  if (owner == nullptr)
    return 0;
  left_out("clash " + meta.name + " " + owner->declared,
           "multiprocess metric " +
               ExposedNames::describe(kind, counter_declared(meta), meta.name) + " of pid " +
               std::to_string(pid) + " is left out of the scrape: \"" + at +
               "\" is already exposed by " +
               ExposedNames::describe(owner->kind, owner->declared, owner->base));
  return kNone;
}

std::string_view Aggregate::pid_text(int pid) {
  if (pid != last_pid_) {
    last_pid_ = pid;
    last_pid_text_ = pid_texts_.emplace_back(std::to_string(pid));
  }
  return last_pid_text_;
}

void Aggregate::grow_table() {
  const std::size_t capacity = slots_.empty() ? 64 : slots_.size() * 2;
  slots_.assign(capacity, 0U);
  const std::size_t mask = capacity - 1;
  for (std::size_t s = 0; s < series_.size(); ++s) {
    std::size_t i = series_[s].hash & mask;
    while (slots_[i] != 0)
      i = (i + 1) & mask;
    slots_[i] = static_cast<std::uint32_t>(s + 1);
  }
}

std::uint32_t Aggregate::find_or_insert(std::uint32_t family, const std::string_view* key,
                                        std::size_t n, std::uint64_t hash) {
  if ((series_.size() + 1) * 2 > slots_.size())
    grow_table();
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  for (; slots_[i] != 0; i = (i + 1) & mask) {
    const Ser& s = series_[slots_[i] - 1];
    if (s.hash != hash || s.family != family)
      continue;
    std::size_t k = 0;
    while (k < n && short_equal(values_[s.values + k], key[k]))
      ++k;
    if (k == n)
      return slots_[i] - 1;
  }
  const auto id = static_cast<std::uint32_t>(series_.size());
  Fam& f = families_[family];
  series_.push_back(Ser{hash, family, static_cast<std::uint32_t>(values_.size()),
                        static_cast<std::uint32_t>(cells_.size()), kNone, kNone,
                        -std::numeric_limits<double>::infinity(), 0, false});
  values_.insert(values_.end(), key, key + n);
  cells_.resize(cells_.size() + f.ncells, 0.0);
  f.series.push_back(id);
  slots_[i] = id + 1;
  return id;
}

std::uint32_t Aggregate::add(const Binding& b, std::span<const std::string_view> values,
                             std::span<const std::uint64_t> raw, int pid, bool live,
                             std::uint64_t start_ns) {
  if (b.family == kNone)
    return kNone;
  const Fam& f = families_[b.family];
  const FamilyMeta& meta = f.meta;
  // A damaged file can give one series fewer values or cells than its family declares.
  if (values.size() != meta.labels.size() || raw.size() != meta.cells())
    return kNone;
  const std::uint64_t* cells = raw.data();
  if (meta.type == MetricType::Gauge && is_live_mode(meta.mode) && !live)
    return kNone;
  std::array<std::string_view, kMaxLabels + 1> key;
  const std::size_t nlabels = meta.labels.size();
  std::uint64_t h = kSeed ^ b.family;
  for (std::size_t i = 0; i < nlabels; ++i) {
    key[i] = b.reorder ? values[b.from[i]] : values[i];
    h = mix_word(h, short_word(key[i]));
  }
  if (f.per_pid) {
    key[nlabels] = pid_text(pid);
    h = mix_word(h, short_word(key[nlabels]));
  }
  const std::uint32_t id = find_or_insert(b.family, key.data(), f.nvalues, h);
  Ser& s = series_[id];
  if (start_ns != 0) {
    s.start_ns = s.start_ns == 0 ? start_ns : std::min(s.start_ns, start_ns);
    earliest_start_ns_ =
        earliest_start_ns_ == 0 ? start_ns : std::min(earliest_start_ns_, start_ns);
  }
  double* out = cells_.data() + s.cells;
  switch (meta.type) {
    case MetricType::Counter:
      out[0] += load_bits(cells, 0);
      break;
    case MetricType::Histogram: {
      const std::size_t nb = meta.buckets.size();
      for (std::size_t i = 0; i <= nb; ++i)
        out[i] += static_cast<double>(load_raw(cells, i));
      out[nb + 1] += load_bits(cells, nb + 1);
      if (meta.native)  // the zero bucket; the buckets come with the file's tables
        out[nb + 2] += static_cast<double>(load_raw(cells, nb + 2));
      break;
    }
    case MetricType::Gauge: {
      const double x = load_bits(cells, 0);
      switch (meta.mode) {
        case GaugeMode::Min:
        case GaugeMode::LiveMin:
          out[0] = s.has ? std::min(out[0], x) : x;
          break;
        case GaugeMode::Max:
        case GaugeMode::LiveMax:
          out[0] = s.has ? std::max(out[0], x) : x;
          break;
        case GaugeMode::Sum:
        case GaugeMode::LiveSum:
          out[0] += x;
          break;
        case GaugeMode::MostRecent:
        case GaugeMode::LiveMostRecent: {
          const auto t = static_cast<double>(load_raw(cells, 1));
          if (!s.has || t >= s.time) {
            out[0] = x;
            s.time = t;
          }
          break;
        }
        case GaugeMode::All:
        case GaugeMode::LiveAll:
          out[0] = x;
          break;
      }
      s.has = true;
      break;
    }
  }
  return id;
}

void Aggregate::add_native(std::uint32_t series, int schema, int index, bool negative,
                           std::uint64_t n) {
  if (series == kNone || n == 0 || !families_[series_[series].family].meta.native)
    return;
  Ser& s = series_[series];
  if (s.native == kNone) {
    s.native = static_cast<std::uint32_t>(natives_.size());
    natives_.push_back(NativeAcc{schema, {}});
  }
  NativeAcc& a = natives_[s.native];
  // One schema for all: the lowest. A finer bucket lies inside exactly one coarser one.
  const auto lower = [](int key, int from, int to) {
    return lowered_index(key >> 1, from, to) * 2 + (key & 1);
  };
  if (schema < a.schema) {
    for (auto& b : a.buckets)
      b.first = lower(b.first, a.schema, schema);
    a.schema = schema;
  }
  a.buckets.emplace_back(lower(index * 2 + (negative ? 1 : 0), schema, a.schema), n);
}

std::vector<std::pair<int, std::uint64_t>> Aggregate::merged_native(const NativeAcc& a) {
  auto b = a.buckets;
  std::sort(b.begin(), b.end());
  std::size_t out = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (out > 0 && b[out - 1].first == b[i].first)
      b[out - 1].second += b[i].second;
    else
      b[out++] = b[i];
  }
  b.resize(out);
  return b;
}

void Aggregate::add_exemplar(std::uint32_t series, std::size_t slot,
                             const Exemplar::Snapshot& snap) {
  Ser& s = series_[series];
  const std::size_t n = families_[s.family].meta.exemplar_slots();
  if (slot >= n)
    return;
  if (s.exemplars == kNone) {
    s.exemplars = static_cast<std::uint32_t>(exemplars_.size());
    exemplars_.resize(exemplars_.size() + n);
  }
  auto& cur = exemplars_[s.exemplars + slot];
  if (!cur || snap.time_ns >= cur->time_ns)
    cur = snap;
}

std::vector<std::uint32_t> Aggregate::families_by_name() const {
  std::vector<std::uint32_t> by_name(families_.size());
  for (std::uint32_t i = 0; i < by_name.size(); ++i)
    by_name[i] = i;
  std::sort(by_name.begin(), by_name.end(), [&](std::uint32_t a, std::uint32_t b) {
    return families_[a].meta.name < families_[b].meta.name;
  });
  return by_name;
}

std::string Aggregate::render(metrics::Format fmt, std::uint64_t files_read,
                              std::uint64_t files_skipped_total) const {
  std::string out;
  with_families(files_read, files_skipped_total, [&](const std::vector<const Family*>& order) {
    out = render_families(order, fmt, false);
  });
  return out;
}

void Aggregate::with_families(
    std::uint64_t files_read, std::uint64_t files_skipped_total,
    const std::function<void(const std::vector<const Family*>&)>& use) const {
  const auto by_name = families_by_name();

  RenderStore store;
  std::vector<std::unique_ptr<Family>> owned;
  std::vector<const Family*> order;
  std::vector<std::string_view> views;
  for (const std::uint32_t fi : by_name) {
    const Fam& a = families_[fi];
    auto f = std::make_unique<Family>();
    f->name = counter_declared(a.meta);
    f->base_name = a.meta.name;
    f->help = a.meta.help;
    f->type = a.meta.type;
    f->mode = GaugeMode::Sum;  // the aggregate is one value per series
    f->unlimited = true;
    auto label_names = a.meta.labels;
    if (a.per_pid)
      label_names.emplace_back("pid");
    f->set_label_names(std::move(label_names));
    f->buckets = a.meta.buckets;
    f->native = a.meta.native;
    f->native_schema = a.meta.schema;
    f->native_max_buckets = a.meta.max_buckets;
    f->native_zero_threshold = a.meta.zero_threshold;
    f->store = &store;
    for (const std::uint32_t si : a.series) {
      const Ser& s = series_[si];
      views.assign(values_.data() + s.values, values_.data() + s.values + a.nvalues);
      Series* out = f->get(std::span<const std::string_view>(views));
      // Unknown (a Python file's): the exporter's start, as for any series.
      out->created_ns = s.start_ns;
      const double* cells = cells_.data() + s.cells;
      if (s.exemplars != kNone) {
        if (Exemplar* e = f->exemplars_for(*out)) {
          for (std::size_t i = 0; i < a.meta.exemplar_slots(); ++i) {
            if (const auto& x = exemplars_[s.exemplars + i])
              e[i].write(x->trace_hi, x->trace_lo, x->span, x->value, x->time_ns);
          }
        }
      }
      if (a.meta.type == MetricType::Histogram) {
        const std::size_t nb = a.meta.buckets.size();
        for (std::size_t i = 0; i <= nb; ++i)
          out->cells[i].store(static_cast<std::uint64_t>(cells[i]), std::memory_order_relaxed);
        store_double(out->cells[nb + 1], cells[nb + 1]);
        if (a.meta.native) {
          out->cells[nb + 2].store(static_cast<std::uint64_t>(cells[nb + 2]),
                                   std::memory_order_relaxed);
          if (s.native != kNone) {
            // At the lowest schema any process had, which may be below the declared one.
            const NativeAcc& acc = natives_[s.native];
            out->native = std::make_unique<NativeBuckets>(
                acc.schema, a.meta.max_buckets, a.meta.zero_threshold,
                NativeStorage{&out->cells[nb + 2], &out->cells[nb + 3], {}});
            for (const auto& [key, n] : merged_native(acc))
              out->native->add(key >> 1, acc.schema, (key & 1) != 0, n);
          }
        }
      } else {
        store_double(out->cells[0], cells[0]);
      }
    }
    order.push_back(f.get());
    owned.push_back(std::move(f));
  }
  // How the scrapes of this process went, as metrics of their own.
  auto single = [&](const char* base, const char* help, MetricType type, double v) {
    auto f = std::make_unique<Family>();
    f->base_name = base;
    f->name = type == MetricType::Counter ? f->base_name + "_total" : f->base_name;
    f->help = help;
    f->type = type;
    f->store = &store;
    store_double(f->get(std::span<const std::string_view>{})->cells[0], v);
    order.push_back(f.get());
    owned.push_back(std::move(f));
  };
  single("o11y_multiproc_files_skipped",
         "Multiprocess files left out of a scrape because they could not be read",
         MetricType::Counter, static_cast<double>(files_skipped_total));
  single("o11y_multiproc_files", "Multiprocess files aggregated by the last scrape",
         MetricType::Gauge, static_cast<double>(files_read));
  single("o11y_metric_families_skipped", kSkippedFamiliesHelp, MetricType::Counter,
         static_cast<double>(families_skipped()));
  use(order);
}

std::string Aggregate::archive(const std::vector<std::string>& absorbed) const {
  const auto by_name = families_by_name();
  // Counters, histograms and the combining gauge modes of exited processes. Per-process gauges
  // (all, liveall) and live-mode ones describe processes that are gone: dropped.
  std::string body;
  std::uint32_t id = 0;
  std::uint32_t ordinal = 0;  // of the series records written, as NativeTable refers to them
  std::vector<std::string_view> views;
  for (const std::uint32_t fi : by_name) {
    const Fam& a = families_[fi];
    const auto& m = a.meta;
    if (m.type == MetricType::Gauge && (a.per_pid || is_live_mode(m.mode)))
      continue;
    const std::size_t fbytes = family_record_size(m.name, m.help, m.labels, m.buckets.size());
    const std::size_t at = body.size();
    body.resize(at + fbytes);
    const std::uint32_t shape = static_cast<std::uint32_t>(m.type) |
                                (static_cast<std::uint32_t>(m.mode) << 8U) |
                                (static_cast<std::uint32_t>(m.labels.size()) << 16U);
    write_family_record(body.data() + at, fbytes, id, shape, m.name, m.help, m.labels, m.buckets);
    if (m.native) {
      const std::size_t nat = body.size();
      body.resize(nat + kNativeFamilyBytes);
      write_native_family_record(body.data() + nat, id, m.schema, m.max_buckets, m.zero_threshold);
    }
    const std::size_t ncells = m.cells();
    for (const std::uint32_t si : a.series) {
      const Ser& s = series_[si];
      views.assign(values_.data() + s.values, values_.data() + s.values + a.nvalues);
      const std::size_t sbytes = series_cells_offset(views) + 8 * ncells;
      const std::size_t sat = body.size();
      body.resize(sat + sbytes);
      char* cells = write_series_record(body.data() + sat, sbytes, id, ncells, views);
      const double* v = cells_.data() + s.cells;
      for (std::size_t i = 0; i < ncells; ++i) {
        std::uint64_t bits = 0;
        if (m.type == MetricType::Histogram && i <= m.buckets.size()) {
          bits = static_cast<std::uint64_t>(v[i]);  // bucket counts are integers
        } else if (m.native && i >= m.buckets.size() + 2) {
          // The zero bucket's count; the sequence is 0: nothing moves in an archive.
          bits = i == m.buckets.size() + 2 ? static_cast<std::uint64_t>(v[i]) : 0;
        } else if (m.type == MetricType::Gauge && i == 1) {
          bits = s.has ? static_cast<std::uint64_t>(s.time) : 0;  // most-recent: when set
        } else {
          bits = std::bit_cast<std::uint64_t>(v[i]);
        }
        std::memcpy(cells + 8 * i, &bits, 8);
      }
      if (s.native != kNone) {
        // One table holding every bucket, one per slot from the first: readers sum the slots.
        const NativeAcc& acc = natives_[s.native];
        const auto merged = merged_native(acc);
        std::size_t capacity = 2;
        while (capacity < merged.size())
          capacity *= 2;
        const std::size_t tbytes = kNativeTableHeaderBytes + native_table_bytes(capacity);
        const std::size_t tat = body.size();
        body.resize(tat + tbytes);
        char* rec = body.data() + tat;
        write_native_table_header(rec, tbytes, ordinal, acc.schema,
                                  static_cast<std::uint32_t>(capacity));
        char* keys = rec + kNativeTableHeaderBytes;
        char* counts = keys + native_counts_offset(capacity);
        for (std::size_t k = 0; k < merged.size(); ++k) {
          const std::uint32_t stored =
              native_stored_key(merged[k].first >> 1, (merged[k].first & 1) != 0);
          std::memcpy(keys + 4 * k, &stored, 4);
          std::memcpy(counts + 8 * k, &merged[k].second, 8);
        }
      }
      ++ordinal;
    }
    ++id;
  }
  std::size_t abytes = 8 + 4;
  for (const auto& a : absorbed)
    abytes += 4 + a.size();
  abytes = pad8(abytes);
  const std::size_t aat = body.size();
  body.resize(aat + abytes);
  char* p = body.data() + aat;
  put_u32(p, static_cast<std::uint32_t>(RecordKind::Absorbed));
  put_u32(p, static_cast<std::uint32_t>(abytes));
  put_u32(p, static_cast<std::uint32_t>(absorbed.size()));
  for (const auto& a : absorbed)
    put_string(p, a);

  Header h{};
  std::memcpy(h.magic, kMagic, sizeof h.magic);
  h.version = kVersion;
  h.byte_order = kByteOrderMark;
  h.flags = kFlagDead;
  h.used = body.size();
  // Where the archived values began: an export of the directory keeps its start times.
  h.created_unix_ns = earliest_start_ns_;
  std::string file(reinterpret_cast<const char*>(&h), sizeof h);
  file += body;
  return file;
}

}  // namespace o11y::detail::mp
