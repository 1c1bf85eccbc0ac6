#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace o11y {

class Value;

namespace detail {
/// Integers other than bool and char (a char is more likely a typo than a number).
template <class T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;
}  // namespace detail

/// A borrowed tag, attribute or log-field value: bool, integer, floating point or string.
///
/// It never owns what it refers to, so it is what call arguments use (`{"order_id", 123}`):
/// a temporary `std::string` lives to the end of the full expression, long enough for the call.
/// Do not keep one beyond the lifetime of the string it views. Trivially copyable; thread-safe
/// as any value is. Never throws.
class ValueView {
 public:
  enum class Kind : std::uint8_t { Null, Bool, Int, Uint, Double, String };

  constexpr ValueView() noexcept = default;
  constexpr ValueView(bool b) noexcept : u_(b ? 1U : 0U), n_(tag(Kind::Bool)) {}  // NOLINT
  template <detail::Integer T>
  constexpr ValueView(T i) noexcept {  // NOLINT(*-explicit-*)
    // Unsigned values above INT64_MAX keep their own kind instead of wrapping negative.
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (std::is_signed_v<T> || static_cast<std::uint64_t>(i) <= kMax) {
      n_ = tag(Kind::Int);
      i_ = static_cast<std::int64_t>(i);
    } else {
      n_ = tag(Kind::Uint);
      u_ = static_cast<std::uint64_t>(i);
    }
  }
  template <std::floating_point T>
  constexpr ValueView(T d) noexcept
      : d_(static_cast<double>(d)), n_(tag(Kind::Double)) {}  // NOLINT
  constexpr ValueView(const char* s) noexcept                 // NOLINT(*-explicit-*)
      : ValueView(s != nullptr ? std::string_view(s) : std::string_view()) {}
  constexpr ValueView(std::string_view s) noexcept : s_(s.data()), n_(s.size()) {}  // NOLINT
  ValueView(const std::string& s) noexcept : s_(s.data()), n_(s.size()) {}          // NOLINT
  ValueView(const Value& v) noexcept;                                               // NOLINT

  [[nodiscard]] constexpr Kind kind() const noexcept {
    return n_ < kTagged ? Kind::String : static_cast<Kind>(n_ - kTagged);
  }
  [[nodiscard]] constexpr bool as_bool() const noexcept { return u_ != 0; }
  [[nodiscard]] constexpr std::int64_t as_int() const noexcept { return i_; }
  [[nodiscard]] constexpr std::uint64_t as_uint() const noexcept { return u_; }
  [[nodiscard]] constexpr double as_double() const noexcept { return d_; }
  [[nodiscard]] constexpr std::string_view as_string() const noexcept {
    return kind() == Kind::String ? std::string_view(s_, n_) : std::string_view();
  }

 private:
  // Two words, so that a call's `{{"order_id", 123}, ...}` costs four stores per field: the
  // payload, and either a string's length or a tag no string length reaches.
  static constexpr std::size_t kTagged = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);
  static constexpr std::size_t tag(Kind k) noexcept {
    return kTagged + static_cast<std::size_t>(k);
  }

  union {
    std::int64_t i_;
    std::uint64_t u_ = 0;
    double d_;
    const char* s_;
  };
  std::size_t n_ = tag(Kind::Null);
};

/// An owned tag, attribute or log-field value; what frames and finished spans store.
///
/// A regular value type: copies are independent, so it is safe to share copies across threads.
/// Construction may throw std::bad_alloc; nothing else throws.
class Value {
 public:
  using Storage =
      std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string>;

  Value() noexcept = default;
  Value(ValueView v);                // NOLINT(*-explicit-*)
  Value(bool b) noexcept : v_(b) {}  // NOLINT(*-explicit-*)
  template <detail::Integer T>
  Value(T i) : Value(ValueView(i)) {}  // NOLINT(*-explicit-*)
  template <std::floating_point T>
  Value(T d) noexcept : v_(static_cast<double>(d)) {}  // NOLINT(*-explicit-*)
  Value(const char* s) : Value(ValueView(s)) {}        // NOLINT(*-explicit-*)
  Value(std::string_view s) : v_(std::string(s)) {}    // NOLINT(*-explicit-*)
  Value(std::string s) noexcept : v_(std::move(s)) {}  // NOLINT(*-explicit-*)

  /// Replaces the value with a copy of `v`, in place: a string value keeps its buffer when
  /// the new value is a string too. `v` may view this value's own string. Throws only
  /// std::bad_alloc.
  Value& assign(ValueView v);

  [[nodiscard]] const Storage& storage() const noexcept { return v_; }
  [[nodiscard]] ValueView view() const noexcept { return {*this}; }
  /// The value as text: strings as they are, numbers in shortest round-trip form.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  Storage v_;
};

inline ValueView::ValueView(const Value& v) noexcept {
  std::visit(
      [this](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          n_ = tag(Kind::Null);
        } else if constexpr (std::is_same_v<T, bool>) {
          n_ = tag(Kind::Bool);
          u_ = x ? 1U : 0U;
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          n_ = tag(Kind::Int);
          i_ = x;
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          n_ = tag(Kind::Uint);
          u_ = x;
        } else if constexpr (std::is_same_v<T, double>) {
          n_ = tag(Kind::Double);
          d_ = x;
        } else {
          s_ = x.data();
          n_ = x.size();
        }
      },
      v.storage());
}

// Inline: every span attribute, tag and log-context entry is stored through it, and out of line
// a fifth of its instructions were its own call frame.
inline Value& Value::assign(ValueView v) {
  switch (v.kind()) {
    case ValueView::Kind::Null:
      v_.emplace<std::monostate>();
      break;
    case ValueView::Kind::Bool:
      v_.emplace<bool>(v.as_bool());
      break;
    case ValueView::Kind::Int:
      v_.emplace<std::int64_t>(v.as_int());
      break;
    case ValueView::Kind::Uint:
      v_.emplace<std::uint64_t>(v.as_uint());
      break;
    case ValueView::Kind::Double:
      v_.emplace<double>(v.as_double());
      break;
    case ValueView::Kind::String:
      if (auto* s = std::get_if<std::string>(&v_)) {
        s->assign(v.as_string());  // keeps its buffer; safe when v views *s
      } else {
        v_.emplace<std::string>(v.as_string());
      }
      break;
  }
  return *this;
}

/// A borrowed key and value, the element of `{{"order_id", 123}, {"amount", 49.99}}`.
///
/// Like std::string_view it refers to caller storage and is meant for call arguments only.
struct Field {
  std::string_view key;
  ValueView value;
};

/// An owned key and value: a custom tag, a span attribute or a stored log-context entry.
struct Attribute {
  std::string key;
  Value value;

  friend bool operator==(const Attribute&, const Attribute&) = default;
};

/// An ordered list of owned attributes. Order is insertion order; keys are unique where the
/// library builds it (a later value for a key replaces the earlier one in place).
using Attributes = std::vector<Attribute>;

}  // namespace o11y
