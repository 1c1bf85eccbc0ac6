// The async queue's record encoding, on its own: what a caller encodes, the writer thread
// decodes, field for field, within the size the queue reserved for it.
#include "logging/record_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <o11y/context.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <vector>

namespace o11y::detail {
namespace {

TEST(RecordCodec, DecodesEveryPartOfARecordAsEncodedWithinItsBound) {
  const std::vector<Field> fields = {{"order_id", std::int64_t{-123}},
                                     {"big", std::numeric_limits<std::uint64_t>::max()},
                                     {"amount", 49.99},
                                     {"paid", true},
                                     {"note", "caf\xC3\xA9 \"quoted\"\n"},
                                     {"nothing", Value()}};
  Attributes bound;
  bound.push_back({"request_id", Value("r-1")});
  SpanState span;
  span.data.context.trace_id = TraceId{0x0af7651916cd43ddULL, 0x8448eb211c80319cULL};
  span.data.context.span_id = SpanId{0xb7ad6b7169203331ULL};
  span.data.context.flags = 3;
  Frame frame;
  frame.tags.push_back({"tenant_id", Value("acme")});
  frame.log_context.push_back({"variant", Value(std::int64_t{2})});
  frame.span = &span;
  Record r(1'700'000'000'123'456'789ULL, Level::Warning, "orders.views", "order_placed", fields,
           &bound, &frame, "views.cpp", 42);
  r.exception_type = "std::runtime_error";
  r.exception_message = "boom";

  const std::size_t bound_bytes = deferred_size_bound(r);
  ASSERT_GT(bound_bytes, 0U);
  std::vector<char> bytes(bound_bytes + 64, '\x5a');
  const std::size_t n = encode_record(r, bytes.data(), bound_bytes);
  ASSERT_GT(n, 0U);
  EXPECT_LE(n, bound_bytes);
  for (std::size_t i = n; i < bytes.size(); ++i)
    ASSERT_EQ(bytes[i], '\x5a') << "wrote past its size at " << i;

  RecordReader reader;
  const Record d = reader.decode(std::string_view(bytes.data(), n));
  EXPECT_EQ(d.time_ns, r.time_ns);
  EXPECT_EQ(d.level, r.level);
  EXPECT_EQ(d.logger, r.logger);
  EXPECT_EQ(d.event, r.event);
  EXPECT_EQ(d.file, r.file);
  EXPECT_EQ(d.line, r.line);
  EXPECT_EQ(d.exception_type, r.exception_type);
  EXPECT_EQ(d.exception_message, r.exception_message);
  ASSERT_EQ(d.fields.size(), fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    EXPECT_EQ(d.fields[i].key, fields[i].key);
    EXPECT_EQ(Value(d.fields[i].value), Value(fields[i].value)) << fields[i].key;
  }
  ASSERT_NE(d.bound, nullptr);
  EXPECT_EQ(*d.bound, bound);
  ASSERT_NE(d.frame, nullptr);
  EXPECT_EQ(d.frame->tags, frame.tags);
  EXPECT_EQ(d.frame->log_context, frame.log_context);
  ASSERT_NE(d.frame->span, nullptr);
  EXPECT_EQ(d.frame->span->data.context.trace_id, span.data.context.trace_id);
  EXPECT_EQ(d.frame->span->data.context.span_id, span.data.context.span_id);
  EXPECT_EQ(d.frame->span->data.context.flags, 3);
}

TEST(RecordCodec, ARecordWithoutContextDecodesWithoutSpanOrTags) {
  Record r(1, Level::Info, "root", "plain", {}, nullptr, nullptr, "main.cpp", 1);
  std::vector<char> bytes(deferred_size_bound(r));
  const std::size_t n = encode_record(r, bytes.data(), bytes.size());
  ASSERT_GT(n, 0U);
  RecordReader reader;
  const Record d = reader.decode(std::string_view(bytes.data(), n));
  EXPECT_EQ(d.event, "plain");
  EXPECT_TRUE(d.fields.empty());
  EXPECT_EQ(d.bound, nullptr);
  EXPECT_TRUE(d.frame == nullptr || d.frame->span == nullptr);
}

// A logger's name and a call site's file outlive every record, so a record carries them by
// reference: the decoded names are the caller's own bytes, and their length costs nothing.
TEST(RecordCodec, LastingNamesTravelByReferenceAndDecodeToTheSameBytes) {
  static const std::string kLogger = "orders.views.with.a.rather.long.dotted.name";
  static const std::string kFile = "a_source_file_with_a_long_name.cpp";
  const std::vector<Field> fields = {{"order_id", std::int64_t{7}}};
  const Record lasting(5, Level::Info, kLogger, "order_placed", fields, nullptr, nullptr, kFile, 9,
                       /*names_last=*/true);
  const Record copied(5, Level::Info, kLogger, "order_placed", fields, nullptr, nullptr, kFile, 9);

  std::vector<char> bytes(deferred_size_bound(lasting));
  const std::size_t n = encode_record(lasting, bytes.data(), bytes.size());
  ASSERT_GT(n, 0U);
  std::vector<char> copied_bytes(deferred_size_bound(copied));
  const std::size_t copied_n = encode_record(copied, copied_bytes.data(), copied_bytes.size());
  ASSERT_GT(copied_n, 0U);
  // Two strings of 44 and 35 bytes became two references of 16.
  EXPECT_EQ(copied_n - n, (1 + kLogger.size()) + (1 + kFile.size()) - std::size_t{2} * 16);

  RecordReader reader;
  const Record d = reader.decode(std::string_view(bytes.data(), n));
  EXPECT_EQ(d.logger.data(), kLogger.data());
  EXPECT_EQ(d.logger, kLogger);
  EXPECT_EQ(d.file.data(), kFile.data());
  EXPECT_EQ(d.file, kFile);
  EXPECT_EQ(d.event, "order_placed");
  EXPECT_EQ(d.line, 9U);
  ASSERT_EQ(d.fields.size(), 1U);
  EXPECT_EQ(d.fields[0].key, "order_id");
}

// An event()'s record carries its name and keys as one pointer to the site, which lives as
// long as the process: the decoded names are the site's own bytes, paired with the values.
TEST(RecordCodec, AnEventSitesNamesTravelAsOnePointer) {
  static constexpr auto kSpec = event("order_placed", "order_id", "amount", "currency");
  const EventSite& site = SiteOf<kSpec>::site;
  const EventValues<3> values{std::int64_t{7}, 49.99, "EUR"};
  const std::vector<Field> fields = {
      {"order_id", std::int64_t{7}}, {"amount", 49.99}, {"currency", "EUR"}};
  static const std::string kLogger = "orders.views";
  const Frame frame_of_fields;
  Record by_site(5, Level::Info, kLogger, site.name, {}, nullptr, nullptr, "views.cpp", 9,
                 /*names_last=*/true);
  by_site.site = &site;
  by_site.values = values.data();
  const Record by_fields(5, Level::Info, kLogger, "order_placed", fields, nullptr, &frame_of_fields,
                         "views.cpp", 9, /*names_last=*/true);

  Frame frame;  // no span, no tags: its blob is the span's byte and the two counts, all 0
  by_site.frame = &frame;
  FrameBlob blob;
  blob.bytes.assign(3, '\0');
  blob.valid = true;
  std::vector<char> bytes(kQuickRecord);
  const std::size_t n = encode_event_record(by_site, bytes.data(), bytes.size(), blob, 0);
  ASSERT_GT(n, 0U);
  std::vector<char> plain(deferred_size_bound(by_fields));
  const std::size_t plain_n = encode_record(by_fields, plain.data(), plain.size());
  ASSERT_GT(plain_n, 0U);
  // The name and three keys (each a length byte and its bytes) became one pointer.
  EXPECT_EQ(plain_n - n, (1 + 12) + (1 + 8) + (1 + 6) + (1 + 8) - sizeof(const EventSite*));

  RecordReader reader;
  const Record d = reader.decode(std::string_view(bytes.data(), n));
  EXPECT_EQ(d.event.data(), site.name.data());
  EXPECT_EQ(d.event, "order_placed");
  EXPECT_EQ(d.logger, kLogger);
  EXPECT_EQ(d.time_ns, 5U);
  ASSERT_EQ(d.fields.size(), 3U);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    EXPECT_EQ(d.fields[i].key.data(), site.keys[i].data());
    EXPECT_EQ(d.fields[i].key, fields[i].key);
    EXPECT_EQ(Value(d.fields[i].value), Value(fields[i].value)) << fields[i].key;
  }
}

// A record the caller did not stamp carries the clock's reading; the decoder hands it back
// as such, for the writer to stamp.
TEST(RecordCodec, AnUnstampedRecordDecodesWithItsReadingAndNoTime) {
  Record r(0, Level::Info, "root", "plain", {}, nullptr, nullptr, "main.cpp", 1,
           /*names_last=*/false, /*reading=*/123'456'789);
  std::vector<char> bytes(deferred_size_bound(r));
  const std::size_t n = encode_record(r, bytes.data(), bytes.size());
  ASSERT_GT(n, 0U);
  RecordReader reader;
  const Record d = reader.decode(std::string_view(bytes.data(), n));
  EXPECT_EQ(d.time_ns, 0U);
  EXPECT_EQ(d.ticks, 123'456'789U);
  r.time_ns = 42;
  const std::size_t stamped_n = encode_record(r, bytes.data(), bytes.size());
  const Record stamped = reader.decode(std::string_view(bytes.data(), stamped_n));
  EXPECT_EQ(stamped.time_ns, 42U);
}

// The bound is what the queue reserves; should it ever fall short, the encoder must stop at
// the end of the room it was given and say so, never write past it.
TEST(RecordCodec, RoomTooSmallForTheRecordIsRefusedWithoutWritingPastIt) {
  const std::string long_value(300, 'v');
  const std::string long_key(40, 'k');
  const std::vector<Field> fields = {
      {"short", std::int64_t{1}}, {long_key, long_value}, {"amount", 2.5}, {"note", long_value}};
  Frame frame;
  frame.tags.push_back({"tenant_id", Value("acme")});
  Record r(1, Level::Info, "orders", "order_placed", fields, nullptr, &frame, "views.cpp", 7);
  const std::size_t bound_bytes = deferred_size_bound(r);
  ASSERT_GT(bound_bytes, 0U);
  std::vector<char> full(bound_bytes);
  const std::size_t needed = encode_record(r, full.data(), full.size());
  ASSERT_GT(needed, 0U);

  constexpr std::size_t kGuard = 512;
  std::size_t refused = 0;
  for (std::size_t capacity = 0; capacity < bound_bytes; ++capacity) {
    std::vector<char> bytes(capacity + kGuard, '\x5a');
    const std::size_t n = encode_record(r, bytes.data(), capacity);
    ASSERT_LE(n, capacity) << "capacity " << capacity;
    for (std::size_t i = capacity; i < bytes.size(); ++i)
      ASSERT_EQ(bytes[i], '\x5a') << "capacity " << capacity << ": wrote at " << i;
    if (n == 0) {
      ++refused;
    } else {
      EXPECT_EQ(n, needed);  // what fits is encoded whole
    }
  }
  EXPECT_GE(refused, needed);  // every room smaller than the record was refused
}

TEST(RecordCodec, LengthsFrom255UpAndHundredsOfFieldsRoundTrip) {
  // Lengths and counts under 255 take one byte; these take the long form.
  for (const std::size_t size : {254U, 255U, 256U, 70000U}) {
    const std::string key(size, 'k');
    const std::string value(size, 'v');
    std::vector<Field> fields = {{key, value}};
    for (int i = 0; i < 300; ++i)
      fields.push_back({"n", std::int64_t{i}});
    const std::string logger(size, 'l');  // the record views it: it must outlive the record
    Record r(1, Level::Error, logger, "event", fields, nullptr, nullptr, "f.cpp", 3);
    r.exception_message = value;
    const std::size_t bound_bytes = deferred_size_bound(r, /*limited=*/false);
    std::vector<char> bytes(bound_bytes);
    const std::size_t n = encode_record(r, bytes.data(), bytes.size());
    ASSERT_GT(n, 0U) << size;
    RecordReader reader;
    const Record d = reader.decode(std::string_view(bytes.data(), n));
    EXPECT_EQ(d.logger.size(), size);
    EXPECT_EQ(d.exception_message, value);
    EXPECT_TRUE(d.exception_type.empty());
    ASSERT_EQ(d.fields.size(), fields.size()) << size;
    EXPECT_EQ(d.fields[0].key, key);
    EXPECT_EQ(Value(d.fields[0].value), Value(value));
    EXPECT_EQ(Value(d.fields[300].value), Value(std::int64_t{299}));
  }
}

// The calling thread's frame with two tags, and a record under it.
struct UnderTwoTags {
  Scope scope;
  std::vector<Field> fields = {{"order_id", 123}, {"amount", 49.99}};
  Record record(std::uint32_t line) const {
    return {1,       Level::Info,      "orders.views", "order_placed", fields,
            nullptr, &current_frame(), "views.cpp",    line,           /*names_last=*/true};
  }
  UnderTwoTags() { set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}}); }
};

