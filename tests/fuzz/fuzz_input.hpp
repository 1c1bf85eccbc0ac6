#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace o11y::fuzz {

/// Splits a fuzzer input into pieces at a separator byte, so one input can fill several
/// arguments. The last piece takes the rest.
class Pieces {
 public:
  Pieces(const std::uint8_t* data, std::size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}  // NOLINT: bytes as chars
  std::string_view next(char sep = '\n') {
    const auto at = rest_.find(sep);
    const auto piece = rest_.substr(0, at);
    rest_ = at == std::string_view::npos ? std::string_view{} : rest_.substr(at + 1);
    return piece;
  }
  [[nodiscard]] bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace o11y::fuzz
