#pragma once

#include <chrono>
#include <o11y/export.hpp>

namespace o11y_bench {

/// Takes every batch at once and does nothing with it: an exporter that always keeps up, so
/// a benchmark measures the caller's side of the batch processor without the network.
class DiscardingExporter final : public o11y::SpanExporter {
 public:
  o11y::ExportResult export_spans(
      o11y::SpanBatch /*spans*/,
      std::chrono::steady_clock::time_point /*deadline*/) noexcept override {
    return o11y::ExportResult::Success;
  }
};

}  // namespace o11y_bench
