#pragma once

/// Umbrella header: everything a service needs in one include.

#include "o11y/config.hpp"       // IWYU pragma: export
#include "o11y/context.hpp"      // IWYU pragma: export
#include "o11y/log.hpp"          // IWYU pragma: export
#include "o11y/metrics.hpp"      // IWYU pragma: export
#include "o11y/propagation.hpp"  // IWYU pragma: export
#include "o11y/trace.hpp"        // IWYU pragma: export
#include "o11y/value.hpp"        // IWYU pragma: export
