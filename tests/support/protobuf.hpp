#pragma once

// Reads protobuf bytes without their schema, field by field: enough for a test to check what
// an encoder wrote (Prometheus' exposition, OTLP requests) against the field numbers of the
// .proto files. Throws std::runtime_error on bytes that are not protobuf.

#include <bit>
#include <cstdint>
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

}  // namespace o11y::testing
