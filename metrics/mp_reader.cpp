// Aggregates a multiprocess directory at scrape time. Every file is validated before any of it
// counts: a bad file is skipped, counted and reported, and the scrape goes on with the rest.
// Our own files are read in two passes over their mapping, one that validates and one that
// merges, so nothing is copied per record; the label values stay views into the mappings
// until the exposition is written.
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
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <system_error>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "metrics/family.hpp"
#include "metrics/mp_aggregate.hpp"
#include "metrics/mp_format.hpp"

namespace o11y::detail {
namespace {

using mp::Aggregate;
using mp::FamilyMeta;

std::atomic<std::uint64_t> g_files_skipped{0};  // NOLINT(*-avoid-non-const-global-*)

/// A read-only mapping of one file, unmapped with the object.
class Mapping {
 public:
  Mapping() = default;
  ~Mapping() { reset(); }
  Mapping(Mapping&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  void reset() noexcept {
    if (p_ != nullptr)
      ::munmap(p_, n_);
    p_ = nullptr;
    n_ = 0;
  }
  void assign(void* p, std::size_t n) noexcept {
    reset();
    p_ = p;
    n_ = n;
  }
  [[nodiscard]] const char* data() const noexcept { return static_cast<const char*>(p_); }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

// What a file says of its writer.
struct FileInfo {
  int pid = 0;
  bool live = true;                   // for live-mode gauges: running and not marked dead
  bool running = true;                // the process that wrote it still exists (pid and start time)
  std::vector<std::string> absorbed;  // the archive only: files whose values it holds
};

// One parsed prometheus_client file: its families and series, owning the label values.
struct SeriesData {
  std::uint32_t family = 0;
  std::vector<std::string_view> values;  // into owned
  std::vector<std::uint64_t> cells;      // raw bits
};
struct FileData {
  Mapping map;
  std::vector<FamilyMeta> families;
  std::vector<SeriesData> series;
  std::deque<std::string> owned;
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

bool process_alive(int pid, std::uint64_t start_ticks) {
  if (pid <= 0)
    return false;
  const auto ticks = mp::process_start_ticks(pid);
  if (ticks == 0)
    return false;                                   // no such process
  return start_ticks == 0 || ticks == start_ticks;  // same pid, another process: reused
}

// Opens and maps a file read-only, refusing symlinks, files of other users and anything but a
// regular file of at least min_size bytes. Returns the reason when it cannot.
std::optional<std::string> map_file(const std::string& path, std::size_t min_size, Mapping& out) {
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
  out.assign(map, size);
  return std::nullopt;
}

// --- our own files -----------------------------------------------------------------------

// What validate() learns of a file for merge(); kept between files and scrapes so that
// reading a file allocates nothing once the buffers have grown.
struct OwnFile {
  std::size_t used = 0;
  std::vector<FamilyMeta> families;  // the first nfamilies are this file's
  std::size_t nfamilies = 0;
  std::vector<std::uint32_t> series_family;  // this file's series, by index: their family
  std::vector<Aggregate::Binding> bindings;
  std::vector<std::uint32_t> series_agg;  // this file's series, by index: the aggregate's
  std::vector<std::string_view> values;
};

std::string corrupt(const char* what, std::size_t start) {
  return std::string("corrupt ") + what + " at offset " + std::to_string(mp::kHeaderBytes + start);
}

// Pass one: checks every record of the file, so that a bad file adds nothing at all.
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

// Pass two, over a file validate() accepted with the same OwnFile: adds its series.
void merge(const Mapping& map, OwnFile& f, const FileInfo& info, Aggregate& agg) {
  f.bindings.resize(f.nfamilies);
  for (std::size_t i = 0; i < f.nfamilies; ++i)
    f.bindings[i] = agg.bind(f.families[i], info.pid);
  f.series_agg.clear();
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
                                       info.pid, info.live));
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
    }
    c.skip(bytes - 8);
  }
}

// --- Python prometheus_client's *.db files --------------------------------------------

void append_key(std::string& key, std::string_view v) {
  const auto len = static_cast<std::uint32_t>(v.size());
  key.append(reinterpret_cast<const char*>(&len), sizeof len);
  key.append(v);
}

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
                                            FileData& out, FileInfo& info) {
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
    info.pid = std::stoi(rest);
  } catch (...) {
    return std::string("no pid in the file name");
  }

  if (auto why = map_file(path, 8, out.map))
    return why;
  const auto size = out.map.size();
  const auto* data = out.map.data();
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
  info.live = process_alive(info.pid, 0);
  info.running = info.live;

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

void merge(const FileData& file, const FileInfo& info, Aggregate& agg) {
  std::vector<Aggregate::Binding> bindings;
  bindings.reserve(file.families.size());
  for (const auto& m : file.families)
    bindings.push_back(agg.bind(m, info.pid));
  for (const auto& s : file.series)
    (void)agg.add(bindings[s.family], s.values, s.cells, info.pid, info.live);
}

