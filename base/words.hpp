#pragma once

// Short strings (label names and values, attribute keys) read as 64-bit words with fixed-size
// loads, which the compiler inlines: the hot paths of metrics and spans compare and hash such
// strings on every call, and a memcmp or memcpy call per string cost more than the work.

#include <cstdint>
#include <cstring>
#include <string_view>

namespace o11y::detail {

/// 8 bytes from p, unaligned.
[[nodiscard]] inline std::uint64_t load_u64(const char* p) noexcept {
  std::uint64_t x = 0;
  std::memcpy(&x, p, 8);
  return x;
}

/// One multiply-xorshift step of a hash over 64-bit words.
[[nodiscard]] inline std::uint64_t mix_word(std::uint64_t h, std::uint64_t word) noexcept {
  h = (h ^ word) * 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29U);
}

/// A short string (a label name or value, an attribute key) as one 64-bit word, so that
/// lookups compare words instead of strings. Up to 7 bytes the word is exact: the bytes,
/// little-endian, with the length in the top byte, read with fixed-size (so inlined) overlapping
/// loads. Longer strings get a hash with 0xff in the top byte, which no short word has; equal words
/// then still need the strings compared (see word_is_exact()).
[[nodiscard]] inline std::uint64_t short_word(std::string_view v) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(v.data());
  const std::size_t n = v.size();
  if (n >= 8) {
    std::uint64_t h = n;
    for (std::size_t i = 0; i + 8 <= n; i += 8)
      h = mix_word(h, load_u64(v.data() + i));
    h = (h ^ load_u64(v.data() + n - 8)) * 0x9e3779b97f4a7c15ULL;  // the last bytes, overlapping
    return (h ^ (h >> 32U)) | (0xffULL << 56U);
  }
  std::uint64_t w = 0;
  if (n >= 4) {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    std::memcpy(&a, u, 4);
    std::memcpy(&b, u + n - 4, 4);
    w = a | (static_cast<std::uint64_t>(b) << (8U * (n - 4)));
  } else if (n > 0) {
    w = u[0] | (static_cast<std::uint64_t>(u[n / 2]) << (8U * (n / 2))) |
        (static_cast<std::uint64_t>(u[n - 1]) << (8U * (n - 1)));
  }
  return w | (static_cast<std::uint64_t>(n) << 56U);
}
/// Whether equal short_word()s mean equal strings.
[[nodiscard]] inline bool word_is_exact(std::uint64_t word) noexcept {
  return (word >> 56U) < 8;
}

/// Equality for short strings (keys, label values), inline: a memcmp call costs more than
/// comparing 4 to 16 bytes.
[[nodiscard]] inline bool short_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  const std::size_t n = a.size();
  if (n < 8)
    return short_word(a) == short_word(b);
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    if (load_u64(a.data() + i) != load_u64(b.data() + i))
      return false;
  }
  return load_u64(a.data() + n - 8) == load_u64(b.data() + n - 8);
}

/// Copies n bytes to out and returns the end: up to 16 with fixed-size (so inlined)
/// overlapping moves, since most keys and values in a log line are that short and a memcpy
/// call cost more than the copy.
inline char* copy_run(char* out, const char* src, std::size_t n) noexcept {
  // n bytes as a first and a last word, which overlap: for sizeof(w) <= n <= 2 * sizeof(w).
  const auto ends = [&](auto word) {
    decltype(word) a{};
    decltype(word) b{};
    std::memcpy(&a, src, sizeof a);
    std::memcpy(&b, src + n - sizeof b, sizeof b);
    std::memcpy(out, &a, sizeof a);
    std::memcpy(out + n - sizeof b, &b, sizeof b);
  };
  if (n >= 8 && n <= 16) {
    ends(std::uint64_t{});
  } else if (n >= 4 && n < 8) {
    ends(std::uint32_t{});
  } else if (n > 0 && n < 4) {
    // Three stores that cover 1 to 3 bytes. A byte loop here became `rep movsb`, slow to start,
    // where GCC inlined this into the console renderer: a third of its field time.
    out[0] = src[0];
    out[n / 2] = src[n / 2];
    out[n - 1] = src[n - 1];
  } else if (n > 16) {
    std::memcpy(out, src, n);
  }
  return out + n;
}

}  // namespace o11y::detail
