#pragma once

// Where the throw-away PostgreSQL and Redis of scripts/db_servers.sh listen. CTest starts them
// as a fixture and names their state file in O11Y_TEST_DB_ENV.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

namespace o11y::testing {

class DbServers {
 public:
  /// Reads the state file; fails the calling test when the servers were not started.
  static const DbServers& get() {
    static const DbServers servers;
    return servers;
  }
  [[nodiscard]] bool available() const { return !values_.empty(); }
  [[nodiscard]] std::string value(const std::string& key) const {
    const auto it = values_.find(key);
    return it == values_.end() ? std::string() : it->second;
  }
  [[nodiscard]] std::string pg_url() const { return value("O11Y_TEST_PG_URL"); }
  [[nodiscard]] std::string pg_log() const { return value("O11Y_TEST_PG_LOG"); }
  [[nodiscard]] int pg_port() const { return std::atoi(value("O11Y_TEST_PG_PORT").c_str()); }
  [[nodiscard]] int redis_port() const { return std::atoi(value("O11Y_TEST_REDIS_PORT").c_str()); }

 private:
  DbServers() {
    const char* path = std::getenv("O11Y_TEST_DB_ENV");
    if (path == nullptr)
      return;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find('=');
      if (eq != std::string::npos)
        values_[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  std::map<std::string, std::string> values_;
};

/// Use at the start of a test that needs the servers.
#define O11Y_REQUIRE_DB_SERVERS()                                                       \
  ASSERT_TRUE(::o11y::testing::DbServers::get().available())                            \
      << "no database servers: run this test through ctest, whose fixture starts them " \
         "(scripts/db_servers.sh)"

}  // namespace o11y::testing
