#include "context/redact.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>

#include "base/words.hpp"
#include "o11y/config.hpp"

namespace o11y::detail {
namespace {

struct Rules {
  std::vector<std::string> terms;  // lowercase, '-' and ' ' as '_'
  bool mask_values = false;
  std::uint64_t version = 0;
};

// Replaced as a whole and never freed: readers hold a plain pointer without a reference count.
// Null until first use; a constant-initialised global, so reading it costs no guard.
std::atomic<const Rules*> g_rules{nullptr};  // NOLINT(*-avoid-non-const-global-*)

const Rules& current_rules() noexcept {
  const Rules* r = g_rules.load(std::memory_order_acquire);
  if (r != nullptr) [[likely]]
    return *r;
  static const Rules* const kDefault = [] {  // NOLINT(cppcoreguidelines-owning-memory)
    try {
      return new Rules{default_secret_keys(), false, 1};
    } catch (...) {
      return new Rules{};  // no memory for the list: nothing is redacted rather than crashing
    }
  }();
  const Rules* expected = nullptr;
  g_rules.compare_exchange_strong(expected, kDefault, std::memory_order_acq_rel);
  return *g_rules.load(std::memory_order_acquire);
}

char fold(char c) noexcept {
  if (c >= 'A' && c <= 'Z')
    return static_cast<char>(c - 'A' + 'a');
  if (c == '-' || c == ' ' || c == '.')
    return '_';
  return c;
}

bool contains_term(std::string_view folded, const std::vector<std::string>& terms) noexcept {
  return std::ranges::any_of(
      terms, [folded](const std::string& t) { return folded.find(t) != std::string_view::npos; });
}

bool compute_secret(std::string_view key, const Rules& r) noexcept {
  constexpr std::size_t kMax = 256;  // longer keys: the first 256 characters decide
  std::array<char, kMax> buf{};
  const auto n = std::min(key.size(), kMax);
  for (std::size_t i = 0; i < n; ++i)
    buf[i] = fold(key[i]);
  return contains_term(std::string_view(buf.data(), n), r.terms);
}

// Per-thread cache of recent keys: a log line's keys are usually the same few literals, so a
// hash and a compare replace the substring search.
// Plain data without initialisers: a thread_local array of it is zeroed like any static, with
// no per-access initialisation check. Version 0 never matches (versions start at 1).
// A key is identified by its length and its first and last 8 bytes (zero-padded), which is
// the whole key up to 16 bytes; longer keys also compare the stored copy.
struct CacheEntry {
  std::uint64_t version;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  std::uint64_t head;     // NOLINT(cppcoreguidelines-pro-type-member-init)
  std::uint64_t tail;     // NOLINT(cppcoreguidelines-pro-type-member-init)
  std::uint8_t len;       // NOLINT(cppcoreguidelines-pro-type-member-init)
  bool secret;            // NOLINT(cppcoreguidelines-pro-type-member-init)
  char key[38];           // NOLINT(*-avoid-c-arrays, cppcoreguidelines-pro-type-member-init)
};
// 64 sets of 4 ways (16 KiB a thread). With 16 sets, the 20-odd keys of an HTTP request
// (span attributes, log fields, labels) put 5 keys in one set, and each of those 5 missed on
// every request: 2-3 misses a request at some 700 instructions each.
constexpr std::size_t kWays = 4;
constexpr std::size_t kSets = 64;
constexpr std::size_t kCacheSize = kWays * kSets;
constexpr std::size_t kMaxCachedKey = sizeof(CacheEntry::key);

thread_local CacheEntry t_cache[kCacheSize];  // NOLINT(*-avoid-c-arrays, *-non-const-global-*)

struct KeyWords {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
};

KeyWords key_words(std::string_view key) noexcept {
  KeyWords w;
  if (key.size() >= 8) {
    w.head = load_u64(key.data());
    w.tail = load_u64(key.data() + key.size() - 8);
  } else {
    w.head = short_word(key);  // exact, with no memcpy call
  }
  return w;
}

/// The first entry of a key's cache set: its words and length, mixed (a splitmix64-style
/// finaliser, so that every input bit reaches the top bits, which pick the set).
std::size_t key_set(const KeyWords& w, std::size_t len) noexcept {
  std::uint64_t h = (w.head ^ (w.tail * 0x9e3779b97f4a7c15ULL) ^ len) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 31U)) * 0x94d049bb133111ebULL;
  return static_cast<std::size_t>(h >> 58U) * kWays;  // 6 bits: one of 64 sets
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool luhn_ok(std::string_view digits) noexcept {
  int sum = 0;
  bool dbl = false;
  for (std::size_t k = digits.size(); k-- > 0;) {  // from the check digit leftwards
    int d = digits[k] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9)
        d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

bool email_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-' ||
         c == '+' || c == '%';
}

}  // namespace

std::vector<std::string> default_secret_keys() {
  return RedactionConfig{}.keys;
}

