// A span's memory is recycled by the thread that releases it (context/span.cpp, "Recycling").
// These tests catch a span that inherits anything from the one before it in the same block.
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <o11y/context.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <vector>

#include "context/span_state.hpp"
#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using testing::find_attr;

/// Keeps a copy of every span and where its data lived, and drops the span itself at once, so
/// that its block goes back to the releasing thread's pool.
class CopyingProcessor : public SpanProcessor {
 public:
  struct Seen {
    SpanData data;
    const void* address;
    std::size_t attribute_capacity;
  };

  void on_end(std::shared_ptr<const SpanData> span) noexcept override {
    std::lock_guard lock(mu_);
    seen_.push_back({*span, span.get(), span->attributes.capacity()});
  }
  [[nodiscard]] std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

class SpanRecycling : public ::testing::Test {
 protected:
  void SetUp() override {
    set_sample_rate(1.0);
    add_span_processor(copies_);
  }
  void TearDown() override { remove_span_processor(copies_); }

  std::shared_ptr<CopyingProcessor> copies_ = std::make_shared<CopyingProcessor>();
  Scope isolate_;
};

TEST_F(SpanRecycling, ASpanInARecycledBlockStartsCleanWhateverTheSpanBeforeItSet) {
  const SpanContext remote{TraceId::generate(), SpanId::generate(), kTraceFlagSampled,
                           "vendor=opaque", true};
  const SpanContext producer{TraceId::generate(), SpanId::generate(), kTraceFlagSampled, "", true};
  // On a new thread, whose pool starts empty: a's block is the only one it holds when b starts.
  std::thread t([&] {
    {
      Scope tagged;
      set_custom_tags({{"tenant_id", "acme"}});
      add_log_context({{"request_id", "r-1"}});
      auto a = start_span("a", {.kind = SpanKind::Server,
                                .parent = remote,
                                .links = {SpanLink{producer, {{"messaging.system", "q"}}}}});
      a.update_name("a name longer than fifteen characters");
      for (int i = 0; i < 130; ++i)  // past the limit of 128: dropped and counted
        a.set_attribute("key." + std::to_string(i), i);
      a.add_event("retried", {{"attempt", 2}});
      a.set_status(StatusCode::Error, "declined");
    }
    {
      auto b = start_span("b");
      auto c = start_span("c");  // inherits b's frame: a's tags must not be in it
    }
    EXPECT_EQ(current_span_context().span_id, SpanId{});  // both ended: nothing is current
  });
  t.join();
  const auto seen = copies_->seen();
  ASSERT_EQ(seen.size(), 3U);
  const auto& a = seen[0];
  ASSERT_EQ(a.data.name, "a name longer than fifteen characters");
  ASSERT_EQ(a.data.dropped_attributes, 3U);  // tenant_id and 127 keys fill the 128
  ASSERT_NE(find_attr(a.data.attributes, "tenant_id"), nullptr);
  const auto& c = seen[1];
  const auto& b = seen[2];
  // c ended first, then b: b is the span whose block was a's.
  ASSERT_EQ(b.address, a.address) << "the next span on this thread reuses the released block";

  EXPECT_EQ(b.data.name, "b");
  EXPECT_EQ(b.data.kind, SpanKind::Internal);
  EXPECT_NE(b.data.context.trace_id, remote.trace_id);  // a root, not a's trace
  EXPECT_TRUE(b.data.context.trace_state.empty());
  EXPECT_FALSE(b.data.parent_span_id.valid());
  EXPECT_FALSE(b.data.parent_remote);
  EXPECT_TRUE(b.data.attributes.empty());
  EXPECT_TRUE(b.data.events.empty());
  EXPECT_TRUE(b.data.links.empty());
  EXPECT_EQ(b.data.status, StatusCode::Unset);
  EXPECT_TRUE(b.data.status_description.empty());
  EXPECT_EQ(b.data.dropped_attributes, 0U);
  EXPECT_EQ(b.data.dropped_events, 0U);
  EXPECT_GE(b.data.end_time_ns, b.data.start_time_ns);
  // a grew to 128 attributes; its block keeps no buffer that large.
  EXPECT_LT(b.attribute_capacity, 128U);

  EXPECT_EQ(c.data.parent_span_id, b.data.context.span_id);
  EXPECT_EQ(find_attr(c.data.attributes, "tenant_id"), nullptr);
  EXPECT_TRUE(c.data.attributes.empty());
}

TEST_F(SpanRecycling, AnUnsampledSpanInARecycledBlockRecordsNothingOfTheSpanBefore) {
  {
    auto a = start_span("sampled");
    a.set_attribute("payment.method", "card");
  }
  set_sample_rate(0.0);
  {
    auto b = start_span("unsampled");
    EXPECT_FALSE(b.is_recording());
    EXPECT_FALSE(b.context().sampled());
    EXPECT_TRUE(b.context().trace_state.empty());
    auto child = start_span("child");  // parent-based: not sampled either
    EXPECT_FALSE(child.is_recording());
  }
  set_sample_rate(1.0);
  EXPECT_EQ(copies_->seen().size(), 1U);
}

// Spans released by a thread's exit destructors after its block pool is gone are freed, not
// pooled: under LeakSanitizer a block left in a destroyed pool fails this test as a leak, and
// under AddressSanitizer a pool used after its destruction fails it at once.
TEST_F(SpanRecycling, ASpanReleasedAfterItsThreadsPoolIsGoneIsStillExportedAndFreed) {
  struct Holder {
    Span span;
  };
  std::thread t([] {
    thread_local Holder holder;  // constructed before the pool, so destroyed after it
    holder.span = start_span("outlives_the_pool");
    holder.span.set_attribute("k", 1);
    for (int i = 0; i < 40; ++i) {  // more than a pool holds: some blocks are freed at once
      std::vector<Span> many(40);
      for (auto& s : many)
        s = start_span("filler");
    }
  });
  t.join();
  const auto seen = copies_->seen();
  ASSERT_EQ(seen.size(), 40U * 40U + 1U);
  EXPECT_EQ(seen.back().data.name, "outlives_the_pool");
  EXPECT_EQ(*find_attr(seen.back().data.attributes, "k"), Value(1));
}

// The batch processor fetches a finished span's whole block for writing from the span's
// address (detail::prefetch_block_for_write): that is only the block if SpanData is its first
// member.
TEST(SpanBlock, ASpansDataIsItsFirstBytes) {
  const auto block = std::make_unique<detail::SpanBlock>();
  EXPECT_EQ(static_cast<const void*>(&block->state.data), static_cast<const void*>(block.get()));
}

}  // namespace
}  // namespace o11y
