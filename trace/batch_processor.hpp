#pragma once

namespace o11y::detail {

/// Resets every batch span processor in a fork()ed child (see after_fork()).
void batch_processors_after_fork() noexcept;

}  // namespace o11y::detail