void set_redaction(const std::vector<std::string>& keys, bool mask_values) {
  auto* next = new Rules();  // NOLINT(cppcoreguidelines-owning-memory): kept for ever, see g_rules
  for (const auto& k : keys) {
    std::string folded;
    for (char c : k)
      folded.push_back(fold(c));
    if (!folded.empty())
      next->terms.push_back(std::move(folded));
  }
  next->mask_values = mask_values;
  static std::mutex mu;
  // Readers may still hold the old rules: they are kept (reachable, so not a leak) instead of
  // freed. A process changes its rules a handful of times.
  static std::vector<std::unique_ptr<const Rules>> retired;
  std::lock_guard lock(mu);
  const Rules* old = &current_rules();
  next->version = old->version + 1;
  g_rules.store(next, std::memory_order_release);
  retired.emplace_back(old);
}

std::uint64_t redaction_version() noexcept {
  return current_rules().version;
}

KeyTraits key_traits(std::string_view key) noexcept {
  const Rules& r = current_rules();
  if (key.size() > kMaxCachedKey)
    return {!r.terms.empty() && compute_secret(key, r), r.mask_values};
  const KeyWords w = key_words(key);
  // Set-associative, so the few keys of a line that share a set do not evict each other on
  // every call.
  const std::size_t set = key_set(w, key.size());
  for (std::size_t way = 0; way < kWays; ++way) {
    const auto& e = t_cache[set + way];  // NOLINT(*-constant-array-index)
    if (e.version == r.version && e.len == key.size() && e.head == w.head && e.tail == w.tail &&
        (key.size() <= 16 || std::memcmp(e.key, key.data(), key.size()) == 0)) {
      return {e.secret, r.mask_values};
    }
  }
  // Round-robin replacement within the set.
  thread_local std::uint8_t t_next_way[kSets];  // NOLINT(*-avoid-c-arrays)
  auto& next = t_next_way[set / kWays];         // NOLINT(*-constant-array-index)
  auto& e = t_cache[set + (next++ % kWays)];    // NOLINT(*-constant-array-index)
  e.version = r.version;
  e.head = w.head;
  e.tail = w.tail;
  e.len = static_cast<std::uint8_t>(key.size());
  std::memcpy(e.key, key.data(), key.size());
  e.secret = !r.terms.empty() && compute_secret(key, r);
  return {e.secret, r.mask_values};
}

KeyTraits KnownKey::traits() const noexcept {
  const Rules& r = current_rules();
  const std::uint64_t c = cached_.load(std::memory_order_relaxed);
  if (c >> 2U == r.version) [[likely]]
    return {(c & 2U) != 0, (c & 1U) != 0};
  // Threads racing here store the same value for the same version; a thread that read older
  // rules may store after a newer one, which the next call sees and repairs.
  const KeyTraits t{!r.terms.empty() && compute_secret(key_, r), r.mask_values};
  cached_.store(r.version << 2U | (t.secret ? 2U : 0U) | (t.mask ? 1U : 0U),
                std::memory_order_relaxed);
  return t;
}

bool mask_pii(std::string_view in, std::string& out) {
  bool changed = false;
  out.clear();
  std::size_t i = 0;
  while (i < in.size()) {
    // A national id (US SSN shape): ddd-dd-dddd, not inside a longer number.
    if (i + 11 <= in.size() && (i == 0 || !is_digit(in[i - 1])) &&
        (i + 11 == in.size() || !is_digit(in[i + 11]))) {
      const auto s = in.substr(i, 11);
      bool ssn = s[3] == '-' && s[6] == '-';
      for (std::size_t k : {0U, 1U, 2U, 4U, 5U, 7U, 8U, 9U, 10U})
        ssn = ssn && is_digit(s[k]);
      if (ssn) {
        out += "[NATIONAL_ID]";
        i += 11;
        changed = true;
        continue;
      }
    }
    // A card number: 13-19 digits, optionally grouped by spaces or dashes, Luhn-valid.
    if (is_digit(in[i]) && (i == 0 || !is_digit(in[i - 1]))) {
      std::string digits;
      std::size_t j = i;
      std::size_t last_digit_end = i;
      while (j < in.size() && digits.size() < 20) {
        if (is_digit(in[j])) {
          digits.push_back(in[j]);
          last_digit_end = j + 1;
        } else if ((in[j] == ' ' || in[j] == '-') && j + 1 < in.size() && is_digit(in[j + 1])) {
          // a separator between digit groups
        } else {
          break;
        }
        ++j;
      }
      const bool ends_cleanly = last_digit_end == in.size() || !is_digit(in[last_digit_end]);
      if (digits.size() >= 13 && digits.size() <= 19 && ends_cleanly && luhn_ok(digits)) {
        out += "[CARD]";
        i = last_digit_end;
        changed = true;
        continue;
      }
    }
    // An email address: local@domain.tld.
    if (in[i] == '@' && i > 0 && email_char(in[i - 1])) {
      std::size_t start = i;
      while (start > 0 && email_char(in[start - 1]))
        --start;
      std::size_t end = i + 1;
      bool dot = false;
      while (end < in.size() && (email_char(in[end]))) {
        dot = dot || in[end] == '.';
        ++end;
      }
      if (dot && end > i + 3) {
        const auto local = i - start;
        out.resize(out.size() - local);  // the local part was copied already
        out += "[EMAIL]";
        i = end;
        changed = true;
        continue;
      }
    }
    out.push_back(in[i]);
    ++i;
  }
  return changed;
}

ValueView redact(std::string_view key, ValueView value, std::string& scratch) {
  return redact(key_traits(key), value, scratch);
}

}  // namespace o11y::detail
