#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <o11y/context.hpp>
#include <o11y/propagation.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/span_fixture.hpp"

// Run under ThreadSanitizer by the test command: any data race fails the run.
namespace o11y {
namespace {

using testing::find_attr;
using ContextThreads = testing::SpanTest;

TEST_F(ContextThreads, ManyThreadsAnnotateOneSharedSpanThroughAttachedContexts) {
  auto parent = start_span("shared");
  const auto ctx = Context::current();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([ctx, t] {
      auto attached = ctx.attach();
      for (int i = 0; i < kPerThread; ++i) {
        set_custom_tags({{"t" + std::to_string(t) + "_" + std::to_string(i), i}});
        add_span_attribute("last_thread", t);
        auto child = start_span("child");
        child.add_event("work");
      }
    });
  }
  for (auto& th : threads)
    th.join();
  parent.end();

  auto d = spans_->find("shared");
  ASSERT_NE(d, nullptr);
  // 100 tags + last_thread = 101 attributes, all under the 128 limit: none lost to a race.
  EXPECT_EQ(d->attributes.size(), static_cast<std::size_t>(kThreads * kPerThread + 1));
  EXPECT_EQ(spans_->spans().size(), static_cast<std::size_t>(kThreads * kPerThread + 1));
  for (const auto& s : spans_->spans()) {
    EXPECT_EQ(s->context.trace_id, d->context.trace_id);
  }
}

TEST_F(ContextThreads, ProcessorsRegisteredWhileSpansEndOnOtherThreads) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&stop] {
      while (!stop.load()) {
        Scope scope;
        set_custom_tags({{"k", 1}});
        auto s = start_span("busy");
        std::map<std::string, std::string> headers;
        propagation::inject(headers);
        (void)propagation::extract(headers);
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    auto extra = std::make_shared<InMemorySpanProcessor>();
    add_span_processor(extra);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    remove_span_processor(extra);
    set_sample_rate(i % 2 == 0 ? 0.5 : 1.0);
    set_resource(Resource{{{"iteration", i}}});
  }
  stop = true;
  for (auto& w : workers)
    w.join();
  EXPECT_FALSE(spans_->spans().empty());
  for (const auto& s : spans_->spans())
    EXPECT_NE(find_attr(s->attributes, "k"), nullptr);
  set_resource(Resource{});
}

TEST_F(ContextThreads, SpanEndedOnAnotherThreadLeavesBothContextsIntact) {
  auto span = start_span("handed_off");
  const auto id = span.span_id();
  std::thread other([s = std::move(span)]() mutable { s.end(); });
  other.join();
  // The starting thread still has the span as current: only its own thread pops it.
  EXPECT_EQ(current_span_id(), id);
  EXPECT_NE(spans_->find("handed_off"), nullptr);
}

}  // namespace
}  // namespace o11y
