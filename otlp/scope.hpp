#pragma once

// The instrumentation scope the library's own telemetry carries.

#ifndef O11Y_VERSION
#define O11Y_VERSION "0.0.0"
#endif

namespace o11y::otlp {

/// The scope name of spans (logs carry their logger's name instead).
inline constexpr const char* kScopeName = "o11y";

}  // namespace o11y::otlp