// --- scraping a directory ----------------------------------------------------------------

// Everything one scrape needs, kept for the next one: the aggregate's tables, the parse
// buffers and the list of mappings all keep their capacity.
struct DirectoryReader {
  Aggregate agg{Aggregate::Purpose::Scrape};
  OwnFile own;
  FileInfo info;
  std::vector<Mapping> maps;  // alive until the exposition is written: the values point here
  std::vector<std::unique_ptr<FileData>> python;
  std::vector<std::string> names;
  std::set<std::string, std::less<>> absorbed;

  void clear() {
    agg.clear();
    maps.clear();
    python.clear();
    names.clear();
    absorbed.clear();
  }
};

// Readers waiting for the next scrape; concurrent scrapes each take their own.
struct ReaderPool {
  std::mutex mu;
  std::vector<std::unique_ptr<DirectoryReader>> idle;
};
ReaderPool& reader_pool() {
  static auto* p = new ReaderPool();  // NOLINT: scrapes may run during static destruction
  return *p;
}

std::unique_ptr<DirectoryReader> take_reader() {
  auto& p = reader_pool();
  {
    std::lock_guard lock(p.mu);
    if (!p.idle.empty()) {
      auto r = std::move(p.idle.back());
      p.idle.pop_back();
      return r;
    }
  }
  return std::make_unique<DirectoryReader>();
}

void give_back(std::unique_ptr<DirectoryReader> r) {
  r->clear();  // unmaps the files now rather than at the next scrape
  auto& p = reader_pool();
  std::lock_guard lock(p.mu);
  if (p.idle.size() < 2)
    p.idle.push_back(std::move(r));
}

void list_directory(const std::string& dir, std::vector<std::string>& names) {
  std::error_code ec;
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
  std::stable_partition(names.begin(), names.end(),
                        [](const std::string& n) { return n == mp::kArchiveName; });
}

}  // namespace

std::string render_directory(const std::string& dir, metrics::Format fmt, DirectoryStats* stats) {
  DirectoryStats local;
  auto reader = take_reader();
  DirectoryReader& r = *reader;
  list_directory(dir, r.names);
  std::string path;
  for (const auto& name : r.names) {
    if (r.absorbed.contains(name))
      continue;
    path.assign(dir).append("/").append(name);
    std::optional<std::string> why;
    if (name.ends_with(".db")) {
      auto file = std::make_unique<FileData>();
      why = read_python_file(path, name, *file, r.info);
      if (!why) {
        merge(*file, r.info, r.agg);
        r.python.push_back(std::move(file));
      }
    } else {
      Mapping map;
      why = map_file(path, mp::kHeaderBytes, map);
      if (!why)
        why = validate(map, r.own, r.info);
      if (!why) {
        merge(map, r.own, r.info, r.agg);
        r.absorbed.insert(r.info.absorbed.begin(), r.info.absorbed.end());
        r.maps.push_back(std::move(map));
      }
    }
    if (why) {
      ++local.files_skipped;
      g_files_skipped.fetch_add(1, std::memory_order_relaxed);
      report_internal_error("metrics", "skipped multiprocess file " + name + ": " + *why);
      continue;
    }
    ++local.files_read;
  }
  std::string out = r.agg.render(fmt, local.files_read, g_files_skipped.load());
  give_back(std::move(reader));
  if (stats != nullptr)
    *stats = local;
  return out;
}

namespace {

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

  Aggregate agg(Aggregate::Purpose::Compact);
  OwnFile own;
  FileInfo info;
  std::vector<Mapping> maps;  // the aggregate's label values point into them
  std::set<std::string, std::less<>> already;
  {
    const std::string path = dir + "/" + std::string(mp::kArchiveName);
    if (::access(path.c_str(), F_OK) == 0) {
      Mapping map;
      auto why = map_file(path, mp::kHeaderBytes, map);
      if (!why)
        why = validate(map, own, info);
      if (why) {
        report_internal_error("metrics", "compaction stopped: the archive is unreadable: " + *why);
        return 0;
      }
      merge(map, own, info, agg);
      already.insert(info.absorbed.begin(), info.absorbed.end());
      maps.push_back(std::move(map));
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
    // Only files of processes that are really gone: one marked dead but still running would
    // go on writing into a file compaction had removed. Corrupt ones are left alone.
    Mapping map;
    if (map_file(it->path().string(), mp::kHeaderBytes, map) || validate(map, own, info) ||
        info.running)
      continue;
    merge(map, own, info, agg);
    maps.push_back(std::move(map));
    absorbed.push_back(name);
  }
  if (absorbed.empty())
    return 0;
  if (!write_file_atomically(dir, std::string(mp::kArchiveName), agg.archive(absorbed))) {
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
