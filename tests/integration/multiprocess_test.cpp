// Multiprocess mode with real fork()ed workers and real files. main() below points
// O11Y_MULTIPROC_DIR at a fresh directory before any metric exists, as a pre-fork server would.
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime's allocator interface (g++ ships no header for it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();  // NOLINT
#endif

#include <fstream>
#include <functional>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include "metrics/mp_format.hpp"
#include "support/exposition_check.hpp"
#include "support/process.hpp"
#include "support/text.hpp"

namespace fs = std::filesystem;

namespace o11y {
namespace {

using testing::count_of;
using testing::sample;

std::string g_dir;  // NOLINT

pid_t fork_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);  // values are in the mapped file already: nothing to flush
  }
  return pid;
}

void wait_for(pid_t pid) {
  ::waitpid(pid, nullptr, 0);
}

std::vector<fs::path> files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(g_dir))
    out.push_back(e.path());
  return out;
}

fs::path own_file() {
  return fs::path(g_dir) /
         (std::to_string(::getpid()) + "-" +
          std::to_string(detail::mp::process_start_ticks(::getpid())) + ".o11ymp");
}

// A child that waits (alive) until told to go.
struct HeldChild {
  pid_t pid = -1;
  int release_fd = -1;
  explicit HeldChild(const std::function<void()>& body) {
    int ready[2];
    int release[2];
    EXPECT_EQ(::pipe(ready), 0);
    EXPECT_EQ(::pipe(release), 0);
    pid = ::fork();
    if (pid == 0) {
      body();
      char c = 1;
      (void)::write(ready[1], &c, 1);
      (void)::read(release[0], &c, 1);
      ::_exit(0);
    }
    char c = 0;
    EXPECT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    ::close(release[0]);
    release_fd = release[1];
  }
  void release() {
    char c = 1;
    (void)::write(release_fd, &c, 1);
    ::close(release_fd);
    wait_for(pid);
  }
};

