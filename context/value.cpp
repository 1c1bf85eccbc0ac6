#include "o11y/value.hpp"

#include <charconv>
#include <type_traits>

namespace o11y {

namespace {
// Constructed in place (guaranteed elision), not default-constructed and then assigned.
Value::Storage storage_of(ValueView v) {
  switch (v.kind()) {
    case ValueView::Kind::Null:
      break;
    case ValueView::Kind::Bool:
      return Value::Storage(std::in_place_type<bool>, v.as_bool());
    case ValueView::Kind::Int:
      return Value::Storage(std::in_place_type<std::int64_t>, v.as_int());
    case ValueView::Kind::Uint:
      return Value::Storage(std::in_place_type<std::uint64_t>, v.as_uint());
    case ValueView::Kind::Double:
      return Value::Storage(std::in_place_type<double>, v.as_double());
    case ValueView::Kind::String:
      return Value::Storage(std::in_place_type<std::string>, v.as_string());
  }
  return {};
}
}  // namespace

Value::Value(ValueView v) : v_(storage_of(v)) {}

Value& Value::assign(ValueView v) {
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
        s->assign(v.as_string());  // safe when v views *s
      } else {
        v_.emplace<std::string>(v.as_string());
      }
      break;
  }
  return *this;
}

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