TEST(RecordCodec, AQueueKeepsAFramesBytesAndLaterRecordsUnderItCarryAFlagInstead) {
  const UnderTwoTags ctx;
  const Record first = ctx.record(1);
  const FrameBlob* blob = frame_blob(first);
  ASSERT_NE(blob, nullptr);
  ASSERT_NE(blob->generation, 0U);
  std::vector<char> a(kQuickRecord);
  std::vector<char> b(kQuickRecord);
  // A queue that keeps no frame yet gets the bytes; one that keeps this blob gets a flag.
  const std::size_t saved_n = encode_record(first, a.data(), a.size(), blob, 0);
  const Record second = ctx.record(2);
  ASSERT_EQ(frame_blob(second), blob);  // the same frame: the same blob
  const std::size_t kept_n = encode_record(second, b.data(), b.size(), blob, blob->generation);
  ASSERT_GT(kept_n, 0U);
  EXPECT_EQ(saved_n - kept_n, blob->bytes.size());

  RecordReader reader;
  std::string queue_frame;
  const auto tags_of = [](const Record& r) {
    std::vector<std::string> out;
    for (const auto& at : r.frame->tags)
      out.push_back(at.key + "=" + std::string(ValueView(at.value).as_string()));
    return out;
  };
  const std::vector<std::string> expected = {"tenant_id=acme", "feature=checkout_v2"};
  EXPECT_EQ(tags_of(reader.decode(std::string_view(a.data(), saved_n), &queue_frame)), expected);
  EXPECT_EQ(queue_frame, blob->bytes);
  const Record d = reader.decode(std::string_view(b.data(), kept_n), &queue_frame);
  EXPECT_EQ(d.line, 2U);
  EXPECT_EQ(d.fields.size(), 2U);
  EXPECT_EQ(tags_of(d), expected);
}

