#pragma once

// The async queue's record encoding: what a caller copies of a record instead of rendering it,
// and how the writer thread reads it back.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/thread_instance.hpp"
#include "base/words.hpp"
#include "context/frame.hpp"
#include "context/span_state.hpp"
#include "logging/record.hpp"

namespace o11y::detail {

// --- records rendered on the writer thread ------------------------------------------------
//
// In async mode a caller does not render: it copies the record (strings, typed values, the
// context's tags and span ids) into the queue, and the writer renders it, since rendering was
// nearly all of an async log call.
// Records with very long values or very many fields are rendered on the caller as before, so
// the queue's byte budget and the renderers' cut-off marks behave as in sync mode.

inline constexpr std::size_t kDeferMaxString = 4096;
inline constexpr std::size_t kDeferMaxFields = 64;
inline constexpr unsigned char kRecordEntry = 0xFF;  // the "output" byte of a deferred record
// The room a record is first encoded into, before it is sized: the API example's record takes
// some 180 bytes.
inline constexpr std::size_t kQuickRecord = 1024;
// A record's flags byte.
// 1 was kHasSpan: a span's ids are the frame's now (RecordWriter::frame()).
inline constexpr std::uint8_t kHasException = 2;
inline constexpr std::uint8_t kLastingNames = 4;  // logger and file as pointer and size
inline constexpr std::uint8_t kUnstamped = 8;     // the clock's reading, not yet Unix time
inline constexpr std::uint8_t kEventSite = 16;    // event and keys as a pointer to an EventSite
// The frame's attributes as a thread's queue keeps them: a thread logs many lines under one
// frame, so its queue carries the frame's bytes once, then a flag per record.
inline constexpr std::uint8_t kFrameSaved = 32;  // they follow; the queue's own from now on
inline constexpr std::uint8_t kFrameKept = 64;   // they are the queue's, as last saved

// Lengths and counts take one byte below 255 (255, then four bytes, above), since the bytes a
// caller writes are what the writer's core must fetch from the caller's: most strings of a
// log line are short. Writes through a plain cursor, since std::string::append per item was
// over half of an async log call. Room is checked per item rather than per piece: each item (and
// the header) starts with room(kSlack), more than an item's fixed parts and short strings (at most
// kShort bytes) take; a longer string checks its own size. A failed check leaves the rest unwritten
// and encode_record() returns 0, so a wrong bound costs a record rendered on the caller, not
// memory.
class RecordWriter {
 public:
  static constexpr std::size_t kShort = 16;
  static constexpr std::size_t kSlack = 64;
  /// What frame() writes before the attributes: the span's byte, ids and trace flags.
  static constexpr std::size_t kFrameSpan = 1 + 3 * 8 + 1;

