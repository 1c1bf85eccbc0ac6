#pragma once

// The protobuf wire format as the OTLP encoders write it (traces, logs, metrics): a writer
// into one reusable buffer, ids as bytes, AnyValue and KeyValue.

#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/shortest.hpp"
#include "base/text.hpp"
#include "o11y/trace.hpp"
#include "o11y/value.hpp"
#include "otlp/fields.hpp"

namespace o11y::otlp {

using detail::Buffer;

enum class Wire : std::uint8_t { Varint = 0, Fixed64 = 1, Len = 2, Fixed32 = 5 };

/// A signed integer as sint32/sint64 put it on the wire: small magnitudes, small varints.
[[nodiscard]] inline std::uint64_t zigzag(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1U) ^ static_cast<std::uint64_t>(v >> 63);
}

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
  /// Bytes already encoded (messages of a repeated field, say), appended as they are.
  void raw(std::string_view b) { (void)detail::copy_run(grow(b.size()), b.data(), b.size()); }
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

inline void put_big_endian(char* out, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline IdBytes span_id_bytes(const SpanId& id) noexcept {
  IdBytes r{{}, 8};
  put_big_endian(r.b, id.value);
  return r;
}

inline IdBytes trace_id_bytes(const TraceId& id) noexcept {
  IdBytes r{{}, 16};
  put_big_endian(r.b, id.hi);
  put_big_endian(r.b + 8, id.lo);
  return r;
}

inline void any_value_pb(Pb& pb, ValueView v) {
  switch (v.kind()) {
    case ValueView::Kind::Null:
      break;  // an empty AnyValue: OTLP's null
    case ValueView::Kind::Bool:
      pb.boolean(field::any_value::kBoolValue, v.as_bool());
      break;
    case ValueView::Kind::Int:
      pb.sint64_as_int64(field::any_value::kIntValue, v.as_int());
      break;
    case ValueView::Kind::Uint: {
      // Above INT64_MAX (smaller ones are Int): intValue would wrap.
      char digits[32];  // NOLINT(*-avoid-c-arrays): write_number() may use 32
      const auto* end = detail::write_number(digits, v.as_uint());
      pb.bytes(field::any_value::kStringValue,
               std::string_view(digits, static_cast<std::size_t>(end - digits)));
      break;
    }
    case ValueView::Kind::Double:
      pb.dbl(field::any_value::kDoubleValue, v.as_double());
      break;
    case ValueView::Kind::String:
      pb.bytes(field::any_value::kStringValue, v.as_string());
      break;
  }
}

/// One KeyValue message in field `field`.
inline void key_value_pb(Pb& pb, std::uint32_t field, std::string_view key, ValueView value) {
  pb.message(field, [&](Pb& kv) {
    kv.string(field::key_value::kKey, key);
    kv.message(field::key_value::kValue, [&](Pb& v) { any_value_pb(v, value); });
  });
}

inline void attributes_pb(Pb& pb, std::uint32_t field, const Attributes& attrs) {
  for (const auto& a : attrs)
    key_value_pb(pb, field, a.key, ValueView(a.value));
}

}  // namespace o11y::otlp
