#pragma once

// Optional adapter: spdlog sinks as o11y log outputs. Only its includers need spdlog
// (Debian: libspdlog-dev); link the CMake target o11y::spdlog.

#include <spdlog/sinks/sink.h>

#include <memory>

#include "o11y/config.hpp"

namespace o11y::logging {

/// Adds any spdlog sink (syslog, rotating or daily files, a user's own) as an output: every
/// line that passes its logger's level reaches sink->log() already rendered, as JSON or as
/// the console line (the sink's formatter is replaced by one that passes the line through).
/// The sink stays an output across init() calls until remove_sink(). In async mode it is
/// written by the writer thread. Adding a sink twice adds it once.
///
/// Thread-safe. Throws std::invalid_argument for a null sink. A sink that throws never
/// reaches the caller: the line is counted as dropped and the error reported.
void add_sink(std::shared_ptr<spdlog::sinks::sink> sink, LogFormat format = LogFormat::Json);

/// Removes a sink added with add_sink(); lines already queued for it are written first.
/// Never throws.
void remove_sink(const std::shared_ptr<spdlog::sinks::sink>& sink) noexcept;

}  // namespace o11y::logging