TEST(RecordCodec, ARecordUnderAnotherFrameCarriesItsBytesAndTheQueueKeepsThoseFromThen) {
  std::vector<char> a(kQuickRecord);
  std::uint64_t old_generation = 0;
  std::string queue_frame;
  RecordReader reader;
  {
    const UnderTwoTags ctx;
    const Record r = ctx.record(1);
    const FrameBlob* blob = frame_blob(r);
    ASSERT_NE(blob, nullptr);
    old_generation = blob->generation;
    const std::size_t n = encode_record(r, a.data(), a.size(), blob, 0);
    reader.decode(std::string_view(a.data(), n), &queue_frame);
  }
  const Scope scope;
  set_custom_tags({{"tenant_id", "globex"}});
  const Record r(1, Level::Info, "orders.views", "order_placed", {}, nullptr, &current_frame(),
                 "views.cpp", 3, /*names_last=*/true);
  const FrameBlob* blob = frame_blob(r);
  ASSERT_NE(blob, nullptr);
  EXPECT_NE(blob->generation, old_generation);
  // The queue keeps the old frame's blob: this record carries its own, and replaces it.
  const std::size_t n = encode_record(r, a.data(), a.size(), blob, old_generation);
  const Record d = reader.decode(std::string_view(a.data(), n), &queue_frame);
  ASSERT_EQ(d.frame->tags.size(), 1U);
  EXPECT_EQ(ValueView(d.frame->tags[0].value).as_string(), "globex");
  EXPECT_EQ(queue_frame, blob->bytes);
}

