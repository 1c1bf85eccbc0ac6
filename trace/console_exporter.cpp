#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "o11y/export.hpp"
#include "trace/otlp.hpp"

namespace o11y {
namespace {

class ConsoleSpanExporter final : public SpanExporter {
 public:
  explicit ConsoleSpanExporter(int fd) : fd_(fd) {}

  ExportResult export_spans(SpanBatch spans,
                            std::chrono::steady_clock::time_point /*deadline*/) noexcept override {
    try {
      std::string out;
      for (const auto& s : spans) {
        if (s) {
          out += otlp::span_json_line(*s);
          out += '\n';
        }
      }
      // One write per batch: lines from several processes sharing stdout stay whole.
      if (!detail::write_all(fd_, out)) {
        detail::report_internal_error("trace", "console span exporter could not write");
        return ExportResult::Failure;
      }
      return ExportResult::Success;
    } catch (...) {
      detail::report_internal_error("trace", "console span exporter could not encode a batch");
      return ExportResult::Failure;
    }
  }

 private:
  int fd_;
};

}  // namespace

std::unique_ptr<SpanExporter> make_console_span_exporter(int fd) {
  return std::make_unique<ConsoleSpanExporter>(fd);
}

}  // namespace o11y
