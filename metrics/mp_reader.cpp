// Aggregates a multiprocess directory at scrape time. Every file is validated before any of it
// counts: a bad file is skipped, counted and reported, and the scrape goes on with the rest.
#include "metrics/mp_reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <system_error>

#include "context/internal_error.hpp"
#include "metrics/family.hpp"
#include "metrics/foreign.hpp"
#include "metrics/mp_format.hpp"
#include "metrics/process_metrics.hpp"

namespace o11y::detail {
namespace {

// strerror is not thread-safe; std::error_code gives the same text safely.
std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

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
  std::uint32_t family = 0;
  std::vector<std::string> values;
  std::vector<std::uint64_t> cells;  // raw bits
};

struct FileData {
  int pid = 0;
  bool live = true;
  std::vector<FamilyMeta> families;
  std::vector<SeriesData> series;
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
    std::uint32_t len = 0;
    if (!u32(len) || n_ - pos_ < len)
      return false;
    s.assign(p_ + pos_, len);
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

// Parses one file completely, or returns the reason it is unusable.
std::optional<std::string> read_file(const std::string& path, FileData& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return std::string("cannot open: ") + errno_text(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::string("not a regular file");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < mp::kHeaderBytes) {
    ::close(fd);
    return "truncated: " + std::to_string(size) + " bytes, shorter than the header";
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED)
    return std::string("cannot map: ") + errno_text(errno);
  const auto* base = static_cast<const char*>(map);
  struct Unmap {
    void* p;
    std::size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{map, size};

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
  out.live = (h.flags & mp::kFlagDead) == 0 && process_alive(out.pid, h.start_ticks);

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
        if (!r.str(v))
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
    } else {
      return "unknown record kind " + std::to_string(kind) + " at offset " +
             std::to_string(mp::kHeaderBytes + start);
    }
    c.skip(bytes - 8);
  }
  return std::nullopt;
}

bool is_live_mode(GaugeMode m) {
  return m == GaugeMode::LiveAll || m == GaugeMode::LiveMin || m == GaugeMode::LiveMax ||
         m == GaugeMode::LiveSum || m == GaugeMode::LiveMostRecent;
}

struct Agg {
  FamilyMeta meta;
  struct Value {
    std::vector<double> cells;
    double time = -std::numeric_limits<double>::infinity();
    bool has = false;
  };
  std::map<std::vector<std::string>, Value> series;
};

void merge(std::map<std::string, Agg>& aggs, const FileData& file) {
  for (const auto& s : file.series) {
    const FamilyMeta& meta = file.families[s.family];
    auto [it, fresh] = aggs.try_emplace(meta.name);
    Agg& agg = it->second;
    if (fresh)
      agg.meta = meta;
    if (!agg.meta.same_shape(meta)) {
      report_internal_error("metrics",
                            "metric \"" + meta.name + "\" of pid " + std::to_string(file.pid) +
                                " has another type, labels or buckets; its series are left out");
      continue;
    }
    auto bits = [&](std::size_t i) { return std::bit_cast<double>(s.cells[i]); };
    if (meta.type == MetricType::Counter) {
      agg.series[s.values].cells.resize(1);
      agg.series[s.values].cells[0] += bits(0);
    } else if (meta.type == MetricType::Histogram) {
      auto& v = agg.series[s.values];
      v.cells.resize(meta.buckets.size() + 2);
      for (std::size_t i = 0; i <= meta.buckets.size(); ++i)
        v.cells[i] += static_cast<double>(s.cells[i]);
      v.cells[meta.buckets.size() + 1] += bits(meta.buckets.size() + 1);
    } else {
      if (is_live_mode(meta.mode) && !file.live)
        continue;
      auto key = s.values;
      if (meta.mode == GaugeMode::All || meta.mode == GaugeMode::LiveAll)
        key.push_back(std::to_string(file.pid));
      auto& v = agg.series[key];
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
  [[nodiscard]] bool in_process() const noexcept override { return true; }

 private:
  std::vector<std::unique_ptr<Cell[]>> blocks_;
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
    if (name.size() > mp::kExtension.size() && name.ends_with(mp::kExtension))
      names.push_back(std::move(name));
  }
  if (ec)
    report_internal_error("metrics",
                          "cannot read the multiprocess directory " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    FileData file;
    std::string path = dir;
    path += '/';
    path += name;
    if (auto why = read_file(path, file)) {
      ++local.files_skipped;
      g_files_skipped.fetch_add(1, std::memory_order_relaxed);
      report_internal_error("metrics", "skipped multiprocess file " + name + ": " + *why);
      continue;
    }
    ++local.files_read;
    merge(aggs, file);
  }

  AggregateStore store;
  std::vector<std::unique_ptr<Family>> families;
  std::vector<const Family*> order;
  for (auto& [name, agg] : aggs) {
    auto f = std::make_unique<Family>();
    f->name = name;
    f->base_name = name;
    if (agg.meta.type == MetricType::Counter && name.size() > 6 && name.ends_with("_total")) {
      f->base_name.resize(name.size() - 6);
    }
    f->help = agg.meta.help;
    f->type = agg.meta.type;
    f->mode = GaugeMode::Sum;  // the aggregate is one value per series
    f->label_names = agg.meta.labels;
    if (agg.meta.mode == GaugeMode::All || agg.meta.mode == GaugeMode::LiveAll) {
      if (agg.meta.type == MetricType::Gauge)
        f->label_names.emplace_back("pid");
    }
    f->buckets = agg.meta.buckets;
    f->store = &store;
    for (const auto& [values, v] : agg.series) {
      std::vector<std::string_view> views(values.begin(), values.end());
      Series* s = f->get(views);
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
  store_double(skipped->get({})->cells[0], static_cast<double>(g_files_skipped.load()));
  order.push_back(skipped.get());
  auto files = std::make_unique<Family>();
  files->name = files->base_name = "o11y_multiproc_files";
  files->help = "Multiprocess files aggregated by the last scrape";
  files->type = MetricType::Gauge;
  files->store = &store;
  store_double(files->get({})->cells[0], static_cast<double>(local.files_read));
  order.push_back(files.get());

  if (stats != nullptr)
    *stats = local;
  return render_families(order, fmt, false);
}

std::uint64_t multiproc_files_skipped() noexcept {
  return g_files_skipped.load(std::memory_order_relaxed);
}

}  // namespace o11y::detail

namespace o11y::metrics {

bool multiprocess_enabled() {
  return !detail::mp::configured_dir().empty();
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
}

}  // namespace o11y::metrics
