#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <o11y/context.hpp>
#include <o11y/propagation.hpp>
#include <o11y/trace.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "base/tick_clock.hpp"
#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using testing::find_attr;
using SpanLifecycle = testing::SpanTest;

TEST_F(SpanLifecycle, BecomesCurrentAndRestoresItsParentWhenItEnds) {
  EXPECT_EQ(current_trace_id(), "");
  {
    auto outer = start_span("outer");
    EXPECT_EQ(current_span_id(), outer.span_id());
    {
      auto inner = start_span("inner");
      EXPECT_EQ(current_span_id(), inner.span_id());
      EXPECT_EQ(inner.trace_id(), outer.trace_id());
    }
    EXPECT_EQ(current_span_id(), outer.span_id());
  }
  EXPECT_EQ(current_trace_id(), "");
  EXPECT_EQ(current_span_id(), "");
}

TEST_F(SpanLifecycle, ChildRecordsItsParentAndTrace) {
  std::string outer_id;
  {
    auto outer = start_span("outer");
    outer_id = outer.span_id();
    auto inner = start_span("inner");
  }
  auto inner = spans_->find("inner");
  auto outer = spans_->find("outer");
  ASSERT_TRUE(inner && outer);
  EXPECT_EQ(inner->parent_span_id.to_hex(), outer_id);
  EXPECT_FALSE(inner->parent_remote);
  EXPECT_EQ(inner->context.trace_id, outer->context.trace_id);
  EXPECT_FALSE(outer->parent_span_id.valid());
}

// A span shares one allocation with the frame it makes current; contexts captured from that
// frame, or from frames derived from it, must keep the span alive on their own.
TEST_F(SpanLifecycle, CapturedContextsOutliveTheSpanHandleAndStillParentChildren) {
  // Unsampled too: then no processor holds the span, and only the capture keeps it alive
  // (ASan reports it if it does not).
  for (const double rate : {1.0, 0.0}) {
    set_sample_rate(rate);
    for (const bool derive : {false, true}) {
      Context captured;
      std::string parent_id;
      std::string trace_id;
      {
        auto parent = start_span(derive ? "parent-derived" : "parent-direct");
        parent_id = parent.span_id();
        trace_id = parent.trace_id();
        if (derive)
          set_custom_tags({{"tenant_id", "acme"}});  // a copy of the span's frame
        captured = Context::current();
      }
      // The handle is gone and the thread's context is empty again; only the capture remains.
      EXPECT_EQ(current_span_id(), "");
      EXPECT_EQ(captured.span_id(), parent_id);
      EXPECT_EQ(captured.custom_tags().size(), derive ? 1U : 0U);
      {
        const auto attached = captured.attach();
        auto child = start_span(derive ? "child-derived" : "child-direct");
        EXPECT_EQ(child.trace_id(), trace_id);
      }
      if (rate == 0.0)
        continue;
      const auto child = spans_->find(derive ? "child-derived" : "child-direct");
      ASSERT_TRUE(child);
      EXPECT_EQ(child->parent_span_id.to_hex(), parent_id);
    }
  }
}

TEST_F(SpanLifecycle, EndedOutOfOrderTheLiveSpanStaysCurrent) {
  auto a = start_span("a");
  auto b = start_span("b");
  a.end();  // out of order: b is still open and stays current
  EXPECT_EQ(current_span_id(), b.span_id());
  b.end();  // a already ended, so nothing of this trace is current any more
  EXPECT_EQ(current_span_id(), "");
}

TEST_F(SpanLifecycle, EndedOutOfOrderInAChainRestoresTheLiveAncestor) {
  auto a = start_span("a");
  auto b = start_span("b");
  auto c = start_span("c");
  b.end();
  EXPECT_EQ(current_span_id(), c.span_id());
  c.end();
  EXPECT_EQ(current_span_id(), a.span_id());
  a.end();
  EXPECT_EQ(current_span_id(), "");
  EXPECT_EQ(spans_->spans().size(), 3U);
}

