#include "metrics/mp_own_file.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include "metrics/mp_format.hpp"
#include "metrics/native_histogram.hpp"

namespace o11y::detail::mp {

namespace {

std::string corrupt(const char* what, std::size_t start) {
  return std::string("corrupt ") + what + " at offset " + std::to_string(mp::kHeaderBytes + start);
}

// Every table of one series, read while its sequence holds still: a rebuild moving counts
// from one table to the next (odd sequence) takes microseconds, and is waited out for up to
// kMoveWait in case the writer was descheduled in the middle. A writer stopped longer, or
// gone (`wait` false), has its tables read as they are.
constexpr auto kMoveWait = std::chrono::milliseconds(50);

void read_series_tables(OwnFile& f, std::size_t first, std::size_t last, bool wait) {
  const std::uint64_t* seq = f.native_seq[f.native_tables[first].first];
  std::optional<std::chrono::steady_clock::time_point> deadline;
  for (;;) {
    const std::uint64_t before = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    f.native_read.clear();
    for (std::size_t t = first; t < last; ++t) {
      const char* rec = f.native_tables[t].second;
      std::int32_t schema = 0;
      std::uint32_t capacity = 0;
      std::memcpy(&schema, rec + 12, 4);
      std::memcpy(&capacity, rec + 16, 4);
      const char* table = rec + mp::kNativeTableHeaderBytes;
      // NOLINTNEXTLINE(*-reinterpret-cast): u32 keys, then u64 counts, 8-byte aligned
      const auto* keys = reinterpret_cast<const std::uint32_t*>(table);
      // NOLINTNEXTLINE(*-reinterpret-cast)
      const auto* counts =
          reinterpret_cast<const std::uint64_t*>(table + native_counts_offset(capacity));
      for (std::uint32_t i = 0; i < capacity; ++i) {
        const std::uint32_t stored = __atomic_load_n(keys + i, __ATOMIC_ACQUIRE);
        const std::uint64_t n = __atomic_load_n(counts + i, __ATOMIC_RELAXED);
        if (stored == 0 || n == 0)
          continue;
        const auto [index, negative] = native_key(stored);
        f.native_read.push_back({schema, index, negative, n});
      }
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    const std::uint64_t after = __atomic_load_n(seq, __ATOMIC_RELAXED);
    if ((before == after && (before & 1U) == 0) || !wait)
      return;
    const auto now = std::chrono::steady_clock::now();
    if (!deadline)
      deadline = now + kMoveWait;
    else if (now >= *deadline)
      return;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

// The native histogram tables merge() found, series by series.
void merge_native_tables(OwnFile& f, Aggregate& agg, bool writer_running) {
  // A series' tables in the order they were made; the sort keeps it per series.
  std::stable_sort(f.native_tables.begin(), f.native_tables.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t first = 0; first < f.native_tables.size();) {
    std::size_t last = first + 1;
    while (last < f.native_tables.size() &&
           f.native_tables[last].first == f.native_tables[first].first)
      ++last;
    read_series_tables(f, first, last, writer_running);
    const std::uint32_t series = f.series_agg[f.native_tables[first].first];
    for (const auto& b : f.native_read)
      agg.add_native(series, b.schema, b.index, b.negative, b.n);
    first = last;
  }
}

}  // namespace

std::optional<std::string> validate(const Mapping& map, OwnFile& f, FileInfo& info) {
  const auto size = map.size();
  const char* base = map.data();
  mp::Header h{};
  std::memcpy(&h, base, sizeof h);
  if (std::memcmp(h.magic, mp::kMagic, sizeof h.magic) != 0)
    return std::string("not an o11y multiprocess file");
  if (h.byte_order == 0x04030201U)
    return std::string("written on a machine of the other byte order");
  if (h.byte_order != mp::kByteOrderMark)
    return std::string("bad byte-order mark");
  if (h.version != mp::kVersion) {
    return "format version " + std::to_string(h.version) + " (this reader knows " +
           std::to_string(mp::kVersion) + ")";
  }
  const std::uint64_t used =
      __atomic_load_n(&reinterpret_cast<const mp::Header*>(base)->used, __ATOMIC_ACQUIRE);
  if (used > size - mp::kHeaderBytes) {
    return "truncated: header promises " + std::to_string(used) + " bytes of records, file has " +
           std::to_string(size - mp::kHeaderBytes);
  }
  f.used = static_cast<std::size_t>(used);
  f.nfamilies = 0;
  f.series_family.clear();
  info.pid = static_cast<int>(h.pid);
  info.running = process_alive(info.pid, h.start_ticks);
  info.live = (h.flags & mp::kFlagDead) == 0 && info.running;
  info.created_ns = h.created_unix_ns;
  info.absorbed.clear();

  Cursor c(base + mp::kHeaderBytes, f.used);
  while (c.left() > 0) {
    const std::size_t start = c.pos();
    std::uint32_t kind = 0;
    std::uint32_t bytes = 0;
    if (!c.u32(kind) || !c.u32(bytes) || bytes < 8 || bytes % 8 != 0 || bytes > c.left() + 8)
      return corrupt("record", start);
    Cursor r(base + mp::kHeaderBytes + start, bytes);
    r.skip(8);
    if (kind == static_cast<std::uint32_t>(mp::RecordKind::Family)) {
      if (f.families.size() == f.nfamilies)
        f.families.emplace_back();
      FamilyMeta& m = f.families[f.nfamilies];
      std::uint32_t id = 0;
      std::uint32_t shape = 0;
      std::uint32_t nbuckets = 0;
      if (!r.u32(id) || id != f.nfamilies || !r.u32(shape) || !r.u32(nbuckets) || !r.str(m.name) ||
          !r.str(m.help))
        return corrupt("family record", start);
      const auto type = shape & 0xFFU;
      const auto mode = (shape >> 8U) & 0xFFU;
      const auto nlabels = shape >> 16U;
      if (type > 2 || mode > static_cast<std::uint32_t>(GaugeMode::LiveMostRecent) ||
          nlabels > kMaxLabels)
        return corrupt("family record", start);
      m.type = static_cast<MetricType>(type);
      m.native = false;  // unless a NativeFamily record follows
      // Counters merge under their base name, as Python names them.
      if (m.type == MetricType::Counter && m.name.size() > 6 && m.name.ends_with("_total"))
        m.name.resize(m.name.size() - 6);
      m.mode = static_cast<GaugeMode>(mode);
      m.labels.resize(nlabels);
      for (auto& l : m.labels) {
        if (!r.str(l))
          return corrupt("family record", start);
      }
      if (!r.align8() || r.left() < 8ULL * nbuckets)
        return corrupt("family record", start);
      m.buckets.resize(nbuckets);
      if (nbuckets > 0)
        std::memcpy(m.buckets.data(), r.here(), 8ULL * nbuckets);
      ++f.nfamilies;
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::Series)) {
      std::uint32_t family = 0;
      std::uint32_t ncells = 0;
      if (!r.u32(family) || family >= f.nfamilies || !r.u32(ncells))
        return corrupt("series record", start);
      const FamilyMeta& m = f.families[family];
      std::string_view v;
      for (std::size_t i = 0; i < m.labels.size(); ++i) {
        if (!r.view(v))
          return corrupt("series record", start);
      }
      if (ncells != m.cells() || !r.align8() || r.left() < 8ULL * ncells)
        return corrupt("series record", start);
      f.series_family.push_back(family);
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::Exemplars)) {
      std::uint32_t index = 0;
      std::uint32_t n = 0;
      if (!r.u32(index) || index >= f.series_family.size() || !r.u32(n) ||
          n != f.families[f.series_family[index]].exemplar_slots() ||
          r.left() < mp::kExemplarBytes * n)
        return corrupt("exemplar record", start);
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::NativeFamily)) {
      std::uint32_t id = 0;
      std::uint32_t schema = 0;
      std::uint32_t max_buckets = 0;
      std::uint32_t pad = 0;
      double zero_threshold = 0;
      if (bytes != mp::kNativeFamilyBytes || !r.u32(id) || f.nfamilies == 0 ||
          id != f.nfamilies - 1 || !r.u32(schema) || !r.u32(max_buckets) || !r.u32(pad) ||
          r.left() < 8)
        return corrupt("native family record", start);
      std::memcpy(&zero_threshold, r.here(), 8);
      FamilyMeta& m = f.families[id];
      const auto s = static_cast<std::int32_t>(schema);
      if (m.type != MetricType::Histogram || m.native || s < kMinSchema || s > kMaxSchema ||
          max_buckets == 0 || !(zero_threshold >= 0) || std::isinf(zero_threshold))
        return corrupt("native family record", start);
      m.native = true;
      m.schema = s;
      m.max_buckets = max_buckets;
      m.zero_threshold = zero_threshold;
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::NativeTable)) {
      std::uint32_t index = 0;
      std::uint32_t schema = 0;
      std::uint32_t capacity = 0;
      if (!r.u32(index) || index >= f.series_family.size() ||
          !f.families[f.series_family[index]].native || !r.u32(schema) ||
          static_cast<std::int32_t>(schema) < kMinSchema ||
          static_cast<std::int32_t>(schema) > kMaxSchema || !r.u32(capacity) || capacity < 2 ||
          capacity > mp::kMaxNativeCapacity || (capacity & (capacity - 1)) != 0 ||
          bytes != mp::kNativeTableHeaderBytes + native_table_bytes(capacity))
        return corrupt("native table record", start);
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::Absorbed)) {
      std::uint32_t count = 0;
      if (!r.u32(count))
        return corrupt("absorbed record", start);
      for (std::uint32_t i = 0; i < count; ++i) {
        std::string absorbed;
        if (!r.str(absorbed))
          return corrupt("absorbed record", start);
        info.absorbed.push_back(std::move(absorbed));
      }
    } else {
      return "unknown record kind " + std::to_string(kind) + " at offset " +
             std::to_string(mp::kHeaderBytes + start);
    }
    c.skip(bytes - 8);
  }
  return std::nullopt;
}

