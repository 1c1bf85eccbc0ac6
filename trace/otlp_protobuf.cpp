// OTLP/protobuf trace encoding (ExportTraceServiceRequest), from the opentelemetry-proto
// definitions: trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto.
#include <cstring>
#include <string>
#include <variant>

#include "base/text.hpp"
#include "trace/otlp.hpp"
#include "trace/otlp_common.hpp"

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