TEST_F(SpanLifecycle, CarriesKindAttributesEventsStatusAndTimes) {
  {
    auto span = start_span("process_payment", {.kind = SpanKind::Client});
    span.set_attribute("payment.method", "card");
    span.set_attributes({{"amount", 49.99}, {"retry", false}});
    span.add_event("validated", {{"rule", "amount"}});
    span.set_status(StatusCode::Error, "declined");
  }
  auto d = spans_->find("process_payment");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->kind, SpanKind::Client);
  ASSERT_NE(find_attr(d->attributes, "payment.method"), nullptr);
  EXPECT_EQ(*find_attr(d->attributes, "amount"), Value(49.99));
  EXPECT_EQ(*find_attr(d->attributes, "retry"), Value(false));
  ASSERT_EQ(d->events.size(), 1U);
  EXPECT_EQ(d->events[0].name, "validated");
  EXPECT_GE(d->events[0].time_ns, d->start_time_ns);
  EXPECT_EQ(d->status, StatusCode::Error);
  EXPECT_EQ(d->status_description, "declined");
  EXPECT_GT(d->start_time_ns, 1'600'000'000'000'000'000ULL);  // after 2020: a real Unix time
  EXPECT_GE(d->end_time_ns, d->start_time_ns);
}

std::uint64_t unix_now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

TEST_F(SpanLifecycle, StartEndAndEventTimesAgreeWithTheSystemAndSteadyClocks) {
  // Span times come from the time-stamp counter where the kernel uses it: they must still
  // read as the system clock does, and a duration as the steady clock measures it.
  const auto unix_before = unix_now_ns();
  const auto steady_before = std::chrono::steady_clock::now();
  {
    auto span = start_span("timed");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    span.add_event("midway");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  const auto steady_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now() - steady_before)
                                     .count());
  const auto unix_after = unix_now_ns();
  const auto d = spans_->find("timed");
  ASSERT_NE(d, nullptr);
  constexpr std::uint64_t kSlack = 2'000'000;  // the anchor's refresh, a tick of skew
  EXPECT_GE(d->start_time_ns + kSlack, unix_before);
  EXPECT_LE(d->end_time_ns, unix_after + kSlack);
  const auto duration = d->end_time_ns - d->start_time_ns;
  EXPECT_GE(duration, 60'000'000U);          // it slept that long
  EXPECT_LE(duration, steady_ns + 100'000);  // and no longer than the steady clock saw
  ASSERT_EQ(d->events.size(), 1U);
  EXPECT_GE(d->events[0].time_ns, d->start_time_ns + 29'000'000);
  EXPECT_LE(d->events[0].time_ns + 29'000'000, d->end_time_ns);
}

TEST_F(SpanLifecycle, ASpanEndedOnAnotherThreadHasItsTrueDuration) {
  // The steady clock is read first so that it brackets the span: read after start_span(),
  // a preemption between the two (CI's 2 loaded cores) made the span look too long.
  const auto steady_before = std::chrono::steady_clock::now();
  auto span = start_span("handed_over");
  std::thread other([s = std::move(span)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.end();
  });
  other.join();
  const auto steady_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now() - steady_before)
                                     .count());
  const auto d = spans_->find("handed_over");
  ASSERT_NE(d, nullptr);
  const auto duration = d->end_time_ns - d->start_time_ns;
  EXPECT_GE(duration, 20'000'000U);
  EXPECT_LE(duration, steady_ns + 100'000);
}

// A tick reading and a steady-clock reading taken together (the tightest of a few tries, so
// that a preemption between the two reads does not count).
std::pair<std::uint64_t, std::chrono::steady_clock::time_point> tick_and_steady() {
  std::pair<std::uint64_t, std::chrono::steady_clock::time_point> best;
  auto best_gap = ~std::uint64_t{0};
  for (int i = 0; i < 8; ++i) {
    const auto a = detail::tick_clock::now();
    const auto m = std::chrono::steady_clock::now();
    const auto b = detail::tick_clock::now();
    if (b - a < best_gap) {
      best_gap = b - a;
      best = {a + (b - a) / 2, m};
    }
  }
  return best;
}

TEST(TickClock, TicksAtTheSteadyClocksRateAndConvertsBothWays) {
  const auto [t0, s0] = tick_and_steady();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto [t1, s1] = tick_and_steady();
  ASSERT_GT(t1, t0);
  const auto ticks_ns = static_cast<double>(detail::tick_clock::to_ns(t1 - t0));
  const auto steady_ns =
      static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(s1 - s0).count());
  // Calibration errs by some 25 ppm (50 ns over 2 ms); 100 ppm and 20 us leave room.
  EXPECT_NEAR(ticks_ns, steady_ns, steady_ns * 1e-4 + 20'000) << detail::tick_clock::uses_tsc();
  for (const std::uint64_t ns : {0ULL, 1'000ULL, 1'000'000'000ULL, 3'600'000'000'000ULL}) {
    const auto back = detail::tick_clock::to_ns(detail::tick_clock::from_ns(ns));
    EXPECT_NEAR(static_cast<double>(back), static_cast<double>(ns),
                static_cast<double>(ns) * 1e-6 + 2);
  }
}

