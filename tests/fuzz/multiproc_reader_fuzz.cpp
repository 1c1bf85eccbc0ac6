// The multiprocess directory reader with arbitrary file contents, as one of our files or as a
// Python prometheus_client .db file: never crashes, never throws; a bad file is skipped.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <o11y/metrics.hpp>
#include <string>

#include "fuzz/fuzz_input.hpp"

namespace {

const std::string& dir() {
  static const std::string d = [] {
    auto p =
        std::filesystem::temp_directory_path() / ("o11y-fuzz-mp-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p.string();
  }();
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  // The first byte picks the reader: ours (a pid that does not exist) or Python's.
  const std::string name = (data[0] & 1) != 0 ? "/2147483646-1.o11ymp" : "/counter_2147483646.db";
  const std::string path = dir() + name;
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data + 1),
            static_cast<std::streamsize>(size - 1));  // NOLINT
  }
  const auto text = o11y::metrics::render_directory(dir());
  const auto om = o11y::metrics::render_directory(dir(), o11y::metrics::Format::OpenMetrics);
  // The one format that reads a native histogram's buckets.
  const auto pb = o11y::metrics::render_directory(dir(), o11y::metrics::Format::Protobuf);
  if (om.size() < 6 || om.substr(om.size() - 6) != "# EOF\n")
    __builtin_trap();
  std::filesystem::remove(path);
  (void)text;
  (void)pb;
  return 0;
}
