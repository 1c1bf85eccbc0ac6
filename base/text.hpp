#pragma once

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/shortest.hpp"
#include "base/words.hpp"

namespace o11y::detail {

using Buffer = fmt::memory_buffer;

/// Bits set in the top bit of every byte of x that JSON and console output cannot take as it
/// is: C0 controls, '"', '\\', DEL and everything non-ASCII. Each test can also flag bytes
/// above a real hit (a borrow), never below one, so the lowest set bit marks the first such
/// byte of a little-endian word exactly.
[[nodiscard]] inline std::uint64_t stop_bits(std::uint64_t x) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const auto has_zero_byte = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  return (x & kHigh)                           // non-ASCII
         | ((x - kOnes * 0x20U) & ~x & kHigh)  // a byte below 0x20
         | has_zero_byte(x ^ (kOnes * '"')) | has_zero_byte(x ^ (kOnes * '\\')) |
         has_zero_byte(x ^ (kOnes * 0x7FU));
}

#if defined(__SSE2__) && !defined(O11Y_PORTABLE_SCAN)
/// One bit per byte of v that stop_bits() would flag: four compares cover all of them, since
/// bytes from 0x80 up are negative as signed bytes and so "below 0x20".
[[nodiscard]] inline unsigned stop_mask(__m128i v) noexcept {
  const __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
  const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
  const __m128i slash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
  const __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(low, quote), _mm_or_si128(slash, del))));
}
#endif

/// Whether the words a and b (pieces of one string) hold only bytes that need no escaping.
[[nodiscard]] inline bool words_plain(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SSE2__) && !defined(O11Y_PORTABLE_SCAN)
  // A quarter of the instructions of two word-wide tests.
  return stop_mask(_mm_set_epi64x(static_cast<std::int64_t>(b), static_cast<std::int64_t>(a))) == 0;
#else
  return (stop_bits(a) | stop_bits(b)) == 0;
#endif
}

/// Whether s is 1 to 16 bytes that need no escaping (most keys and short values of a log
/// line), read as two overlapping words with fixed-size (so inlined) loads.
[[nodiscard]] inline bool is_plain_short(std::string_view s) noexcept {
  const std::size_t n = s.size();
  const char* src = s.data();
  if (n >= 8 && n <= 16)
    return words_plain(load_u64(src), load_u64(src + n - 8));
  if (n >= 4 && n < 8) {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    constexpr std::uint64_t kPad = 0x6161616100000000ULL;  // the upper halves as plain bytes
    return words_plain(a | kPad, b | kPad);
  }
  if (n > 0 && n < 4) {
    std::uint64_t w = 0x6161616161616161ULL;  // 'a' where there is no byte
    std::memcpy(&w, src, 1);
    std::memcpy(reinterpret_cast<char*>(&w) + 1, src + n / 2, 1);
    std::memcpy(reinterpret_cast<char*>(&w) + 2, src + n - 1, 1);
    return words_plain(w, w);
  }
  return false;
}

/// Copies s to out unchanged when is_plain_short(s) and returns the end; returns nullptr,
/// writing nothing, for anything else. Inline: the out-of-line escaper's call and set-up cost
/// more than such a string's copy.
[[nodiscard]] inline char* copy_if_plain_short(char* out, std::string_view s) noexcept {
  return is_plain_short(s) ? copy_run(out, s.data(), s.size()) : nullptr;
}

/// Writes s as the inside of a JSON string at out, which must have room for 6 bytes per input
/// byte used (min(s.size(), max_bytes)). Returns the end; left_out gets the bytes not used.
char* write_json_escaped(char* out, std::string_view s, std::size_t max_bytes,
                         std::size_t& left_out) noexcept;

/// Appends s as the inside of a JSON string: quotes, backslashes and control characters
/// escaped, invalid UTF-8 replaced by U+FFFD, so the output always parses and stays on one
/// line. At most max_bytes of input are used; returns how many input bytes were left out.
std::size_t append_json_escaped(Buffer& out, std::string_view s,
                                std::size_t max_bytes = static_cast<std::size_t>(-1));

/// Appends s for a terminal: printable as is, control characters (newlines, escape sequences)
/// as visible \n, \x1b..., invalid UTF-8 as U+FFFD. Returns input bytes left out.
std::size_t append_console_escaped(Buffer& out, std::string_view s,
                                   std::size_t max_bytes = static_cast<std::size_t>(-1));

/// Bytes of "YYYY-MM-DDTHH:MM:SS", and with ".ffffff".
inline constexpr std::size_t kTimestampDateBytes = 19;
inline constexpr std::size_t kTimestampBytes = kTimestampDateBytes + 7;

/// Writes "YYYY-MM-DDTHH:MM:SS" (UTC) and, when micros, ".ffffff" at out (room for
/// kTimestampBytes) and returns the end. The date part is cached per thread and recomputed only
/// when the second changes.
char* write_utc_timestamp(char* out, std::uint64_t unix_ns, bool micros) noexcept;

/// write_utc_timestamp() appended to a buffer.
void append_utc_timestamp(Buffer& out, std::uint64_t unix_ns, bool micros);

/// Appends a number in its shortest round-trip form (no locale, no allocation).
template <class T>
void append_number(Buffer& out, T value) {
  char buf[kShortestBound];
  out.append(buf, write_number(buf, value));
}

}  // namespace o11y::detail
