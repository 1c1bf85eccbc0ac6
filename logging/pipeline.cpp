#include "logging/pipeline.hpp"

#include <pthread.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>

#include "base/env.hpp"
#include "base/fork.hpp"
#include "base/internal_error.hpp"
#include "base/published.hpp"
#include "base/sys.hpp"
#include "base/thread_instance.hpp"
#include "base/tick_clock.hpp"
#include "context/span_state.hpp"
#include "logging/async_writer.hpp"
#include "logging/line_sink.hpp"
#include "logging/log_export.hpp"
#include "logging/outputs.hpp"
#include "logging/record_codec.hpp"
#include "logging/renderer.hpp"
#include "o11y/spdlog.hpp"

namespace o11y {
namespace detail {
namespace {

std::atomic<std::uint64_t> g_dropped{0};  // NOLINT(*-avoid-non-const-global-*)

// How long reconfiguring waits for the old log exporter to send what it holds, and how long
// normal exit does: bounded, since a hung collector must not hang init() or exit.
constexpr std::chrono::milliseconds kReconfigureWait{2000};
constexpr std::chrono::milliseconds kExitWait{5000};

struct LoggingState {
  Renderers renderers;
  std::vector<Output> outputs;
  std::shared_ptr<AsyncWriter> async;     // null: write on the caller's thread
  std::shared_ptr<LogExport> log_export;  // null: no log records over OTLP
  /// Also among the outputs; each has a writer thread of its own in sync mode.
  std::vector<std::shared_ptr<LineSink>> line_sinks;
  /// Every output is the async writer's: a record it took needs nothing rendered here.
  bool all_queued = false;
  /// all_queued, and the writer's queues can hold kQuickRecord bytes: the usual call takes
  /// dispatch()'s short path.
  bool quick = false;
  bool configured = false;
};

struct LoggingTag {};

Published<LoggingState, LoggingTag>& published() {
  static auto* p = new Published<LoggingState, LoggingTag>();  // NOLINT: outlives static dtors
  return *p;
}

// Set in a fork()ed child: when the parent had an async writer or a log file, the child builds
// its own on its next log call, and lines the parent had queued stay the parent's to write.
std::atomic<bool> g_rebuild_after_fork{false};  // NOLINT(*-avoid-non-const-global-*)

// The process the current logging state was built in.
std::atomic<int> g_built_pid{0};  // NOLINT(*-avoid-non-const-global-*)

std::mutex g_setup_mu;  // NOLINT(*-avoid-non-const-global-*): serialises reconfiguration

// The state published when fork() was called. The child never lets go of it: its writer
// threads do not exist there, so destroying it would join them, and its condition variables'
// destructors would wait for their waiters, for ever. Never destroyed itself, for the same
// reason at exit.
std::shared_ptr<const LoggingState>& fork_pin() {
  static auto* pin = new std::shared_ptr<const LoggingState>();  // NOLINT(*-owning-memory)
  return *pin;
}

// Before fork(): whatever sits in a buffer would be copied into the child and written twice,
// once by each process, so everything is flushed first. Reconfiguration then waits until the
// fork is done, and this thread's cache holds the published state, not an older one, so the
// pin covers every state the child can reach.
void atfork_prepare() {
  flush_logging();
  g_setup_mu.lock();
  (void)published().get();
  fork_pin() = published().snapshot();
}

void atfork_parent() {
  fork_pin().reset();
  g_setup_mu.unlock();
}

void atfork_child() {
  g_rebuild_after_fork.store(true, std::memory_order_relaxed);
  g_built_pid.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
  g_setup_mu.unlock();
}

// Captures live outside the state so that reconfiguring keeps them.
class CaptureSink;
struct Captures {
  std::mutex mu;
  std::vector<std::shared_ptr<spdlog::sinks::sink>> sinks;
  /// Outputs added with o11y::logging::add_sink(): kept across init() calls.
  std::vector<std::pair<std::shared_ptr<spdlog::sinks::sink>, LogFormat>> user_sinks;
  LoggingSetup last_setup;
  bool have_setup = false;
};
Captures& captures() {
  static auto* c = new Captures();  // NOLINT: outlives static destructors
  return *c;
}

std::shared_ptr<spdlog::sinks::sink> with_passthrough(std::shared_ptr<spdlog::sinks::sink> s) {
  s->set_formatter(std::make_unique<PassthroughFormatter>());
  return s;
}

void flush_at_exit() {
  flush_logging();
  flush_log_export(kExitWait);
}

using UserSinks = std::vector<std::pair<std::shared_ptr<spdlog::sinks::sink>, LogFormat>>;

void build_and_publish(const LoggingSetup& setup,
                       const std::vector<std::shared_ptr<spdlog::sinks::sink>>& capture_sinks,
                       const UserSinks& user_sinks) {
  const auto& cfg = setup.config;
  g_built_pid.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
  bool console = setup.stdout_is_terminal;
  if (cfg.format == LogFormat::Json)
    console = false;
  if (cfg.format == LogFormat::Console)
    console = true;
  const char* no_color = std::getenv("NO_COLOR");  // NOLINT(concurrency-mt-unsafe)
  const bool colors = setup.stdout_is_terminal && (no_color == nullptr || *no_color == '\0');

  auto state = std::make_shared<LoggingState>();
  state->renderers[kJson] = make_json_renderer();
  state->renderers[kConsole] = make_console_renderer(colors);
  const bool to_stdout = setup.stdout_enabled && cfg.stdout_output;
  if (to_stdout && setup.stdout_is_terminal) {
    // Someone is reading: every line is written as it is logged.
    state->outputs.emplace_back(
        console ? kConsole : kJson,
        with_passthrough(std::make_shared<spdlog::sinks::stdout_sink_mt>()));
  } else if (to_stdout) {
    // A pipe or a file, read by a collector: lines in large writes, as for a log file.
    auto out = std::make_shared<LineSink>(STDOUT_FILENO, "stdout", !cfg.async);
    state->line_sinks.push_back(out);
    state->outputs.emplace_back(console ? kConsole : kJson, std::move(out));
  }
  if (!cfg.file_path.empty()) {
    try {
      // In async mode the queue's writer thread writes the file; otherwise the sink's own.
      auto file =
          std::make_shared<LineSink>(cfg.file_path, std::max<std::size_t>(cfg.file_max_bytes, 1024),
                                     std::max<std::size_t>(cfg.file_max_files, 1), !cfg.async);
      state->line_sinks.push_back(file);
      state->outputs.emplace_back(kJson, std::move(file));
    } catch (const std::exception& e) {
      report_internal_error("logging",
                            std::string("log file not opened, continuing without it: ") + e.what());
    }
  }
  for (const auto& s : setup.extra_json_sinks)
    state->outputs.emplace_back(kJson, with_passthrough(s));
  for (const auto& s : setup.extra_console_sinks) {
    state->outputs.emplace_back(kConsole, with_passthrough(s));
  }
  for (const auto& [sink, format] : user_sinks)
    state->outputs.emplace_back(format == LogFormat::Console ? kConsole : kJson,
                                with_passthrough(sink));
  if (const auto les = log_export_setup(cfg); les.kind != LogsExporter::None) {
    try {
      state->log_export = std::make_shared<LogExport>(les);
    } catch (const std::exception& e) {
      report_internal_error("config", std::string(e.what()) + "; log records are not exported");
    }
  }
  // Captures are written synchronously even in async mode, so a test sees its line at once.
  // In async mode the writer thread also hands each record to the log exporter.
  if (cfg.async) {
    for (auto& o : state->outputs)
      o.queued = true;
    std::vector<Output> queued = state->outputs;
    state->async =
        std::make_shared<AsyncWriter>(std::move(queued), state->renderers, cfg.async_queue_bytes,
                                      cfg.async_drop_when_full, state->log_export);
  }
  for (const auto& s : capture_sinks)
    state->outputs.emplace_back(kJson, s, false);
  state->all_queued = state->async && std::all_of(state->outputs.begin(), state->outputs.end(),
                                                  [](const Output& o) { return o.queued; });
  state->quick = state->all_queued && state->async->fits(kQuickRecord);
  state->configured = true;

  std::shared_ptr<const LoggingState> old = published().snapshot();
  published().update([&](LoggingState& s) { s = *state; });
  // The old writer drains on destruction, once no thread's cache still holds it.
  if (old && old->async)
    old->async->flush();
  // Records the old exporter holds go out before it is dropped, unless the collector is slow.
  if (old && old->log_export)
    (void)old->log_export->flush(std::min(old->log_export->export_timeout(), kReconfigureWait));
  if (old) {
    for (const auto& l : old->line_sinks)
      l->flush();  // before the new outputs write after it
  }
}

// In a fork()ed child, the first time logging is used or reconfigured: the inherited writers
// are abandoned (never flushed, used or destroyed here). Returns whether there were any.
// The caller holds g_setup_mu.
bool abandon_inherited_writers() {
  if (!g_rebuild_after_fork.exchange(false))
    return false;
  const auto old = published().snapshot();
  if (!old->async && old->line_sinks.empty() && !old->log_export)
    return false;
  // Kept reachable for ever: destroying them would join the parent's writer threads, and
  // their locks may have been held by threads the child does not have.
  static auto* abandoned = new std::vector<std::shared_ptr<const LoggingState>>();  // NOLINT
  if (old->async)
    old->async->abandon();
  if (old->log_export)
    old->log_export->abandon();
  for (const auto& l : old->line_sinks)
    l->abandon();
  abandoned->push_back(old);
  return true;
}

void rebuild_after_fork() {
  std::lock_guard lock(g_setup_mu);
  if (!abandon_inherited_writers())
    return;
  auto& c = captures();
  std::lock_guard clock(c.mu);
  build_and_publish(c.last_setup, c.sinks, c.user_sinks);
}

}  // namespace

void logging_after_fork() noexcept {
  const int pid = static_cast<int>(::getpid());
  if (g_built_pid.exchange(pid, std::memory_order_relaxed) != pid)
    g_rebuild_after_fork.store(true, std::memory_order_relaxed);
}

void count_dropped_line() noexcept {
  g_dropped.fetch_add(1, std::memory_order_relaxed);
}

void configure_logging(const LoggingSetup& setup) {
  static const bool kHooks = [] {
    (void)std::atexit(flush_at_exit);
    register_fork_steps(ForkStage::Logging, {atfork_prepare, atfork_parent, atfork_child});
    return true;
  }();
  (void)kHooks;
  std::lock_guard lock(g_setup_mu);
  // A worker calling init() again after fork(): building the new state flushes the old, and
  // an inherited writer holding a line logged after the pre-fork flush would wait for ever.
  (void)abandon_inherited_writers();
  const Level level = setup.config.level;
  set_logger_source_root(setup.config.source_root);
  apply_logger_levels(level, setup.config.levels);
  std::vector<std::shared_ptr<spdlog::sinks::sink>> caps;
  UserSinks users;
  {
    auto& c = captures();
    std::lock_guard clock(c.mu);
    c.last_setup = setup;
    c.have_setup = true;
    caps = c.sinks;
    users = c.user_sinks;
  }
  build_and_publish(setup, caps, users);
}

void ensure_logging_configured() {
  if (published().get().configured)
    return;
  static std::once_flag once;
  std::call_once(once, [] {
    if (published().snapshot()->configured)
      return;
    LoggingSetup setup;
    setup.config = apply_logging_env({});
    setup.stdout_is_terminal = ::isatty(STDOUT_FILENO) != 0;
    configure_logging(setup);
  });
}

namespace {

enum class Queued : std::uint8_t {
  Committed,  ///< the writer has it (and hands it to the log exporter, if any)
  Dropped,    ///< the queue's policy dropped it, as it would a rendered line
  Refused,    ///< `room` was too small: nothing queued
};

// Encodes the record into `room` bytes of the calling thread's queue.
[[gnu::always_inline]] inline Queued queue_record(const LoggingState& st, const Record& record,
                                                  std::size_t room,
                                                  const FrameBlob* blob) noexcept {
  const auto slot = st.async->reserve(kRecordEntry, room, record.level, record.ticks);
  if (!slot)
    return Queued::Dropped;
  // An event()'s record comes only from the quick path, which has the blob.
  assert(record.site == nullptr || blob != nullptr);
  ThreadQueue& queue = *slot.queue;
  if (const std::size_t n =
          record.site != nullptr
              ? encode_event_record(record, slot.data, room, *blob, queue.frame_saved)
              : encode_record(record, slot.data, room, blob, queue.frame_saved);
      n != 0) {
    if (blob != nullptr)
      queue.frame_saved = blob->generation;  // before commit(): a shared queue's lock
    st.async->commit(slot, n);
    return Queued::Committed;
  }
  st.async->cancel(slot);
  return Queued::Refused;
}

// Most records fit kQuickRecord bytes: encoded straight into that much room, they are not
// sized first by a pass over every field.
[[gnu::always_inline]] inline bool quick_fits(const Record& record, const FrameBlob* blob) {
  const std::size_t bound_count = record.bound != nullptr ? record.bound->size() : 0;
  const std::size_t field_count = record.site != nullptr ? record.site->size : record.fields.size();
  return blob != nullptr && blob->fits &&
         field_count + bound_count + blob->count <= kDeferMaxFields;
}

// Calls f() with an event()'s record in the plain form, its keys and values paired into fields,
// which every renderer and the log exporter read. Out of line: the quick path queues an event's
// values as they are.
template <class F>
[[gnu::noinline]] void with_event_fields(Record& record, F&& f) {
  assert(record.site != nullptr);
  std::array<Field, kDeferMaxFields> fields;  // an event() has at most 64 keys
  const std::size_t n = std::min(record.site->size, fields.size());
  for (std::size_t i = 0; i < n; ++i)
    fields[i] = {record.site->keys[i], record.values[i]};
  record.fields = std::span<const Field>(fields.data(), n);
  record.site = nullptr;
  record.values = nullptr;
  f();
}

// Unix time for a record this thread renders or hands on itself, from the thread's anchor.
void stamp_time(Record& record) noexcept {
  if (record.time_ns == 0)
    record.time_ns = tick_clock::unix_ns_at(record.ticks);
}

// Every case but the quick one: queues the record or renders it here, for each output.
void dispatch_general(const LoggingState& st, const Record& record, const FrameBlob* blob) {
  // One copy of the record for every queued output and the log exporter; the writer
  // renders it. Queued outputs come first, so the first one says whether there are any.
  const bool any_queued = st.async && !st.outputs.empty() && st.outputs.front().queued;
  const bool to_writer = any_queued || (st.async && st.async->exports());
  bool deferred = false;
  bool handed = false;  // the writer has it, for the log exporter too
  if (to_writer) {
    if (blob == nullptr)
      blob = frame_blob(record);
    Queued q = Queued::Refused;
    if (!st.quick && st.async->fits(kQuickRecord) && quick_fits(record, blob))
      q = queue_record(st, record, kQuickRecord, blob);
    // One that does not fit is sized, and rendered here when a limit says so
    // (deferred_size_bound() returns 0).
    if (q == Queued::Refused) {
      if (const std::size_t bound = deferred_size_bound(record, true, blob); bound != 0) {
        q = queue_record(st, record, bound, blob);
        // Not queued: the bound was wrong. The line is rendered here instead; the test
        // builds stop on it so that it is noticed.
        assert(q != Queued::Refused);
      }
    }
    deferred = q != Queued::Refused;
    handed = q == Queued::Committed && st.async->exports();
  }
  if (st.log_export && !handed)
    st.log_export->enqueue(record);
  if (deferred && st.all_queued)
    return;
  // The thread's buffers, or, from a destructor that runs after they were destroyed at
  // thread exit, buffers of this call's own.
  struct Buffers {
    Buffer b[kRendererCount];  // NOLINT(*-avoid-c-arrays)
  };
  std::unique_ptr<Buffers> late;
  auto* buffers = thread_instance<Buffers>();
  if (buffers == nullptr) [[unlikely]] {
    late = std::make_unique<Buffers>();
    buffers = late.get();
  }
  RenderedLines lines(record, st.renderers, buffers->b);
  for (std::size_t i = 0; i < st.outputs.size(); ++i) {
    const auto& out = st.outputs[i];
    if (out.queued && deferred)
      continue;
    const std::string_view bytes = lines.line(out.renderer);
    if (out.queued && st.async) {
      st.async->push(i, bytes, record.level, record.ticks);
    } else {
      write_to_sink(out, bytes, record.level);
    }
  }
}

// A sink or renderer that logs would re-enter and clobber this thread's buffers.
thread_local bool t_inside = false;

// dispatch(), inlined into both of its entries: an event()'s call builds its record beside the
// quick path, with no call between them. (The same for the field form cost it more
// instructions than it saved.)
[[gnu::always_inline]] inline void dispatch_inline(Record& record) noexcept {
  if (t_inside) {
    count_dropped_line();
    return;
  }
  t_inside = true;
  try {
    if (g_rebuild_after_fork.load(std::memory_order_relaxed))
      rebuild_after_fork();
    const LoggingState* state = &published().get();
    if (!state->configured) {  // the first line ever: configure from the environment
      ensure_logging_configured();
      state = &published().get();
    }
    const LoggingState& st = *state;
    // The usual call in async mode: every output the writer's, the record in its quick room.
    const FrameBlob* blob = nullptr;
    if (st.quick) [[likely]] {
      blob = frame_blob(record);
      if (quick_fits(record, blob)) [[likely]] {
        if (const Queued q = queue_record(st, record, kQuickRecord, blob); q != Queued::Refused) {
          if (q == Queued::Dropped && st.log_export) {
            stamp_time(record);
            if (record.site != nullptr)
              with_event_fields(record, [&] { st.log_export->enqueue(record); });
            else
              st.log_export->enqueue(record);
          }
          t_inside = false;
          return;
        }
      }
    }
    stamp_time(record);
    if (record.site != nullptr) [[unlikely]]
      with_event_fields(record, [&] { dispatch_general(st, record, blob); });
    else
      dispatch_general(st, record, blob);
  } catch (const std::exception& e) {
    count_dropped_line();
    report_internal_error("logging", e.what());
  } catch (...) {
    count_dropped_line();
    report_internal_error("logging", "unknown exception while writing a log line");
  }
  t_inside = false;
}

}  // namespace

void dispatch(Record& record) noexcept {
  dispatch_inline(record);
}

void dispatch_event(const LoggerCore& core, const Attributes* bound, Level level,
                    const EventSite& site, const ValueView* values,
                    const SourceLocation& loc) noexcept {
  Record r = record_for(core, bound, level, site.name, {}, loc);
  r.site = &site;
  r.values = values;
  dispatch_inline(r);
}

bool flush_log_export(std::chrono::milliseconds limit) noexcept {
  if (g_rebuild_after_fork.load(std::memory_order_relaxed))
    return true;  // the child's exporter is built on its first log call; nothing queued yet
  const auto st = published().snapshot();
  if (!st->log_export)
    return true;
  return st->log_export->flush(std::min(st->log_export->export_timeout(), limit));
}

void flush_logging() noexcept {
  try {
    if (g_rebuild_after_fork.load(std::memory_order_relaxed))
      rebuild_after_fork();
    const auto st = published().snapshot();
    if (st->async)
      st->async->flush();
    for (const auto& o : st->outputs)
      flush_sink(o);
  } catch (...) {
    report_internal_error("logging", "flush failed");
  }
}

}  // namespace detail

namespace logging {

struct LogCapture::State {
  mutable std::mutex mu;
  std::vector<std::string> lines;
};

namespace {
class CaptureSinkImpl final : public spdlog::sinks::sink {
 public:
  explicit CaptureSinkImpl(std::shared_ptr<LogCapture::State> state) : state_(std::move(state)) {}
  [[nodiscard]] const LogCapture::State* state() const noexcept { return state_.get(); }
  void log(const spdlog::details::log_msg& msg) override {
    std::string_view line(msg.payload.data(), msg.payload.size());
    if (!line.empty() && line.back() == '\n')
      line.remove_suffix(1);
    std::lock_guard lock(state_->mu);
    state_->lines.emplace_back(line);
  }
  void flush() override {}
  void set_pattern(const std::string& /*pattern*/) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter> /*formatter*/) override {}

