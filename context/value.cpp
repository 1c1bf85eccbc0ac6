#include "o11y/value.hpp"

#include <charconv>
#include <type_traits>

namespace o11y {

namespace {
template <class T>
struct Alternative {
  using type = T;
};

// Calls f(Alternative<T>{}, payload) with the alternative a view holds: one dispatch for
// constructing a value and for assigning one.
template <class F>
decltype(auto) with_alternative(ValueView v, F&& f) {
  switch (v.kind()) {
    case ValueView::Kind::Null:
      break;
    case ValueView::Kind::Bool:
      return f(Alternative<bool>{}, v.as_bool());
    case ValueView::Kind::Int:
      return f(Alternative<std::int64_t>{}, v.as_int());
    case ValueView::Kind::Uint:
      return f(Alternative<std::uint64_t>{}, v.as_uint());
    case ValueView::Kind::Double:
      return f(Alternative<double>{}, v.as_double());
    case ValueView::Kind::String:
      return f(Alternative<std::string>{}, v.as_string());
  }
  return f(Alternative<std::monostate>{}, std::monostate{});
}
}  // namespace

// Constructed in place (guaranteed elision), not default-constructed and then assigned.
Value::Value(ValueView v)
    : v_(with_alternative(v, [](auto alt, auto payload) {
        return Storage(std::in_place_type<typename decltype(alt)::type>, payload);
      })) {}

std::string Value::to_string() const {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return {};
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return x;
        } else {
          char buf[32];
          auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
          return ec == std::errc() ? std::string(buf, end) : std::string();
        }
      },
      v_);
}

}  // namespace o11y