  RecordWriter(char* p, std::size_t capacity) noexcept : p_(p), end_(p + capacity) {}
  [[nodiscard]] bool room(std::size_t n) const noexcept {
    return static_cast<std::size_t>(end_ - p_) >= n;
  }
  template <class T>
  [[gnu::always_inline]] void pod(const T& v) {
    assert(p_ + sizeof v <= end_);
    std::memcpy(p_, &v, sizeof v);
    p_ += sizeof v;
  }
  [[gnu::always_inline]] void length(std::size_t n) {
    if (n < 0xFF) [[likely]] {
      pod(static_cast<std::uint8_t>(n));
    } else {
      pod(std::uint8_t{0xFF});
      pod(static_cast<std::uint32_t>(n));
    }
  }
  [[gnu::always_inline]] [[nodiscard]] bool str(std::string_view v) {
    if (v.size() > kShort && !room(5 + v.size() + kSlack)) [[unlikely]]
      return false;
    length(v.size());
    assert(p_ + v.size() <= end_);
    p_ = copy_run(p_, v.data(), v.size());
    return true;
  }
  /// A string that outlives the record, by reference: its pointer and size.
  [[gnu::always_inline]] void view(std::string_view v) {
    pod(v.data());
    pod(v.size());
  }
  [[gnu::always_inline]] [[nodiscard]] bool item(std::string_view key, ValueView v) {
    if (!room(kSlack) || !str(key)) [[unlikely]]
      return false;
    return value(v);
  }
  /// An item's value alone (its key is an EventSite's), within the room item() checked for.
  [[gnu::always_inline]] [[nodiscard]] bool value(ValueView v) {
    const ValueView::Kind kind = v.kind();
    pod(static_cast<std::uint8_t>(kind));
    if (kind == ValueView::Kind::String)
      return str(v.as_string());
    // Any other kind: its eight payload bytes as they are (ValueView's first word), without a
    // branch per kind.
    static_assert(std::is_trivially_copyable_v<ValueView> && sizeof(ValueView) == 16);
    assert(p_ + 8 <= end_);
    std::memcpy(p_, &v, 8);
    p_ += 8;
    return true;
  }
  [[gnu::always_inline]] [[nodiscard]] bool attributes(const Attributes* a) {
    if (!room(kSlack)) [[unlikely]]
      return false;
    length(a == nullptr ? 0 : a->size());
    if (a == nullptr)
      return true;
    return std::all_of(a->begin(), a->end(),
                       [this](const Attribute& at) { return item(at.key, ValueView(at.value)); });
  }
  /// A record's frame: its span's ids, if it has a span (a byte says), then its tags and log
  /// context. What a FrameBlob holds, and what a queue keeps (kFrameSaved).
  [[gnu::always_inline]] [[nodiscard]] bool frame(const Frame* f) {
    if (!room(kSlack)) [[unlikely]]
      return false;
    const SpanState* span = f != nullptr ? f->span : nullptr;
    pod(static_cast<std::uint8_t>(span != nullptr ? 1 : 0));
    if (span != nullptr) {
      const auto& ctx = span->data.context;  // ids never change after start
      pod(ctx.trace_id.hi);
      pod(ctx.trace_id.lo);
      pod(ctx.span_id.value);
      pod(ctx.flags);
    }
    return attributes(f != nullptr ? &f->tags : nullptr) &&
           attributes(f != nullptr ? &f->log_context : nullptr);
  }
  [[nodiscard]] char* cursor() const noexcept { return p_; }

