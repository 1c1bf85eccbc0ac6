// Exits 0 only when an spdlog sink added through the installed adapter gets the JSON line.
#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <mutex>
#include <o11y/o11y.hpp>
#include <o11y/spdlog.hpp>
#include <string>
#include <vector>

namespace {

class Collect final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t out;
    formatter_->format(msg, out);
    lines.emplace_back(out.data(), out.size());
  }
  void flush_() override {}
};

}  // namespace

int main() {
  o11y::Config cfg;
  cfg.logging.stdout_output = false;
  o11y::init(cfg);
  auto sink = std::make_shared<Collect>();
  o11y::logging::add_sink(sink);
  o11y::get_logger("consumer").info("through_spdlog", {{"n", 7}});
  o11y::logging::flush();
  const bool ok = sink->lines.size() == 1 &&
                  sink->lines[0].find("\"event\":\"through_spdlog\"") != std::string::npos;
  std::printf("consumer_spdlog: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
