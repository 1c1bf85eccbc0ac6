#include "base/text.hpp"

#include <array>
#include <chrono>
#include <cstring>

#include "base/utf8.hpp"
#include "base/words.hpp"

namespace o11y::detail {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr char kHex[] = "0123456789abcdef";

// Bytes the fast loop must stop at: C0 controls, '"', '\\', DEL and everything non-ASCII.
constexpr auto kStop = [] {
  std::array<bool, 256> t{};
  for (std::size_t c = 0; c < 256; ++c)
    t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x7F;
  return t;
}();

#if defined(__SSE2__) && !defined(O11Y_PORTABLE_SCAN)

// stop_mask() (text.hpp) tests 16 bytes for the bytes kStop names.

// The end of the run of plain bytes starting at i, 16 bytes at a time. What is left (the whole
// of most keys and values in a log line) is read as one vector of two overlapping pieces, never
// byte by byte: a byte loop was half of a JSON line's instructions, its tails still a quarter.
inline std::size_t skip_plain(const unsigned char* p, std::size_t i, std::size_t n) noexcept {
  const char* c = reinterpret_cast<const char*>(p);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    if (const unsigned stop = stop_mask(v); stop != 0)
      return i + static_cast<std::size_t>(__builtin_ctz(stop));
  }
  const std::size_t m = n - i;
  if (m == 0)
    return n;
  if (n >= 16) {
    // The last 16 bytes; those before i were already scanned (or are a special byte handled).
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + n - 16));
    const unsigned stop = stop_mask(v) & (0xFFFFU << (16 - m));
    return stop == 0 ? n : n - 16 + static_cast<std::size_t>(__builtin_ctz(stop));
  }
  if (m >= 4) {
    // Bytes i.. in the low half, the last bytes in the high half: the high half only matters
    // when the low half is clean, and then its first hit is the first of the string.
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    std::size_t hi_start = 0;
    if (m >= 8) {
      lo = load_u64(c + i);
      hi = load_u64(c + n - 8);
      hi_start = n - 8;
    } else {
      std::uint32_t a = 0;
      std::uint32_t b = 0;
      std::memcpy(&a, c + i, 4);
      std::memcpy(&b, c + n - 4, 4);
      lo = a | 0x6161616100000000ULL;  // padded with a plain byte
      hi = b | 0x6161616100000000ULL;
      hi_start = n - 4;
    }
    const unsigned stop =
        stop_mask(_mm_set_epi64x(static_cast<std::int64_t>(hi), static_cast<std::int64_t>(lo)));
    if (stop == 0)
      return n;
    if ((stop & 0xFFU) != 0)
      return i + static_cast<std::size_t>(__builtin_ctz(stop));
    return hi_start + static_cast<std::size_t>(__builtin_ctz(stop >> 8U));
  }
  while (i < n && !kStop[p[i]])
    ++i;
  return i;
}

#else  // portable: the same scan eight bytes at a time in a 64-bit word (SWAR)

// stop_bits() (text.hpp) tests a word for the bytes kStop names.
inline std::size_t skip_plain(const unsigned char* p, std::size_t i, std::size_t n) noexcept {
  const char* c = reinterpret_cast<const char*>(p);
  for (; i + 8 <= n; i += 8) {
    if (const std::uint64_t stop = stop_bits(load_u64(c + i)); stop != 0)
      return i + static_cast<std::size_t>(__builtin_ctzll(stop)) / 8;
  }
  if (i == n)
    return n;
  if (n >= 8) {
    const std::size_t start = n - 8;
    const std::uint64_t stop = stop_bits(load_u64(c + start)) & (~0ULL << (8U * (i - start)));
    return stop == 0 ? n : start + static_cast<std::size_t>(__builtin_ctzll(stop)) / 8;
  }
  while (i < n && !kStop[p[i]])
    ++i;
  return i;
}

#endif

void append_u_escape(Buffer& out, unsigned code) {
  const char esc[6] = {'\\', 'u', '0', '0', kHex[(code >> 4U) & 0xFU], kHex[code & 0xFU]};
  out.append(esc, esc + 6);
}

// Shared walk of both escapers: copies runs of plain bytes, hands every control byte (C0 and
// DEL) and quote or backslash to `special`, escapes C1 controls (U+0080 to U+009F, which some
// terminals obey even in UTF-8) and replaces invalid UTF-8.
template <class Special>
std::size_t escape_walk(Buffer& out, std::string_view s, std::size_t max_bytes, Special&& special) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size() < max_bytes ? s.size() : max_bytes;
  std::size_t i = 0;
  std::size_t run = 0;
  auto flush_run = [&] {
    if (i > run)
      out.append(s.data() + run, s.data() + i);
  };
  while (i < n) {
    i = skip_plain(p, i, n);
    if (i == n)
      break;
    const unsigned char c = p[i];
    if (c < 0x80U) {
      flush_run();
      special(c);
      run = ++i;
      continue;
    }
    const std::size_t len = utf8_sequence_length(p + i, n - i);
    if (len == 0) {
      flush_run();
      out.append(kReplacement.data(), kReplacement.data() + kReplacement.size());
      run = ++i;
    } else if (len == 2 && c == 0xC2U && p[i + 1] < 0xA0U) {
      flush_run();
      append_u_escape(out, p[i + 1]);
      run = i += 2;
    } else {
      i += len;
    }
  }
  flush_run();
  return s.size() - n;
}

