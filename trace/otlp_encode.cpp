// OTLP trace encodings, from the opentelemetry-proto definitions (trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto) and the OTLP/JSON mapping rules: ids
// as hex, enums as integers, 64-bit integers as decimal strings, lowerCamelCase keys.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/text.hpp"
#include "o11y/export.hpp"
#include "trace/otlp.hpp"

#ifndef O11Y_VERSION
#define O11Y_VERSION "0.0.0"
#endif

namespace o11y::otlp {
namespace {

constexpr const char* kScopeName = "o11y";

// Span.flags: the W3C trace flags in bits 0-7, then whether the parent's remoteness is known
// (bit 8) and whether it was remote (bit 9).
constexpr std::uint32_t kHasIsRemote = 0x100;
constexpr std::uint32_t kIsRemote = 0x200;

int kind_number(SpanKind k) {
  // SPAN_KIND_UNSPECIFIED is 0; ours start at INTERNAL = 1.
  return static_cast<int>(k) + 1;
}

int status_number(StatusCode c) {
  return static_cast<int>(c);  // UNSET 0, OK 1, ERROR 2 in both
}

std::uint32_t span_flags(const SpanData& s) {
  return s.context.flags | kHasIsRemote | (s.parent_remote ? kIsRemote : 0U);
}

/// Spans grouped by the resource they carry, in first-seen order.
std::vector<std::pair<const Resource*, std::vector<const SpanData*>>> group(SpanBatch spans) {
  std::vector<std::pair<const Resource*, std::vector<const SpanData*>>> groups;
  for (const auto& s : spans) {
    if (!s)
      continue;
    const Resource* r = s->resource.get();
    auto it =
        std::find_if(groups.begin(), groups.end(), [r](const auto& g) { return g.first == r; });
    if (it == groups.end()) {
      groups.emplace_back(r, std::vector<const SpanData*>{});
      it = std::prev(groups.end());
    }
    it->second.push_back(s.get());
  }
  return groups;
}

// ---- JSON -------------------------------------------------------------------------------
// Written directly into one buffer: this runs on the export thread for every span, and
// building a DOM first cost more CPU than the rest of the pipeline together.

using detail::Buffer;

void put(Buffer& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}
// The keys and punctuation of the encoding, copied with a fixed size (inlined): appending
// them through put() made a memcpy call each, over 40% of encoding a span.
template <std::size_t N>
void put(Buffer& out, const char (&literal)[N]) {
  const std::size_t old = out.size();
  out.resize(old + N - 1);
  std::memcpy(out.data() + old, literal, N - 1);
}

void put_string(Buffer& out, std::string_view s) {
  const std::size_t old = out.size();
  if (s.size() <= 16) {  // most keys and values: copied inline when they need no escaping
    out.resize(old + 18);
    char* p = out.data() + old;
    *p++ = '"';
    if (char* end = detail::copy_if_plain_short(p, s)) {
      *end++ = '"';
      out.resize(static_cast<std::size_t>(end - out.data()));
      return;
    }
    out.resize(old);
  }
  out.push_back('"');
  detail::append_json_escaped(out, s);  // invalid UTF-8 replaced, never thrown on
  out.push_back('"');
}

void put_quoted_number(Buffer& out, std::uint64_t v) {
  out.push_back('"');
  detail::append_number(out, v);
  out.push_back('"');
}

/// A trace or span id as a quoted string of its 32 or 16 hex digits.
template <class Id, std::size_t Digits>
void put_hex_id(Buffer& out, const Id& id) {
  char hex[Digits];  // NOLINT(*-avoid-c-arrays)
  id.write_hex(hex);
  out.push_back('"');
  out.append(hex, hex + Digits);
  out.push_back('"');
}

void put_hex(Buffer& out, const TraceId& id) {
  put_hex_id<TraceId, 32>(out, id);
}

void put_hex(Buffer& out, const SpanId& id) {
  put_hex_id<SpanId, 16>(out, id);
}

void put_any_value(Buffer& out, const Value& v) {
  out.push_back('{');
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          // An empty AnyValue: OTLP's representation of null.
        } else if constexpr (std::is_same_v<T, bool>) {
          put(out, x ? "\"boolValue\":true" : "\"boolValue\":false");
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          put(out, "\"intValue\":\"");
          detail::append_number(out, x);
          out.push_back('"');
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          // Above INT64_MAX (smaller ones are stored as int64): intValue would wrap.
          put(out, "\"stringValue\":\"");
          detail::append_number(out, x);
          out.push_back('"');
        } else if constexpr (std::is_same_v<T, double>) {
          put(out, "\"doubleValue\":");
          if (std::isnan(x)) {
            put(out, "\"NaN\"");
          } else if (std::isinf(x)) {
            put(out, x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
          } else {
            detail::append_number(out, x);
          }
        } else {
          put(out, "\"stringValue\":");
          put_string(out, x);
        }
      },
      v.storage());
  out.push_back('}');
}

