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
#include <optional>
#include <set>
#include <system_error>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "metrics/family.hpp"
#include "metrics/mp_aggregate.hpp"
#include "metrics/mp_format.hpp"
#include "metrics/mp_own_file.hpp"
#include "metrics/mp_python_file.hpp"

namespace o11y::detail {
namespace {

using mp::Aggregate;
using mp::FileData;
using mp::FileInfo;
using mp::Mapping;
using mp::OwnFile;

std::atomic<std::uint64_t> g_files_skipped{0};  // NOLINT(*-avoid-non-const-global-*)

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

namespace {

// Reads every file of dir into r's aggregate; bad files are skipped, counted and reported.
void read_directory(const std::string& dir, DirectoryReader& r, DirectoryStats& stats) {
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
      ++stats.files_skipped;
      g_files_skipped.fetch_add(1, std::memory_order_relaxed);
      report_internal_error("metrics", "skipped multiprocess file " + name + ": " + *why);
      continue;
    }
    ++stats.files_read;
  }
}

}  // namespace

std::string render_directory(const std::string& dir, metrics::Format fmt, DirectoryStats* stats) {
  DirectoryStats local;
  auto reader = take_reader();
  read_directory(dir, *reader, local);
  std::string out = reader->agg.render(fmt, local.files_read, g_files_skipped.load());
  give_back(std::move(reader));
  if (stats != nullptr)
    *stats = local;
  return out;
}

std::vector<MetricFamilyPoints> directory_points(const std::string& dir, DirectoryStats* stats) {
  DirectoryStats local;
  auto reader = take_reader();
  read_directory(dir, *reader, local);
  std::vector<MetricFamilyPoints> points;
  reader->agg.with_families(
      local.files_read, g_files_skipped.load(),
      [&](const std::vector<const Family*>& families) { points = collect_points(families, true); });
  give_back(std::move(reader));
  if (stats != nullptr)
    *stats = local;
  return points;
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
