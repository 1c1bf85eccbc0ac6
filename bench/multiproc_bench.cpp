// Multiprocess mode, the workload of shared/bench/py_multiproc_bench.py through o11y:
//   W forked workers, each touching S label-sets of bench_requests_total (counter),
//   bench_latency_seconds (histogram, default buckets) and bench_inflight (livesum gauge),
//   labels (method, path). Worker 0 then times uncontended per-op costs; the parent times
//   the scrape (median of RUNS) and measures the directory. `key value` lines, like the
//   Python script, so the two can be compared side by side:
//     build/release/bench/o11y_multiproc_bench 64 1000
//     /usr/bin/python3 ../shared/bench/py_multiproc_bench.py 64 1000
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <o11y/metrics.hpp>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kOps = 200000;
const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE"};

struct Metrics {
  o11y::Counter requests = o11y::counter("bench_requests_total", "Requests", {"method", "path"});
  o11y::Histogram latency = o11y::histogram("bench_latency_seconds", "Latency", {"method", "path"});
  o11y::Gauge inflight =
      o11y::gauge("bench_inflight", "In flight", {"method", "path"}, o11y::GaugeMode::LiveSum);
};

template <class F>
double ns_per_op(F&& f) {
  const auto start = Clock::now();
  for (int i = 0; i < kOps; ++i)
    f(i);
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kOps;
}

// The per-op costs, in whichever mode this process is in.
std::string time_ops(Metrics& m) {
  auto bound = m.requests.labels({"GET", "/api/v1/resource/0"});
  auto hist = m.latency.labels({"GET", "/api/v1/resource/0"});
  auto gauge = m.inflight.labels({"GET", "/api/v1/resource/0"});
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "counter_labels_inc_ns %.1f\ncounter_bound_inc_ns %.1f\nhist_labels_observe_ns %.1f\n"
      "hist_bound_observe_ns %.1f\ngauge_bound_inc_ns %.1f\n",
      ns_per_op([&](int) {
        m.requests.add(1, {{"method", "GET"}, {"path", "/api/v1/resource/0"}});
      }),
      ns_per_op([&](int) { bound.add(1); }), ns_per_op([&](int i) {
        m.latency.record(0.001 * (i % 100), {{"method", "GET"}, {"path", "/api/v1/resource/0"}});
      }),
      ns_per_op([&](int i) { hist.record(0.001 * (i % 100)); }),
      ns_per_op([&](int) { gauge.add(1); }));
  return buf;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s W S [SCRAPE_RUNS]\n", argv[0]);
    return 2;
  }
  const int workers = std::atoi(argv[1]);
  const int sets = std::atoi(argv[2]);
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;

  // In-process baseline: a child forked before multiprocess mode is chosen.
  int base_pipe[2];
  if (::pipe(base_pipe) != 0)
    return 1;
  if (::fork() == 0) {
    Metrics m;
    const auto r = time_ops(m);
    (void)::write(base_pipe[1], r.data(), r.size());
    ::_exit(0);
  }
  ::close(base_pipe[1]);
  const std::string in_process = read_all(base_pipe[0]);
  ::wait(nullptr);

  std::random_device rd;
  const auto dir = fs::temp_directory_path() / ("o11y_bench_W" + std::to_string(workers) + "_S" +
                                                std::to_string(sets) + "_" + std::to_string(rd()));
  fs::create_directories(dir);
  ::setenv("O11Y_MULTIPROC_DIR", dir.c_str(), 1);
  std::printf("W %d\nS %d\n", workers, sets);

  int go[2];
  int res[2];
  if (::pipe(go) != 0 || ::pipe(res) != 0)
    return 1;
  const auto t_fork = Clock::now();
  std::vector<pid_t> pids;
  for (int w = 0; w < workers; ++w) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      Metrics m;
      for (int i = 0; i < sets; ++i) {
        const std::string path = "/api/v1/resource/" + std::to_string(i);
        const char* method = kMethods[i % 4];
        m.requests.add(1, {{"method", method}, {"path", path}});
        m.latency.record(0.05, {{"method", method}, {"path", path}});
        m.inflight.add(1, {{"method", method}, {"path", path}});
      }
      if (w == 0) {
        char c = 0;
        (void)::read(go[0], &c, 1);  // wait until the others are done
        const auto r = time_ops(m);
        (void)::write(res[1], r.data(), r.size());
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  ::close(res[1]);
  for (std::size_t i = 1; i < pids.size(); ++i)
    ::waitpid(pids[i], nullptr, 0);
  std::printf("workers_write_phase_s %.3f\n",
              std::chrono::duration<double>(Clock::now() - t_fork).count());
  (void)::write(go[1], "x", 1);
  const std::string mp_ops = read_all(res[0]);
  ::waitpid(pids[0], nullptr, 0);

  std::printf("%s", mp_ops.c_str());
  std::printf("in_process_%s", in_process.c_str());  // first line only gets the prefix
  std::uintmax_t apparent = 0;
  std::uintmax_t used = 0;
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++files;
    apparent += e.file_size();
    FILE* f = std::fopen(e.path().c_str(), "rb");
    std::uint64_t u = 0;
    if (f != nullptr && std::fseek(f, 32, SEEK_SET) == 0 && std::fread(&u, 8, 1, f) == 1)
      used += u + 64;
    if (f != nullptr)
      std::fclose(f);
  }
  const double series_per_worker = 3.0 * sets;
  std::printf(
      "files %d\nfile_bytes_apparent %ju\nfile_bytes_used %ju\nbytes_used_per_series_per_worker "
      "%.1f\n",
      files, apparent, used, static_cast<double>(used) / (series_per_worker * workers));

  std::vector<double> times;
  std::size_t size = 0;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    size = o11y::metrics::render().size();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  std::printf("scrape_s_median %.4f\nscrape_bytes %zu\n", times[times.size() / 2], size);
  fs::remove_all(dir);
  return 0;
}
