#pragma once

#include <cstddef>
#include <filesystem>
#include <o11y/o11y.hpp>
#include <string>

namespace o11y_bench {

/// Initialises o11y for a logging benchmark: production JSON lines to `file` (emptied first,
/// never rotated) in the temporary directory, nothing to stdout, every span sampled and none
/// exported. Returns the file's path.
inline std::string init_logging_to_file(const char* service, const char* file, bool async) {
  o11y::Config cfg;
  cfg.service_name = service;
  cfg.environment = o11y::Environment::Production;
  cfg.tracing.sample_rate = 1.0;
  cfg.tracing.exporter = o11y::TracesExporter::None;
  cfg.logging.stdout_output = false;
  cfg.logging.async = async;
  cfg.logging.file_path = (std::filesystem::temp_directory_path() / file).string();
  cfg.logging.file_max_bytes = std::size_t{1} << 40;
  std::filesystem::remove(cfg.logging.file_path);
  o11y::init(cfg, o11y::EnvironmentUse::Ignore);
  return cfg.logging.file_path;
}

}  // namespace o11y_bench
