#pragma once

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "context/shortest.hpp"

namespace o11y::detail {

using Buffer = fmt::memory_buffer;

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
  } else if (n < 4) {
    for (std::size_t k = 0; k < n; ++k)
      out[k] = src[k];
  } else {
    std::memcpy(out, src, n);
  }
  return out + n;
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

/// Appends "YYYY-MM-DDTHH:MM:SS" (UTC) and, when micros, ".ffffff". The date part is cached
/// per thread and recomputed only when the second changes.
void append_utc_timestamp(Buffer& out, std::uint64_t unix_ns, bool micros);

/// Appends a number in its shortest round-trip form (no locale, no allocation).
template <class T>
void append_number(Buffer& out, T value) {
  char buf[kShortestBound];
  out.append(buf, write_number(buf, value));
}

}  // namespace o11y::detail
