#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <o11y/context.hpp>
#include <o11y/log.hpp>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/logging_fixture.hpp"
#include "support/temp_dir.hpp"

// Run under ThreadSanitizer by the test command.
namespace o11y {
namespace {

using LoggingThreads = testing::LoggingTest;

TEST_F(LoggingThreads, ThreadsLogWithContextHopsWhileTheConfigurationChanges) {
  testing::TempDir dir;
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      auto log = get_logger("threads").bind({{"thread", t}});
      while (!stop.load()) {
        Scope scope;
        auto span = start_span("work");
        set_custom_tags({{"tenant_id", "acme"}});
        auto ctx = Context::current();
        std::thread hop([ctx, &written] {
          auto attached = ctx.attach();
          get_logger("hop").info("hopped");
          ++written;
        });
        log.info("tick", {{"n", written.load()}});
        ++written;
        hop.join();
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    LoggingConfig cfg = debug();
    cfg.async = i % 2 == 0;
    cfg.file_path = dir.file("threads.log");
    configure(cfg);
    logging::LogCapture extra;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (auto& th : threads)
    th.join();
  logging::flush();
  EXPECT_GT(written.load(), 0);
  // Every captured line is one valid JSON object with the context it was written in.
  for (const auto& r : records()) {
    EXPECT_EQ(r["tenant_id"], "acme");
    EXPECT_EQ(r["trace_id"].get<std::string>().size(), 32U);
  }
}

// Every one of `threads` threads' lines {"t": thread, "i": 0, 1, ...} is in the file once, in
// the order the thread wrote them; `check` looks at each line too.
template <class Check>
void expect_each_threads_lines_in_order(const std::string& path, int threads, int per_thread,
                                        Check&& check) {
  std::vector<int> next(static_cast<std::size_t>(threads), 0);
  std::size_t count = 0;
  for (const auto& line : testing::read_lines(path)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    const int t = j["t"].get<int>();
    ASSERT_GE(t, 0);
    ASSERT_LT(t, threads);
    ASSERT_EQ(j["i"].get<int>(), next[static_cast<std::size_t>(t)]) << "thread " << t;
    check(j, t);
    ++next[static_cast<std::size_t>(t)];
    ++count;
  }
  EXPECT_EQ(count, static_cast<std::size_t>(threads * per_thread));
}

TEST_F(LoggingThreads, ThreadsWritingOneFileLoseNoLineAndKeepEachThreadsOrder) {
  testing::TempDir dir;
  LoggingConfig cfg = debug();
  cfg.file_path = dir.file("shared.log");
  configure(cfg);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;  // with the padding, several buffers hand-offs each
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const std::string pad(200, static_cast<char>('a' + t));
      auto log = get_logger("writer");
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 1000 == 999) {
          log.warning("numbered", {{"t", t}, {"i", i}, {"pad", pad}});  // written at once
        } else {
          log.info("numbered", {{"t", t}, {"i", i}, {"pad", pad}});
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  logging::flush();
  expect_each_threads_lines_in_order(cfg.file_path, kThreads, kPerThread,
                                     [](const nlohmann::json& /*line*/, int /*t*/) {});
}

// Each async caller appends to its own thread's ring while the writer reads every ring: a
// budget of 64 KiB makes every ring wrap every few hundred lines, with the writer reading
// behind the callers and callers waiting for the room it gives back.
TEST_F(LoggingThreads, AsyncCallersWrappingTheirRingsAsTheWriterReadsLoseNoLineAndKeepTheirOrder) {
  testing::TempDir dir;
  LoggingConfig cfg = debug();
  cfg.file_path = dir.file("async.log");
  cfg.async = true;
  cfg.async_queue_bytes = 64 * 1024;
  configure(cfg);
  const auto dropped_before = logging::dropped_lines();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const Scope scope;
      set_custom_tags({{"thread", t}});
      const std::string pad(100 + static_cast<std::size_t>(t) * 37, static_cast<char>('a' + t));
      auto log = get_logger("writer");
      for (int i = 0; i < kPerThread; ++i)
        log.info("numbered", {{"t", t}, {"i", i}, {"pad", pad}});
    });
  }
  for (auto& th : threads)
    th.join();
  logging::flush();
  expect_each_threads_lines_in_order(
      cfg.file_path, kThreads, kPerThread, [](const nlohmann::json& j, int t) {
        const auto ut = static_cast<std::size_t>(t);
        EXPECT_EQ(j["thread"].get<int>(), t) << j;
        EXPECT_EQ(j["pad"].get<std::string>(),
                  std::string(100 + ut * 37, static_cast<char>('a' + t)));
      });
  EXPECT_EQ(logging::dropped_lines(), dropped_before);
}

