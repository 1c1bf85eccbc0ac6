// The async writer's per-thread ring, on its own: what the producer reserves, cuts, takes
// back and publishes is what the consumer sees.
#include <gtest/gtest.h>

#include <cstdint>

#include "logging/async_writer.hpp"

namespace o11y::detail {
namespace {

// A record is encoded into more room than it takes (kQuickRecord) and then cut to what it
// used, so the ring's next entry follows it rather than the room.
TEST(SpscRing, AnEntryCutAfterFillingTakesOnlyWhatItUsed) {
  SpscRing ring(4096);
  char* first = ring.try_reserve(SpscRing::entry_size(1024));
  ASSERT_NE(first, nullptr);
  ring.shrink_last(SpscRing::entry_size(40));
  ring.publish();
  EXPECT_EQ(ring.published(), SpscRing::entry_size(40));
  char* second = ring.try_reserve(SpscRing::entry_size(40));
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second - first, static_cast<std::ptrdiff_t>(SpscRing::entry_size(40)));
}

// A reservation whose record did not fit is taken back: the consumer never sees it, and the
// next entry reuses its room.
TEST(SpscRing, AReservationTakenBackIsNeverSeenAndItsRoomIsReused) {
  SpscRing ring(4096);
  char* first = ring.try_reserve(SpscRing::entry_size(1024));
  ASSERT_NE(first, nullptr);
  ring.shrink_last(0);
  ring.publish();
  EXPECT_EQ(ring.published(), 0U);
  EXPECT_EQ(ring.try_reserve(SpscRing::entry_size(16)), first);
}

// Taken back after it skipped the ring's tail: the skip stays (the consumer passes it), and
// the next entry starts at the ring's start.
TEST(SpscRing, AReservationTakenBackAfterWrappingLeavesTheConsumerAValidSkip) {
  SpscRing ring(1024);
  const std::size_t big = SpscRing::entry_size(700);
  ASSERT_NE(ring.try_reserve(big), nullptr);
  ring.publish();
  ring.consume_to(ring.published());  // the consumer read it: room at the start again
  char* wrapped = ring.try_reserve(SpscRing::entry_size(500));  // too big for the tail
  ASSERT_NE(wrapped, nullptr);
  ring.shrink_last(0);
  char* next = ring.try_reserve(SpscRing::entry_size(8));
  ASSERT_EQ(next, wrapped);
  ring.shrink_last(SpscRing::entry_size(8));
  auto* h = reinterpret_cast<SpscRing::Header*>(next);  // NOLINT(*-reinterpret-cast)
  h->output = 0;
  h->size = static_cast<std::uint32_t>(SpscRing::entry_size(8));
  ring.publish();
  std::uint64_t pos = ring.consumed();
  const SpscRing::Header* seen = ring.entry(pos, ring.published());
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen, h);
}

}  // namespace
}  // namespace o11y::detail
