#include "metrics/mp_files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/sys.hpp"
#include "metrics/mp_format.hpp"

namespace o11y::detail::mp {

bool process_alive(int pid, std::uint64_t start_ticks) {
  if (pid <= 0)
    return false;
  const auto ticks = mp::process_start_ticks(pid);
  if (ticks == 0)
    return false;                                   // no such process
  return start_ticks == 0 || ticks == start_ticks;  // same pid, another process: reused
}

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

}  // namespace o11y::detail::mp
