// `o11y stack`: a real Prometheus and Pushgateway started, queried and stopped, with no process
// left behind; and the refusals.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kTool = O11Y_TOOL;

/// O11Y_STACK_DIR for the commands this test runs.
class Stack : public ::testing::Test {
 protected:
  void SetUp() override { ::setenv("O11Y_STACK_DIR", dir_.file("stack").c_str(), 1); }
  void TearDown() override {
    std::string out;
    (void)testing::run(kTool + " stack stop 2>&1", out);
    ::unsetenv("O11Y_STACK_DIR");
  }
  [[nodiscard]] pid_t pid_of(const std::string& name) const {
    std::ifstream in(dir_.file("stack") + "/" + name + ".pid");
    long pid = 0;
    in >> pid;
    return static_cast<pid_t>(pid);
  }
  testing::TempDir dir_;
};

/// Running (a zombie, which an init that does not reap leaves, has ended).
bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0)
    return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat{std::istreambuf_iterator<char>(in), {}};
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

json query(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  const auto res = cli.Get(path);
  return res && res->status == 200 ? json::parse(res->body, nullptr, false) : json{};
}

TEST_F(Stack, StartsPrometheusScrapingTheAppWithTheRulesAndStopLeavesNoProcess) {
  const int app = testing::free_port();
  testing::Process service({std::string(O11Y_EXAMPLES_DIR) + "/http_service", std::to_string(app)},
                           dir_.file("app.log"));
  const int prom = testing::free_port();
  const int push = testing::free_port();
  std::string out;
  ASSERT_EQ(testing::run(kTool + " stack start --app-url 127.0.0.1:" + std::to_string(app) +
                             " --prometheus-port " + std::to_string(prom) + " --pushgateway-port " +
                             std::to_string(push) + " --scrape-interval 1s 2>&1",
                         out),
            0)
      << out;
  const pid_t prometheus = pid_of("prometheus");
  const pid_t pushgateway = pid_of("pushgateway");
  ASSERT_GT(prometheus, 0);
  ASSERT_GT(pushgateway, 0);
  EXPECT_EQ(testing::run(kTool + " stack status 2>&1", out), 0) << out;

  // The app is scraped, the rules are loaded, the features are on, only loopback is bound.
  EXPECT_TRUE(testing::wait_until(
      [&] {
        const auto r = query(prom, "/api/v1/query?query=up%7Bjob%3D%22app%22%7D");
        return r.is_object() && !r["data"]["result"].empty() &&
               r["data"]["result"][0]["value"][1] == "1";
      },
      20s));
  const auto rules = query(prom, "/api/v1/rules");
  std::set<std::string> groups;
  for (const auto& g : rules["data"]["groups"])
    groups.insert(g["name"].get<std::string>());
  EXPECT_TRUE(groups.contains("o11y-http") && groups.contains("o11y-alerts")) << rules.dump();
  const auto flags = query(prom, "/api/v1/status/flags");
  EXPECT_EQ(flags["data"]["enable-feature"], "exemplar-storage,native-histograms");
  EXPECT_EQ(flags["data"]["web.listen-address"], "127.0.0.1:" + std::to_string(prom));
  EXPECT_TRUE(query(push, "/api/v1/status").is_object());

  ASSERT_EQ(testing::run(kTool + " stack logs 2>&1", out), 0);
  EXPECT_NE(out.find("--- prometheus ---"), std::string::npos);
  EXPECT_NE(out.find("Server is ready to receive web requests"), std::string::npos) << out;

  ASSERT_EQ(testing::run(kTool + " stack stop 2>&1", out), 0) << out;
  EXPECT_FALSE(alive(prometheus)) << "prometheus survived stop";
  EXPECT_FALSE(alive(pushgateway)) << "pushgateway survived stop";
  EXPECT_EQ(testing::run(kTool + " stack status 2>&1", out), 1) << out;
  EXPECT_NE(out.find("prometheus: stopped"), std::string::npos) << out;
}

TEST_F(Stack, RefusesToStartWhenAPortIsTakenAndStartsNothing) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);  // NOLINT
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);  // NOLINT
  const int taken = ntohs(addr.sin_port);
  std::string out;
  EXPECT_EQ(testing::run(kTool + " stack start --app-url 127.0.0.1:1 --prometheus-port " +
                             std::to_string(taken) + " --pushgateway-port " +
                             std::to_string(testing::free_port()) + " 2>&1",
                         out),
            1);
  EXPECT_NE(out.find("port " + std::to_string(taken) + " on 127.0.0.1 is taken"), std::string::npos)
      << out;
  EXPECT_EQ(pid_of("prometheus"), 0);
  EXPECT_EQ(pid_of("pushgateway"), 0);
  ::close(fd);
}

TEST_F(Stack, BadArgumentsGetAUsageErrorAndStatus2) {
  std::string out;
  EXPECT_EQ(testing::run(kTool + " stack 2>&1", out), 2);
  EXPECT_NE(out.find("usage: o11y stack start"), std::string::npos) << out;
  EXPECT_EQ(testing::run(kTool + " stack start 2>&1", out), 2);
  EXPECT_NE(out.find("--app-url"), std::string::npos) << out;
  EXPECT_EQ(testing::run(kTool + " stack start --app-url x:1 --prometheus-port 99999 2>&1", out),
            2);
  EXPECT_EQ(testing::run(kTool + " stack restart 2>&1", out), 2);
  EXPECT_NE(out.find("unknown action"), std::string::npos) << out;
}

}  // namespace
}  // namespace o11y