void put_attributes(Buffer& out, const Attributes& attrs) {
  put(out, "\"attributes\":[");
  bool first = true;
  for (const auto& a : attrs) {
    if (!first)
      out.push_back(',');
    first = false;
    put(out, "{\"key\":");
    put_string(out, a.key);
    put(out, ",\"value\":");
    put_any_value(out, a.value);
    out.push_back('}');
  }
  out.push_back(']');
}

void put_span(Buffer& out, const SpanData& s) {
  put(out, "{\"traceId\":");
  put_hex(out, s.context.trace_id);
  put(out, ",\"spanId\":");
  put_hex(out, s.context.span_id);
  if (!s.context.trace_state.empty()) {
    put(out, ",\"traceState\":");
    put_string(out, s.context.trace_state);
  }
  if (s.parent_span_id.valid()) {
    put(out, ",\"parentSpanId\":");
    put_hex(out, s.parent_span_id);
  }
  put(out, ",\"flags\":");
  detail::append_number(out, span_flags(s));
  put(out, ",\"name\":");
  put_string(out, s.name);
  put(out, ",\"kind\":");
  detail::append_number(out, kind_number(s.kind));
  put(out, ",\"startTimeUnixNano\":");
  put_quoted_number(out, s.start_time_ns);
  put(out, ",\"endTimeUnixNano\":");
  put_quoted_number(out, s.end_time_ns);
  out.push_back(',');
  put_attributes(out, s.attributes);
  if (s.dropped_attributes != 0) {
    put(out, ",\"droppedAttributesCount\":");
    detail::append_number(out, s.dropped_attributes);
  }
  if (!s.events.empty()) {
    put(out, ",\"events\":[");
    bool first = true;
    for (const auto& e : s.events) {
      if (!first)
        out.push_back(',');
      first = false;
      put(out, "{\"timeUnixNano\":");
      put_quoted_number(out, e.time_ns);
      put(out, ",\"name\":");
      put_string(out, e.name);
      out.push_back(',');
      put_attributes(out, e.attributes);
      out.push_back('}');
    }
    out.push_back(']');
  }
  if (s.dropped_events != 0) {
    put(out, ",\"droppedEventsCount\":");
    detail::append_number(out, s.dropped_events);
  }
  if (!s.links.empty()) {
    put(out, ",\"links\":[");
    bool first = true;
    for (const auto& l : s.links) {
      if (!first)
        out.push_back(',');
      first = false;
      put(out, "{\"traceId\":");
      put_hex(out, l.context.trace_id);
      put(out, ",\"spanId\":");
      put_hex(out, l.context.span_id);
      if (!l.context.trace_state.empty()) {
        put(out, ",\"traceState\":");
        put_string(out, l.context.trace_state);
      }
      out.push_back(',');
      put_attributes(out, l.attributes);
      put(out, ",\"flags\":");
      detail::append_number(out,
                            l.context.flags | kHasIsRemote | (l.context.remote ? kIsRemote : 0U));
      out.push_back('}');
    }
    out.push_back(']');
  }
  put(out, ",\"status\":{");
  if (!s.status_description.empty()) {
    put(out, "\"message\":");
    put_string(out, s.status_description);
  }
  if (s.status != StatusCode::Unset) {
    if (!s.status_description.empty())
      out.push_back(',');
    put(out, "\"code\":");
    detail::append_number(out, status_number(s.status));
  }
  put(out, "}}");
}

// ---- protobuf ---------------------------------------------------------------------------

enum class Wire : std::uint8_t { Varint = 0, Fixed64 = 1, Len = 2, Fixed32 = 5 };

// Writes into a byte buffer through a raw cursor after one resize per item: push_back per
// byte into a std::string was over a third of encoding a span.
class Pb {
 public:
  explicit Pb(Buffer& out) : out_(out) {}

