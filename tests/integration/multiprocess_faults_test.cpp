// Multiprocess mode under faults: writers SIGKILLed at random points while a reader scrapes and
// compacts, and a full disk under the directory and the log file.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <o11y/metrics.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using testing::sample;

using namespace std::chrono_literals;

/// Starts the helper with the multiprocess directory (and more) in its environment.
pid_t spawn_helper(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::string& out_path = "/dev/null") {
  std::vector<std::string> argv{O11Y_MP_HELPER};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> a;
  for (auto& s : argv)
    a.push_back(s.data());
  a.push_back(nullptr);
  std::vector<std::string> envs = env;
  envs.emplace_back("PATH=/usr/bin:/bin");
  std::vector<char*> e;
  for (auto& s : envs)
    e.push_back(s.data());
  e.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, (out_path + ".err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  if (posix_spawn(&pid, a[0], &actions, nullptr, a.data(), e.data()) != 0)
    pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::uint64_t read_u64(const std::string& path) {
  std::uint64_t v = 0;
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(&v), sizeof v);
  return v;
}

TEST(MultiprocessFaults, KilledWritersNeverTearValuesFailAScrapeOrLoseCompletedUpdates) {
  testing::TempDir dir;
  const std::string mp_dir = dir.file("mp");
  std::filesystem::create_directories(mp_dir);
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0};
  std::atomic<int> regressions{0};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    double last = 0;
    while (!stop.load()) {
      const auto text = metrics::render_directory(mp_dir);
      const double v = sample(text, "helper_updates_total");
      if (!std::isnan(v)) {
        if (v < last)
          ++regressions;
        last = v;
      } else if (scrapes.load() > 50 && text.find("o11y_multiproc_files ") == std::string::npos) {
        ++failures;
      }
      if (++scrapes % 25 == 0)
        (void)metrics::compact(mp_dir);  // compaction races the writers and the scrapes
    }
  });

  constexpr int kRounds = 70;
  constexpr int kWriters = 3;
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_us(2'000, 40'000);
  std::uint64_t recorded = 0;
  int kills = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::pair<pid_t, std::string>> writers;
    for (int w = 0; w < kWriters; ++w) {
      const auto counter_file = dir.file("done-" + std::to_string(round) + "-" + std::to_string(w));
      writers.emplace_back(spawn_helper({"count", counter_file}, {"O11Y_MULTIPROC_DIR=" + mp_dir}),
                           counter_file);
    }
    // Kill writers that are writing, not ones still starting: on a loaded machine an ASan
    // build can take longer to start than the longest delay, and the test then proved nothing.
    for (auto& [pid, file] : writers) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (read_u64(file) == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    for (auto& [pid, file] : writers) {
      ASSERT_GT(pid, 0);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ++kills;
      recorded += read_u64(file);
    }
  }
  stop.store(true);
  reader.join();
  const double total = sample(metrics::render_directory(mp_dir), "helper_updates_total");
  // Each writer may have finished one add it had no time to record.
  EXPECT_GE(total, static_cast<double>(recorded));
  EXPECT_LE(total, static_cast<double>(recorded + static_cast<std::uint64_t>(kills)));
  EXPECT_EQ(regressions.load(), 0) << "a scrape saw the total go backwards";
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(scrapes.load(), 100);
  std::printf("[ figures  ] %d writers killed, %d scrapes, %llu completed updates, total %.0f\n",
              kills, scrapes.load(), static_cast<unsigned long long>(recorded), total);
}

/// A small tmpfs, unmounted when the object goes.
class SmallDisk {
 public:
  SmallDisk(const std::string& path, const char* size) : path_(path) {
    std::filesystem::create_directories(path);
    const std::string opts = std::string("size=") + size + ",mode=0700";
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    error_ = mounted_ ? "" : std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_)
      ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  [[nodiscard]] bool mounted() const { return mounted_; }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

TEST(MultiprocessFaults, AFullDiskIsReportedOnceAndTheServiceGoesOn) {
  testing::TempDir dir;
  const auto mnt = dir.file("small");
  SmallDisk disk(mnt, "1400k");  // room for the first 1 MiB of the file and a little log
  ASSERT_TRUE(disk.mounted()) << "mount tmpfs: " << disk.error() << " (the test runs as root)";
  std::filesystem::create_directories(mnt + "/mp");
  const auto out = dir.file("helper.out");
  const pid_t pid =
      spawn_helper({"series", "60000"},
                   {"O11Y_MULTIPROC_DIR=" + mnt + "/mp",
                    "O11Y_LOGGING_FILE_PATH=" + mnt + "/log.jsonl", "O11Y_LOGGING_FORMAT=json"},
                   out);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const auto err = testing::read_lines(out + ".err");
  std::string all_err;
  for (const auto& l : err)
    all_err += l + "\n";
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status) << "\n" << all_err;
  EXPECT_EQ(WEXITSTATUS(status), 0) << all_err;
  EXPECT_EQ(testing::read_lines(out).back(), "done 60000");
  std::size_t grow_reports = 0;
  std::size_t log_reports = 0;
  for (const auto& l : err) {
    grow_reports += l.find("cannot grow") != std::string::npos ? 1U : 0U;
    log_reports += l.find("log.jsonl") != std::string::npos ? 1U : 0U;
  }
  EXPECT_EQ(grow_reports, 1U) << all_err;
  EXPECT_GE(log_reports, 1U) << all_err;
  EXPECT_LE(log_reports, 10U) << "rate-limited, not one per line";
  // What reached the file is still readable.
  const auto text = metrics::render_directory(mnt + "/mp");
  EXPECT_NE(text.find("helper_series_total{i=\"0\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace o11y