TEST(TickClock, AWallClockThatReadsEarlierAtARefreshHoldsTheTimeInsteadOfGoingBack) {
  namespace tc = detail::tick_clock;
  (void)tc::now();  // decides the mode, which from_ns() and to_ns() follow
  const std::uint64_t t0 = 1'000'000'000;
  const std::uint64_t wall0 = 1'700'000'000'000'000'000;
  const auto ticks_after = [&](std::uint64_t ns) { return t0 + tc::from_ns(ns); };
  tc::WallAnchor anchor;
  (void)anchor.at(t0, [&] { return std::pair{wall0, t0}; });
  // Just under a second on: no refresh, the ticks alone.
  const std::uint64_t before = anchor.at(ticks_after(999'990'000), [&] {
    ADD_FAILURE() << "refreshed before a second";
    return std::pair{wall0, t0};
  });
  EXPECT_NEAR(static_cast<double>(before - wall0), 999'990'000.0, 1'000.0);
  // Just over a second on, the refresh finds the wall clock 50 us behind the counter.
  const std::uint64_t t_refresh = ticks_after(1'000'010'000);
  const std::uint64_t stepped = anchor.at(t_refresh, [&] {
    return std::pair{wall0 + 1'000'010'000 - 50'000, t_refresh};
  });
  EXPECT_EQ(stepped, before) << "went back " << static_cast<double>(before - stepped) << " ns";
  // Then time moves on from the new anchor.
  const std::uint64_t later = anchor.at(ticks_after(1'000'110'000), [&] {
    return std::pair{wall0, t0};
  });
  EXPECT_NEAR(static_cast<double>(later - wall0), 1'000'060'000.0, 1'000.0);
}

TEST_F(SpanLifecycle, RecordExceptionAddsTypeAndMessage) {
  {
    auto span = start_span("failing");
    try {
      throw std::invalid_argument("bad card");
    } catch (const std::exception& ex) {
      span.record_exception(ex, {{"order_id", 7}});
    }
  }
  auto d = spans_->find("failing");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->events.size(), 1U);
  const auto& ev = d->events[0];
  EXPECT_EQ(ev.name, "exception");
  EXPECT_EQ(*find_attr(ev.attributes, "exception.type"), Value("std::invalid_argument"));
  EXPECT_EQ(*find_attr(ev.attributes, "exception.message"), Value("bad card"));
  EXPECT_EQ(*find_attr(ev.attributes, "order_id"), Value(7));
}

TEST_F(SpanLifecycle, OkStatusIsFinalAndOnlyErrorKeepsADescription) {
  {
    auto span = start_span("s");
    span.set_status(StatusCode::Ok, "ignored");
    span.set_status(StatusCode::Error, "too late");
  }
  auto d = spans_->find("s");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->status, StatusCode::Ok);
  EXPECT_EQ(d->status_description, "");
}

TEST_F(SpanLifecycle, CallsAfterEndAreIgnoredAndEndIsIdempotent) {
  auto span = start_span("once");
  span.end();
  span.set_attribute("late", 1);
  span.end();
  ASSERT_EQ(spans_->spans().size(), 1U);
  EXPECT_EQ(find_attr(spans_->spans()[0]->attributes, "late"), nullptr);
  EXPECT_FALSE(span.is_recording());
}

TEST_F(SpanLifecycle, MovedSpanEndsOnce) {
  auto a = start_span("moved");
  Span b = std::move(a);
  a.end();  // moved-from: no-op
  EXPECT_EQ(spans_->spans().size(), 0U);
  b.end();
  EXPECT_EQ(spans_->spans().size(), 1U);
}

TEST_F(SpanLifecycle, MoveAssignmentEndsTheSpanItReplaces) {
  Span holder = start_span("first");
  holder = start_span("second");
  EXPECT_NE(spans_->find("first"), nullptr);
  holder.end();
  EXPECT_NE(spans_->find("second"), nullptr);
}

TEST_F(SpanLifecycle, AttributesBeyondTheLimitAreDroppedAndCounted) {
  {
    auto span = start_span("wide");
    for (int i = 0; i < 200; ++i)
      span.set_attribute("k" + std::to_string(i), i);
  }
  auto d = spans_->find("wide");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->attributes.size(), 128U);
  EXPECT_EQ(d->dropped_attributes, 72U);
}

