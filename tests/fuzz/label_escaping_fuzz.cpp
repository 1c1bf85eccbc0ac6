// Label values with arbitrary bytes in both exposition formats: every sample stays on one line
// and every label value is a properly closed, escaped string.
#include <o11y/metrics.hpp>
#include <string>

#include "fuzz/fuzz_input.hpp"

namespace {

/// Walks a sample line's label set: quotes balanced, only \\, \" and \n escapes inside.
bool well_formed(std::string_view line) {
  const auto open = line.find('{');
  if (open == std::string_view::npos)
    return true;
  bool in_value = false;
  for (std::size_t i = open + 1; i < line.size(); ++i) {
    const char c = line[i];
    if (in_value) {
      if (c == '\\') {
        if (i + 1 >= line.size())
          return false;
        const char e = line[++i];
        if (e != '\\' && e != '"' && e != 'n')
          return false;
      } else if (c == '"') {
        in_value = false;
      }
    } else if (c == '"') {
      in_value = true;
    } else if (c == '}') {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  o11y::fuzz::Pieces in(data, size);
  static const auto c = o11y::counter("fuzz_label_total", "Fuzzed labels.", {"a", "b"});
  const auto a = std::string(in.next('\0'));
  const auto b = std::string(in.next('\0'));
  c.add(1, {{"a", a}, {"b", b}});
  for (const auto format : {o11y::metrics::Format::Text, o11y::metrics::Format::OpenMetrics}) {
    const auto text = o11y::metrics::render(format);
    std::size_t start = 0;
    while (start < text.size()) {
      const auto end = text.find('\n', start);
      if (end == std::string::npos)
        __builtin_trap();  // every line ends with a newline
      const std::string_view line(text.data() + start, end - start);
      if (line.starts_with("fuzz_label_total") && !well_formed(line))
        __builtin_trap();
      start = end + 1;
    }
  }
  return 0;
}