void merge(const Mapping& map, OwnFile& f, const FileInfo& info, Aggregate& agg) {
  f.bindings.resize(f.nfamilies);
  for (std::size_t i = 0; i < f.nfamilies; ++i)
    f.bindings[i] = agg.bind(f.families[i], info.pid);
  f.series_agg.clear();
  f.native_seq.clear();
  f.native_tables.clear();
  const char* base = map.data() + mp::kHeaderBytes;
  Cursor c(base, f.used);
  while (c.left() > 0) {
    const std::size_t start = c.pos();
    std::uint32_t kind = 0;
    std::uint32_t bytes = 0;
    c.u32(kind);
    c.u32(bytes);
    Cursor r(base + start, bytes);
    r.skip(8);
    if (kind == static_cast<std::uint32_t>(mp::RecordKind::Series)) {
      std::uint32_t family = 0;
      std::uint32_t ncells = 0;
      r.u32(family);
      r.u32(ncells);
      const auto& b = f.bindings[family];
      f.native_seq.push_back(nullptr);
      if (b.family == Aggregate::kNone) {
        f.series_agg.push_back(Aggregate::kNone);
      } else {
        f.values.resize(f.families[family].labels.size());
        for (auto& v : f.values)
          r.view(v);
        r.align8();
        // 8-aligned: records are, from a page-aligned 64-byte header.
        const auto* cells = reinterpret_cast<const std::uint64_t*>(r.here());
        f.series_agg.push_back(agg.add(b, f.values, std::span<const std::uint64_t>(cells, ncells),
                                       info.pid, info.live, info.created_ns));
        if (f.families[family].native)
          f.native_seq.back() = cells + ncells - 1;  // the last cell
      }
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::Exemplars)) {
      std::uint32_t index = 0;
      std::uint32_t n = 0;
      r.u32(index);
      r.u32(n);
      const std::uint32_t series = f.series_agg[index];
      if (series != Aggregate::kNone) {
        // The writer may be updating them: the sequence lock says whether a read is whole.
        const auto* slots = reinterpret_cast<const Exemplar*>(r.here());
        for (std::uint32_t i = 0; i < n; ++i) {
          Exemplar::Snapshot snap{};
          if (slots[i].read(snap))
            agg.add_exemplar(series, i, snap);
        }
      }
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::NativeTable)) {
      std::uint32_t index = 0;
      r.u32(index);
      if (f.series_agg[index] != Aggregate::kNone)
        f.native_tables.emplace_back(index, base + start);
    }
    c.skip(bytes - 8);
  }
  merge_native_tables(f, agg, info.running);
}

}  // namespace o11y::detail::mp
