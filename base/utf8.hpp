#pragma once

#include <cstddef>

namespace o11y::detail {

/// Length of the well-formed UTF-8 sequence starting at p (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF), or 0 when the n bytes there do not start one.
[[nodiscard]] inline std::size_t utf8_sequence_length(const unsigned char* p,
                                                      std::size_t n) noexcept {
  auto cont = [](unsigned char c) { return (c & 0xC0U) == 0x80U; };
  const unsigned char c = p[0];
  if (c < 0x80U)
    return 1;
  if (c < 0xC2U)
    return 0;
  if (c < 0xE0U)
    return n >= 2 && cont(p[1]) ? 2 : 0;
  if (c < 0xF0U) {
    if (n < 3 || !cont(p[1]) || !cont(p[2]))
      return 0;
    if (c == 0xE0U && p[1] < 0xA0U)
      return 0;  // overlong
    if (c == 0xEDU && p[1] > 0x9FU)
      return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c < 0xF5U) {
    if (n < 4 || !cont(p[1]) || !cont(p[2]) || !cont(p[3]))
      return 0;
    if (c == 0xF0U && p[1] < 0x90U)
      return 0;  // overlong
    if (c == 0xF4U && p[1] > 0x8FU)
      return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace o11y::detail
