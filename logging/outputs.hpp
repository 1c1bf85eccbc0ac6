#pragma once

// Where rendered lines go: an output pairs a renderer with a sink (ours, or any spdlog sink),
// and a record's line is rendered once per renderer however many outputs take it.

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/sink.h>

#include <array>
#include <exception>
#include <memory>
#include <string_view>

#include "base/internal_error.hpp"
#include "logging/line_sink.hpp"
#include "logging/pipeline.hpp"
#include "logging/renderer.hpp"

namespace o11y::detail {

// Our lines arrive fully rendered; spdlog sinks get them verbatim.
class PassthroughFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    dest.append(msg.payload.begin(), msg.payload.end());
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<PassthroughFormatter>();
  }
};

enum RendererId : std::size_t { kJson = 0, kConsole = 1, kRendererCount = 2 };

using Renderers = std::array<std::shared_ptr<const Renderer>, kRendererCount>;

// One record's line per renderer, each rendered the first time an output asks for it, into
// buffers the caller keeps for reuse.
class RenderedLines {
 public:
  RenderedLines(const Record& r, const Renderers& renderers, Buffer (&buffers)[kRendererCount])
      : r_(r), renderers_(renderers), buffers_(buffers) {}
  std::string_view line(std::size_t renderer) {
    auto& buf = buffers_[renderer];
    if (!rendered_[renderer]) {
      buf.clear();
      renderers_[renderer]->render(r_, buf);
      rendered_[renderer] = true;
    }
    return {buf.data(), buf.size()};
  }

 private:
  const Record& r_;
  const Renderers& renderers_;
  Buffer (&buffers_)[kRendererCount];
  bool rendered_[kRendererCount] = {false, false};
};

struct Output {
  Output(std::size_t r, std::shared_ptr<spdlog::sinks::sink> s, bool q = false)
      : renderer(r), sink(std::move(s)), lines(dynamic_cast<LineSink*>(sink.get())), queued(q) {}
  std::size_t renderer = kJson;
  std::shared_ptr<spdlog::sinks::sink> sink;
  /// `sink` when it is ours: written directly, without building spdlog's log_msg, whose
  /// constructor reads spdlog's thread-local thread id (a __tls_get_addr call into the shared
  /// library, and several cache misses on a server thread).
  LineSink* lines = nullptr;
  bool queued = false;  ///< written by the async writer (its outputs are the first ones)
};

inline spdlog::level::level_enum spdlog_level(Level l) noexcept {
  switch (l) {
    case Level::Debug:
      return spdlog::level::debug;
    case Level::Info:
      return spdlog::level::info;
    case Level::Warning:
      return spdlog::level::warn;
    case Level::Error:
      return spdlog::level::err;
    case Level::Critical:
      return spdlog::level::critical;
    case Level::Off:
      break;
  }
  return spdlog::level::off;
}

inline void write_to_sink(const Output& out, std::string_view bytes, Level level) noexcept {
  try {
    if (out.lines != nullptr) {
      out.lines->write(bytes, level >= Level::Warning);
      return;
    }
    // A fixed time point: our renderers stamp the time, so spdlog need not read the clock.
    const spdlog::details::log_msg msg(spdlog::log_clock::time_point{}, spdlog::source_loc{},
                                       spdlog::string_view_t(), spdlog_level(level),
                                       spdlog::string_view_t(bytes.data(), bytes.size()));
    out.sink->log(msg);
  } catch (const std::exception& e) {
    count_dropped_line();
    report_internal_error("logging", e.what());
  } catch (...) {
    count_dropped_line();
    report_internal_error("logging", "a sink threw a non-standard exception");
  }
}

inline void flush_sink(const Output& out) noexcept {
  try {
    out.sink->flush();
  } catch (const std::exception& e) {
    report_internal_error("logging", e.what());
  } catch (...) {
    report_internal_error("logging", "a sink's flush threw a non-standard exception");
  }
}

}  // namespace o11y::detail