 private:
  std::shared_ptr<LogCapture::State> state_;
};

// Rebuilds the outputs with the current set of captures, keeping everything else.
void republish_with_captures() {
  detail::ensure_logging_configured();
  auto& c = detail::captures();
  detail::LoggingSetup setup;
  {
    std::lock_guard lock(c.mu);
    setup = c.last_setup;
  }
  detail::configure_logging(setup);
}
}  // namespace

LogCapture::LogCapture() : state_(std::make_shared<State>()) {
  detail::ensure_logging_configured();
  {
    auto& c = detail::captures();
    std::lock_guard lock(c.mu);
    c.sinks.push_back(std::make_shared<CaptureSinkImpl>(state_));
  }
  republish_with_captures();
}

LogCapture::~LogCapture() {
  try {
    {
      auto& c = detail::captures();
      std::lock_guard lock(c.mu);
      std::erase_if(c.sinks, [this](const auto& s) {
        const auto* cs = dynamic_cast<const CaptureSinkImpl*>(s.get());
        return cs != nullptr && cs->state() == state_.get();
      });
    }
    republish_with_captures();
  } catch (...) {
    detail::report_internal_error("logging", "could not remove a log capture");
  }
}

std::vector<std::string> LogCapture::lines() const {
  std::lock_guard lock(state_->mu);
  return state_->lines;
}

std::vector<std::string> LogCapture::lines_with_event(std::string_view event) const {
  detail::Buffer needle;
  needle.append(std::string_view(",\"event\":\""));
  detail::append_json_escaped(needle, event);
  needle.append(std::string_view("\","));
  const std::string_view n(needle.data(), needle.size());
  std::vector<std::string> out;
  std::lock_guard lock(state_->mu);
  for (const auto& l : state_->lines) {
    if (l.find(n) != std::string::npos)
      out.push_back(l);
  }
  return out;
}

void LogCapture::clear() {
  std::lock_guard lock(state_->mu);
  state_->lines.clear();
}

void flush() noexcept {
  detail::flush_logging();
  (void)detail::flush_log_export(std::chrono::milliseconds::max());
}

std::uint64_t dropped_lines() noexcept {
  return detail::g_dropped.load(std::memory_order_relaxed);
}

void add_sink(std::shared_ptr<spdlog::sinks::sink> sink, LogFormat format) {
  if (!sink)
    throw std::invalid_argument("o11y::logging::add_sink: null sink");
  detail::ensure_logging_configured();
  {
    auto& c = detail::captures();
    std::lock_guard lock(c.mu);
    const bool present = std::any_of(c.user_sinks.begin(), c.user_sinks.end(),
                                     [&](const auto& u) { return u.first == sink; });
    if (present)
      return;
    c.user_sinks.emplace_back(std::move(sink), format);
  }
  republish_with_captures();
}

void remove_sink(const std::shared_ptr<spdlog::sinks::sink>& sink) noexcept {
  try {
    {
      auto& c = detail::captures();
      std::lock_guard lock(c.mu);
      std::erase_if(c.user_sinks, [&](const auto& u) { return u.first == sink; });
    }
    republish_with_captures();
    // Lines queued for it before the rebuild are written by the old writer as it drains.
    flush();
  } catch (...) {
    detail::report_internal_error("logging", "remove_sink: could not rebuild the outputs");
  }
}

}  // namespace logging
}  // namespace o11y