// Whole days since 1970-01-01 to a civil date (proleptic Gregorian), after the well-known
// era-based derivation: 400-year eras of 146097 days, years starting on 1 March.
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
}

void put2(char* p, unsigned v) noexcept {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

char* write_json_escaped(char* out, std::string_view s, std::size_t max_bytes,
                         std::size_t& left_out) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size() < max_bytes ? s.size() : max_bytes;
  left_out = s.size() - n;
  std::size_t i = 0;
  while (i < n) {
    std::size_t run = i;
    i = skip_plain(p, i, n);
    if (i > run) {  // never memcpy from a null data() of an empty view
      out = copy_run(out, s.data() + run, i - run);
    }
    if (i == n)
      break;
    const unsigned char c = p[i];
    if (c < 0x80U && c != 0x7FU) {
      *out++ = '\\';
      switch (c) {
        case '"':
          *out++ = '"';
          break;
        case '\\':
          *out++ = '\\';
          break;
        case '\n':
          *out++ = 'n';
          break;
        case '\r':
          *out++ = 'r';
          break;
        case '\t':
          *out++ = 't';
          break;
        default:
          *out++ = 'u';
          *out++ = '0';
          *out++ = '0';
          *out++ = kHex[(c >> 4U) & 0xFU];
          *out++ = kHex[c & 0xFU];
      }
      ++i;
      continue;
    }
    const std::size_t len = c == 0x7FU ? 1 : utf8_sequence_length(p + i, n - i);
    const bool control = c == 0x7FU || (len == 2 && c == 0xC2U && p[i + 1] < 0xA0U);
    if (len == 0) {
      std::memcpy(out, kReplacement.data(), kReplacement.size());
      out += kReplacement.size();
      ++i;
    } else if (control) {
      const unsigned code = c == 0x7FU ? 0x7FU : p[i + 1];
      const char esc[6] = {'\\', 'u', '0', '0', kHex[(code >> 4U) & 0xFU], kHex[code & 0xFU]};
      std::memcpy(out, esc, 6);
      out += 6;
      i += len;
    } else {
      std::memcpy(out, s.data() + i, len);
      out += len;
      i += len;
    }
  }
  return out;
}

std::size_t append_json_escaped(Buffer& out, std::string_view s, std::size_t max_bytes) {
  const std::size_t used = s.size() < max_bytes ? s.size() : max_bytes;
  const std::size_t old = out.size();
  out.resize(old + used * 6);
  std::size_t left_out = 0;
  char* end = write_json_escaped(out.data() + old, s, max_bytes, left_out);
  out.resize(static_cast<std::size_t>(end - out.data()));
  return left_out;
}

std::size_t append_console_escaped(Buffer& out, std::string_view s, std::size_t max_bytes) {
  return escape_walk(out, s, max_bytes, [&out](unsigned char c) {
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default: {
        const char esc[4] = {'\\', 'x', kHex[(c >> 4U) & 0xFU], kHex[c & 0xFU]};
        out.append(esc, esc + 4);
      }
    }
  });
}

char* write_utc_timestamp(char* out, std::uint64_t unix_ns, bool micros) noexcept {
  struct Cache {
    std::uint64_t second = ~std::uint64_t{0};
    char text[kTimestampDateBytes] = {};
  };
  thread_local Cache t_cache;
  const std::uint64_t second = unix_ns / 1'000'000'000ULL;
  if (second != t_cache.second) {
    const auto days = static_cast<std::int64_t>(second / 86400);
    auto rem = static_cast<unsigned>(second % 86400);
    int y = 0;
    unsigned m = 0;
    unsigned d = 0;
    civil_from_days(days, y, m, d);
    char* t = t_cache.text;
    const auto year = static_cast<unsigned>(y);
    put2(t, year / 100 % 100);
    put2(t + 2, year % 100);
    t[4] = '-';
    put2(t + 5, m);
    t[7] = '-';
    put2(t + 8, d);
    t[10] = 'T';
    put2(t + 11, rem / 3600);
    rem %= 3600;
    t[13] = ':';
    put2(t + 14, rem / 60);
    t[16] = ':';
    put2(t + 17, rem % 60);
    t_cache.second = second;
  }
  std::memcpy(out, t_cache.text, sizeof t_cache.text);  // a fixed size: inlined, no call
  out += sizeof t_cache.text;
  if (micros) {
    auto us = static_cast<unsigned>((unix_ns / 1000) % 1'000'000);
    out[0] = '.';
    for (int i = 6; i >= 1; --i) {
      out[i] = static_cast<char>('0' + us % 10);
      us /= 10;
    }
    out += 7;
  }
  return out;
}

void append_utc_timestamp(Buffer& out, std::uint64_t unix_ns, bool micros) {
  char text[kTimestampBytes];
  const char* end = write_utc_timestamp(text, unix_ns, micros);
  out.append(text, end);
}

}  // namespace o11y::detail
