#pragma once

// Log records as an OTLP ExportLogsServiceRequest (logs/v1/logs.proto), in protobuf or JSON.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "base/text.hpp"
#include "logging/record.hpp"
#include "o11y/export.hpp"
#include "o11y/trace.hpp"

namespace o11y::detail {

/// OpenTelemetry's severity number of a level: debug 5, info 9, warning 13, error 17,
/// critical 21.
[[nodiscard]] int severity_number(Level level) noexcept;

/// Collects records as LogRecords, grouped by logger (each logger is an instrumentation
/// scope), and writes them as one request. A record is encoded when it is added, since it only
/// borrows. Fields are walked as the JSON line walks them: the same keys (with the same
/// suffixes for repeated keys), the same redaction, the same field limit, types kept.
/// One thread at a time; throws std::bad_alloc only.
class LogRequestEncoder {
 public:
  LogRequestEncoder(OtlpEncoding encoding, RenderLimits limits);

  void add(const Record& r);
  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  /// The request with every record added since the last call, for this resource; then empty.
  void finish(const Resource* resource, Buffer& out);

 private:
  struct Scope {
    std::string name;
    Buffer records;  // encoded LogRecords: protobuf fields, or JSON objects joined by ','
  };
  Scope& scope(std::string_view name);
  void add_protobuf(const Record& r, Buffer& out);
  void add_json(const Record& r, Buffer& out);

  OtlpEncoding encoding_;
  RenderLimits limits_;
  std::vector<Scope> scopes_;
  std::size_t count_ = 0;
  std::string key_;  // a field's key with its suffix
};

}  // namespace o11y::detail
