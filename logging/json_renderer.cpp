#include <charconv>
#include <cmath>
#include <cstring>

#include "base/shortest.hpp"
#include "context/span_state.hpp"
#include "logging/renderer.hpp"

namespace o11y::detail {
namespace {

// The JSON line is written in two passes: an upper bound of its size first, then the bytes
// through a raw pointer into memory reserved once. A line is ~40 small pieces; checking
// capacity for each of them cost more than rendering them.
class LineWriter {
 public:
  LineWriter(Buffer& b, std::size_t bound) : b_(b) {
    const std::size_t base = b_.size();
    b_.resize(base + bound);
    p_ = b_.data() + base;
  }
  ~LineWriter() { b_.resize(static_cast<std::size_t>(p_ - b_.data())); }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;
  LineWriter(LineWriter&&) = delete;
  LineWriter& operator=(LineWriter&&) = delete;

  template <std::size_t N>
  void lit(const char (&s)[N]) noexcept {
    std::memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  void raw(std::string_view s) noexcept {
    if (s.empty())
      return;  // an empty view may have a null data(): memcpy must not see it
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  /// raw() for a short piece known to need no escaping, copied inline.
  void short_raw(std::string_view s) noexcept { p_ = copy_run(p_, s.data(), s.size()); }
  /// The inside of a JSON string with no length limit (a key).
  void key(std::string_view s) noexcept {
    if (char* end = copy_if_plain_short(p_, s)) {
      p_ = end;
      return;
    }
    std::size_t unused = 0;
    p_ = write_json_escaped(p_, s, static_cast<std::size_t>(-1), unused);
  }
  void put(char c) noexcept { *p_++ = c; }
  template <class T>
  void number(T v) noexcept {
    p_ = write_number(p_, v);
  }
  void string(std::string_view s, std::size_t max_bytes) noexcept {
    put('"');
    if (s.size() <= max_bytes) {
      if (char* end = copy_if_plain_short(p_, s)) {
        p_ = end;
        put('"');
        return;
      }
    }
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
  char* cursor() noexcept { return p_; }
  void advance(std::size_t n) noexcept { p_ += n; }

  static constexpr std::size_t kNumberBound = 32;

 private:
  Buffer& b_;
  char* p_ = nullptr;
};

// What one escaped string can take: 6 bytes per input byte (\u00XX), quotes and the
// truncation note.
std::size_t string_bound(std::size_t len, std::size_t max_bytes) noexcept {
  return (len < max_bytes ? len : max_bytes) * 6 + 80;
}

std::size_t value_bound(ValueView v, std::size_t max_bytes) noexcept {
  return v.kind() == ValueView::Kind::String ? string_bound(v.as_string().size(), max_bytes)
                                             : LineWriter::kNumberBound + 16;
}

std::size_t line_bound(const Record& r, const RenderLimits& lim) noexcept {
  constexpr std::size_t kFixed = 320;  // keys, timestamp, level, ids, lineno, dropped count
  std::size_t n = kFixed + string_bound(r.logger.size(), lim.max_value_bytes) +
                  string_bound(r.event.size(), lim.max_value_bytes) +
                  string_bound(r.file.size(), lim.max_value_bytes) +
                  string_bound(r.exception_type.size(), lim.max_value_bytes) +
                  string_bound(r.exception_message.size(), lim.max_value_bytes);
  constexpr std::size_t kPerField = 32;  // quotes, colon, comma, the longest suffix
  auto add = [&](std::string_view k, ValueView v) {
    n += kPerField + string_bound(k.size(), static_cast<std::size_t>(-1)) +
         value_bound(v, lim.max_value_bytes);
  };
  for (const auto& f : r.fields)
    add(f.key, f.value);
  if (r.bound != nullptr) {
    for (const auto& a : *r.bound)
      add(a.key, ValueView(a.value));
  }
  if (r.frame != nullptr) {
    for (const auto& a : r.frame->tags)
      add(a.key, ValueView(a.value));
    for (const auto& a : r.frame->log_context)
      add(a.key, ValueView(a.value));
  }
  return n;
}

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
    LineWriter w(out, line_bound(r, limits_));
    const std::size_t max = limits_.max_value_bytes;
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
        for_each_user_field(r, limits_, [&](std::string_view k, std::string_view sfx, ValueView v) {
          w.lit(",\"");
          w.key(k);
          w.raw(sfx);
          w.lit("\":");
          write_value(w, v, max);
        });
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