 private:
  char* p_;
  char* end_;
};

/// The calling thread's current frame's tags and log context, encoded as encode_record writes
/// them, kept while that frame stays current: a thread logs many lines under one frame (a
/// request's), so its tags need not be encoded again for every line. Holding the frame
/// keeps its address from being reused by another frame while it is cached.
struct FrameBlob {
  std::shared_ptr<const Frame> frame;
  std::string bytes;
  /// Unique in the process for every blob built (never 0): names these bytes to a queue that
  /// keeps them (kFrameKept).
  std::uint64_t generation = 0;
  std::size_t count = 0;  ///< attributes in it
  bool fits = true;       ///< every key and string value within kDeferMaxString
  bool valid = false;
};

/// A FrameBlob::generation no blob had before.
inline std::uint64_t next_frame_blob_generation() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

/// frame_blob() for a frame the cache does not hold yet: builds the blob (null when `cache` or
/// r.frame is null, or r.frame is not current). Out of line: once per frame, not per call.
[[gnu::noinline]] inline const FrameBlob* build_frame_blob(const Record& r,
                                                           FrameBlob* cache) noexcept {
  if (cache == nullptr || r.frame == nullptr || r.frame != t_frame)
    return nullptr;
  try {
    const std::shared_ptr<const Frame>& current = current_frame_ptr();
    cache->valid = false;
    std::size_t n = RecordWriter::kFrameSpan + 10 + RecordWriter::kSlack;  // and the two counts
    std::size_t count = 0;
    bool fits = true;
    for (const Attributes* a : {&r.frame->tags, &r.frame->log_context}) {
      for (const auto& at : *a) {
        const ValueView v(at.value);
        const std::size_t value_size =
            v.kind() == ValueView::Kind::String ? v.as_string().size() : 0;
        fits = fits && at.key.size() <= kDeferMaxString && value_size <= kDeferMaxString;
        n += 5 + 1 + 8 + at.key.size() + value_size + RecordWriter::kSlack;
        ++count;
      }
    }
    cache->bytes.resize(n);
    RecordWriter w(cache->bytes.data(), n);
    if (!w.frame(r.frame))
      return nullptr;
    cache->bytes.resize(static_cast<std::size_t>(w.cursor() - cache->bytes.data()));
    cache->frame = current;
    cache->generation = next_frame_blob_generation();
    cache->count = count;
    cache->fits = fits;
    cache->valid = true;
    return cache;
  } catch (...) {
    return nullptr;
  }
}

/// The blob for r.frame when that is the calling thread's current frame, else null (encode the
/// frame's attributes one by one).
inline const FrameBlob* frame_blob(const Record& r) noexcept {
  auto* cache = thread_instance<FrameBlob, Record>();
  // t_frame, read inline, is current_frame_ptr().get(): the shared pointer is needed only to
  // hold a frame the cache is built for (never null).
  if (cache != nullptr && cache->valid && cache->frame.get() == r.frame && r.frame == t_frame)
      [[likely]]
    return cache;
  return build_frame_blob(r, cache);
}

// Bytes encode_record may write (every string with its length, every value at its largest),
// plus RecordWriter's slack, or 0 when the record is to be rendered on the caller instead: a
// string over kDeferMaxString or more than kDeferMaxFields fields. The queue reserves this
// much for the record, so it is kept close: at most 4 bytes over per string value.
/// `limited` false: the bound of any record, for a queue that never renders on the caller.
inline std::size_t deferred_size_bound(const Record& r, bool limited = true,
                                       const FrameBlob* blob = nullptr) noexcept {
  // Key length (at most 5), kind, then a number (8) or a string's length (5) and its bytes.
  constexpr std::size_t kItem = 5 + 1 + 8;
  // Time, level, flags, line; 5 string lengths; the frame's span part; the 4 item counts.
  constexpr std::size_t kFixed =
      std::size_t{8 + 1 + 1 + 4 + 5 * 5 + 4 * 5} + RecordWriter::kFrameSpan;
  constexpr std::size_t kView = sizeof(const char*) + sizeof(std::size_t);
  assert(r.site == nullptr);  // sized only once dispatch() paired its values with keys
  if (limited && (r.event.size() > kDeferMaxString || r.exception_message.size() > kDeferMaxString))
    return 0;
  std::size_t n = kFixed + r.event.size() + r.exception_type.size() + r.exception_message.size() +
                  (r.lasting_names ? 2 * kView : r.logger.size() + r.file.size());
  std::size_t count = 0;
  bool fits = true;
  const auto add = [&](std::string_view key, ValueView v) {
    const std::size_t value_size = v.kind() == ValueView::Kind::String ? v.as_string().size() : 0;
    fits = fits && key.size() <= kDeferMaxString && value_size <= kDeferMaxString;
    n += kItem + key.size() + value_size;
    ++count;
  };
  for (const auto& f : r.fields)
    add(f.key, f.value);
  const auto add_all = [&add](const Attributes* a) {
    if (a != nullptr) {
      for (const auto& at : *a)
        add(at.key, ValueView(at.value));
    }
  };
  add_all(r.bound);
  if (blob != nullptr) {
    n += blob->bytes.size();
    count += blob->count;
    fits = fits && blob->fits;
  } else if (r.frame != nullptr) {
    add_all(&r.frame->tags);
    add_all(&r.frame->log_context);
  }
  return !limited || (fits && count <= kDeferMaxFields) ? n + RecordWriter::kSlack : 0;
}

/// Encodes into out, which holds capacity bytes (deferred_size_bound(r)); returns the bytes
/// written, or 0 when they would not fit. With a blob, `queue_frame` is the generation of the
/// blob the record's queue keeps (0: none): that blob's bytes are not written again
/// (kFrameKept); another blob's are, for the queue to keep (kFrameSaved). Flattened, so that
/// copy_run() is inlined here without being forced on the renderers, where forcing it made the
/// JSON line slower.
[[gnu::flatten]] inline std::size_t encode_record(const Record& r, char* out, std::size_t capacity,
                                                  const FrameBlob* blob = nullptr,
                                                  std::uint64_t queue_frame = 0) noexcept {
  RecordWriter w(out, capacity);
  // Time, level, flags, line: 8 + 1 + 1 + 4.
  if (!w.room(14 + RecordWriter::kSlack)) [[unlikely]]
    return 0;
  const bool exception = !r.exception_type.empty() || !r.exception_message.empty();
  const bool unstamped = r.time_ns == 0;
  const bool kept = blob != nullptr && queue_frame != 0 && blob->generation == queue_frame;
  assert(r.site == nullptr);  // encode_event_record()'s, or paired into fields first
  w.pod(unstamped ? r.ticks : r.time_ns);
  w.pod(static_cast<std::uint8_t>(r.level));
  w.pod(static_cast<std::uint8_t>((exception ? kHasException : 0) |
                                  (r.lasting_names ? kLastingNames : 0) |
                                  (unstamped ? kUnstamped : 0) |
                                  (blob == nullptr ? 0
                                   : kept          ? kFrameKept
                                                   : kFrameSaved)));
  w.pod(r.line);
  // Each str() is one item's worth of slack or checks its own size; a view() takes 16 bytes of
  // the slack.
  if (r.lasting_names) [[likely]] {
    w.view(r.logger);
    if (!w.str(r.event) || !w.room(RecordWriter::kSlack)) [[unlikely]]
      return 0;
    w.view(r.file);
  } else if (!w.str(r.logger) || !w.room(RecordWriter::kSlack) || !w.str(r.event) ||
             !w.room(RecordWriter::kSlack) || !w.str(r.file)) [[unlikely]] {
    return 0;
  }
  if (!w.room(RecordWriter::kSlack)) [[unlikely]]
    return 0;
  if (exception && (!w.str(r.exception_type) || !w.room(RecordWriter::kSlack) ||
                    !w.str(r.exception_message) || !w.room(RecordWriter::kSlack))) [[unlikely]]
    return 0;
  w.length(r.fields.size());
  for (const auto& f : r.fields) {
    if (!w.item(f.key, f.value)) [[unlikely]]
      return 0;
  }
  if (!w.attributes(r.bound)) [[unlikely]]
    return 0;
  if (kept)
    return static_cast<std::size_t>(w.cursor() - out);
  if (blob != nullptr) {
    if (!w.room(blob->bytes.size())) [[unlikely]]
      return 0;
    char* at = w.cursor();
    std::copy(blob->bytes.begin(), blob->bytes.end(), at);
    return static_cast<std::size_t>(at - out) + blob->bytes.size();
  }
  if (!w.frame(r.frame)) [[unlikely]]
    return 0;
  return static_cast<std::size_t>(w.cursor() - out);
}

/// encode_record() for an event()'s record with the calling thread's frame blob, the quick
/// path's usual case: the same bytes, without the branches for what such a record never has
/// (copied names, an exception, a frame without a blob).
[[gnu::flatten]] inline std::size_t encode_event_record(const Record& r, char* out,
                                                        std::size_t capacity, const FrameBlob& blob,
                                                        std::uint64_t queue_frame = 0) noexcept {
  assert(r.site != nullptr && r.lasting_names && r.frame != nullptr);
  assert(r.exception_type.empty() && r.exception_message.empty());
  RecordWriter w(out, capacity);
  // The fixed part (14 bytes) and the names (40) within one check.
  if (!w.room(14 + 40 + RecordWriter::kSlack)) [[unlikely]]
    return 0;
  const bool unstamped = r.time_ns == 0;
  const bool kept = queue_frame != 0 && blob.generation == queue_frame;
  w.pod(unstamped ? r.ticks : r.time_ns);
  w.pod(static_cast<std::uint8_t>(r.level));
  w.pod(static_cast<std::uint8_t>(kLastingNames | kEventSite | (unstamped ? kUnstamped : 0) |
                                  (kept ? kFrameKept : kFrameSaved)));
  w.pod(r.line);
  w.view(r.logger);
  w.pod(std::bit_cast<std::uintptr_t>(r.site));
  w.view(r.file);
  const std::size_t n = r.site->size;
  w.length(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!w.room(RecordWriter::kSlack) || !w.value(r.values[i])) [[unlikely]]
      return 0;
  }
  if (!w.attributes(r.bound)) [[unlikely]]
    return 0;
  if (kept)
    return static_cast<std::size_t>(w.cursor() - out);
  if (!w.room(blob.bytes.size())) [[unlikely]]
    return 0;
  char* at = w.cursor();
  std::copy(blob.bytes.begin(), blob.bytes.end(), at);
  return static_cast<std::size_t>(at - out) + blob.bytes.size();
}

