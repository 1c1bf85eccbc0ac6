#pragma once

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <string_view>

#include "context/shortest.hpp"

namespace o11y::detail {

using Buffer = fmt::memory_buffer;

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
