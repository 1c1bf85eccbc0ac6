#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <o11y/context.hpp>
#include <o11y/log.hpp>
#include <o11y/trace.hpp>
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

}  // namespace
}  // namespace o11y