// A burst larger than a thread's first ring makes the ring chain grow while the writer reads
// the older one, and threads that exit right after logging leave queues the writer must drain
// before it drops them; a flush from another thread meanwhile waits for what was queued.
TEST_F(LoggingThreads, AsyncQueuesThatGrowOrWhoseThreadsExitLoseNoLine) {
  testing::TempDir dir;
  LoggingConfig cfg = debug();
  cfg.file_path = dir.file("grow.log");
  cfg.async = true;
  cfg.async_queue_bytes = std::size_t{16} * 1024 * 1024;
  configure(cfg);
  const auto dropped_before = logging::dropped_lines();
  constexpr int kThreads = 6;
  constexpr int kPerThread = 6000;  // with the padding, about 3 MB a thread: past 1 MiB
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const std::string pad(400, static_cast<char>('a' + t));
      auto log = get_logger("grower");
      for (int i = 0; i < kPerThread; ++i) {
        log.info("numbered", {{"t", t}, {"i", i}, {"pad", pad}});
        if (t == 0 && i % 1000 == 0)
          logging::flush();
      }
    });  // exits at once: its queue is closed with lines still in it
  }
  for (auto& th : threads)
    th.join();
  logging::flush();
  expect_each_threads_lines_in_order(cfg.file_path, kThreads, kPerThread,
                                     [](const nlohmann::json& /*j*/, int /*t*/) {});
  EXPECT_EQ(logging::dropped_lines(), dropped_before);
}

// A thread's queue carries its frame (span ids, tags, log context) once and then a flag per
// line, until the frame changes. Threads here change frames every few lines into small queues
// that drop lines when full, so the line that would have carried a frame is sometimes the one
// dropped: every line written must still carry its own frame, never another's.
TEST_F(LoggingThreads, AsyncLinesCarryTheirOwnFramesTagsAsFramesChangeAndFullQueuesDrop) {
  testing::TempDir dir;
  LoggingConfig cfg = debug();
  cfg.file_path = dir.file("frames.log");
  cfg.async = true;
  cfg.async_queue_bytes = 4096;
  cfg.async_drop_when_full = true;
  configure(cfg);
  constexpr int kThreads = 3;
  constexpr int kPerThread = 4000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      auto log = get_logger("frames");
      for (int i = 0; i < kPerThread;) {
        const int frame = i / 7;  // a request of 7 lines, then the next
        const Scope scope;
        std::optional<Span> span;
        if (frame % 2 == 0)
          span.emplace(start_span("request"));
        set_custom_tags({{"tenant_id", "t" + std::to_string(t) + "-" + std::to_string(frame)}});
        if (frame % 3 == 0)
          add_log_context({{"request_id", frame}});
        const std::string span_id = span ? span->span_id() : "";
        for (; i < kPerThread && i / 7 == frame; ++i)
          log.info("numbered", {{"t", t}, {"frame", frame}, {"i", i}, {"span", span_id}});
      }
      // One line under no frame of its own, after the last request's.
      log.info("numbered", {{"t", t}, {"frame", -1}, {"i", kPerThread}, {"span", ""}});
    });
  }
  for (auto& th : threads)
    th.join();
  logging::flush();
  std::size_t lines = 0;
  std::vector<bool> seen_last(kThreads, false);
  for (const auto& line : testing::read_lines(cfg.file_path)) {
    const auto j = nlohmann::json::parse(line);
    const int t = j["t"];
    const int frame = j["frame"];
    ++lines;
    if (frame < 0) {
      seen_last[static_cast<std::size_t>(t)] = true;
      EXPECT_FALSE(j.contains("tenant_id")) << line;
      EXPECT_FALSE(j.contains("request_id")) << line;
      EXPECT_FALSE(j.contains("span_id")) << line;
      continue;
    }
    EXPECT_EQ(j.value("span_id", ""), j["span"]) << line;
    EXPECT_EQ(j.value("tenant_id", ""), "t" + std::to_string(t) + "-" + std::to_string(frame))
        << line;
    EXPECT_EQ(j.contains("request_id"), frame % 3 == 0) << line;
    if (frame % 3 == 0) {
      EXPECT_EQ(j["request_id"], frame) << line;
    }
  }
  EXPECT_GT(lines, 0U);
  std::printf("[ figures  ] %zu of %d lines written, the rest dropped by full queues\n", lines,
              kThreads * (kPerThread + 1));
}

