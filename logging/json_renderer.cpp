#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>

#include "base/shortest.hpp"
#include "context/span_state.hpp"
#include "logging/renderer.hpp"

namespace o11y::detail {
namespace {

// Pieces are written through a raw pointer, with capacity checked per section rather than per
// piece (a line is ~40 small pieces; a check for each cost more than writing them). The
// invariant: ensure_slack() at the start of every section (the head, each field, the tail)
// leaves kSlack bytes free, more than a section's fixed pieces and short plain strings (at
// most 16 bytes each) can take; a key or string value that is longer or needs escaping makes
// room for its own bound plus kSlack before it is written. Both checks hold in release
// builds; debug builds also check every piece against the end.
class LineWriter {
 public:
  static constexpr std::size_t kSlack = 256;

  explicit LineWriter(Buffer& b) : b_(b), base_(b.size()) {}
  ~LineWriter() { b_.resize(used()); }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;
  LineWriter(LineWriter&&) = delete;
  LineWriter& operator=(LineWriter&&) = delete;

  void ensure_slack() { ensure(kSlack); }

  template <std::size_t N>
  void lit(const char (&s)[N]) noexcept {
    assert(p_ + (N - 1) <= end_);
    std::memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  /// A piece of at most 16 bytes known to need no escaping, copied inline.
  void short_raw(std::string_view s) noexcept {
    assert(s.size() <= 16 && p_ + s.size() <= end_);
    p_ = copy_run(p_, s.data(), s.size());
  }
  /// The inside of a JSON string with no length limit (a key).
  void key(std::string_view s) {
    if (char* end = plain_short(s)) {
      p_ = end;
      return;
    }
    escaped_key(s);
  }
  void put(char c) noexcept {
    assert(p_ < end_);
    *p_++ = c;
  }
  template <class T>
  void number(T v) noexcept {
    assert(p_ + 32 <= end_);  // write_number() takes at most 32 bytes
    p_ = write_number(p_, v);
  }
  /// A quoted string value, cut at max_bytes with a note of what was left out.
  void string(std::string_view s, std::size_t max_bytes) {
    put('"');
    if (s.size() <= max_bytes) {
      if (char* end = plain_short(s)) {
        p_ = end;
        put('"');
        return;
      }
    }
    escaped_string(s, max_bytes);
  }
  char* cursor() noexcept { return p_; }
  void advance(std::size_t n) noexcept {
    p_ += n;
    assert(p_ <= end_);
  }

 private:
  // What write_json_escaped() may write for len input bytes: 6 per byte (\u00XX).
  static constexpr std::size_t escaped_bound(std::size_t len) noexcept { return len * 6; }

  // The slow paths, out of line so that the fast ones inline into the field loop.
  [[gnu::noinline]] void escaped_key(std::string_view s) {
    ensure(escaped_bound(s.size()) + kSlack);
    std::size_t unused = 0;
    p_ = write_json_escaped(p_, s, static_cast<std::size_t>(-1), unused);
  }
  [[gnu::noinline]] void escaped_string(std::string_view s, std::size_t max_bytes) {
    // The note: "...[truncated N of M bytes]" with two 20-digit numbers, and the closing quote.
    constexpr std::size_t kNote = 72;
    ensure(escaped_bound(std::min(s.size(), max_bytes)) + kNote + kSlack);
    std::size_t left_out = 0;
    p_ = write_json_escaped(p_, s, max_bytes, left_out);
    if (left_out > 0) {
      lit("...[truncated ");
      number(left_out);
      lit(" of ");
      number(s.size());
      lit(" bytes]");
    }
    put('"');
  }
  char* plain_short(std::string_view s) noexcept {
    assert(p_ + 16 <= end_);
    return copy_if_plain_short(p_, s);
  }
  void ensure(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) [[unlikely]]
      grow(n);
  }
  [[nodiscard]] std::size_t used() const noexcept {
    return p_ == nullptr ? base_ : static_cast<std::size_t>(p_ - b_.data());
  }
  [[gnu::noinline]] void grow(std::size_t n) {
    const std::size_t at = used();
    // At least a usual line's worth, and doubling after that, so that most lines grow once.
    b_.resize(at + std::max({n, at - base_, kMinGrowth}));
    p_ = b_.data() + at;
    end_ = b_.data() + b_.size();
  }

