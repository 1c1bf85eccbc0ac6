#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "context/frame.hpp"
#include "o11y/value.hpp"

namespace o11y::detail {

/// What a secret's value becomes in logs and spans.
inline constexpr std::string_view kRedacted = "[REDACTED]";

/// password, passwd, secret, token, api_key, apikey, authorization, cookie, session,
/// private_key, credential.
[[nodiscard]] std::vector<std::string> default_secret_keys();

/// Replaces the rules: a key is secret when, lowercased with '-', '.' and ' ' read as '_', it
/// contains one of `keys` ("X-Api-Key" and "db.password" match). `mask_values` turns on
/// masking of emails, Luhn-valid card numbers and national ids inside string values.
/// Thread-safe; readers never lock.
void set_redaction(const std::vector<std::string>& keys, bool mask_values);

/// Changes whenever set_redaction() replaces the rules: what a key's traits were worked out
/// under. Thread-safe, no allocation.
[[nodiscard]] std::uint64_t redaction_version() noexcept;

/// What redaction needs to know of a key, found with one lookup in a per-thread cache (a
/// line's keys are nearly always the same few literals).
struct KeyTraits {
  bool secret = false;  ///< values under it are redacted
  bool mask = false;    ///< string values under it are masked for PII (masking is on)
};

/// The traits of a key. Thread-safe, no allocation.
[[nodiscard]] KeyTraits key_traits(std::string_view key) noexcept;

/// A key the library writes itself on every request (the HTTP semantic-convention attributes),
/// with its traits kept beside it for all threads. A lookup in the per-thread cache reads up to
/// four cache lines, and in a server, where the kernel and other threads run between two
/// requests, they are misses; this reads one line shared by every thread. The rules still
/// apply: the traits are worked out again whenever set_redaction() replaced them.
/// Thread-safe, never throws; define it with static storage duration.
class KnownKey {
 public:
  constexpr explicit KnownKey(std::string_view key) noexcept : key_(key) {}
  [[nodiscard]] std::string_view key() const noexcept { return key_; }
  [[nodiscard]] KeyTraits traits() const noexcept;

 private:
  std::string_view key_;
  /// The rules' version shifted left by 2, then `secret` and `mask`; 0 before the first use.
  mutable std::atomic<std::uint64_t> cached_{0};
};

/// upsert_redacted() for a key whose value is redacted or masked.
bool upsert_masked(Attributes& attrs, std::string_view key, KeyTraits traits, ValueView value,
                   std::size_t max_count);

/// upsert() (frame.hpp) of a value redacted as `traits` say: what upsert_user() does once it
/// has looked the key up. Inline, so that the common case is a jump to upsert(): out of line,
/// its own frame (kept for the masked case's scratch string) was 26 instructions a call.
inline bool upsert_redacted(Attributes& attrs, std::string_view key, KeyTraits traits,
                            ValueView value, std::size_t max_count) {
  if (!traits.secret && !traits.mask) [[likely]]
    return upsert(attrs, key, value, max_count);
  return upsert_masked(attrs, key, traits, value, max_count);
}

/// Whether values under this key are redacted. Thread-safe, no allocation.
[[nodiscard]] inline bool is_secret_key(std::string_view key) noexcept {
  return key_traits(key).secret;
}

/// Writes `in` with emails, card numbers and national ids replaced by [EMAIL], [CARD] and
/// [NATIONAL_ID] into `out`; false (and `out` unspecified) when there was nothing to mask.
bool mask_pii(std::string_view in, std::string& out);

/// The value as it may be written under this key: [REDACTED] for a secret key, masked when
/// masking is on (the masked text lives in `scratch`), else unchanged.
[[nodiscard]] ValueView redact(std::string_view key, ValueView value, std::string& scratch);
/// The same, for a key whose traits the caller already has; inline, since nearly every value
/// leaves unchanged.
[[nodiscard]] inline ValueView redact(KeyTraits key, ValueView value, std::string& scratch) {
  if (key.secret)
    return {kRedacted};
  if (key.mask && value.kind() == ValueView::Kind::String && mask_pii(value.as_string(), scratch))
    return {std::string_view(scratch)};
  return value;
}

}  // namespace o11y::detail
