#pragma once

// Reads protobuf bytes without their schema, field by field: enough for a test to check what
// an encoder wrote (Prometheus' exposition, OTLP requests) against the field numbers of the
// .proto files. Throws std::runtime_error on bytes that are not protobuf.

#include <bit>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace o11y::testing {

/// A sint32/sint64 value from its zigzag encoding.
[[nodiscard]] inline std::int64_t pb_zigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1U) ^ -static_cast<std::int64_t>(v & 1U);
}

struct PbField {
  std::uint32_t number = 0;
  std::uint32_t wire = 0;   ///< 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  std::uint64_t value = 0;  ///< varint and fixed values
  std::string_view bytes;   ///< length-delimited values, viewing the input
  [[nodiscard]] double as_double() const { return std::bit_cast<double>(value); }
  [[nodiscard]] std::int64_t as_sint() const { return pb_zigzag(value); }
};

inline std::uint64_t pb_varint(std::string_view s, std::size_t& at) {
  std::uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (at >= s.size())
      throw std::runtime_error("protobuf: a varint runs past the end");
    const auto b = static_cast<unsigned char>(s[at++]);
    v |= std::uint64_t{b & 0x7fU} << shift;
    if ((b & 0x80U) == 0)
      return v;
  }
  throw std::runtime_error("protobuf: a varint longer than 10 bytes");
}

/// The fields of one message, in the order written.
inline std::vector<PbField> pb_fields(std::string_view msg) {
  std::vector<PbField> out;
  std::size_t at = 0;
  while (at < msg.size()) {
    const std::uint64_t tag = pb_varint(msg, at);
    PbField f;
    f.number = static_cast<std::uint32_t>(tag >> 3U);
    f.wire = static_cast<std::uint32_t>(tag & 7U);
    if (f.wire == 0) {
      f.value = pb_varint(msg, at);
    } else if (f.wire == 1 || f.wire == 5) {
      const std::size_t n = f.wire == 1 ? 8 : 4;
      if (msg.size() - at < n)
        throw std::runtime_error("protobuf: a fixed value runs past the end");
      for (std::size_t i = 0; i < n; ++i)
        f.value |= std::uint64_t{static_cast<unsigned char>(msg[at + i])} << (8 * i);
      at += n;
    } else if (f.wire == 2) {
      const std::uint64_t n = pb_varint(msg, at);
      if (msg.size() - at < n)
        throw std::runtime_error("protobuf: a length-delimited value runs past the end");
      f.bytes = msg.substr(at, n);
      at += n;
    } else {
      throw std::runtime_error("protobuf: wire type " + std::to_string(f.wire));
    }
    out.push_back(f);
  }
  return out;
}

/// Every field of that number.
inline std::vector<PbField> pb_all(const std::vector<PbField>& fields, std::uint32_t number) {
  std::vector<PbField> out;
  for (const auto& f : fields) {
    if (f.number == number)
      out.push_back(f);
  }
  return out;
}

/// The one field of that number; throws when there is none.
inline PbField pb_one(const std::vector<PbField>& fields, std::uint32_t number) {
  for (const auto& f : fields) {
    if (f.number == number)
      return f;
  }
  throw std::runtime_error("protobuf: no field " + std::to_string(number));
}

/// The value of the field of that number, or `absent` when it was not written (proto3 leaves
/// out fields that hold their default).
inline std::uint64_t pb_value(const std::vector<PbField>& fields, std::uint32_t number,
                              std::uint64_t absent = 0) {
  for (const auto& f : fields) {
    if (f.number == number)
      return f.value;
  }
  return absent;
}

/// A packed repeated varint field's values.
inline std::vector<std::uint64_t> pb_packed(std::string_view bytes) {
  std::vector<std::uint64_t> out;
  std::size_t at = 0;
  while (at < bytes.size())
    out.push_back(pb_varint(bytes, at));
  return out;
}

/// The messages of a length-delimited stream (Prometheus' "encoding=delimited").
inline std::vector<std::string_view> pb_delimited(std::string_view stream) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::uint64_t n = pb_varint(stream, at);
    if (stream.size() - at < n)
      throw std::runtime_error("protobuf: a delimited message runs past the end");
    out.push_back(stream.substr(at, n));
    at += n;
  }
  return out;
}

/// A Prometheus native histogram's absolute bucket counts (index -> count, zero counts left
/// out) from its spans and deltas: span_field and delta_field are 12 and 13 for the positive
/// buckets, 9 and 10 for the negative ones.
inline std::map<int, std::int64_t> pb_native_buckets(const std::vector<PbField>& histogram,
                                                     std::uint32_t span_field,
                                                     std::uint32_t delta_field) {
  std::vector<std::int64_t> deltas;
  for (const auto& d : pb_all(histogram, delta_field)) {
    for (const auto v : pb_packed(d.bytes))
      deltas.push_back(pb_zigzag(v));
  }
  std::map<int, std::int64_t> out;
  std::size_t next = 0;
  std::int64_t index = 0;
  std::int64_t count = 0;
  bool first = true;
  for (const auto& sp : pb_all(histogram, span_field)) {
    const auto fields = pb_fields(sp.bytes);
    const auto offsets = pb_all(fields, 1);
    const auto lengths = pb_all(fields, 2);
    const std::int64_t offset = offsets.empty() ? 0 : offsets[0].as_sint();
    const std::uint64_t length = lengths.empty() ? 0 : lengths[0].value;
    index = first ? offset : index + offset;  // later spans: the gap after the previous one
    first = false;
    for (std::uint64_t j = 0; j < length; ++j, ++index) {
      if (next >= deltas.size())
        throw std::runtime_error("native histogram: fewer deltas than its spans cover");
      count += deltas[next++];
      if (count < 0)
        throw std::runtime_error("native histogram: a bucket's count is negative");
      if (count != 0)
        out[static_cast<int>(index)] = count;
    }
  }
  if (next != deltas.size())
    throw std::runtime_error("native histogram: more deltas than its spans cover");
  return out;
}

}  // namespace o11y::testing
