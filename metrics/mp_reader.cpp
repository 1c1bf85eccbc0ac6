// Aggregates a multiprocess directory at scrape time. Every file is validated before any of it
// counts: a bad file is skipped, counted and reported, and the scrape goes on with the rest.
#include "metrics/mp_reader.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>

#include "context/internal_error.hpp"
#include "context/sys.hpp"
#include "metrics/family.hpp"
#include "metrics/foreign.hpp"
#include "metrics/mp_format.hpp"
#include "metrics/process_metrics.hpp"

namespace o11y::detail {
namespace {

std::atomic<std::uint64_t> g_files_skipped{0};  // NOLINT(*-avoid-non-const-global-*)

struct FamilyMeta {
  std::string name;
  std::string help;
  MetricType type = MetricType::Counter;
  GaugeMode mode = GaugeMode::All;
  std::vector<std::string> labels;
  std::vector<double> buckets;

  [[nodiscard]] bool same_shape(const FamilyMeta& o) const {
    return type == o.type && mode == o.mode && labels == o.labels && buckets == o.buckets;
  }
  [[nodiscard]] std::size_t cells() const {
    if (type == MetricType::Histogram)
      return buckets.size() + 2;
    return type == MetricType::Gauge &&
                   (mode == GaugeMode::MostRecent || mode == GaugeMode::LiveMostRecent)
               ? 2
               : 1;
  }
};

struct SeriesData {
  std::vector<std::optional<Exemplar::Snapshot>> exemplars;  // per slot, when the file has them
  std::uint32_t family = 0;
  std::vector<std::string_view> values;  // into the mapping, alive as long as the FileData
  std::vector<std::uint64_t> cells;      // raw bits
};

// One parsed file. Owns the read-only mapping its series' label values point into.
struct FileData {
  int pid = 0;
  bool live = true;     // for live-mode gauges: running and not marked dead
  bool running = true;  // the process that wrote it still exists (pid and start time)
  std::vector<FamilyMeta> families;
  std::vector<SeriesData> series;
  void* map = nullptr;
  std::size_t map_size = 0;
  std::deque<std::string> owned;      // label values parsed out of Python's JSON keys
  std::vector<std::string> absorbed;  // the archive only: files whose values it holds

