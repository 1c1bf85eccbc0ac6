#include <cmath>
#include <iterator>

#include "context/span_state.hpp"
#include "logging/renderer.hpp"

namespace o11y::detail {
namespace {

// ANSI SGR sequences; empty strings when colours are off.
struct Palette {
  std::string_view reset, dim, bold, key, value;
};
// Constants rather than a Palette built per line, which GCC cleared with `rep stos` first.
constexpr Palette kColours{"\x1b[0m", "\x1b[2m", "\x1b[1m", "\x1b[36m", "\x1b[35m"};
constexpr Palette kNoColours{};

std::string_view level_colour(Level l) noexcept {
  switch (l) {
    case Level::Debug:
      return "\x1b[34m";
    case Level::Info:
      return "\x1b[32m";
    case Level::Warning:
      return "\x1b[33m";
    case Level::Error:
      return "\x1b[31m";
    case Level::Critical:
      return "\x1b[31;1m";
    case Level::Off:
      break;
  }
  return "";
}

constexpr std::size_t kLevelWidth = 9;   // "[critical ]"
constexpr std::size_t kEventWidth = 15;  // structlog's console pads events like this

void pad(Buffer& out, std::size_t written, std::size_t width) {
  for (; written < width; ++written)
    out.push_back(' ');
}

void append_value(Buffer& out, ValueView v, std::size_t max_bytes) {
  switch (v.kind()) {
    case ValueView::Kind::Null:
      out.append(std::string_view("null"));
      break;
    case ValueView::Kind::Bool:
      out.append(v.as_bool() ? std::string_view("true") : std::string_view("false"));
      break;
    case ValueView::Kind::Int:
      append_number(out, v.as_int());
      break;
    case ValueView::Kind::Uint:
      append_number(out, v.as_uint());
      break;
    case ValueView::Kind::Double:
      append_number(out, v.as_double());
      break;
    case ValueView::Kind::String: {
      const std::size_t left_out = append_console_escaped(out, v.as_string(), max_bytes);
      if (left_out > 0) {
        fmt::format_to(std::back_inserter(out), "...[truncated {} of {} bytes]", left_out,
                       v.as_string().size());
      }
      break;
    }
  }
}

class ConsoleRenderer final : public Renderer {
 public:
  ConsoleRenderer(bool colors, RenderLimits limits) : colors_(colors), limits_(limits) {}

  void render(const Record& r, Buffer& out) const override {
    const Palette& p = colors_ ? kColours : kNoColours;
    out.append(p.dim);
    append_utc_timestamp(out, r.time_ns, false);
    out.append(p.reset);
    out.append(std::string_view(" ["));
    out.append(colors_ ? level_colour(r.level) : std::string_view());
    const auto level = to_string(r.level);
    out.append(level);
    out.append(p.reset);
    pad(out, level.size(), kLevelWidth);
    out.append(std::string_view("] "));
    out.append(p.bold);
    const std::size_t before = out.size();
    append_console_escaped(out, r.event, limits_.max_value_bytes);
    const std::size_t event_len = out.size() - before;
    out.append(p.reset);
    pad(out, event_len, kEventWidth);

    auto kv = [&](std::string_view k, std::string_view sfx, ValueView v) {
      out.push_back(' ');
      out.append(p.key);
      if (is_plain_short(k)) {
        out.append(k);
      } else {
        append_console_escaped(out, k);
      }
      out.append(sfx);
      out.append(p.reset);
      out.push_back('=');
      out.append(p.value);
      append_value(out, v, limits_.max_value_bytes);
      out.append(p.reset);
    };
    if (!r.exception_type.empty()) {
      kv("exception_type", {}, r.exception_type);
      kv("exception_message", {}, r.exception_message);
    }
    const std::size_t dropped = for_each_user_field(r, limits_, kv);
    if (dropped > 0)
      kv("dropped_fields", {}, static_cast<std::uint64_t>(dropped));
    if (r.frame != nullptr && r.frame->span) {
      const auto& ctx = r.frame->span->data.context;
      char ids[32 + 16];
      ctx.trace_id.write_hex(ids);
      ctx.span_id.write_hex(ids + 32);
      kv("trace_id", {}, std::string_view(ids, 32));
      kv("span_id", {}, std::string_view(ids + 32, 16));
    }
    out.append(std::string_view(" "));
    out.append(p.dim);
    out.push_back('[');
    append_console_escaped(out, r.file);
    out.push_back(':');
    append_number(out, r.line);
    out.push_back(']');
    out.append(p.reset);
    out.push_back('\n');
  }

 private:
  bool colors_;
  RenderLimits limits_;
};

}  // namespace

std::unique_ptr<Renderer> make_console_renderer(bool colors, RenderLimits limits) {
  return std::make_unique<ConsoleRenderer>(colors, limits);
}

}  // namespace o11y::detail
