#include "metrics/mp_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "config/environment.hpp"

namespace o11y::detail {
namespace mp {

std::uint64_t process_start_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!in || !std::getline(in, stat))
    return 0;
  const auto close = stat.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string x;
  for (int field = 3; fields >> x; ++field) {
    if (field == 22) {
      try {
        return std::stoull(x);
      } catch (...) {
        return 0;
      }
    }
  }
  return 0;
}

namespace {

// The directory is chosen once: the environment, or init()'s Config, until the first metric
// is declared. From then on every family's cells live in one store, so it cannot change.
struct DirState {
  std::mutex mu;
  std::string dir;
  bool read_env = false;
  std::atomic<const std::string*> frozen{nullptr};  // lock-free once set
};

DirState& dir_state() {
  static auto* s = new DirState();  // NOLINT: read by scrapes during static destruction
  return *s;
}

void read_env_locked(DirState& s) {
  if (s.read_env)
    return;
  s.read_env = true;
  if (auto dir = multiproc_dir_from_environment())
    s.dir = std::move(*dir);
}

}  // namespace

std::string configured_dir() {
  auto& s = dir_state();
  if (const std::string* f = s.frozen.load(std::memory_order_acquire))
    return *f;
  std::lock_guard lock(s.mu);
  read_env_locked(s);
  return s.dir;
}

const std::string& freeze_configured_dir() {
  auto& s = dir_state();
  if (const std::string* f = s.frozen.load(std::memory_order_acquire))
    return *f;
  std::lock_guard lock(s.mu);
  read_env_locked(s);
  s.frozen.store(&s.dir, std::memory_order_release);
  return s.dir;
}

bool set_configured_dir(const std::string& dir, std::string& in_effect) {
  auto& s = dir_state();
  std::lock_guard lock(s.mu);
  read_env_locked(s);
  if (s.frozen.load(std::memory_order_relaxed) != nullptr && dir != s.dir) {
    in_effect = s.dir;
    return false;
  }
  if (s.frozen.load(std::memory_order_relaxed) == nullptr)
    s.dir = dir;
  return true;
}

}  // namespace mp

namespace {

constexpr std::size_t kReserveBytes = std::size_t{1} << 30;  // virtual, never all touched
constexpr std::size_t kGrowBytes = std::size_t{1} << 20;

}  // namespace

MmapValueStore::MmapValueStore(std::string dir) : dir_(std::move(dir)) {
  std::lock_guard lock(mu_);
  open_locked();
}

namespace {

// Extends the file with blocks actually reserved, not a hole: on a full disk (tmpfs above all)
// a hole would turn the first write into the new pages into SIGBUS. Filesystems without
// fallocate get ftruncate. Returns false with errno set.
bool grow_file(int fd, std::size_t from, std::size_t to) {
  const int rc = ::posix_fallocate(fd, static_cast<off_t>(from), static_cast<off_t>(to - from));
  if (rc == 0)
    return true;
  if (rc != EOPNOTSUPP && rc != EINVAL) {
    errno = rc;
    return false;
  }
  return ::ftruncate(fd, static_cast<off_t>(to)) == 0;
}

}  // namespace

MmapValueStore::~MmapValueStore() = default;  // the mapping lives as long as the process

void MmapValueStore::open_locked() {
  ids_.clear();
  series_index_.clear();
  base_ = nullptr;
  used_ = 0;
  size_ = 0;
  const int pid = static_cast<int>(::getpid());
  pid_ = pid;
  const auto ticks = mp::process_start_ticks(pid);
  path_ =
      dir_ + "/" + std::to_string(pid) + "-" + std::to_string(ticks) + std::string(mp::kExtension);
  // 0600, no following a planted symlink, not inherited by exec'd children.
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    report_internal_error("metrics", "multiprocess file " + path_ + " not created (" +
                                         errno_text(errno) + "); values stay in this process");
    return;
  }
  void* base = ::mmap(nullptr, kReserveBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (base == MAP_FAILED || !grow_file(fd_, 0, kGrowBytes)) {
    report_internal_error("metrics", "multiprocess file " + path_ + " not mapped (" +
                                         errno_text(errno) + "); values stay in this process");
    if (base != MAP_FAILED)
      ::munmap(base, kReserveBytes);
    ::close(fd_);
    fd_ = -1;
    return;
  }
  base_ = static_cast<char*>(base);
  size_ = kGrowBytes;
  mp::Header h{};
  std::memcpy(h.magic, mp::kMagic, sizeof h.magic);
  h.version = mp::kVersion;
  h.byte_order = mp::kByteOrderMark;
  h.pid = static_cast<std::uint32_t>(pid);
  h.start_ticks = ticks;
  h.created_unix_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::memcpy(base_, &h, sizeof h);
}

char* MmapValueStore::reserve_locked(std::size_t bytes) {
  const std::size_t end = mp::kHeaderBytes + used_ + bytes;
  if (end > kReserveBytes)
    return nullptr;
  if (end > size_) {
    const std::size_t grown = ((end + kGrowBytes - 1) / kGrowBytes) * kGrowBytes;
    if (!grow_file(fd_, size_, grown)) {
      if (!full_reported_) {
        full_reported_ = true;
        report_internal_error("metrics", "multiprocess file " + path_ + " cannot grow (" +
                                             errno_text(errno) +
                                             "); new series stay in this process");
      }
      return nullptr;
    }
    size_ = grown;
  }
  return base_ + mp::kHeaderBytes + used_;
}