  FileData() = default;
  ~FileData() {
    if (map != nullptr)
      ::munmap(map, map_size);
  }
  FileData(const FileData&) = delete;
  FileData& operator=(const FileData&) = delete;
  FileData(FileData&&) = delete;
  FileData& operator=(FileData&&) = delete;
};

// Bounds-checked cursor over one file's records.
class Cursor {
 public:
  Cursor(const char* p, std::size_t n) : p_(p), n_(n) {}
  bool u32(std::uint32_t& v) {
    if (n_ - pos_ < 4)
      return false;
    std::memcpy(&v, p_ + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool str(std::string& s) {
    std::string_view v;
    if (!view(v))
      return false;
    s.assign(v);
    return true;
  }
  bool view(std::string_view& s) {
    std::uint32_t len = 0;
    if (!u32(len) || n_ - pos_ < len)
      return false;
    s = std::string_view(p_ + pos_, len);
    pos_ += len;
    return true;
  }
  bool align8() {
    const std::size_t aligned = (pos_ + 7) & ~std::size_t{7};
    if (aligned > n_)
      return false;
    pos_ = aligned;
    return true;
  }
  [[nodiscard]] std::size_t pos() const { return pos_; }
  [[nodiscard]] std::size_t left() const { return n_ - pos_; }
  [[nodiscard]] const char* here() const { return p_ + pos_; }
  void skip(std::size_t k) { pos_ += k; }

 private:
  const char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

std::uint32_t exemplar_slots(const FamilyMeta& f) {
  if (f.type == MetricType::Counter)
    return 1;
  if (f.type == MetricType::Histogram)
    return static_cast<std::uint32_t>(f.buckets.size() + 1);
  return 0;
}

bool process_alive(int pid, std::uint64_t start_ticks) {
  if (pid <= 0)
    return false;
  const auto ticks = mp::process_start_ticks(pid);
  if (ticks == 0)
    return false;                                   // no such process
  return start_ticks == 0 || ticks == start_ticks;  // same pid, another process: reused
}

// Opens and maps a file read-only into out (unmapped with it), refusing symlinks, files of
// other users and anything but a regular file of at least min_size bytes. Returns the reason
// when it cannot.
std::optional<std::string> map_file(const std::string& path, std::size_t min_size, FileData& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return std::string("cannot open: ") + errno_text(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::string("not a regular file");
  }
  // Another local user must not be able to plant values: a file counts only when it belongs
  // to this user or to the directory's owner (a root master reading workers that dropped
  // privileges to the directory's user).
  if (st.st_uid != ::geteuid()) {
    struct stat dir_st {};
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    if (::stat(dir.c_str(), &dir_st) != 0 || st.st_uid != dir_st.st_uid) {
      ::close(fd);
      return "owned by uid " + std::to_string(st.st_uid) +
             ", neither this user nor the directory's owner";
    }
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < min_size) {
    ::close(fd);
    return "truncated: " + std::to_string(size) + " bytes, shorter than the header";
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED)
    return std::string("cannot map: ") + errno_text(errno);
  out.map = map;
  out.map_size = size;
  return std::nullopt;
}

// Parses one file completely, or returns the reason it is unusable.
std::optional<std::string> read_file(const std::string& path, FileData& out) {
  if (auto why = map_file(path, mp::kHeaderBytes, out))
    return why;
  const auto size = out.map_size;
  const auto* base = static_cast<const char*>(out.map);

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
  out.pid = static_cast<int>(h.pid);
  out.running = process_alive(out.pid, h.start_ticks);
  out.live = (h.flags & mp::kFlagDead) == 0 && out.running;

  Cursor c(base + mp::kHeaderBytes, static_cast<std::size_t>(used));
  while (c.left() > 0) {
    const std::size_t start = c.pos();
    std::uint32_t kind = 0;
    std::uint32_t bytes = 0;
    if (!c.u32(kind) || !c.u32(bytes) || bytes < 8 || bytes % 8 != 0 || bytes > c.left() + 8) {
      return "corrupt record at offset " + std::to_string(mp::kHeaderBytes + start);
    }
    Cursor r(base + mp::kHeaderBytes + start, bytes);
    r.skip(8);
    if (kind == static_cast<std::uint32_t>(mp::RecordKind::Family)) {
      FamilyMeta f;
      std::uint32_t id = 0;
      std::uint32_t shape = 0;
      std::uint32_t nbuckets = 0;
      if (!r.u32(id) || id != out.families.size() || !r.u32(shape) || !r.u32(nbuckets) ||
          !r.str(f.name) || !r.str(f.help)) {
        return "corrupt family record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      const auto type = shape & 0xFFU;
      const auto mode = (shape >> 8U) & 0xFFU;
      const auto nlabels = shape >> 16U;
      if (type > 2 || mode > static_cast<std::uint32_t>(GaugeMode::LiveMostRecent) ||
          nlabels > kMaxLabels) {
        return "corrupt family record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      f.type = static_cast<MetricType>(type);
      // Counters merge under their base name, as Python names them.
      if (f.type == MetricType::Counter && f.name.size() > 6 && f.name.ends_with("_total")) {
        f.name.resize(f.name.size() - 6);
      }
      f.mode = static_cast<GaugeMode>(mode);
      f.labels.resize(nlabels);
      for (auto& l : f.labels) {
        if (!r.str(l))
          return "corrupt family record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      if (!r.align8() || r.left() < 8ULL * nbuckets) {
        return "corrupt family record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      f.buckets.resize(nbuckets);
      if (nbuckets > 0)
        std::memcpy(f.buckets.data(), r.here(), 8ULL * nbuckets);
      out.families.push_back(std::move(f));
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::Series)) {
      SeriesData s;
      std::uint32_t ncells = 0;
      if (!r.u32(s.family) || s.family >= out.families.size() || !r.u32(ncells)) {
        return "corrupt series record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      const FamilyMeta& f = out.families[s.family];
      s.values.resize(f.labels.size());
      for (auto& v : s.values) {
        if (!r.view(v))
          return "corrupt series record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      if (ncells != f.cells() || !r.align8() || r.left() < 8ULL * ncells) {
        return "corrupt series record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      // Atomic 8-byte loads: the writer may be updating these cells right now.
      const auto* cells = reinterpret_cast<const std::uint64_t*>(r.here());
      s.cells.resize(ncells);
      for (std::size_t i = 0; i < ncells; ++i)
        s.cells[i] = __atomic_load_n(cells + i, __ATOMIC_RELAXED);
      out.series.push_back(std::move(s));
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::Exemplars)) {
      std::uint32_t index = 0;
      std::uint32_t n = 0;
      if (!r.u32(index) || index >= out.series.size() || !r.u32(n) ||
          n != exemplar_slots(out.families[out.series[index].family]) ||
          r.left() < mp::kExemplarBytes * n) {
        return "corrupt exemplar record at offset " + std::to_string(mp::kHeaderBytes + start);
      }
      // The writer may be updating them: the sequence lock says whether a read is whole.
      const auto* slots = reinterpret_cast<const Exemplar*>(r.here());
      auto& ex = out.series[index].exemplars;
      ex.assign(n, std::nullopt);
      for (std::uint32_t i = 0; i < n; ++i) {
        Exemplar::Snapshot snap{};
        if (slots[i].read(snap))
          ex[i] = snap;
      }
    } else if (kind == static_cast<std::uint32_t>(mp::RecordKind::Absorbed)) {
      std::uint32_t count = 0;
      if (!r.u32(count))
        return "corrupt absorbed record at offset " + std::to_string(mp::kHeaderBytes + start);
      for (std::uint32_t i = 0; i < count; ++i) {
        std::string absorbed;
        if (!r.str(absorbed)) {
          return "corrupt absorbed record at offset " + std::to_string(mp::kHeaderBytes + start);
        }
        out.absorbed.push_back(std::move(absorbed));
      }
    } else {
      return "unknown record kind " + std::to_string(kind) + " at offset " +
             std::to_string(mp::kHeaderBytes + start);
    }
    c.skip(bytes - 8);
  }
  return std::nullopt;
}

void append_key(std::string& key, std::string_view v) {
  const auto len = static_cast<std::uint32_t>(v.size());
  key.append(reinterpret_cast<const char*>(&len), sizeof len);
  key.append(v);
}

// --- Python prometheus_client's *.db files --------------------------------------------
//
// File names: {counter,histogram,summary}_{pid}.db and gauge_{mode}_{pid}.db. Content: an
// int32 `used`, 4 bytes of padding, then entries of int32 length, a UTF-8 JSON key
// [metric_name, sample_name, {labels}, help] padded so the value is 8-byte aligned, then the
// value: one double up to 0.17, a double and a timestamp double from 0.18. The two layouts
// are told apart by which one parses exactly to `used`.

struct PyEntry {
  std::string_view key;
  double value = 0;
  double timestamp = 0;
};

bool walk_python(const char* data, std::size_t used, std::size_t value_bytes,
                 std::vector<PyEntry>& out) {
  out.clear();
  std::size_t pos = 8;
  while (pos < used) {
    std::int32_t len = 0;
    if (used - pos < 4)
      return false;
    std::memcpy(&len, data + pos, 4);
    if (len <= 0 || static_cast<std::size_t>(len) > used - pos - 4)
      return false;
    const auto n = static_cast<std::size_t>(len);
    PyEntry e;
    e.key = std::string_view(data + pos + 4, n);
    if (e.key.front() != '[')
      return false;
    pos += 4 + n + (8 - (n + 4) % 8);
    if (pos > used || used - pos < value_bytes)
      return false;
    std::memcpy(&e.value, data + pos, 8);
    if (value_bytes == 16)
      std::memcpy(&e.timestamp, data + pos + 8, 8);
    pos += value_bytes;
    out.push_back(e);
  }
  return pos == used;
}

std::optional<GaugeMode> python_mode(std::string_view m) {
  static const std::pair<std::string_view, GaugeMode> kModes[] = {
      {"all", GaugeMode::All},
      {"liveall", GaugeMode::LiveAll},
      {"min", GaugeMode::Min},
      {"livemin", GaugeMode::LiveMin},
      {"max", GaugeMode::Max},
      {"livemax", GaugeMode::LiveMax},
      {"sum", GaugeMode::Sum},
      {"livesum", GaugeMode::LiveSum},
      {"mostrecent", GaugeMode::MostRecent},
      {"livemostrecent", GaugeMode::LiveMostRecent}};
  for (const auto& [name, mode] : kModes) {
    if (name == m)
      return mode;
  }
  return std::nullopt;
}

std::optional<std::string> read_python_file(const std::string& path, const std::string& name,
                                            FileData& out) {
  // The name says the type, the gauge mode and the pid.
  const std::string stem = name.substr(0, name.size() - 3);
  const auto first = stem.find('_');
  if (first == std::string::npos)
    return std::string("not a prometheus_client file name");
  const std::string type = stem.substr(0, first);
  std::string rest = stem.substr(first + 1);
  GaugeMode mode = GaugeMode::All;
  MetricType mtype = MetricType::Counter;
  if (type == "gauge") {
    const auto second = rest.find('_');
    if (second == std::string::npos)
      return std::string("gauge file name without a mode");
    const auto m = python_mode(rest.substr(0, second));
    if (!m)
      return "unknown gauge mode \"" + rest.substr(0, second) + "\"";
    mode = *m;
    mtype = MetricType::Gauge;
    rest = rest.substr(second + 1);
  } else if (type == "histogram") {
    mtype = MetricType::Histogram;
  } else if (type != "counter") {
    return "prometheus_client " + type + " files are not aggregated";
  }
  try {
    out.pid = std::stoi(rest);
  } catch (...) {
    return std::string("no pid in the file name");
  }

  if (auto why = map_file(path, 8, out))
    return why;
  const auto size = out.map_size;
  const auto* data = static_cast<const char*>(out.map);
  std::int32_t used = 0;
  std::memcpy(&used, data, 4);
  if (used < 8 || static_cast<std::size_t>(used) > size)
    return "bad used length " + std::to_string(used);

  std::vector<PyEntry> entries;
  const bool v16 = !walk_python(data, static_cast<std::size_t>(used), 8, entries) &&
                   walk_python(data, static_cast<std::size_t>(used), 16, entries);
  if (entries.empty() && used > 8)
    return std::string("corrupt: neither the 0.16 nor the 0.18 layout parses");
  (void)v16;
  out.live = process_alive(out.pid, 0);

  // Families by metric name; series by label values (sorted label names, as Python keeps them).
  struct PySeries {
    std::vector<std::string> values;
    std::map<double, double> buckets;  // le -> count
    double value = 0;
    double sum = 0;
    double timestamp = 0;
  };
  struct PyFamily {
    FamilyMeta meta;
    std::map<std::string, PySeries> series;  // by joined values
  };
  std::map<std::string, PyFamily> fams;
  for (const auto& e : entries) {
    const auto j = nlohmann::json::parse(e.key, nullptr, false);
    if (!j.is_array() || j.size() != 4 || !j[0].is_string() || !j[1].is_string() ||
        !j[2].is_object()) {
      return std::string("corrupt: an entry key is not [metric, sample, labels, help]");
    }
    const std::string metric = j[0].get<std::string>();
    const std::string sample = j[1].get<std::string>();
    auto& fam = fams[metric];
    if (fam.meta.name.empty()) {
      fam.meta.name = metric;
      fam.meta.help = j[3].is_string() ? j[3].get<std::string>() : std::string();
      fam.meta.type = mtype;
      fam.meta.mode = mode;
    }
    std::vector<std::string> names;
    std::vector<std::string> values;
    std::string le;
    for (const auto& [k, v] : j[2].items()) {  // nlohmann keeps object keys sorted
      if (!v.is_string())
        return std::string("corrupt: a label value is not a string");
      if (mtype == MetricType::Histogram && k == "le") {
        le = v.get<std::string>();
        continue;
      }
      names.push_back(k);
      values.push_back(v.get<std::string>());
    }
    fam.meta.labels = names;
    std::string joined;
    for (const auto& v : values)
      append_key(joined, v);
    auto& ser = fam.series[joined];
    ser.values = values;
    if (mtype == MetricType::Histogram) {
      if (sample.ends_with("_bucket")) {
        double bound = 0;
        try {
          bound = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le);
        } catch (...) {
          return "corrupt: bucket bound \"" + le + "\"";
        }
        ser.buckets[bound] += e.value;
      } else if (sample.ends_with("_sum")) {
        ser.sum += e.value;
      }
    } else if (mtype == MetricType::Counter) {
      if (sample.ends_with("_total"))
        ser.value += e.value;  // _created is not a count
    } else {
      ser.value = e.value;
      ser.timestamp = e.timestamp;
    }
  }
  for (auto& [metric, fam] : fams) {
    if (fam.meta.type == MetricType::Histogram) {
      std::map<double, bool> bounds;
      for (const auto& [k, ser] : fam.series) {
        for (const auto& [b, c] : ser.buckets)
          bounds[b] = true;
      }
      for (const auto& [b, unused] : bounds) {
        if (!std::isinf(b))
          fam.meta.buckets.push_back(b);
      }
    }
    const auto id = static_cast<std::uint32_t>(out.families.size());
    out.families.push_back(fam.meta);
    const FamilyMeta& meta = out.families.back();
    for (auto& [k, ser] : fam.series) {
      SeriesData sd;
      sd.family = id;
      for (auto& v : ser.values)
        sd.values.emplace_back(out.owned.emplace_back(std::move(v)));
      if (meta.type == MetricType::Histogram) {
        for (double b : meta.buckets) {
          const auto it = ser.buckets.find(b);
          sd.cells.push_back(
              static_cast<std::uint64_t>(it == ser.buckets.end() ? 0.0 : it->second));
        }
        const auto inf = ser.buckets.find(std::numeric_limits<double>::infinity());
        sd.cells.push_back(
            static_cast<std::uint64_t>(inf == ser.buckets.end() ? 0.0 : inf->second));
        sd.cells.push_back(std::bit_cast<std::uint64_t>(ser.sum));
      } else {
        sd.cells.push_back(std::bit_cast<std::uint64_t>(ser.value));
        if (meta.cells() == 2)
          sd.cells.push_back(static_cast<std::uint64_t>(ser.timestamp * 1e9));
      }
      out.series.push_back(std::move(sd));
    }
  }
  return std::nullopt;
}

bool is_live_mode(GaugeMode m) {
  return m == GaugeMode::LiveAll || m == GaugeMode::LiveMin || m == GaugeMode::LiveMax ||
         m == GaugeMode::LiveSum || m == GaugeMode::LiveMostRecent;
}

struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct Agg {
  FamilyMeta meta;
  struct Value {
    std::vector<std::optional<Exemplar::Snapshot>> exemplars;  // the latest per slot
    std::vector<std::string> values;
    std::vector<double> cells;
    double time = -std::numeric_limits<double>::infinity();
    bool has = false;
  };
  // Keyed by the label values joined with length prefixes (so no value can fake a boundary),
  // looked up without allocating.
  std::unordered_map<std::string, Value, KeyHash, std::equal_to<>> series;

  Value& at(std::string_view key, const std::vector<std::string_view>& values,
            std::string_view extra = {}) {
    if (auto it = series.find(key); it != series.end())
      return it->second;
    Value& v = series.emplace(std::string(key), Value{}).first->second;
    v.values.assign(values.begin(), values.end());
    if (!extra.empty())
      v.values.emplace_back(extra);
    return v;
  }
};

// The latest exemplar per slot wins, whichever process recorded it.
void merge_exemplars(Agg::Value& v, const std::vector<std::optional<Exemplar::Snapshot>>& ex) {
  if (ex.empty())
    return;
  if (v.exemplars.size() < ex.size())
    v.exemplars.resize(ex.size());
  for (std::size_t i = 0; i < ex.size(); ++i) {
    if (ex[i] && (!v.exemplars[i] || ex[i]->time_ns >= v.exemplars[i]->time_ns))
      v.exemplars[i] = ex[i];
  }
}

void merge(std::map<std::string, Agg>& aggs, const FileData& file) {
  std::string key;
  for (const auto& s : file.series) {
    const FamilyMeta& meta = file.families[s.family];
    auto [it, fresh] = aggs.try_emplace(meta.name);
    Agg& agg = it->second;
    if (fresh)
      agg.meta = meta;
    // Python keeps label names sorted, we keep declaration order: the same set in another
    // order merges, with the values reordered.
    std::vector<std::string_view> reordered;
    const std::vector<std::string_view>* values = &s.values;
    if (agg.meta.labels != meta.labels && agg.meta.type == meta.type &&
        agg.meta.mode == meta.mode && agg.meta.buckets == meta.buckets &&
        agg.meta.labels.size() == meta.labels.size() &&
        std::is_permutation(agg.meta.labels.begin(), agg.meta.labels.end(), meta.labels.begin())) {
      for (const auto& want : agg.meta.labels) {
        const auto at =
            std::find(meta.labels.begin(), meta.labels.end(), want) - meta.labels.begin();
        reordered.push_back(s.values[static_cast<std::size_t>(at)]);
      }
      values = &reordered;
    } else if (!agg.meta.same_shape(meta)) {
      report_internal_error("metrics",
                            "metric \"" + meta.name + "\" of pid " + std::to_string(file.pid) +
                                " has another type, labels or buckets; its series are left out");
      continue;
    }
    auto bits = [&](std::size_t i) { return std::bit_cast<double>(s.cells[i]); };
    key.clear();
    for (auto v : *values)
      append_key(key, v);
    if (meta.type == MetricType::Counter) {
      auto& v = agg.at(key, *values);
      merge_exemplars(v, s.exemplars);
      v.cells.resize(1);
      v.cells[0] += bits(0);
    } else if (meta.type == MetricType::Histogram) {
      auto& v = agg.at(key, *values);
      merge_exemplars(v, s.exemplars);
      v.cells.resize(meta.buckets.size() + 2);
      for (std::size_t i = 0; i <= meta.buckets.size(); ++i)
        v.cells[i] += static_cast<double>(s.cells[i]);
      v.cells[meta.buckets.size() + 1] += bits(meta.buckets.size() + 1);
    } else {
      if (is_live_mode(meta.mode) && !file.live)
        continue;
      const bool per_pid = meta.mode == GaugeMode::All || meta.mode == GaugeMode::LiveAll;
      const std::string pid = per_pid ? std::to_string(file.pid) : std::string();
      if (per_pid)
        append_key(key, pid);
      auto& v = agg.at(key, *values, pid);
      const double x = bits(0);
      v.cells.resize(1);
      switch (meta.mode) {
        case GaugeMode::Min:
        case GaugeMode::LiveMin:
          v.cells[0] = v.has ? std::min(v.cells[0], x) : x;
          break;
        case GaugeMode::Max:
        case GaugeMode::LiveMax:
          v.cells[0] = v.has ? std::max(v.cells[0], x) : x;
          break;
        case GaugeMode::Sum:
        case GaugeMode::LiveSum:
          v.cells[0] += x;
          break;
        case GaugeMode::MostRecent:
        case GaugeMode::LiveMostRecent: {
          const auto t = static_cast<double>(s.cells[1]);
          if (!v.has || t >= v.time) {
            v.cells[0] = x;
            v.time = t;
          }
          break;
        }
        case GaugeMode::All:
        case GaugeMode::LiveAll:
          v.cells[0] = x;
          break;
      }
      v.has = true;
    }
  }
}

// The aggregate as families the exposition writer renders like any other.
class AggregateStore final : public ValueStore {
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

}  // namespace

std::string render_directory(const std::string& dir, metrics::Format fmt, DirectoryStats* stats) {
  DirectoryStats local;
  std::map<std::string, Agg> aggs;
  std::error_code ec;
  std::vector<std::string> names;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    const bool ours = name.size() > mp::kExtension.size() && name.ends_with(mp::kExtension);
    const bool python = name.size() > 3 && name.ends_with(".db");
    if (ours || python)
      names.push_back(std::move(name));
  }
  if (ec)
    report_internal_error("metrics",
                          "cannot read the multiprocess directory " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  // The archive first: files it has absorbed (and that a compaction interrupted before
  // deleting them left behind) are not counted twice.
  std::set<std::string, std::less<>> absorbed;
  std::stable_partition(names.begin(), names.end(),
                        [](const std::string& n) { return n == mp::kArchiveName; });
  for (const auto& name : names) {
    if (absorbed.contains(name))
      continue;
    FileData file;
    std::string path = dir;
    path += '/';
    path += name;
    auto why = name.ends_with(".db") ? read_python_file(path, name, file) : read_file(path, file);
    if (why) {
      ++local.files_skipped;
      g_files_skipped.fetch_add(1, std::memory_order_relaxed);
      report_internal_error("metrics", "skipped multiprocess file " + name + ": " + *why);
      continue;
    }
    ++local.files_read;
    absorbed.insert(file.absorbed.begin(), file.absorbed.end());
    merge(aggs, file);
  }

  AggregateStore store;
  std::vector<std::unique_ptr<Family>> families;
  std::vector<const Family*> order;
  for (auto& [name, agg] : aggs) {
    auto f = std::make_unique<Family>();
    f->name = agg.meta.type == MetricType::Counter ? name + "_total" : name;
    f->base_name = name;
    f->help = agg.meta.help;
    f->type = agg.meta.type;
    f->mode = GaugeMode::Sum;  // the aggregate is one value per series
    f->unlimited = true;
    auto label_names = agg.meta.labels;
    if (agg.meta.mode == GaugeMode::All || agg.meta.mode == GaugeMode::LiveAll) {
      if (agg.meta.type == MetricType::Gauge)
        label_names.emplace_back("pid");
    }
    f->set_label_names(std::move(label_names));
    f->buckets = agg.meta.buckets;
    f->store = &store;
    for (const auto& [series_key, v] : agg.series) {
      // A hostile or damaged file can name different labels for one metric in different
      // samples, or carry too few cells: such a series is left out, never rendered half-way.
      const bool cells_ok =
          f->type == MetricType::Histogram ? v.cells.size() >= f->buckets.size() + 2 : true;
      if (v.values.size() != f->label_names.size() || !cells_ok)
        continue;
      std::vector<std::string_view> views(v.values.begin(), v.values.end());
      Series* s = f->get(views);
      if (!v.exemplars.empty()) {
        if (Exemplar* e = f->exemplars_for(*s)) {
          for (std::size_t i = 0; i < v.exemplars.size() && i < f->exemplar_count(); ++i) {
            if (const auto& x = v.exemplars[i])
              e[i].write(x->trace_hi, x->trace_lo, x->span, x->value, x->time_ns);
          }
        }
      }
      if (f->type == MetricType::Histogram) {
        for (std::size_t i = 0; i <= f->buckets.size(); ++i) {
          s->cells[i].store(static_cast<std::uint64_t>(v.cells[i]), std::memory_order_relaxed);
        }
        store_double(s->cells[f->buckets.size() + 1], v.cells[f->buckets.size() + 1]);
      } else {
        store_double(s->cells[0], v.cells.empty() ? 0.0 : v.cells[0]);
      }
    }
    order.push_back(f.get());
    families.push_back(std::move(f));
  }
  // How the scrapes of this process went, as metrics of their own.
  auto skipped = std::make_unique<Family>();
  skipped->name = "o11y_multiproc_files_skipped_total";
  skipped->base_name = "o11y_multiproc_files_skipped";
  skipped->help = "Multiprocess files left out of a scrape because they could not be read";
  skipped->type = MetricType::Counter;
  skipped->store = &store;
  store_double(skipped->get(std::span<const std::string_view>{})->cells[0],
               static_cast<double>(g_files_skipped.load()));
  order.push_back(skipped.get());
  auto files = std::make_unique<Family>();
  files->name = files->base_name = "o11y_multiproc_files";
  files->help = "Multiprocess files aggregated by the last scrape";
  files->type = MetricType::Gauge;
  files->store = &store;
  store_double(files->get(std::span<const std::string_view>{})->cells[0],
               static_cast<double>(local.files_read));
  order.push_back(files.get());

  if (stats != nullptr)
    *stats = local;
  return render_families(order, fmt, false);
}

namespace {

// Counters, histograms and the combining gauge modes of exited processes, as one file in the
// format of the live ones (pid 0, marked dead), listing the files it absorbed. Per-process
// gauges (all, liveall) of exited processes are dropped: they describe processes that are gone.
std::string serialize_archive(const std::map<std::string, Agg>& aggs,
                              const std::vector<std::string>& absorbed) {
  std::string body;
  std::uint32_t id = 0;
  for (const auto& [name, agg] : aggs) {
    const auto& m = agg.meta;
    if (m.type == MetricType::Gauge &&
        (m.mode == GaugeMode::All || m.mode == GaugeMode::LiveAll || is_live_mode(m.mode))) {
      continue;
    }
    const std::size_t fbytes = mp::family_record_size(m.name, m.help, m.labels, m.buckets.size());
    const std::size_t at = body.size();
    body.resize(at + fbytes);
    const std::uint32_t shape = static_cast<std::uint32_t>(m.type) |
                                (static_cast<std::uint32_t>(m.mode) << 8U) |
                                (static_cast<std::uint32_t>(m.labels.size()) << 16U);
    mp::write_family_record(body.data() + at, fbytes, id, shape, m.name, m.help, m.labels,
                            m.buckets);
    const std::size_t ncells = m.cells();
    for (const auto& [key, v] : agg.series) {
      const std::size_t sbytes = mp::series_cells_offset(v.values) + 8 * ncells;
      const std::size_t sat = body.size();
      body.resize(sat + sbytes);
      char* cells = mp::write_series_record(body.data() + sat, sbytes, id, ncells, v.values);
      for (std::size_t i = 0; i < ncells; ++i) {
        std::uint64_t bits = 0;
        if (m.type == MetricType::Histogram && i <= m.buckets.size()) {
          bits = static_cast<std::uint64_t>(v.cells[i]);  // bucket counts are integers
        } else if (m.type == MetricType::Gauge && i == 1) {
          bits = static_cast<std::uint64_t>(v.time);  // most-recent: when it was set
        } else {
          bits = std::bit_cast<std::uint64_t>(i < v.cells.size() ? v.cells[i] : 0.0);
        }
        std::memcpy(cells + 8 * i, &bits, 8);
      }
    }
    ++id;
  }
  std::size_t abytes = 8 + 4;
  for (const auto& a : absorbed)
    abytes += 4 + a.size();
  abytes = mp::pad8(abytes);
  const std::size_t aat = body.size();
  body.resize(aat + abytes);
  char* p = body.data() + aat;
  mp::put_u32(p, static_cast<std::uint32_t>(mp::RecordKind::Absorbed));
  mp::put_u32(p, static_cast<std::uint32_t>(abytes));
  mp::put_u32(p, static_cast<std::uint32_t>(absorbed.size()));
  for (const auto& a : absorbed)
    mp::put_string(p, a);

  mp::Header h{};
  std::memcpy(h.magic, mp::kMagic, sizeof h.magic);
  h.version = mp::kVersion;
  h.byte_order = mp::kByteOrderMark;
  h.flags = mp::kFlagDead;
  h.used = body.size();
  std::string file(reinterpret_cast<const char*>(&h), sizeof h);
  file += body;
  return file;
}

bool write_file_atomically(const std::string& dir, const std::string& name,
                           const std::string& bytes) {
  const std::string tmp = dir + "/." + name + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return false;
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  ok = ok && ::rename(tmp.c_str(), (dir + "/" + name).c_str()) == 0;
  if (!ok)
    ::unlink(tmp.c_str());
  return ok;
}

}  // namespace

std::size_t compact_directory(const std::string& dir) {
  // One compactor at a time: a lock file, held for the whole merge.
  const int lock = ::open((dir + "/.o11y-compact.lock").c_str(),
                          O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    if (lock >= 0)
      ::close(lock);
    report_internal_error("metrics", "compaction of " + dir + " could not take its lock");
    return 0;
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};

  std::map<std::string, Agg> aggs;
  std::set<std::string, std::less<>> already;
  {
    FileData archive;
    const std::string path = dir + "/" + std::string(mp::kArchiveName);
    if (::access(path.c_str(), F_OK) == 0) {
      if (auto why = read_file(path, archive)) {
        report_internal_error("metrics", "compaction stopped: the archive is unreadable: " + *why);
        return 0;
      }
      already.insert(archive.absorbed.begin(), archive.absorbed.end());
      merge(aggs, archive);
    }
  }
  std::vector<std::string> absorbed;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.ends_with(mp::kExtension) || name == mp::kArchiveName)
      continue;
    if (already.contains(name)) {  // absorbed by an earlier compaction that did not finish
      std::filesystem::remove(it->path(), ec);
      continue;
    }
    FileData file;
    // Only files of processes that are really gone: one marked dead but still running would
    // go on writing into a file compaction had removed.
    if (read_file(it->path().string(), file) || file.running)
      continue;  // corrupt or still running: left alone
    merge(aggs, file);
    absorbed.push_back(name);
  }
  if (absorbed.empty())
    return 0;
  if (!write_file_atomically(dir, std::string(mp::kArchiveName),
                             serialize_archive(aggs, absorbed))) {
    report_internal_error("metrics",
                          "compaction of " + dir + " could not write the archive; nothing removed");
    return 0;
  }
  // From here the archive lists them, so readers skip them even before they are gone.
  for (const auto& name : absorbed)
    std::filesystem::remove(std::filesystem::path(dir) / name, ec);
  return absorbed.size();
}

}  // namespace o11y::detail

namespace o11y::metrics {

bool multiprocess_enabled() {
  return !detail::mp::configured_dir().empty();
}

std::size_t compact(std::string_view dir) {
  const std::string d = dir.empty() ? detail::mp::configured_dir() : std::string(dir);
  if (d.empty())
    return 0;
  try {
    return detail::compact_directory(d);
  } catch (const std::exception& e) {
    detail::report_internal_error("metrics", std::string("compaction failed: ") + e.what());
    return 0;
  }
}

void mark_process_dead(int pid) {
  const auto& dir = detail::mp::configured_dir();
  if (dir.empty())
    return;
  const std::string prefix = std::to_string(pid) + "-";
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(detail::mp::kExtension))
      continue;
    const int fd = ::open(it->path().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      continue;
    std::uint32_t flags = 0;
    constexpr auto kFlagsAt = static_cast<off_t>(offsetof(detail::mp::Header, flags));
    if (::pread(fd, &flags, sizeof flags, kFlagsAt) == sizeof flags) {
      flags |= detail::mp::kFlagDead;
      (void)::pwrite(fd, &flags, sizeof flags, kFlagsAt);
    }
    ::close(fd);
  }
  // A worker was reaped: the moment to fold exited workers' files into the archive.
  (void)compact(dir);
}

}  // namespace o11y::metrics
