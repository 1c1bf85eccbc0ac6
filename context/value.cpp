#include "o11y/value.hpp"

#include <charconv>
#include <type_traits>

namespace o11y {

Value::Value(ValueView v) {
  switch (v.kind()) {
    case ValueView::Kind::Null:
      break;
    case ValueView::Kind::Bool:
      v_ = v.as_bool();
      break;
    case ValueView::Kind::Int:
      v_ = v.as_int();
      break;
    case ValueView::Kind::Uint:
      v_ = v.as_uint();
      break;
    case ValueView::Kind::Double:
      v_ = v.as_double();
      break;
    case ValueView::Kind::String:
      v_ = std::string(v.as_string());
      break;
  }
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
