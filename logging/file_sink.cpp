#include "logging/file_sink.hpp"

#include <spdlog/common.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace o11y::detail {

JsonLinesFileSink::JsonLinesFileSink(std::string path, std::size_t max_bytes, std::size_t max_files)
    : path_(std::move(path)), max_bytes_(max_bytes), max_files_(max_files) {
  open();
}

JsonLinesFileSink::~JsonLinesFileSink() {
  if (file_ != nullptr)
    (void)std::fclose(file_);
}

void JsonLinesFileSink::open() {
  file_ = std::fopen(path_.c_str(), "ab");  // NOLINT(cppcoreguidelines-owning-memory)
  if (file_ == nullptr) {
    spdlog::throw_spdlog_ex("cannot open log file " + path_, errno);
  }
  // 64 KiB instead of stdio's 4 KiB: one write(2) per ~200 lines instead of per ~13. A crash
  // can lose what is buffered; warnings and errors are flushed at once (see sink_it_).
  (void)std::setvbuf(file_, nullptr, _IOFBF, kBufferBytes);
  struct stat st {};
  size_ = ::fstat(::fileno(file_), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}

std::string JsonLinesFileSink::numbered(std::size_t index) const {
  if (index == 0)
    return path_;
  const std::filesystem::path p(path_);
  const auto ext = p.extension().string();
  return (p.parent_path() / (p.stem().string() + "." + std::to_string(index) + ext)).string();
}

void JsonLinesFileSink::rotate() {
  (void)std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  std::filesystem::remove(numbered(max_files_), ec);
  for (std::size_t i = max_files_; i > 0; --i) {
    if (std::filesystem::exists(numbered(i - 1), ec)) {
      std::filesystem::rename(numbered(i - 1), numbered(i), ec);
    }
  }
  open();
}

void JsonLinesFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (file_ == nullptr)
    open();  // a failed rotation or write: try again
  const auto& line = msg.payload;
  if (size_ > 0 && size_ + line.size() > max_bytes_)
    rotate();
  // base_sink already holds our mutex: stdio's own lock would be a second one.
  if (fwrite_unlocked(line.data(), 1, line.size(), file_) != line.size()) {
    const int err = errno;
    std::clearerr(file_);
    spdlog::throw_spdlog_ex("cannot write log file " + path_, err);
  }
  size_ += line.size();
  if (msg.level >= spdlog::level::warn)
    flush_();
}

void JsonLinesFileSink::flush_() {
  if (file_ != nullptr && std::fflush(file_) != 0) {
    const int err = errno;
    std::clearerr(file_);
    spdlog::throw_spdlog_ex("cannot flush log file " + path_, err);
  }
}

}  // namespace o11y::detail