TEST_F(SpanLifecycle, UnsampledSpanHasIdsButRecordsNothing) {
  set_sample_rate(0.0);
  std::map<std::string, std::string> out;
  {
    auto span = start_span("dropped");
    EXPECT_FALSE(span.is_recording());
    EXPECT_EQ(current_trace_id().size(), 32U);
    propagation::inject(out);
  }
  EXPECT_TRUE(spans_->spans().empty());
  ASSERT_EQ(out["traceparent"].size(), 55U);
  EXPECT_EQ(out["traceparent"].substr(53), "02");  // random, not sampled
}

TEST_F(SpanLifecycle, ChildOfASampledRemoteParentIsSampledWhateverTheRate) {
  set_sample_rate(0.0);
  const auto parent = propagation::extract_values(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=x");
  {
    auto span = start_span("server", {.kind = SpanKind::Server, .parent = parent});
    EXPECT_TRUE(span.is_recording());
  }
  auto d = spans_->find("server");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->context.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(d->parent_span_id.to_hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(d->parent_remote);
  EXPECT_EQ(d->context.trace_state, "vendor=x");
  EXPECT_FALSE(d->context.remote);
}

TEST_F(SpanLifecycle, ChildOfAnUnsampledRemoteParentIsNotRecorded) {
  const auto parent =
      propagation::extract_values("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "");
  auto span = start_span("server", {.parent = parent});
  EXPECT_FALSE(span.is_recording());
  EXPECT_EQ(span.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_F(SpanLifecycle, InvalidExplicitParentStartsANewTraceEvenInsideASpan) {
  auto outer = start_span("outer");
  auto server = start_span("server", {.parent = SpanContext{}});
  EXPECT_NE(server.trace_id(), outer.trace_id());
  server.end();
  auto d = spans_->find("server");
  ASSERT_NE(d, nullptr);
  EXPECT_FALSE(d->parent_span_id.valid());
}

TEST_F(SpanLifecycle, RatioSamplingKeepsRoughlyTheRate) {
  set_sample_rate(0.25);
  int recorded = 0;
  constexpr int kSpans = 4000;
  for (int i = 0; i < kSpans; ++i) {
    auto s = start_span("r");
    recorded += s.is_recording() ? 1 : 0;
  }
  // 4000 Bernoulli(0.25) trials: mean 1000, sd ~27; 8 sd either side never fails by chance.
  EXPECT_GT(recorded, 780);
  EXPECT_LT(recorded, 1220);
}

TEST_F(SpanLifecycle, ResourceIsAttachedToEverySpan) {
  set_resource(Resource{{{"service.name", "orders"}}});
  { auto s = start_span("with_resource"); }
  auto d = spans_->find("with_resource");
  ASSERT_NE(d, nullptr);
  ASSERT_NE(d->resource, nullptr);
  EXPECT_EQ(*find_attr(d->resource->attributes, "service.name"), Value("orders"));
  set_resource(Resource{});
}

TEST_F(SpanLifecycle, LinksAndExplicitStartTimeAreKept) {
  SpanContext producer{TraceId::generate(), SpanId::generate(), kTraceFlagSampled, "", true};
  {
    auto s = start_span("consume", {.kind = SpanKind::Consumer,
                                    .links = {SpanLink{producer, {{"messaging.system", "q"}}}},
                                    .start_time_ns = 1'700'000'000'000'000'000ULL});
    s.end(1'700'000'000'500'000'000ULL);
  }
  auto d = spans_->find("consume");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->links.size(), 1U);
  EXPECT_EQ(d->links[0].context.span_id, producer.span_id);
  EXPECT_EQ(d->start_time_ns, 1'700'000'000'000'000'000ULL);
  EXPECT_EQ(d->end_time_ns, 1'700'000'000'500'000'000ULL);
}

TEST_F(SpanLifecycle, UpdateNameRenamesTheSpan) {
  {
    auto s = start_span("GET");
    s.update_name("GET /orders/{id}");
  }
  EXPECT_NE(spans_->find("GET /orders/{id}"), nullptr);
}

TEST_F(SpanLifecycle, DefaultConstructedSpanIsANoOp) {
  Span s;
  s.set_attribute("a", 1);
  s.end();
  EXPECT_FALSE(s.context().valid());
  EXPECT_EQ(s.trace_id(), "");
  EXPECT_TRUE(spans_->spans().empty());
}

}  // namespace
}  // namespace o11y
