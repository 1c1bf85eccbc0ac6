#include "metric_lint.hpp"

#include <array>
#include <map>
#include <set>

namespace o11y::tool {
namespace {

bool valid_name(std::string_view n) {
  if (n.empty())
    return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0))
      return false;
  }
  return true;
}

std::string_view first_word(std::string_view s) {
  const auto end = s.find_first_of(" \t{");
  return s.substr(0, end);
}

struct Family {
  std::string type;
  bool help = false;
};

}  // namespace

std::vector<std::string> lint_exposition(std::string_view text) {
  std::map<std::string, Family, std::less<>> families;
  std::vector<std::string> out;
  std::set<std::string, std::less<>> bad_samples;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty())
      continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const auto rest = line.substr(7);
      const auto name = std::string(first_word(rest));
      auto& f = families[name];
      if (line[2] == 'H') {
        f.help = rest.size() > name.size() + 1;
      } else {
        f.type = std::string(rest.substr(std::min(rest.size(), name.size() + 1)));
      }
      continue;
    }
    if (line.starts_with("#"))
      continue;
    const auto name = first_word(line);
    if (!valid_name(name) && bad_samples.emplace(name).second)
      out.push_back("line \"" + std::string(line.substr(0, 80)) + "\": not a valid sample");
  }
  constexpr std::array<std::string_view, 10> kNonBaseUnits = {
      "_milliseconds", "_microseconds", "_nanoseconds", "_minutes",   "_hours",
      "_days",         "_kilobytes",    "_megabytes",   "_gigabytes", "_ms"};
  for (const auto& entry : families) {
    const auto& name = entry.first;  // not a structured binding: clang 14 cannot capture those
    const auto& f = entry.second;
    const auto say = [&out, &name](std::string_view what) {
      std::string finding = name;
      finding += ": ";
      finding += what;
      out.push_back(std::move(finding));
    };
    if (!valid_name(name)) {
      say("not a valid metric name");
      continue;
    }
    for (char c : name) {
      if (c >= 'A' && c <= 'Z') {
        say("metric names should be snake_case (no capitals)");
        break;
      }
    }
    if (name.find(':') != std::string::npos)
      say("colons are reserved for recording rules");
    const bool total = name.ends_with("_total");
    if (f.type == "counter" && !total)
      say("counter metrics should have the _total suffix");
    if (f.type != "counter" && !f.type.empty() && total)
      say("only counters should have the _total suffix");
    for (auto unit : kNonBaseUnits) {
      if (name.find(std::string(unit) + "_") != std::string::npos || name.ends_with(unit)) {
        say("use base units (seconds, bytes), not " + std::string(unit.substr(1)));
        break;
      }
    }
    if (!f.help)
      say("no help text");
    if (f.type.empty())
      say("no TYPE line");
  }
  return out;
}

}  // namespace o11y::tool