// The writer decodes a kept frame once while one queue's lines follow each other; lines of
// two queues in turn must still each get their own queue's tags.
TEST(RecordCodec, KeptRecordsOfTwoQueuesInTurnEachGetTheirOwnQueuesTags) {
  struct Encoded {
    std::vector<char> saved = std::vector<char>(kQuickRecord);
    std::vector<char> kept = std::vector<char>(kQuickRecord);
    std::size_t saved_n = 0;
    std::size_t kept_n = 0;
  };
  const auto encode_under = [](const char* tenant) {
    const Scope scope;
    set_custom_tags({{"tenant_id", tenant}});
    const Record r(1, Level::Info, "orders.views", "order_placed", {}, nullptr, &current_frame(),
                   "views.cpp", 3, /*names_last=*/true);
    const FrameBlob* blob = frame_blob(r);
    Encoded e;
    if (blob == nullptr)
      return e;
    e.saved_n = encode_record(r, e.saved.data(), e.saved.size(), blob, 0);
    e.kept_n = encode_record(r, e.kept.data(), e.kept.size(), blob, blob->generation);
    return e;
  };
  const Encoded a = encode_under("acme");
  const Encoded b = encode_under("globex");
  ASSERT_GT(a.kept_n, 0U);
  ASSERT_GT(b.kept_n, 0U);
  RecordReader reader;
  std::string queue_a;
  std::string queue_b;
  const auto tenant = [&](const std::vector<char>& bytes, std::size_t n, std::string* queue) {
    const Record d = reader.decode(std::string_view(bytes.data(), n), queue);
    return d.frame->tags.size() == 1 ? std::string(ValueView(d.frame->tags[0].value).as_string())
                                     : std::string("(none)");
  };
  EXPECT_EQ(tenant(a.saved, a.saved_n, &queue_a), "acme");
  EXPECT_EQ(tenant(a.kept, a.kept_n, &queue_a), "acme");
  EXPECT_EQ(tenant(b.saved, b.saved_n, &queue_b), "globex");
  EXPECT_EQ(tenant(a.kept, a.kept_n, &queue_a), "acme");
  EXPECT_EQ(tenant(b.kept, b.kept_n, &queue_b), "globex");
  EXPECT_EQ(tenant(b.kept, b.kept_n, &queue_b), "globex");
  // A record that carries its frame inline (not through a queue) in between.
  EXPECT_EQ(tenant(b.saved, b.saved_n, nullptr), "globex");
  EXPECT_EQ(tenant(a.kept, a.kept_n, &queue_a), "acme");
}

