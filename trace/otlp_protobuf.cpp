// OTLP/protobuf trace encoding (ExportTraceServiceRequest), from the opentelemetry-proto
// definitions: trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto.
#include <cstring>
#include <string>
#include <variant>

#include "base/text.hpp"
#include "trace/otlp.hpp"
#include "trace/otlp_common.hpp"
#include "trace/otlp_fields.hpp"

namespace o11y::otlp {
namespace {

using detail::Buffer;

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
          pb.boolean(field::any_value::kBoolValue, x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          pb.sint64_as_int64(field::any_value::kIntValue, x);
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          pb.bytes(field::any_value::kStringValue, std::to_string(x));
        } else if constexpr (std::is_same_v<T, double>) {
          pb.dbl(field::any_value::kDoubleValue, x);
        } else {
          pb.bytes(field::any_value::kStringValue, x);
        }
      },
      v.storage());
}

void attributes_pb(Pb& pb, std::uint32_t field, const Attributes& attrs) {
  for (const auto& a : attrs) {
    pb.message(field, [&a](Pb& kv) {
      kv.string(field::key_value::kKey, a.key);
      kv.message(field::key_value::kValue, [&a](Pb& v) { any_value_pb(v, a.value); });
    });
  }
}

void span_pb(Pb& pb, const SpanData& s) {
  pb.bytes(field::span::kTraceId, trace_id_bytes(s.context.trace_id).view());
  pb.bytes(field::span::kSpanId, span_id_bytes(s.context.span_id).view());
  pb.string(field::span::kTraceState, s.context.trace_state);
  if (s.parent_span_id.valid())
    pb.bytes(field::span::kParentSpanId, span_id_bytes(s.parent_span_id).view());
  pb.string(field::span::kName, s.name);
  pb.uint(field::span::kKind, static_cast<std::uint64_t>(kind_number(s.kind)));
  pb.fixed64(field::span::kStartTimeUnixNano, s.start_time_ns);
  pb.fixed64(field::span::kEndTimeUnixNano, s.end_time_ns);
  attributes_pb(pb, field::span::kAttributes, s.attributes);
  pb.uint(field::span::kDroppedAttributesCount, s.dropped_attributes);
  for (const auto& e : s.events) {
    pb.message(field::span::kEvents, [&e](Pb& ev) {
      ev.fixed64(field::event::kTimeUnixNano, e.time_ns);
      ev.string(field::event::kName, e.name);
      attributes_pb(ev, field::event::kAttributes, e.attributes);
    });
  }
  pb.uint(field::span::kDroppedEventsCount, s.dropped_events);
  for (const auto& l : s.links) {
    pb.message(field::span::kLinks, [&l](Pb& lk) {
      lk.bytes(field::link::kTraceId, trace_id_bytes(l.context.trace_id).view());
      lk.bytes(field::link::kSpanId, span_id_bytes(l.context.span_id).view());
      lk.string(field::link::kTraceState, l.context.trace_state);
      attributes_pb(lk, field::link::kAttributes, l.attributes);
      lk.fixed32(field::link::kFlags,
                 l.context.flags | kHasIsRemote | (l.context.remote ? kIsRemote : 0U));
    });
  }
  pb.message(field::span::kStatus, [&s](Pb& st) {
    st.string(field::status::kMessage, s.status_description);
    st.uint(field::status::kCode, static_cast<std::uint64_t>(status_number(s.status)));
  });
  pb.fixed32(field::span::kFlags, span_flags(s));
}

}  // namespace

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
    request.message(field::export_trace_service_request::kResourceSpans, [&](Pb& rs) {
      rs.message(field::resource_spans::kResource, [&](Pb& res) {
        if (resource != nullptr)
          attributes_pb(res, field::resource::kAttributes, resource->attributes);
      });
      rs.message(field::resource_spans::kScopeSpans, [&](Pb& ss) {
        ss.message(field::scope_spans::kScope, [](Pb& scope) {
          scope.string(field::instrumentation_scope::kName, kScopeName);
          scope.string(field::instrumentation_scope::kVersion, O11Y_VERSION);
        });
        for (const auto* s : members)
          ss.message(field::scope_spans::kSpans, [s](Pb& sp) { span_pb(sp, *s); });
      });
    });
  }
}

}  // namespace o11y::otlp
