#pragma once

// Judges an exposition by parsers nobody on this team wrote: promtool for the text format,
// prometheus_client's text and OpenMetrics parsers (the strict one refuses a clashing name).

#include <fstream>
#include <string>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace o11y::testing {

/// "" when all three accept (promtool's lint findings, its exit code 3, are style, not
/// validity); otherwise what each one that refused said.
inline std::string exposition_problems(const std::string& text, const std::string& openmetrics) {
  TempDir dir;
  std::ofstream(dir.file("metrics.txt")) << text;
  std::ofstream(dir.file("metrics.om")) << openmetrics;
  std::ofstream(dir.file("parse.py")) << R"(
import sys
from prometheus_client.parser import text_string_to_metric_families as text
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
list(text(open(sys.argv[1]).read()))
list(om(open(sys.argv[2]).read()))
print("parsed")
)";
  std::string problems;
  std::string out;
  const int rc = run("promtool check metrics < " + dir.file("metrics.txt"), out);
  if (rc != 0 && rc != 3)
    problems += "promtool (exit " + std::to_string(rc) + "): " + out + "\n";
  // Debian's python3-prometheus-client lives under /usr/bin/python3, not a PATH python.
  if (run("/usr/bin/python3 " + dir.file("parse.py") + " " + dir.file("metrics.txt") + " " +
              dir.file("metrics.om"),
          out) != 0)
    problems += "prometheus_client: " + out + "\n";
  return problems;
}

}  // namespace o11y::testing
