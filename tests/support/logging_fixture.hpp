#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <o11y/context.hpp>
#include <o11y/log.hpp>
#include <string>
#include <vector>

#include "logging/pipeline.hpp"

namespace o11y::testing {

/// Logging configured with no stdout output (the test's own output stays readable) and a
/// capture of every JSON line. Tags set in the test vanish with the fixture's Scope.
class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override { configure(debug()); }
  void TearDown() override { configure(debug()); }

  static LoggingConfig debug() {
    LoggingConfig c;
    c.level = Level::Debug;
    return c;
  }

  static void configure(LoggingConfig config,
                        std::vector<std::shared_ptr<spdlog::sinks::sink>> json_sinks = {}) {
    detail::LoggingSetup setup;
    setup.config = std::move(config);
    setup.stdout_enabled = false;
    setup.extra_json_sinks = std::move(json_sinks);
    detail::configure_logging(setup);
  }

  /// The captured lines, parsed. Fails the test if any line is not one valid JSON object.
  std::vector<nlohmann::json> records() const {
    std::vector<nlohmann::json> out;
    for (const auto& line : capture_.lines()) {
      EXPECT_EQ(line.find('\n'), std::string::npos) << line;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_TRUE(j.is_object()) << line;
      out.push_back(std::move(j));
    }
    return out;
  }

  nlohmann::json only_record() const {
    auto r = records();
    EXPECT_EQ(r.size(), 1U);
    return r.empty() ? nlohmann::json() : r.front();
  }

  logging::LogCapture capture_;
  Scope isolate_;
};

}  // namespace o11y::testing
