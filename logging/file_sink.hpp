#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace o11y::detail {

/// Appends finished lines to a file and rotates it by size: app.log -> app.1.log -> ... ->
/// app.N.log (spdlog's naming), the oldest dropped. Our lines arrive rendered, so unlike
/// spdlog's rotating sink it writes the payload directly (no per-line copy or allocation).
///
/// Thread-safe (spdlog's base_sink lock). Write failures (a full disk) throw spdlog_ex, which
/// the logging pipeline reports and counts; the file is reopened on the next line.
class JsonLinesFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  JsonLinesFileSink(std::string path, std::size_t max_bytes, std::size_t max_files);
  ~JsonLinesFileSink() override;
  JsonLinesFileSink(const JsonLinesFileSink&) = delete;
  JsonLinesFileSink& operator=(const JsonLinesFileSink&) = delete;
  JsonLinesFileSink(JsonLinesFileSink&&) = delete;
  JsonLinesFileSink& operator=(JsonLinesFileSink&&) = delete;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  void open();
  void rotate();
  [[nodiscard]] std::string numbered(std::size_t index) const;

  static constexpr std::size_t kBufferBytes = std::size_t{64} * 1024;

  std::string path_;
  std::size_t max_bytes_;
  std::size_t max_files_;
  std::FILE* file_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace o11y::detail