  void varint(std::uint64_t v) { shrink_to(put_varint(grow(kMaxVarint), v)); }
  void tag(std::uint32_t field, Wire w) {
    varint((std::uint64_t{field} << 3) | static_cast<unsigned>(w));
  }
  void uint(std::uint32_t field, std::uint64_t v) {
    if (v == 0)
      return;  // proto3 default: not on the wire
    tag(field, Wire::Varint);
    varint(v);
  }
  void sint64_as_int64(std::uint32_t field, std::int64_t v) {
    tag(field, Wire::Varint);
    varint(static_cast<std::uint64_t>(v));  // int64: two's complement, ten bytes if negative
  }
  void boolean(std::uint32_t field, bool b) {
    tag(field, Wire::Varint);
    varint(b ? 1 : 0);
  }
  void fixed64(std::uint32_t field, std::uint64_t v) {
    tag(field, Wire::Fixed64);
    little_endian(v, 8);
  }
  void fixed32(std::uint32_t field, std::uint32_t v) {
    tag(field, Wire::Fixed32);
    little_endian(v, 4);
  }
  void dbl(std::uint32_t field, double d) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    fixed64(field, bits);
  }
  void bytes(std::uint32_t field, std::string_view b) {
    tag(field, Wire::Len);
    varint(b.size());
    (void)detail::copy_run(grow(b.size()), b.data(), b.size());
  }
  void string(std::uint32_t field, std::string_view s) {
    if (!s.empty())
      bytes(field, s);
  }
  /// A nested message, written by `body` in place after a one-byte length (enough below 128
  /// bytes, the usual attribute); a longer length moves the body up once. A scratch encoder
  /// per message, copied in, was an allocation and a copy per attribute: over half of
  /// encoding a span.
  template <class Body>
  void message(std::uint32_t field, Body&& body) {
    tag(field, Wire::Len);
    const std::size_t at = out_.size();
    out_.push_back('\0');
    body(*this);
    const std::size_t n = out_.size() - at - 1;
    if (n < 0x80) {
      out_[at] = static_cast<char>(n);
      return;
    }
    char length[kMaxVarint];
    const auto k = static_cast<std::size_t>(put_varint(length, n) - length);
    out_.resize(out_.size() + k - 1);
    std::memmove(out_.data() + at + k, out_.data() + at + 1, n);
    std::memcpy(out_.data() + at, length, k);
  }

 private:
  static constexpr std::size_t kMaxVarint = 10;
  static char* put_varint(char* p, std::uint64_t v) noexcept {
    for (; v >= 0x80; v >>= 7)
      *p++ = static_cast<char>((v & 0x7f) | 0x80);
    *p++ = static_cast<char>(v);
    return p;
  }
  // Room for n more bytes; shrink_to() then sets the end actually written.
  char* grow(std::size_t n) {
    const std::size_t at = out_.size();
    out_.resize(at + n);
    return out_.data() + at;
  }
  void shrink_to(const char* end) { out_.resize(static_cast<std::size_t>(end - out_.data())); }
  void little_endian(std::uint64_t v, int n) {
    char* p = grow(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }

  Buffer& out_;
};

// Ids as their big-endian bytes, in a fixed array: a std::string per id allocated for the
// 16-byte trace id.
struct IdBytes {
  char b[16];
  std::size_t n;
  [[nodiscard]] std::string_view view() const noexcept { return {b, n}; }
};