/// Decodes what encode_record wrote; a record the caller left unstamped comes back with its
/// reading in `ticks` and `time_ns` 0. The record borrows from the bytes and from this object,
/// which the writer thread keeps and reuses.
class RecordReader {
 public:
  /// `queue_frame`: the frame's bytes the record's queue keeps, which a kFrameSaved record
  /// replaces and a kFrameKept one reads; null where no record refers to them (the log
  /// exporter's batches).
  Record decode(std::string_view bytes, std::string* queue_frame = nullptr) {
    in_ = bytes;
    Record r;
    const auto time = pod<std::uint64_t>();
    r.level = static_cast<Level>(pod<std::uint8_t>());
    const auto flags = pod<std::uint8_t>();
    // Unstamped: time_ns stays 0 for the writer to stamp from the reading.
    ((flags & kUnstamped) != 0 ? r.ticks : r.time_ns) = time;
    r.line = pod<std::uint32_t>();
    const EventSite* site = nullptr;
    if ((flags & kEventSite) != 0) {
      r.logger = view();
      site = std::bit_cast<const EventSite*>(pod<std::uintptr_t>());
      r.event = site->name;
      r.file = view();
    } else if ((flags & kLastingNames) != 0) {
      r.logger = view();
      r.event = str();
      r.file = view();
    } else {
      r.logger = str();
      r.event = str();
      r.file = str();
    }
    if ((flags & kHasException) != 0) {
      r.exception_type = str();
      r.exception_message = str();
    }
    fields_.clear();
    const auto n = length();
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto key = site != nullptr ? site->keys[i] : str();
      fields_.push_back({key, value()});
    }
    r.fields = fields_;
    attributes(bound_);
    r.bound = bound_.empty() ? nullptr : &bound_;
    const bool kept = (flags & kFrameKept) != 0;
    assert(!kept || queue_frame != nullptr);
    // The frame decoded last came from these same bytes: a queue's lines under one frame
    // follow each other, so the writer decodes a frame once, not once per line.
    if (kept && queue_frame != nullptr && queue_frame == frame_from_) {
      r.frame = &frame_;
      return r;
    }
    frame_from_ = nullptr;  // frame_ changes below, also if what follows throws
    if (kept) {
      in_ = queue_frame != nullptr ? std::string_view(*queue_frame) : std::string_view();
    } else if ((flags & kFrameSaved) != 0 && queue_frame != nullptr) {
      try {
        queue_frame->assign(in_);
      } catch (...) {
        // Kept records after this one lose their tags rather than show an older frame's.
        queue_frame->clear();
        throw;
      }
    } else {
      queue_frame = nullptr;  // the frame is this record's alone
    }
    frame_.span = nullptr;
    if (in_.empty()) {  // kept bytes that could not be saved
      frame_.tags.clear();
      frame_.log_context.clear();
    } else {
      if (pod<std::uint8_t>() != 0) {
        auto& ctx = span_->data.context;
        ctx.trace_id.hi = pod<std::uint64_t>();
        ctx.trace_id.lo = pod<std::uint64_t>();
        ctx.span_id.value = pod<std::uint64_t>();
        ctx.flags = pod<decltype(ctx.flags)>();
        frame_.span = span_.get();
      }
      attributes(frame_.tags);
      attributes(frame_.log_context);
    }
    frame_from_ = queue_frame;
    r.frame = &frame_;
    return r;
  }

 private:
  template <class T>
  T pod() {
    T v{};
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  std::uint32_t length() {
    const auto n = pod<std::uint8_t>();
    return n < 0xFF ? n : pod<std::uint32_t>();
  }
  std::string_view str() {
    const auto n = length();
    const auto v = in_.substr(0, n);
    in_.remove_prefix(n);
    return v;
  }
  std::string_view view() {
    const auto* data = pod<const char*>();
    return {data, pod<std::size_t>()};
  }
  ValueView value() {
    const auto kind = static_cast<ValueView::Kind>(pod<std::uint8_t>());
    if (kind == ValueView::Kind::String)
      return {str()};
    const auto payload = pod<std::uint64_t>();
    switch (kind) {
      case ValueView::Kind::Bool:
        return {payload != 0};
      case ValueView::Kind::Int:
        return {static_cast<std::int64_t>(payload)};
      case ValueView::Kind::Uint:
        return {payload};
      case ValueView::Kind::Double:
        return {std::bit_cast<double>(payload)};
      default:
        return {};
    }
  }
  void attributes(Attributes& out) {
    out.clear();
    const auto n = length();
    for (std::uint32_t i = 0; i < n; ++i) {
      auto& a = out.emplace_back();
      a.key.assign(str());
      a.value = Value(value());
    }
  }

  std::string_view in_;
  std::vector<Field> fields_;
  Attributes bound_;
  Frame frame_;
  /// The queue's kept bytes frame_'s attributes were decoded from, if they were.
  const std::string* frame_from_ = nullptr;
  std::unique_ptr<SpanState> span_ = std::make_unique<SpanState>();
};

}  // namespace o11y::detail