TEST(RecordCodec, AKeptFrameWhoseBytesWereLostDecodesWithoutTags) {
  const UnderTwoTags ctx;
  const Record r = ctx.record(1);
  const FrameBlob* blob = frame_blob(r);
  ASSERT_NE(blob, nullptr);
  std::vector<char> a(kQuickRecord);
  const std::size_t n = encode_record(r, a.data(), a.size(), blob, blob->generation);
  std::string lost;  // what the writer holds when saving the bytes failed
  RecordReader reader;
  const Record d = reader.decode(std::string_view(a.data(), n), &lost);
  EXPECT_EQ(d.event, "order_placed");
  EXPECT_EQ(d.fields.size(), 2U);
  EXPECT_TRUE(d.frame->tags.empty());
  EXPECT_TRUE(d.frame->log_context.empty());
}

TEST(RecordCodec, TheExampleLineTakesFewBytes) {
  // What a caller copies is what the writer's core fetches from the caller's: the API example
  // (4 fields, a span, 2 tags) stays within three 64-byte cache lines.
  const std::vector<Field> fields = {
      {"order_id", 123}, {"amount", 49.99}, {"currency", "EUR"}, {"items", 3}};
  SpanState span;
  Frame frame;
  frame.tags.push_back({"tenant_id", Value("acme")});
  frame.tags.push_back({"feature", Value("checkout_v2")});
  frame.span = &span;
  Record r(1, Level::Info, "orders.views", "order_placed", fields, nullptr, &frame, "views.cpp",
           42);
  std::vector<char> bytes(deferred_size_bound(r));
  const std::size_t n = encode_record(r, bytes.data(), bytes.size());
  EXPECT_LE(n, 192U);
  std::printf("[ figures  ] the example record: %zu bytes\n", n);
}

