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

// An entry over half the ring, when the write position is mid-ring: it fits only at the
// ring's start, and the skip to it fits only once the consumer has read everything. The
// producer hands the skip over alone, so that the consumer passes it and the next try fits
// (before, it waited for room for ever: a caller blocked for good in block mode).
TEST(SpscRing, AnEntryOverHalfTheRingFitsOnceTheConsumerPassesTheSkipToTheStart) {
  SpscRing ring(512);
  ASSERT_NE(ring.try_reserve(SpscRing::entry_size(184)), nullptr);
  ring.publish();
  ring.consume_to(ring.published());  // empty again, the write position 200 bytes in
  const std::size_t big = SpscRing::entry_size(420);
  ASSERT_GT(big, std::size_t{512} - 200);
  EXPECT_EQ(ring.try_reserve(big), nullptr);
  EXPECT_EQ(ring.published(), 512U) << "the skip was not handed to the consumer";
  std::uint64_t pos = ring.consumed();
  EXPECT_EQ(ring.entry(pos, ring.published()), nullptr);  // only the skip to read
  EXPECT_EQ(pos, 512U);
  ring.consume_to(pos);
  char* p = ring.try_reserve(big);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ring.published(), 512U);
}

// While unread entries lie in the tail the skip would cover, the skip cannot be handed over
// either: nothing more is published, and the entry waits.
TEST(SpscRing, AnEntryOverHalfTheRingWaitsWhileTheTailHoldsUnreadEntries) {
  SpscRing ring(512);
  const auto put = [&ring](std::size_t size) {
    ASSERT_NE(ring.try_reserve(size), nullptr);
    ring.publish();
  };
  put(SpscRing::entry_size(232));     // [0, 248)
  ring.consume_to(ring.published());  // read
  put(SpscRing::entry_size(232));     // [248, 496): unread
  put(SpscRing::entry_size(80));      // skips the 16-byte tail: [512, 608), unread
  const std::uint64_t published = ring.published();
  EXPECT_EQ(ring.try_reserve(SpscRing::entry_size(420)), nullptr);
  EXPECT_EQ(ring.published(), published);
}

}  // namespace
}  // namespace o11y::detail
