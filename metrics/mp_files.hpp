#pragma once

// Reading a multiprocess directory's files: read-only mappings, what a file says of its
// writer, and a bounds-checked cursor over records.

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace o11y::detail::mp {

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
  std::uint64_t created_ns = 0;       // when its values began (unix ns), 0 when unknown
  std::vector<std::string> absorbed;  // the archive only: files whose values it holds
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

/// Whether the process that wrote a file (pid, and its start time when known) still exists.
bool process_alive(int pid, std::uint64_t start_ticks);

/// Opens and maps a file read-only, refusing symlinks, files of other users and anything but a
/// regular file of at least min_size bytes. Returns the reason when it cannot.
std::optional<std::string> map_file(const std::string& path, std::size_t min_size, Mapping& out);

}  // namespace o11y::detail::mp
