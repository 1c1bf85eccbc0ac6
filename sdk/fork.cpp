#include "logging/pipeline.hpp"
#include "metrics/family.hpp"
#include "o11y/export.hpp"
#include "trace/batch_processor.hpp"
#include "trace/ids.hpp"

namespace o11y {

// The child steps of base/fork.hpp, in the same order, for a child whose fork handlers did
// not run.
void after_fork() noexcept {
  detail::reseed_ids_after_fork();
  detail::metrics_after_fork();
  detail::batch_processors_after_fork();
  detail::logging_after_fork();
}

}  // namespace o11y
