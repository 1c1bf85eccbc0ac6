#include "o11y/propagation.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace o11y::propagation {
namespace {

// W3C Trace Context, section 3 (Level 2): field sizes and limits.
constexpr std::size_t kTraceparentV0Size = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
constexpr std::size_t kMaxTracestateMembers = 32;
constexpr std::size_t kMaxKey = 256;
constexpr std::size_t kMaxValue = 256;

bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
}

bool is_lower_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int hex_digit(char c) noexcept {
  return c <= '9' ? c - '0' : c - 'a' + 10;
}

bool parse_hex_byte(std::string_view s, std::uint8_t& out) noexcept {
  if (s.size() != 2 || !is_lower_hex(s[0]) || !is_lower_hex(s[1]))
    return false;
  out = static_cast<std::uint8_t>(hex_digit(s[0]) * 16 + hex_digit(s[1]));
  return true;
}

bool is_lcalpha(char c) noexcept {
  return c >= 'a' && c <= 'z';
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_keychar(char c) noexcept {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/' || c == '@';
}

// The key grammar of the current W3C test suite (which the spec's later revision follows):
// a lowercase letter or digit, then up to 255 of [a-z0-9_*/@-]. A vendor key's '@' is an
// ordinary key character here: the older tenant/system split (241 + 14 characters, one '@')
// rejected keys such as "foo@" and "t@" + 15 characters that the suite requires us to carry.
bool valid_key(std::string_view key) noexcept {
  return !key.empty() && key.size() <= kMaxKey && (is_lcalpha(key[0]) || is_digit(key[0])) &&
         std::all_of(key.begin() + 1, key.end(), is_keychar);
}

bool is_nblk_chr(char c) noexcept {
  return (c >= 0x21 && c <= 0x7e) && c != ',' && c != '=';
}

bool valid_value(std::string_view v) noexcept {
  if (v.empty() || v.size() > kMaxValue || !is_nblk_chr(v.back()))
    return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return c == ' ' || is_nblk_chr(c); });
}

// Returns the normalised header, or "" when it must be discarded.
std::string parse_tracestate(std::string_view header) {
  std::vector<std::pair<std::string_view, std::string_view>> members;
  std::size_t pos = 0;
  while (pos <= header.size()) {
    const auto comma = header.find(',', pos);
    const auto end = comma == std::string_view::npos ? header.size() : comma;
    const auto member = trim_ows(header.substr(pos, end - pos));
    pos = end + 1;
    if (member.empty())
      continue;  // empty list members are allowed and ignored
    const auto eq = member.find('=');
    if (eq == std::string_view::npos)
      return {};
    const auto key = member.substr(0, eq);
    const auto value = member.substr(eq + 1);
    if (!valid_key(key) || !valid_value(value))
      return {};
    // A repeated key keeps its first value: the spec lets a vendor pass duplicates on or
    // drop them, and dropping keeps the header valid for the next hop.
    if (std::any_of(members.begin(), members.end(), [&](const auto& m) { return m.first == key; }))
      continue;
    if (members.size() == kMaxTracestateMembers)
      return {};
    members.emplace_back(key, value);
  }
  std::string out;
  for (const auto& [k, v] : members) {
    if (!out.empty())
      out.push_back(',');
    out.append(k).push_back('=');
    out.append(v);
  }
  return out;
}

}  // namespace

namespace detail {
bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z')
      x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z')
      y = static_cast<char>(y - 'A' + 'a');
    if (x != y)
      return false;
  }
  return true;
}
}  // namespace detail

SpanContext extract_values(std::string_view traceparent, std::string_view tracestate,
                           int traceparent_count) noexcept {
  if (traceparent_count != 1)
    return {};
  const auto tp = trim_ows(traceparent);
  if (tp.size() < kTraceparentV0Size)
    return {};
  std::uint8_t version = 0;
  if (!parse_hex_byte(tp.substr(0, 2), version) || version == 0xff)
    return {};
  if (tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
    return {};
  // Version 00 has exactly four fields. A later version is parsed by its first four, and
  // whatever follows them must start with '-'.
  if (version == 0 && tp.size() != kTraceparentV0Size)
    return {};
  if (version != 0 && tp.size() > kTraceparentV0Size && tp[kTraceparentV0Size] != '-')
    return {};

  SpanContext ctx;
  ctx.trace_id = TraceId::from_hex(tp.substr(3, 32));
  ctx.span_id = SpanId::from_hex(tp.substr(36, 16));
  if (!ctx.trace_id.valid() || !ctx.span_id.valid())
    return {};
  if (!parse_hex_byte(tp.substr(53, 2), ctx.flags))
    return {};
  ctx.remote = true;
  try {
    ctx.trace_state = parse_tracestate(tracestate);
  } catch (...) {
    ctx.trace_state.clear();  // out of memory: keep the trace, drop the vendor data
  }
  return ctx;
}

std::string format_traceparent(const SpanContext& ctx) {
  if (!ctx.valid())
    return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kTraceparentV0Size, '-');
  out[0] = '0';
  out[1] = '0';
  ctx.trace_id.write_hex(out.data() + 3);
  ctx.span_id.write_hex(out.data() + 36);
  out[53] = kHex[(ctx.flags >> 4U) & 0xfU];
  out[54] = kHex[ctx.flags & 0xfU];
  return out;
}

}  // namespace o11y::propagation