// Under a frame its queue keeps, the example line carries neither the span's ids nor the
// tags: a third fewer bytes for the writer's core to fetch from the caller's.
TEST(RecordCodec, TheExampleLineUnderAKeptFrameCarriesNeitherSpanIdsNorTags) {
  const Scope scope;
  const Span span = start_span("request");
  set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}});
  const std::vector<Field> fields = {
      {"order_id", 123}, {"amount", 49.99}, {"currency", "EUR"}, {"items", 3}};
  const Record r(1, Level::Info, "orders.views", "order_placed", fields, nullptr, &current_frame(),
                 "views.cpp", 42, /*names_last=*/true);
  const FrameBlob* blob = frame_blob(r);
  ASSERT_NE(blob, nullptr);
  std::vector<char> bytes(kQuickRecord);
  const std::size_t saved = encode_record(r, bytes.data(), bytes.size(), blob, 0);
  const std::size_t kept = encode_record(r, bytes.data(), bytes.size(), blob, blob->generation);
  EXPECT_EQ(kept + blob->bytes.size(), saved);
  EXPECT_GE(blob->bytes.size(), 1 + 3 * 8 + 1 + (1 + 9 + 1 + 1 + 4) + (1 + 7 + 1 + 1 + 11));
  EXPECT_LE(kept, 128U);
  std::printf("[ figures  ] the example record: %zu bytes with its frame, %zu under a kept one\n",
              saved, kept);
}

TEST(RecordCodec, LongValuesAndManyFieldsAreLeftToTheCaller) {
  const std::string huge(kDeferMaxString + 1, 'x');
  const std::vector<Field> one = {{"payload", huge}};
  EXPECT_EQ(deferred_size_bound(Record(1, Level::Info, "l", "e", one, nullptr, nullptr, "f", 1)),
            0U);
  std::vector<Field> many(kDeferMaxFields + 1, Field{"k", std::int64_t{1}});
  EXPECT_EQ(deferred_size_bound(Record(1, Level::Info, "l", "e", many, nullptr, nullptr, "f", 1)),
            0U);
}

// dispatch() first encodes a record into kQuickRecord bytes without sizing it. One that does
// not fit there must be refused, not cut, so that it is sized and queued whole instead.
TEST(RecordCodec, ARecordLargerThanTheQuickRoomIsRefusedThereAndSizedInstead) {
  const std::string value(2000, 'v');
  const std::vector<Field> fields = {{"order_id", 7}, {"payload", value}};
  const Record r(1, Level::Info, "orders", "big", fields, nullptr, nullptr, "f.cpp", 1);
  std::vector<char> quick(kQuickRecord);
  EXPECT_EQ(encode_record(r, quick.data(), quick.size()), 0U);
  const std::size_t bound = deferred_size_bound(r);
  ASSERT_GT(bound, kQuickRecord);
  std::vector<char> room(bound);
  const std::size_t n = encode_record(r, room.data(), room.size());
  ASSERT_GT(n, value.size());
  RecordReader reader;
  const Record back = reader.decode(std::string_view(room.data(), n));
  ASSERT_EQ(back.fields.size(), 2U);
  EXPECT_EQ(back.fields[1].value.as_string(), value);
}

// Every kind but a string is its kind and eight payload bytes: each comes back as it went in.
TEST(RecordCodec, EveryKindOfValueRoundTripsThroughItsPayload) {
  const std::vector<Field> fields = {{"null", ValueView()},
                                     {"false", false},
                                     {"true", true},
                                     {"min", std::numeric_limits<std::int64_t>::min()},
                                     {"max_u", std::numeric_limits<std::uint64_t>::max()},
                                     {"neg_zero", -0.0},
                                     {"inf", std::numeric_limits<double>::infinity()},
                                     {"s", "text"}};
  const Record r(1, Level::Info, "l", "e", fields, nullptr, nullptr, "f", 1);
  std::vector<char> room(deferred_size_bound(r));
  const std::size_t n = encode_record(r, room.data(), room.size());
  ASSERT_NE(n, 0U);
  RecordReader reader;
  const Record back = reader.decode(std::string_view(room.data(), n));
  ASSERT_EQ(back.fields.size(), fields.size());
  const auto& v = back.fields;
  EXPECT_EQ(v[0].value.kind(), ValueView::Kind::Null);
  EXPECT_EQ(v[1].value.kind(), ValueView::Kind::Bool);
  EXPECT_FALSE(v[1].value.as_bool());
  EXPECT_TRUE(v[2].value.as_bool());
  EXPECT_EQ(v[3].value.as_int(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(v[4].value.kind(), ValueView::Kind::Uint);
  EXPECT_EQ(v[4].value.as_uint(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_TRUE(std::signbit(v[5].value.as_double()));
  EXPECT_EQ(v[6].value.as_double(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[7].value.as_string(), "text");
}

}  // namespace
}  // namespace o11y::detail