void MmapValueStore::publish_locked(std::size_t bytes) {
  used_ += bytes;
  // Readers parse only what `used` covers, so a process killed mid-append leaves a file
  // whose every published record is whole.
  std::atomic_ref<std::uint64_t>(reinterpret_cast<mp::Header*>(base_)->used)
      .store(used_, std::memory_order_release);
}

bool MmapValueStore::family_id_locked(const Family& f, std::uint32_t& id) {
  if (auto it = ids_.find(&f); it != ids_.end()) {
    id = it->second;
    return true;
  }
  const std::size_t bytes = mp::family_record_size(f.name, f.help, f.label_names, f.buckets.size());
  // A native histogram's parameters follow in the same publication: a reader never sees the
  // family without them.
  const std::size_t native_bytes = f.native ? mp::kNativeFamilyBytes : 0;
  char* rec = reserve_locked(bytes + native_bytes);
  if (rec == nullptr)
    return false;
  id = static_cast<std::uint32_t>(ids_.size());
  const std::uint32_t shape = static_cast<std::uint32_t>(f.type) |
                              (static_cast<std::uint32_t>(f.mode) << 8U) |
                              (static_cast<std::uint32_t>(f.label_names.size()) << 16U);
  mp::write_family_record(rec, bytes, id, shape, f.name, f.help, f.label_names, f.buckets);
  if (f.native) {
    mp::write_native_family_record(rec + bytes, id, f.native_schema, f.native_max_buckets,
                                   f.native_zero_threshold);
  }
  publish_locked(bytes + native_bytes);
  ids_.emplace(&f, id);
  return true;
}

Cell* MmapValueStore::allocate(const Family& family, std::span<const std::string> values,
                               std::size_t n) {
  std::lock_guard lock(mu_);
  std::uint32_t id = 0;
  if (base_ != nullptr && family_id_locked(family, id)) {
    const std::size_t bytes = mp::series_cells_offset(values) + 8 * n;
    if (char* rec = reserve_locked(bytes)) {
      char* cells = mp::write_series_record(rec, bytes, id, n, values);
      // The cells are zero: a file grows with zeros.
      publish_locked(bytes);
      const auto ordinal = static_cast<std::uint32_t>(series_index_.size());
      series_index_.emplace(reinterpret_cast<const Cell*>(cells), ordinal);  // NOLINT
      return reinterpret_cast<Cell*>(cells);  // NOLINT: cells are 8-byte aligned u64 slots
    }
    // reserve_locked() reported it, once.
  }
  // No file (or it cannot grow): the series still works, in this process only.
  auto cells = std::make_unique<Cell[]>(n);
  for (std::size_t i = 0; i < n; ++i)
    cells[i].store(0, std::memory_order_relaxed);
  fallback_.push_back(std::move(cells));
  return fallback_.back().get();
}

Exemplar* MmapValueStore::allocate_exemplars(const Family& /*family*/, const Cell* cells,
                                             std::size_t n) {
  std::lock_guard lock(mu_);
  if (const auto it = series_index_.find(cells); base_ != nullptr && it != series_index_.end()) {
    const std::size_t bytes = 16 + mp::kExemplarBytes * n;
    if (char* rec = reserve_locked(bytes)) {
      char* p = rec;
      mp::put_u32(p, static_cast<std::uint32_t>(mp::RecordKind::Exemplars));
      mp::put_u32(p, static_cast<std::uint32_t>(bytes));
      mp::put_u32(p, it->second);
      mp::put_u32(p, static_cast<std::uint32_t>(n));
      publish_locked(bytes);
      return reinterpret_cast<Exemplar*>(rec + 16);  // NOLINT: zeroed, 8-byte aligned slots
    }
  }
  fallback_exemplars_.push_back(std::make_unique<Exemplar[]>(n));
  return fallback_exemplars_.back().get();
}

void* MmapValueStore::allocate_native_table(const Family& /*family*/, const Cell* cells, int schema,
                                            std::size_t bytes) noexcept {
  std::lock_guard lock(mu_);
  const auto it = series_index_.find(cells);
  if (base_ == nullptr || it == series_index_.end())
    return nullptr;                         // the series lives on the heap: so do its tables
  const std::size_t capacity = bytes / 12;  // native_table_bytes(): 12 bytes a slot
  const std::size_t total = mp::kNativeTableHeaderBytes + bytes;
  char* rec = nullptr;
  try {
    rec = reserve_locked(total);
  } catch (...) {
    return nullptr;  // reporting a full file could not allocate
  }
  if (rec == nullptr)
    return nullptr;
  mp::write_native_table_header(rec, total, it->second, schema,
                                static_cast<std::uint32_t>(capacity));
  publish_locked(total);
  return rec + mp::kNativeTableHeaderBytes;  // zero: a file grows with zeros
}

void MmapValueStore::reopen_after_fork() {
  // The child's first thread is the only one: nothing else can touch the store.
  if (base_ != nullptr)
    ::munmap(base_, kReserveBytes);  // the parent's file: never written here
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  open_locked();
}

int MmapValueStore::owner_pid() const {
  std::lock_guard lock(mu_);
  return pid_;
}

std::string MmapValueStore::path() const {
  std::lock_guard lock(mu_);
  return path_;
}

}  // namespace o11y::detail