TEST(Multiprocess, IsOnAndFilesAreNeverPythonDbFiles) {
  ASSERT_TRUE(metrics::multiprocess_enabled());
  auto c = counter("mp_files_total", "h");
  c.add(1);
  ASSERT_TRUE(fs::exists(own_file())) << own_file();
  EXPECT_EQ(fs::status(own_file()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  for (const auto& f : files())
    EXPECT_NE(f.extension(), ".db");
}

TEST(Multiprocess, ForkedWorkersAddUpAndChildrenStartFromZero) {
  auto c = counter("mp_requests_total", "Requests", {"route"});
  c.add(5, {{"route", "/"}});  // used before fork: children inherit the family, not the value
  std::vector<pid_t> kids;
  for (int i = 0; i < 3; ++i)
    kids.push_back(fork_child([&] { c.add(10, {{"route", "/"}}); }));
  for (auto k : kids)
    wait_for(k);
  const auto text = metrics::render();
  EXPECT_EQ(sample(text, "mp_requests_total{route=\"/\"}"), 35.0) << text;
  // The parent's own file still says 5: no child wrote into it.
  EXPECT_EQ(c.value({{"route", "/"}}), 5.0);
  EXPECT_GE(files().size(), 4U);
}

TEST(Multiprocess, HistogramsAreSummedBucketByBucket) {
  auto h = histogram("mp_latency_seconds", "h", {}, {0.1, 1.0});
  h.record(0.05);
  const auto kid = fork_child([&] {
    h.record(0.5);
    h.record(5);
  });
  wait_for(kid);
  const auto text = metrics::render();
  EXPECT_EQ(sample(text, "mp_latency_seconds_bucket{le=\"0.1\"}"), 1.0) << text;
  EXPECT_EQ(sample(text, "mp_latency_seconds_bucket{le=\"1.0\"}"), 2.0);
  EXPECT_EQ(sample(text, "mp_latency_seconds_bucket{le=\"+Inf\"}"), 3.0);
  EXPECT_DOUBLE_EQ(sample(text, "mp_latency_seconds_sum"), 5.55);
}

TEST(Multiprocess, GaugeModesCombineLiveAndDeadProcesses) {
  auto live_sum = gauge("mp_live_sum", "h", {}, GaugeMode::LiveSum);
  auto sum = gauge("mp_sum", "h", {}, GaugeMode::Sum);
  auto mx = gauge("mp_max", "h", {}, GaugeMode::Max);
  auto mn = gauge("mp_min", "h", {}, GaugeMode::Min);
  auto recent = gauge("mp_recent", "h", {}, GaugeMode::MostRecent);
  auto all = gauge("mp_all", "h", {}, GaugeMode::LiveAll);
  for (auto* g : {&live_sum, &sum, &mx, &mn, &all})
    g->set(1);
  recent.set(1);
  HeldChild worker([&] {
    for (auto* g : {&live_sum, &sum, &mx, &mn, &all})
      g->set(4);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    recent.set(4);
  });
  auto text = metrics::render();
  EXPECT_EQ(sample(text, "mp_live_sum"), 5.0) << text;
  EXPECT_EQ(sample(text, "mp_sum"), 5.0);
  EXPECT_EQ(sample(text, "mp_max"), 4.0);
  EXPECT_EQ(sample(text, "mp_min"), 1.0);
  EXPECT_EQ(sample(text, "mp_recent"), 4.0);
  EXPECT_EQ(sample(text, "mp_all{pid=\"" + std::to_string(worker.pid) + "\"}"), 4.0);
  EXPECT_EQ(sample(text, "mp_all{pid=\"" + std::to_string(::getpid()) + "\"}"), 1.0);
  worker.release();  // exits: found dead by pid + start time, no mark needed
  text = metrics::render();
  EXPECT_EQ(sample(text, "mp_live_sum"), 1.0) << text;
  EXPECT_EQ(sample(text, "mp_sum"), 5.0);  // non-live modes keep the dead
  EXPECT_TRUE(std::isnan(sample(text, "mp_all{pid=\"" + std::to_string(worker.pid) + "\"}")));
}

TEST(Multiprocess, MarkProcessDeadDropsALiveWorkersLiveGauges) {
  auto g = gauge("mp_marked", "h", {}, GaugeMode::LiveSum);
  auto c = counter("mp_marked_requests_total", "h");
  g.set(1);
  HeldChild worker([&] {
    g.set(10);
    c.add(3);
  });
  EXPECT_EQ(sample(metrics::render(), "mp_marked"), 11.0);
  metrics::mark_process_dead(worker.pid);
  const auto text = metrics::render();
  EXPECT_EQ(sample(text, "mp_marked"), 1.0) << text;
  EXPECT_EQ(sample(text, "mp_marked_requests_total"), 3.0);  // counters never go backwards
  worker.release();
}

// A copy of our own file under another name, with a patch applied to its header.
fs::path planted(const std::string& name, const std::function<void(detail::mp::Header&)>& patch) {
  const auto path = fs::path(g_dir) / name;
  fs::copy_file(own_file(), path, fs::copy_options::overwrite_existing);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  detail::mp::Header h{};
  f.read(reinterpret_cast<char*>(&h), sizeof h);
  patch(h);
  f.seekp(0);
  f.write(reinterpret_cast<const char*>(&h), sizeof h);
  return path;
}

TEST(Multiprocess, AReusedPidIsNotMistakenForTheOldProcess) {
  auto g = gauge("mp_reused", "h", {}, GaugeMode::LiveSum);
  g.set(2);
  // Our pid, another start time: the process that wrote it is gone, whoever has the pid now.
  const auto path =
      planted(std::to_string(::getpid()) + "-1.o11ymp", [](auto& h) { h.start_ticks = 1; });
  EXPECT_EQ(sample(metrics::render(), "mp_reused"), 2.0);
  fs::remove(path);
}

TEST(Multiprocess, BadFilesAreSkippedCountedAndReportedWhileTheRestIsServed) {
  auto c = counter("mp_survivor_total", "h");
  c.add(7);
  const auto skipped_before = sample(metrics::render(), "o11y_multiproc_files_skipped_total");
  const fs::path dir(g_dir);
  std::vector<fs::path> bad;
  // Zero length, shorter than the header, random bytes.
  bad.push_back(dir / "1-0.o11ymp");
  std::ofstream(bad.back()).close();
  bad.push_back(dir / "2-0.o11ymp");
  std::ofstream(bad.back()) << "O11YMP";
  bad.push_back(dir / "3-0.o11ymp");
  {
    std::mt19937 rng(7);
    std::ofstream out(bad.back(), std::ios::binary);
    for (int i = 0; i < 4096; ++i)
      out.put(static_cast<char>(rng()));
  }
  // Future version, other byte order, a header promising more than the file holds.
  bad.push_back(planted("4-0.o11ymp", [](auto& h) { h.version = 2; }));
  bad.push_back(planted("5-0.o11ymp", [](auto& h) { h.byte_order = 0x04030201; }));
  bad.push_back(planted("6-0.o11ymp", [](auto& h) { h.used += 1 << 20; }));
  // A corrupt record inside an otherwise good file.
  bad.push_back(planted("7-0.o11ymp", [](auto&) {}));
  {
    std::fstream f(bad.back(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(detail::mp::kHeaderBytes + 4);
    const std::uint32_t absurd = 3;  // a record length that is not a multiple of 8
    f.write(reinterpret_cast<const char*>(&absurd), 4);
  }
  // Not a regular file, and a symlink planted in the directory.
  bad.push_back(dir / "8-0.o11ymp");
  fs::create_directory(bad.back());
  bad.push_back(dir / "9-0.o11ymp");
  fs::create_symlink(own_file(), bad.back());
  // A good file, but another user's: it could hold anything that user wants us to report.
  bad.push_back(dir / "10-0.o11ymp");
  fs::copy_file(own_file(), bad.back());
  ASSERT_EQ(::chown(bad.back().c_str(), 65534, 65534), 0) << "the tests run as root";

  ::testing::internal::CaptureStderr();
  const auto text = metrics::render();
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(sample(text, "mp_survivor_total"), 7.0) << text;
  EXPECT_EQ(sample(text, "o11y_multiproc_files_skipped_total") - skipped_before, 10.0);
  for (const char* why :
       {"shorter than the header", "not an o11y multiprocess file", "format version 2",
        "other byte order", "truncated: header promises", "corrupt record", "not a regular file",
        "cannot open", "owned by uid 65534"}) {
    EXPECT_NE(err.find(why), std::string::npos) << why << "\n" << err;
  }
  for (const auto& p : bad)
    fs::remove_all(p);
}

TEST(Multiprocess, AWorkerKilledMidStreamLeavesExactlyWhatItCompleted) {
  auto c = counter("mp_killed_total", "h");
  // Shared with the child: how many adds had returned, updated after each one.
  auto* done = static_cast<std::atomic<std::uint64_t>*>(
      ::mmap(nullptr, sizeof(std::atomic<std::uint64_t>), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(done, MAP_FAILED);
  new (done) std::atomic<std::uint64_t>(0);
  for (int round = 0; round < 5; ++round) {
    const auto before = sample(metrics::render(), "mp_killed_total");
    const double base = std::isnan(before) ? 0.0 : before;
    done->store(0);
    const pid_t pid = fork_child([&] {
      for (;;) {
        c.add(1);
        done->fetch_add(1, std::memory_order_release);
      }
    });
    // Kill it mid-stream, not before it began: on CI's two loaded cores a child has been seen
    // not to run at all in the first 20 ms.
    testing::wait_until([&] { return done->load(std::memory_order_acquire) > 0; },
                        std::chrono::seconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + 15 * round));
    ::kill(pid, SIGKILL);
    wait_for(pid);
    const double total = sample(metrics::render(), "mp_killed_total") - base;
    const auto completed = static_cast<double>(done->load(std::memory_order_acquire));
    EXPECT_GT(completed, 0.0);
    // The add that was running when the kill came may or may not have landed; nothing else.
    EXPECT_GE(total, completed) << "round " << round;
    EXPECT_LE(total, completed + 1) << "round " << round;
    EXPECT_EQ(total, std::floor(total)) << "a torn value";
  }
  ::munmap(done, sizeof(std::atomic<std::uint64_t>));
}

int python(const std::string& code, std::string& out) {
  const auto script =
      fs::path(g_dir).parent_path() / ("o11y-py-" + std::to_string(::getpid()) + ".py");
  std::ofstream(script) << code;
  // Debian's python3-prometheus-client is under /usr/bin/python3, not a PATH python.
  const int rc = testing::run("/usr/bin/python3 " + script.string() + " " + g_dir, out);
  fs::remove(script);
  return rc;
}

TEST(Multiprocess, PythonWorkersFilesJoinTheAggregate) {
  auto c = counter("mixed_requests_total", "Requests", {"method", "route"});
  auto h = histogram("mixed_latency_seconds", "Latency", {"route"});
  auto g = gauge("mixed_queued", "Queued", {"route"}, GaugeMode::Sum);
  c.add(1, {{"method", "GET"}, {"route", "/"}});
  h.record(0.6, {{"route", "/"}});
  g.set(3, {{"route", "/"}});
  // The real prometheus_client, in a forked Python worker, writing its own *.db files.
  std::string out;
  ASSERT_EQ(python(R"(
import os, sys
os.environ['PROMETHEUS_MULTIPROC_DIR'] = sys.argv[1]
from prometheus_client import Counter, Histogram, Gauge
pid = os.fork()
if pid == 0:
    Counter('mixed_requests_total', 'Requests', ['route', 'method']).labels(route='/', method='GET').inc(4)
    Histogram('mixed_latency_seconds', 'Latency', ['route']).labels(route='/').observe(0.3)
    Gauge('mixed_queued', 'Queued', ['route'], multiprocess_mode='sum').labels(route='/').set(2)
    os._exit(0)
os.waitpid(pid, 0)
print('ok')
)",
                   out),
            0)
      << out;
  const auto text = metrics::render();
  EXPECT_EQ(sample(text, "mixed_requests_total{method=\"GET\",route=\"/\"}"), 5.0) << text;
  EXPECT_EQ(sample(text, "mixed_latency_seconds_count{route=\"/\"}"), 2.0);
  EXPECT_DOUBLE_EQ(sample(text, "mixed_latency_seconds_sum{route=\"/\"}"), 0.9);
  EXPECT_EQ(sample(text, "mixed_latency_seconds_bucket{route=\"/\",le=\"0.5\"}"), 1.0);
  EXPECT_EQ(sample(text, "mixed_queued{route=\"/\"}"), 5.0);
  for (const auto& f : files()) {
    if (f.extension() == ".db")
      fs::remove(f);
  }
}

// Each worker's registry is its own, so nothing stops two of them declaring families whose
// names clash; the scrape must still be one a validating scraper accepts.
TEST(Multiprocess, WorkersDeclaringClashingFamiliesLeaveAllButOneOutAndTheScrapeStaysValid) {
  for (const auto& declare : std::vector<std::function<void()>>{
           [] { counter("mpc_orders_total", "Orders").add(3); },
           [] { gauge("mpc_orders_total", "Orders", {}, GaugeMode::Sum).set(9); },
           [] { histogram("mpc_orders", "Orders", {}, {1.0}).record(0.5); }}) {
    wait_for(fork_child(declare));
  }
  ::testing::internal::CaptureStderr();
  const double skipped_before = sample(metrics::render(), "o11y_metric_families_skipped_total");
  const auto text = metrics::render();
  const auto om = metrics::render(metrics::Format::OpenMetrics);
  (void)metrics::render();
  const auto err = ::testing::internal::GetCapturedStderr();

  // One family keeps the names, whichever file came first; the other two are left out of
  // every scrape and counted each time, and each clash is reported once.
  const auto families = count_of(text, "# TYPE mpc_orders_total counter\n") +
                        count_of(text, "# TYPE mpc_orders_total gauge\n") +
                        count_of(text, "# TYPE mpc_orders histogram\n");
  EXPECT_EQ(families, 1U) << text;
  EXPECT_EQ(sample(text, "o11y_metric_families_skipped_total") - skipped_before, 2.0) << text;
  EXPECT_EQ(count_of(err, "is left out of the scrape"), 2U) << err;
  EXPECT_NE(err.find("mpc_orders"), std::string::npos) << err;
  EXPECT_EQ(testing::exposition_problems(text, om), "") << text;
}

// Property: random declarations (counters, gauges of several modes, histograms, and a Python
// prometheus_client worker's families) with colliding names, spread over worker processes:
// the aggregate is always a valid exposition in both formats.
TEST(Multiprocess, RandomCollidingDeclarationsAcrossWorkersNeverMakeAnInvalidScrape) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<std::string> suffixes = {"", "_total", "_count", "_sum", "_bucket", "_created"};
  const std::vector<std::string> kinds = {"Counter", "Gauge", "Histogram"};
  for (int round = 0; round < 4; ++round) {
    const std::string prefix = "mpp" + std::to_string(round) + "_";
    auto random_name = [&] {
      return prefix + (rng() % 2 ? "a" : "b") + suffixes[rng() % suffixes.size()];
    };
    for (int worker = 0; worker < 4; ++worker) {
      std::vector<std::pair<unsigned, std::string>> plan;
      for (int i = 0; i < 3; ++i)
        plan.emplace_back(rng(), random_name());
      wait_for(fork_child([plan] {
        for (const auto& [r, name] : plan) {
          try {
            switch (r % 4) {
              case 0:
                counter(name, "h", {"k"}).add(1, {{"k", "v"}});
                break;
              case 1:
                gauge(name, "h", {}, GaugeMode::Sum).set(2);
                break;
              case 2:
                gauge(name, "h", {"k"}, GaugeMode::All).set(2, {{"k", "v"}});
                break;
              default:
                histogram(name, "h", {}, {1.0}).record(0.5);
                break;
            }
          } catch (const MetricError&) {
            // A clash inside one worker: refused there, as the registry must.
          }
        }
      }));
    }
    std::string script =
        "import os, sys\nos.environ['PROMETHEUS_MULTIPROC_DIR'] = sys.argv[1]\n"
        "import prometheus_client as p\nmade = []\n";
    for (int i = 0; i < 2; ++i) {
      script += "try:\n    made.append(p." + kinds[rng() % kinds.size()] + "('" + random_name() +
                "', 'h'))\nexcept ValueError:\n    pass\n";
    }
    script += "for m in made:\n    (m.inc if hasattr(m, 'inc') else m.observe)(1)\nprint('ok')\n";
    std::string out;
    ASSERT_EQ(python(script, out), 0) << script << out;

    ::testing::internal::CaptureStderr();
    const auto text = metrics::render();
    const auto om = metrics::render(metrics::Format::OpenMetrics);
    (void)::testing::internal::GetCapturedStderr();
    const auto problems = testing::exposition_problems(text, om);
    ASSERT_EQ(problems, "") << "round " << round << "\n" << text;
  }
  for (const auto& f : files()) {
    if (f.extension() == ".db")
      fs::remove(f);
  }
}

TEST(Multiprocess, ARegistryOfOnesOwnKeepsItsValuesInThisProcess) {
  metrics::Registry mine;
  mine.counter("mp_own_registry_total", "Not in the directory").add(5);
  EXPECT_EQ(sample(mine.render(), "mp_own_registry_total"), 5.0);
  EXPECT_FALSE(testing::contains(metrics::render(), "mp_own_registry_total"));
}

TEST(Multiprocess, ReadsThe018LayoutWithTimestamps) {
  // prometheus_client 0.18 added a timestamp after each value. Written here by hand in that
  // layout (Debian ships 0.16), for a most-recent gauge and a counter.
  std::string out;
  ASSERT_EQ(python(R"(
import json, os, struct, sys
def write(path, entries):
    body = b''
    for key, value, ts in entries:
        k = json.dumps(key, sort_keys=True).encode()
        pad = 8 - (len(k) + 4) % 8
        body += struct.pack('i', len(k)) + k + b' ' * pad + struct.pack('dd', value, ts)
    used = 8 + len(body)
    with open(path, 'wb') as f:
        f.write(struct.pack('i', used) + bytes(4) + body + bytes(64))
d = sys.argv[1]
write(os.path.join(d, 'counter_999999.db'), [[['v18_jobs', 'v18_jobs_total', {'q': 'a'}, 'Jobs'], 6.0, 1700000000.0]])
write(os.path.join(d, 'gauge_mostrecent_999999.db'), [[['v18_temp', 'v18_temp', {}, 'Temp'], 21.5, 4102444800.0]])
print('ok')
)",
                   out),
            0)
      << out;
  auto g = gauge("v18_temp", "Temp", {}, GaugeMode::MostRecent);
  g.set(19);  // now: earlier than the Python file's year-2100 timestamp
  const auto text = metrics::render();
  EXPECT_EQ(sample(text, "v18_jobs_total{q=\"a\"}"), 6.0) << text;
  EXPECT_EQ(sample(text, "v18_temp"), 21.5);
  fs::remove(fs::path(g_dir) / "counter_999999.db");
  fs::remove(fs::path(g_dir) / "gauge_mostrecent_999999.db");
}

TEST(Multiprocess, ACorruptPythonFileIsSkippedLikeOurs) {
  auto c = counter("py_survivor_total", "h");
  c.add(1);
  const auto path = fs::path(g_dir) / "counter_424242.db";
  {
    std::mt19937 rng(3);
    std::ofstream f(path, std::ios::binary);
    const std::int32_t used = 4096;
    f.write(reinterpret_cast<const char*>(&used), 4);
    for (int i = 0; i < 4096; ++i)
      f.put(static_cast<char>(rng()));
  }
  ::testing::internal::CaptureStderr();
  const auto text = metrics::render();
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(sample(text, "py_survivor_total"), 1.0) << text;
  EXPECT_NE(err.find("counter_424242.db"), std::string::npos) << err;
  fs::remove(path);
}

TEST(Compaction, ExitedWorkersMergeIntoTheArchiveAndNothingGoesBackwards) {
  auto c = counter("cmp_jobs_total", "h", {"kind"});
  auto h = histogram("cmp_seconds", "h", {}, {1.0});
  auto g = gauge("cmp_peak", "h", {}, GaugeMode::Max);
  auto run_workers = [&](int n, double value) {
    std::vector<pid_t> kids;
    for (int i = 0; i < n; ++i) {
      kids.push_back(fork_child([&] {
        c.add(value, {{"kind", "email"}});
        h.record(0.5);
        g.set(value * 10);
      }));
    }
    for (auto k : kids)
      wait_for(k);
  };
  (void)metrics::compact();  // earlier tests' exited workers, when run in one process
  run_workers(3, 1);
  const auto before = metrics::render();
  EXPECT_EQ(metrics::compact(), 3U);
  const auto after = metrics::render();
  EXPECT_EQ(files().size(), 3U);  // ours, the archive and the compaction lock: the rest merged
  EXPECT_TRUE(fs::exists(fs::path(g_dir) / "archive.o11ymp"));
  for (const char* line :
       {"cmp_jobs_total{kind=\"email\"}", "cmp_seconds_count", "cmp_seconds_sum", "cmp_peak"}) {
    EXPECT_EQ(sample(after, line), sample(before, line)) << line << "\n" << after;
  }
  EXPECT_EQ(sample(after, "cmp_jobs_total{kind=\"email\"}"), 3.0);
  run_workers(2, 5);  // a second generation, compacted into the same archive
  EXPECT_EQ(metrics::compact(), 2U);
  const auto later = metrics::render();
  EXPECT_EQ(sample(later, "cmp_jobs_total{kind=\"email\"}"), 13.0) << later;
  EXPECT_EQ(sample(later, "cmp_seconds_count"), 5.0);
  EXPECT_EQ(sample(later, "cmp_peak"), 50.0);
  EXPECT_EQ(metrics::compact(), 0U);  // nothing left to do
}

TEST(Compaction, MarkProcessDeadOfAReapedWorkerFoldsItsFileIntoTheArchive) {
  auto c = counter("cmp_reaped_total", "h");
  const auto kid = fork_child([&] { c.add(6); });
  wait_for(kid);
  metrics::mark_process_dead(kid);
  for (const auto& f : files())
    EXPECT_FALSE(f.filename().string().starts_with(std::to_string(kid) + "-")) << f;
  EXPECT_EQ(sample(metrics::render(), "cmp_reaped_total"), 6.0);
}

TEST(Compaction, LiveWorkersAreLeftAlone) {
  auto c = counter("cmp_live_total", "h");
  HeldChild worker([&] { c.add(2); });
  (void)metrics::compact();
  EXPECT_EQ(sample(metrics::render(), "cmp_live_total"), 2.0);
  bool worker_file = false;
  for (const auto& f : files())
    worker_file =
        worker_file || f.filename().string().starts_with(std::to_string(worker.pid) + "-");
  EXPECT_TRUE(worker_file);
  worker.release();
}

TEST(Compaction, AFileLeftBehindByAnInterruptedCompactionIsNotCountedTwice) {
  auto c = counter("cmp_crash_total", "h");
  const auto kid = fork_child([&] { c.add(4); });
  wait_for(kid);
  fs::path kid_file;
  for (const auto& f : files()) {
    if (f.filename().string().starts_with(std::to_string(kid) + "-"))
      kid_file = f;
  }
  ASSERT_FALSE(kid_file.empty());
  const auto backup = fs::path(g_dir).parent_path() / ("o11y-backup-" + std::to_string(::getpid()));
  fs::copy_file(kid_file, backup, fs::copy_options::overwrite_existing);
  ASSERT_GE(metrics::compact(), 1U);
  fs::copy_file(backup, kid_file);  // as if the compactor died after writing the archive
  fs::remove(backup);
  EXPECT_EQ(sample(metrics::render(), "cmp_crash_total"), 4.0);
  (void)metrics::compact();  // removes the leftover
  EXPECT_FALSE(fs::exists(kid_file));
  EXPECT_EQ(sample(metrics::render(), "cmp_crash_total"), 4.0);
}

TEST(Multiprocess, ExemplarsLiveInTheFilesAndTheNewestWins) {
  set_sample_rate(1.0);
  auto c = counter("mp_exemplar_total", "h");
  auto h = histogram("mp_exemplar_seconds", "h", {}, {0.5, 1.0});
  auto quiet = counter("mp_quiet_total", "h");
  quiet.add(1);  // never under a span: no exemplar slots in the file for it
  std::string parent_trace;
  {
    auto span = start_span("parent_work");
    parent_trace = span.trace_id();
    c.add(1);
    h.record(0.2);  // bucket le=0.5: only the parent records here
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const auto kid = fork_child([&] {
    auto span = start_span("child_work");
    const auto trace = span.trace_id();
    (void)::write(fds[1], trace.data(), trace.size());
    c.add(1);       // newer than the parent's: the child's exemplar wins for the counter
    h.record(0.7);  // bucket le=1.0
  });
  wait_for(kid);
  std::string child_trace(32, '\0');
  ASSERT_EQ(::read(fds[0], child_trace.data(), 32), 32);
  ::close(fds[0]);
  ::close(fds[1]);
  const auto om = metrics::render(metrics::Format::OpenMetrics);
  EXPECT_NE(om.find("mp_exemplar_total 2 # {trace_id=\"" + child_trace), std::string::npos) << om;
  EXPECT_NE(om.find("mp_exemplar_seconds_bucket{le=\"0.5\"} 1 # {trace_id=\"" + parent_trace),
            std::string::npos)
      << om;
  EXPECT_NE(om.find("mp_exemplar_seconds_bucket{le=\"1.0\"} 2 # {trace_id=\"" + child_trace),
            std::string::npos)
      << om;
  EXPECT_NE(om.find("\nmp_quiet_total 1\n"), std::string::npos) << om;
}

TEST(Multiprocess, RenderDirectoryAggregatesAnyDirectory) {
  auto c = counter("mp_dir_total", "h");
  c.add(2);
  const auto text = metrics::render_directory(g_dir, metrics::Format::OpenMetrics);
  EXPECT_EQ(sample(text, "mp_dir_total"), 2.0) << text;
  EXPECT_TRUE(text.ends_with("# EOF\n"));
}

}  // namespace
}  // namespace o11y

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::random_device rd;
  const auto dir = fs::temp_directory_path() /
                   ("o11y-mp-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(dir);
  o11y::g_dir = dir.string();
  ::setenv("O11Y_MULTIPROC_DIR", o11y::g_dir.c_str(), 1);
  const int rc = RUN_ALL_TESTS();
  fs::remove_all(dir);
  return rc;
}

namespace o11y {
namespace {

struct Footprint {
  std::size_t fds = 0;
  std::size_t mappings = 0;  // of files
  long rss_kib = 0;
  std::size_t heap_bytes = 0;  // live allocations: what a leak would grow
};

std::size_t live_heap_bytes() {
#if defined(__SANITIZE_ADDRESS__)
  // Under ASan, freed memory sits in a quarantine that RSS counts; its allocator knows what
  // is really live.
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

Footprint footprint() {
  Footprint f;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd"))
    ++f.fds;
  // Mappings of files (ours are): anonymous ones come and go with the allocator, and ASan's
  // quarantine keeps freed blocks mapped, so their count follows heap churn, not leaks (the
  // heap itself is measured below).
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find('/') != std::string::npos)
      ++f.mappings;
  }
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:"))
      f.rss_kib = std::stol(line.substr(6));
  }
  f.heap_bytes = live_heap_bytes();
  return f;
}

TEST(MultiprocessFaults, AThousandForkExitCyclesGrowNothingInTheParent) {
  const auto c = counter("mp_cycles_total", "One per forked child.");
  constexpr int kCycles = 1000;
  constexpr int kWarmup = 50;
  Footprint warm;
  for (int i = 0; i < kCycles; ++i) {
    if (i == kWarmup)
      warm = footprint();
    const pid_t pid = fork_child([&c] { c.add(1); });
    ASSERT_GT(pid, 0);
    wait_for(pid);
    metrics::mark_process_dead(pid);  // what a pre-fork master does on reaping; compacts too
  }
  const auto after = footprint();
  EXPECT_EQ(after.fds, warm.fds) << "file descriptors leak per cycle";
  EXPECT_EQ(after.mappings, warm.mappings) << "mappings leak per cycle";
  EXPECT_LT(after.heap_bytes, warm.heap_bytes + 256 * 1024) << "the heap grows per cycle";
  EXPECT_EQ(sample(metrics::render(), "mp_cycles_total"), kCycles);
  EXPECT_LE(files().size(), 3U) << "compaction keeps the directory small";
  std::printf(
      "[ figures  ] %d fork/exit cycles: fds %zu -> %zu, mappings %zu -> %zu, live heap "
      "%zu -> %zu bytes, rss %ld -> %ld KiB\n",
      kCycles, warm.fds, after.fds, warm.mappings, after.mappings, warm.heap_bytes,
      after.heap_bytes, warm.rss_kib, after.rss_kib);
}

}  // namespace
}  // namespace o11y