  static constexpr std::size_t kMinGrowth = 512;

  Buffer& b_;
  std::size_t base_;
  char* p_ = nullptr;
  char* end_ = nullptr;
};

void write_value(LineWriter& w, ValueView v, std::size_t max_bytes) {
  switch (v.kind()) {
    case ValueView::Kind::Null:
      w.lit("null");
      break;
    case ValueView::Kind::Bool:
      if (v.as_bool()) {
        w.lit("true");
      } else {
        w.lit("false");
      }
      break;
    case ValueView::Kind::Int:
      w.number(v.as_int());
      break;
    case ValueView::Kind::Uint:
      w.number(v.as_uint());
      break;
    case ValueView::Kind::Double: {
      const double d = v.as_double();
      // JSON has no NaN or infinities: they travel as strings rather than break the line.
      if (std::isnan(d)) {
        w.lit("\"NaN\"");
      } else if (std::isinf(d)) {
        if (d > 0) {
          w.lit("\"Infinity\"");
        } else {
          w.lit("\"-Infinity\"");
        }
      } else {
        w.number(d);
      }
      break;
    }
    case ValueView::Kind::String:
      w.string(v.as_string(), max_bytes);
      break;
  }
}

class JsonRenderer final : public Renderer {
 public:
  explicit JsonRenderer(RenderLimits limits) : limits_(limits) {}

  void render(const Record& r, Buffer& out) const override {
    LineWriter w(out);
    const std::size_t max = limits_.max_value_bytes;
    w.ensure_slack();
    w.lit("{\"timestamp\":\"");
    w.advance(
        static_cast<std::size_t>(write_utc_timestamp(w.cursor(), r.time_ns, true) - w.cursor()));
    w.lit("Z\",\"level\":\"");
    w.short_raw(to_string(r.level));
    w.lit("\",\"logger\":");
    w.string(r.logger, max);
    w.lit(",\"event\":");
    w.string(r.event, max);
    if (!r.exception_type.empty()) {
      w.lit(",\"exception_type\":");
      w.string(r.exception_type, max);
      w.lit(",\"exception_message\":");
      w.string(r.exception_message, max);
    }
    const std::size_t dropped =
        // Inlined by force: GCC outlines it once ensure_slack() is in, a tenth of the line.
        for_each_user_field(
            r, limits_,
            [&](std::string_view k, std::string_view sfx, ValueView v)
                __attribute__((always_inline)) {
                  w.ensure_slack();
                  w.lit(",\"");
                  w.key(k);
                  w.short_raw(sfx);
                  w.lit("\":");
                  write_value(w, v, max);
                });
    w.ensure_slack();
    if (dropped > 0) {
      w.lit(",\"dropped_fields\":");
      w.number(dropped);
    }
    if (r.frame != nullptr && r.frame->span) {
      const auto& ctx = r.frame->span->data.context;  // immutable after start
      w.lit(",\"trace_id\":\"");
      ctx.trace_id.write_hex(w.cursor());
      w.advance(32);
      w.lit("\",\"span_id\":\"");
      ctx.span_id.write_hex(w.cursor());
      w.advance(16);
      w.put('"');
    }
    w.lit(",\"filename\":");
    w.string(r.file, max);
    w.lit(",\"lineno\":");
    w.number(r.line);
    w.lit("}\n");
  }

 private:
  RenderLimits limits_;
};

}  // namespace

bool is_reserved_key(std::string_view key) noexcept {
  // Called for every field of every line: dispatch on length before comparing.
  switch (key.size()) {
    case 5:
      return key == "level" || key == "event";
    case 6:
      return key == "logger" || key == "lineno";
    case 7:
      return key == "span_id";
    case 8:
      return key == "trace_id" || key == "filename";
    case 9:
      return key == "timestamp";
    case 14:
      return key == "exception_type" || key == "dropped_fields";
    case 17:
      return key == "exception_message";
    default:
      return false;
  }
}

std::unique_ptr<Renderer> make_json_renderer(RenderLimits limits) {
  return std::make_unique<JsonRenderer>(limits);
}

}  // namespace o11y::detail
