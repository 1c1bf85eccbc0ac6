// A worker process for the multiprocess fault tests, started with O11Y_MULTIPROC_DIR set.
//
//   mp_writer_helper series N        declares N label sets of one counter, adds 1 to each and
//                                    logs a line for each (to O11Y_LOGGING_FILE_PATH too, when
//                                    set), prints "done" and exits 0 (the full-disk test)
//   mp_writer_helper count FILE      adds 1 to a counter forever; after each add completes it
//                                    stores the number of completed adds in FILE (8 bytes,
//                                    shared mapping), until killed (the SIGKILL test)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <o11y/config.hpp>
#include <o11y/log.hpp>
#include <o11y/metrics.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3)
    return 2;
  const std::string mode = argv[1];
  if (mode == "series") {
    o11y::Config cfg;
    cfg.metrics.max_series_per_metric = 1'000'000;
    o11y::init(cfg);
    const auto c = o11y::counter("helper_series_total", "One per label set.", {"i"});
    const long n = std::atol(argv[2]);
    auto log = o11y::get_logger("helper");
    for (long i = 0; i < n; ++i) {
      c.add(1, {{"i", std::to_string(i)}});
      log.info("series_added", {{"i", i}, {"pad", std::string(200, 'x')}});
    }
    // Every series still counts, in the file or (once the disk is full) in this process.
    double sum = 0;
    for (long i = 0; i < n; ++i)
      sum += c.value({{"i", std::to_string(i)}});
    std::printf("done %.0f\n", sum);
    return sum == static_cast<double>(n) ? 0 : 1;
  }
  if (mode == "count") {
    const int fd = ::open(argv[2], O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ::ftruncate(fd, 8) != 0)
      return 1;
    void* p = ::mmap(nullptr, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
      return 1;
    std::atomic_ref<std::uint64_t> completed(*static_cast<std::uint64_t*>(p));
    const auto c = o11y::counter("helper_updates_total", "Completed updates.");
    for (std::uint64_t i = 1;; ++i) {
      c.add(1);
      completed.store(i, std::memory_order_release);
    }
  }
  return 2;
}
