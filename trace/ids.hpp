#pragma once

namespace o11y::detail {

/// Makes every thread's id generator reseed before its next id (after_fork()).
void reseed_ids_after_fork() noexcept;

}  // namespace o11y::detail