double counted(const std::string& scrape, const std::string& series) {
  const auto at = scrape.find("\n" + series + " ");
  return at == std::string::npos ? 0.0 : std::stod(scrape.substr(at + series.size() + 2));
}

double log_records_accounted() {
  const auto s = metrics::render();
  return counted(s, "o11y_log_records_exported_total") +
         counted(s, "o11y_log_records_dropped_total{reason=\"queue_full\"}") +
         counted(s, "o11y_log_records_dropped_total{reason=\"export_failed\"}") +
         counted(s, "o11y_log_records_dropped_total{reason=\"shutdown\"}");
}

// Callers, the export thread and a thread flushing all the while: every record is accounted
// for once (here the collector refuses connections, so each is either dropped for a full queue
// or lost with its failed request).
TEST_F(LoggingThreads, CallersExportingLogRecordsWhileAnotherThreadFlushesAccountForEveryRecord) {
  LoggingConfig cfg = debug();
  cfg.stdout_output = false;
  cfg.exporter = LogsExporter::Otlp;
  cfg.otlp_endpoint = "http://127.0.0.1:9/v1/logs";
  cfg.batch.max_queue_size = 256;
  cfg.batch.max_export_batch_size = 64;
  cfg.batch.schedule_delay = std::chrono::milliseconds(5);
  cfg.batch.export_timeout = std::chrono::milliseconds(200);
  configure(cfg);
  const double before = log_records_accounted();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done.load())
      logging::flush();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const Scope scope;
      set_custom_tags({{"thread", t}});
      auto log = get_logger("exporting");
      for (int i = 0; i < kPerThread; ++i)
        log.info("numbered", {{"t", t}, {"i", i}});
    });
  }
  for (auto& th : threads)
    th.join();
  done = true;
  flusher.join();
  logging::flush();
  EXPECT_EQ(log_records_accounted() - before, kThreads * kPerThread);
  configure(debug());
}

TEST_F(LoggingThreads, ThreadsRotatingOneFileLoseNoLineAndRotateEachGenerationOnce) {
  testing::TempDir dir;
  LoggingConfig cfg = debug();
  cfg.file_path = dir.file("rot.log");
  // Just past one 256 KiB buffer: the buffer is handed to the writer thread a few lines
  // before the limit, so the rotation waits for that write, and other callers reach the limit
  // meanwhile: the window in which a rotation could be decided twice.
  cfg.file_max_bytes = 260 * 1024;
  cfg.file_max_files = 1000;  // keep every generation, so every line can be counted
  configure(cfg);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const std::string pad(250, 'r');
      auto log = get_logger("rotator");
      for (int i = 0; i < kPerThread; ++i)
        log.info("rotating", {{"t", t}, {"i", i}, {"pad", pad}});
    });
  }
  for (auto& th : threads)
    th.join();
  logging::flush();
  std::size_t lines = 0;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    lines += testing::read_lines(entry.path().string()).size();
    // A generation is rotated out when the next line would not fit: it holds nearly
    // max_bytes. One rotated twice in a row holds only what came in between.
    if (entry.path().filename() != "rot.log") {
      EXPECT_GE(entry.file_size(), cfg.file_max_bytes / 2) << entry.path() << " rotated out short";
    }
  }
  EXPECT_GE(files, 5U);
  EXPECT_EQ(lines, static_cast<std::size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace o11y
