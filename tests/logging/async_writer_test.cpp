// The async writer's idling: it may sleep (and cost the next caller a system call to wake it)
// only after a long while without a line, never between lines that keep coming.
#include "logging/async_writer.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "logging/renderer.hpp"

namespace o11y::detail {
namespace {

std::unique_ptr<AsyncWriter> writer_to_null_sink() {
  std::vector<Output> outputs;
  outputs.emplace_back(kJson, std::make_shared<spdlog::sinks::null_sink_mt>(), true);
  Renderers renderers;
  renderers[kJson] = make_json_renderer();
  renderers[kConsole] = make_json_renderer();
  return std::make_unique<AsyncWriter>(std::move(outputs), renderers, std::size_t{1} << 20,
                                       /*drop=*/false);
}

// A line every millisecond for half a second: the writer finds lines every few polls, so it
// never goes 200 ms without one. It used to count its empty polls across lines and sleep
// after 40 of them, making the caller after each sleep wake it with a system call.
TEST(AsyncWriter, LinesAMillisecondApartNeverLetItSleep) {
  const auto writer = writer_to_null_sink();
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < until) {
    writer->push(0, "{\"event\":\"tick\"}\n", Level::Info, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  writer->flush();
  EXPECT_EQ(writer->sleeps(), 0U);
}

// Without lines it does sleep, and the first line after that still gets written: flush()
// returns once it is.
TEST(AsyncWriter, SleepsWhenIdleAndTheNextLineWakesIt) {
  const auto writer = writer_to_null_sink();
  writer->push(0, "{\"event\":\"first\"}\n", Level::Info, 1);
  writer->flush();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (writer->sleeps() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(writer->sleeps(), 1U);
  writer->push(0, "{\"event\":\"second\"}\n", Level::Info, 2);
  writer->flush();
}

}  // namespace
}  // namespace o11y::detail
