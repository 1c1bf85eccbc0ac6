#include "metrics/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace o11y::detail {

namespace {

std::optional<ProcessMetrics> read_or_throw() {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat;
  if (!stat_file || !std::getline(stat_file, stat))
    return std::nullopt;
  // Fields after the command name, which is in parentheses and may contain spaces.
  const auto close = stat.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;)
    f.push_back(x);
  // proc(5): field 3 is state, so f[0] = field 3; utime 14, stime 15, starttime 22, vsize 23,
  // rss 24.
  auto field = [&](int n) { return std::stod(f.at(static_cast<std::size_t>(n - 3))); };
  const auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));

  ProcessMetrics p;
  p.cpu_seconds = (field(14) + field(15)) / ticks;
  p.virtual_memory_bytes = field(23);
  p.resident_memory_bytes = field(24) * page;

  double boot_time = 0;
  std::ifstream proc_stat("/proc/stat");
  for (std::string line; std::getline(proc_stat, line);) {
    if (line.rfind("btime ", 0) == 0)
      boot_time = std::stod(line.substr(6));
  }
  p.start_time_seconds = boot_time + field(22) / ticks;

  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  p.open_fds = fds;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    p.max_fds = static_cast<double>(lim.rlim_cur);
  return p;
}

}  // namespace

std::optional<ProcessMetrics> read_process_metrics() {
  try {
    return read_or_throw();
  } catch (...) {
    return std::nullopt;  // an unexpected /proc format costs the process metrics, not the scrape
  }
}

}  // namespace o11y::detail
