// The JSON renderer with arbitrary bytes in the event, keys and values: the output is always
// exactly one line holding one JSON object.
#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "logging/renderer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  o11y::fuzz::Pieces in(data, size);
  const auto event = in.next('\0');
  std::vector<o11y::Field> fields;
  while (!in.empty() && fields.size() < 64) {
    const auto key = in.next('\0');
    const auto value = in.next('\0');
    if (!value.empty() && value[0] == 'd') {
      double d = 0;
      std::memcpy(&d, value.data(), std::min(value.size(), sizeof d));
      fields.push_back({key, d});
    } else {
      fields.push_back({key, value});
    }
  }
  o11y::detail::Record r;
  r.time_ns = 1'700'000'000'000'000'000ULL;
  r.logger = "fuzz";
  r.event = event;
  r.fields = fields;
  r.file = "fuzz.cpp";
  r.line = 1;
  static const auto renderer = o11y::detail::make_json_renderer({.max_value_bytes = 256});
  o11y::detail::Buffer out;
  renderer->render(r, out);
  const std::string_view line(out.data(), out.size());
  if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1)
    __builtin_trap();
  const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object())
    __builtin_trap();
  return 0;
}
