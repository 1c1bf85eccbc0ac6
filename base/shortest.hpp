#pragma once

// Doubles in their shortest round-trip form, byte for byte what std::to_chars(first, last, d)
// writes, but fast for the values logs and metrics mostly carry: few decimal places (49.99,
// 0.25, 1500). libstdc++'s general algorithm cost a JSON log line 600 instructions for one such
// field, more than all of its other numbers, keys and ids together.

#include <charconv>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "base/words.hpp"

namespace o11y::detail {

/// Room write_shortest() may use.
inline constexpr std::size_t kShortestBound = 32;

/// Writes d at out (at least kShortestBound bytes) exactly as std::to_chars(out, end, d) would
/// and returns the end. NaN and infinities come out as to_chars writes them ("nan", "inf").
inline char* write_shortest(char* out, double d) noexcept {
  if (d == 0) {
    if (std::signbit(d))
      *out++ = '-';
    *out++ = '0';
    return out;
  }
  const double a = std::fabs(d);
  // If m / 10^k reads back as a (m < 10^15, k <= 6), it is the only k-decimal string that does:
  // the decimal spacing 10^-k is then at least four times the spacing of doubles near a. The
  // smallest such k gives the fewest digits, which is what to_chars picks; it picks scientific
  // notation only when that is strictly shorter, checked below. The quotient of two exact
  // doubles is correctly rounded, as parsing the decimal would be.
  if (a >= 1e-3 && a < 1e15) {
    constexpr double kScale[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    for (unsigned k = 0; k < 7; ++k) {
      const double scaled = a * kScale[k];
      if (scaled >= 1e15)
        break;
      // Exact (scaled < 2^50), and any rounding would do: the quotient check decides.
      const auto m =
          static_cast<std::uint64_t>(scaled + 0.5);  // NOLINT(bugprone-incorrect-roundings)
      if (static_cast<double>(m) / kScale[k] != a)
        continue;
      char digits[20];
      char* end = digits + sizeof digits;
      char* p = end;
      for (std::uint64_t v = m; v != 0; v /= 10)
        *--p = static_cast<char>('0' + v % 10);
      const auto s = static_cast<unsigned>(end - p);  // significant digits (m has no trailing 0
                                                      // when k > 0: k - 1 would have matched)
      if (k == 0) {
        unsigned zeros = 0;  // scientific notation drops trailing zeros: 100000 is "1e+05"
        for (std::uint64_t v = m; v % 10 == 0; v /= 10)  // m >= 1 here
          ++zeros;
        const unsigned sig = s - zeros;
        const unsigned scientific = sig == 1 ? 5 : sig + 5;
        if (s > scientific)
          break;
      }
      // With a decimal point, fixed is never the longer form while a >= 1e-3: "0.00d" and
      // "d.ddd" take at most as many bytes as "de-03" and "d.ddde+00".
      if (d < 0)
        *out++ = '-';
      // Copied with copy_run(): GCC made the byte loops two memcpy calls, which cost more
      // than the digits.
      if (k == 0 || s > k) {
        const unsigned int_digits = s - k;
        out = copy_run(out, p, int_digits);
        if (k > 0) {
          *out++ = '.';
          out = copy_run(out, p + int_digits, k);
        }
      } else {
        *out++ = '0';
        *out++ = '.';
        for (unsigned i = s; i < k; ++i)
          *out++ = '0';
        out = copy_run(out, p, s);
      }
      return out;
    }
  }
  return std::to_chars(out, out + kShortestBound, d).ptr;
}

/// Any number in its shortest round-trip form at out (at least kShortestBound bytes): doubles
/// through write_shortest(), integers through std::to_chars. Returns the end.
template <class T>
char* write_number(char* out, T v) noexcept {
  if constexpr (std::is_floating_point_v<T>) {
    return write_shortest(out, static_cast<double>(v));
  } else {
    return std::to_chars(out, out + kShortestBound, v).ptr;
  }
}

}  // namespace o11y::detail
