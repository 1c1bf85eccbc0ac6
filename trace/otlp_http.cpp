// The OTLP/HTTP span exporter: the trace encodings over the shared transport.
#include <string>

#include "base/internal_error.hpp"
#include "o11y/export.hpp"
#include "otlp/http_sender.hpp"
#include "trace/otlp.hpp"

namespace o11y {
namespace {

class OtlpHttpExporter final : public SpanExporter {
 public:
  explicit OtlpHttpExporter(OtlpOptions options) : sender_(std::move(options), "spans") {}

  ExportResult export_spans(SpanBatch spans,
                            std::chrono::steady_clock::time_point deadline) noexcept override {
    try {
      if (sender_.options().encoding == OtlpEncoding::Json) {
        otlp::encode_json_to(spans, encoded_);
      } else {
        otlp::encode_protobuf_to(spans, encoded_);
      }
    } catch (...) {
      detail::report_internal_error("otlp", "could not encode a batch of spans");
      return ExportResult::Failure;
    }
    return sender_.send(std::string_view(encoded_.data(), encoded_.size()), deadline)
               ? ExportResult::Success
               : ExportResult::Failure;
  }
  void shutdown() noexcept override { sender_.shutdown(); }
  void after_fork_child() noexcept override { sender_.after_fork_child(); }

 private:
  otlp::HttpSender sender_;
  /// The encoded body, reused by every batch (export_spans runs on one thread at a time).
  detail::Buffer encoded_;
};

}  // namespace

std::unique_ptr<SpanExporter> make_otlp_http_exporter(OtlpOptions options) {
  return std::make_unique<OtlpHttpExporter>(std::move(options));
}

}  // namespace o11y