void put_big_endian(char* out, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

IdBytes span_id_bytes(const SpanId& id) noexcept {
  IdBytes r{{}, 8};
  put_big_endian(r.b, id.value);
  return r;
}

IdBytes trace_id_bytes(const TraceId& id) noexcept {
  IdBytes r{{}, 16};
  put_big_endian(r.b, id.hi);
  put_big_endian(r.b + 8, id.lo);
  return r;
}

void any_value_pb(Pb& pb, const Value& v) {
  std::visit(
      [&pb](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
        } else if constexpr (std::is_same_v<T, bool>) {
          pb.boolean(2, x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          pb.sint64_as_int64(3, x);
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          pb.bytes(1, std::to_string(x));
        } else if constexpr (std::is_same_v<T, double>) {
          pb.dbl(4, x);
        } else {
          pb.bytes(1, x);
        }
      },
      v.storage());
}

void attributes_pb(Pb& pb, std::uint32_t field, const Attributes& attrs) {
  for (const auto& a : attrs) {
    pb.message(field, [&a](Pb& kv) {
      kv.string(1, a.key);
      kv.message(2, [&a](Pb& v) { any_value_pb(v, a.value); });
    });
  }
}

void span_pb(Pb& pb, const SpanData& s) {
  pb.bytes(1, trace_id_bytes(s.context.trace_id).view());
  pb.bytes(2, span_id_bytes(s.context.span_id).view());
  pb.string(3, s.context.trace_state);
  if (s.parent_span_id.valid())
    pb.bytes(4, span_id_bytes(s.parent_span_id).view());
  pb.string(5, s.name);
  pb.uint(6, static_cast<std::uint64_t>(kind_number(s.kind)));
  pb.fixed64(7, s.start_time_ns);
  pb.fixed64(8, s.end_time_ns);
  attributes_pb(pb, 9, s.attributes);
  pb.uint(10, s.dropped_attributes);
  for (const auto& e : s.events) {
    pb.message(11, [&e](Pb& ev) {
      ev.fixed64(1, e.time_ns);
      ev.string(2, e.name);
      attributes_pb(ev, 3, e.attributes);
    });
  }
  pb.uint(12, s.dropped_events);
  for (const auto& l : s.links) {
    pb.message(13, [&l](Pb& lk) {
      lk.bytes(1, trace_id_bytes(l.context.trace_id).view());
      lk.bytes(2, span_id_bytes(l.context.span_id).view());
      lk.string(3, l.context.trace_state);
      attributes_pb(lk, 4, l.attributes);
      lk.fixed32(6, l.context.flags | kHasIsRemote | (l.context.remote ? kIsRemote : 0U));
    });
  }
  pb.message(15, [&s](Pb& st) {
    st.string(2, s.status_description);
    st.uint(3, static_cast<std::uint64_t>(status_number(s.status)));
  });
  pb.fixed32(16, span_flags(s));
}

}  // namespace

std::string span_json_line(const SpanData& span) {
  Buffer out;
  put_span(out, span);
  if (span.resource) {
    for (const auto& a : span.resource->attributes) {
      if (a.key == "service.name") {
        out.resize(out.size() - 1);  // reopen the span object
        put(out, ",\"serviceName\":");
        put_string(out, a.value.to_string());
        out.push_back('}');
        break;
      }
    }
  }
  return {out.data(), out.size()};
}

void encode_json_to(SpanBatch spans, detail::Buffer& out) {
  out.clear();
  put(out, "{\"resourceSpans\":[");
  bool first_group = true;
  for (const auto& g : group(spans)) {
    if (!first_group)
      out.push_back(',');
    first_group = false;
    put(out, "{\"resource\":{");
    put_attributes(out, g.first != nullptr ? g.first->attributes : Attributes{});
    put(out, "},\"scopeSpans\":[{\"scope\":{\"name\":");
    put_string(out, kScopeName);
    put(out, ",\"version\":");
    put_string(out, O11Y_VERSION);
    put(out, "},\"spans\":[");
    bool first = true;
    for (const auto* s : g.second) {
      if (!first)
        out.push_back(',');
      first = false;
      put_span(out, *s);
    }
    put(out, "]}]}");
  }
  put(out, "]}");
}

std::string encode_json(SpanBatch spans) {
  Buffer out;
  encode_json_to(spans, out);
  return {out.data(), out.size()};
}

std::string encode_protobuf(SpanBatch spans) {
  Buffer out;
  encode_protobuf_to(spans, out);
  return {out.data(), out.size()};
}

void encode_protobuf_to(SpanBatch spans, detail::Buffer& out) {
  out.clear();
  Pb request(out);
  for (const auto& g : group(spans)) {
    // clang 14 cannot capture structured bindings: plain names for the lambdas.
    const Resource* resource = g.first;
    const auto& members = g.second;
    request.message(1, [&](Pb& rs) {
      rs.message(1, [&](Pb& res) {
        if (resource != nullptr)
          attributes_pb(res, 1, resource->attributes);
      });
      rs.message(2, [&](Pb& ss) {
        ss.message(1, [](Pb& scope) {
          scope.string(1, kScopeName);
          scope.string(2, O11Y_VERSION);
        });
        for (const auto* s : members)
          ss.message(2, [s](Pb& sp) { span_pb(sp, *s); });
      });
    });
  }
}

}  // namespace o11y::otlp
