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
#include "base/internal_error.hpp"
#include "base/published.hpp"
#include "base/sys.hpp"
#include "base/thread_instance.hpp"
#include "context/span_state.hpp"
#include "logging/line_sink.hpp"
#include "logging/renderer.hpp"
#include "o11y/spdlog.hpp"

namespace o11y {
namespace detail {
namespace {

std::atomic<std::uint64_t> g_dropped{0};  // NOLINT(*-avoid-non-const-global-*)

// Our lines arrive fully rendered; spdlog sinks get them verbatim.
class PassthroughFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    dest.append(msg.payload.begin(), msg.payload.end());
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<PassthroughFormatter>();
  }
};

enum RendererId : std::size_t { kJson = 0, kConsole = 1, kRendererCount = 2 };

using Renderers = std::array<std::shared_ptr<const Renderer>, kRendererCount>;

// One record's line per renderer, each rendered the first time an output asks for it, into
// buffers the caller keeps for reuse.
class RenderedLines {
 public:
  RenderedLines(const Record& r, const Renderers& renderers, Buffer (&buffers)[kRendererCount])
      : r_(r), renderers_(renderers), buffers_(buffers) {}
  std::string_view line(std::size_t renderer) {
    auto& buf = buffers_[renderer];
    if (!rendered_[renderer]) {
      buf.clear();
      renderers_[renderer]->render(r_, buf);
      rendered_[renderer] = true;
    }
    return {buf.data(), buf.size()};
  }

 private:
  const Record& r_;
  const Renderers& renderers_;
  Buffer (&buffers_)[kRendererCount];
  bool rendered_[kRendererCount] = {false, false};
};

struct Output {
  Output(std::size_t r, std::shared_ptr<spdlog::sinks::sink> s, bool q = false)
      : renderer(r), sink(std::move(s)), lines(dynamic_cast<LineSink*>(sink.get())), queued(q) {}
  std::size_t renderer = kJson;
  std::shared_ptr<spdlog::sinks::sink> sink;
  /// `sink` when it is ours: written directly, without building spdlog's log_msg, whose
  /// constructor reads spdlog's thread-local thread id (a __tls_get_addr call into the shared
  /// library, and several cache misses on a server thread).
  LineSink* lines = nullptr;
  bool queued = false;  ///< written by the async writer (its outputs are the first ones)
};

spdlog::level::level_enum spdlog_level(Level l) noexcept {
  switch (l) {
    case Level::Debug:
      return spdlog::level::debug;
    case Level::Info:
      return spdlog::level::info;
    case Level::Warning:
      return spdlog::level::warn;
    case Level::Error:
      return spdlog::level::err;
    case Level::Critical:
      return spdlog::level::critical;
    case Level::Off:
      break;
  }
  return spdlog::level::off;
}

void write_to_sink(const Output& out, std::string_view bytes, Level level) noexcept {
  try {
    if (out.lines != nullptr) {
      out.lines->write(bytes, level >= Level::Warning);
      return;
    }
    // A fixed time point: our renderers stamp the time, so spdlog need not read the clock.
    const spdlog::details::log_msg msg(spdlog::log_clock::time_point{}, spdlog::source_loc{},
                                       spdlog::string_view_t(), spdlog_level(level),
                                       spdlog::string_view_t(bytes.data(), bytes.size()));
    out.sink->log(msg);
  } catch (const std::exception& e) {
    count_dropped_line();
    report_internal_error("logging", e.what());
  } catch (...) {
    count_dropped_line();
    report_internal_error("logging", "a sink threw a non-standard exception");
  }
}

void flush_sink(const Output& out) noexcept {
  try {
    out.sink->flush();
  } catch (const std::exception& e) {
    report_internal_error("logging", e.what());
  } catch (...) {
    report_internal_error("logging", "a sink's flush threw a non-standard exception");
  }
}

// --- records rendered on the writer thread ------------------------------------------------
//
// In async mode a caller does not render: it copies the record (strings, typed values, the
// context's tags and span ids) into the queue, and the writer renders it. Rendering was
// nearly all of an async log call (measured 749 ns a call with the line rendered first).
// Records with very long values or very many fields are rendered on the caller as before, so
// the queue's byte budget and the renderers' cut-off marks behave as in sync mode.

constexpr std::size_t kDeferMaxString = 4096;
constexpr std::size_t kDeferMaxFields = 64;
constexpr unsigned char kRecordEntry = 0xFF;  // the "output" byte of a deferred record

// Writes into a buffer already sized by deferred_size_bound(): a plain cursor, since
// std::string::append per item was over half of an async log call.
class RecordWriter {
 public:
  explicit RecordWriter(char* p) noexcept : p_(p) {}
  template <class T>
  [[gnu::always_inline]] void pod(const T& v) {
    std::memcpy(p_, &v, sizeof v);
    p_ += sizeof v;
  }
  [[gnu::always_inline]] void str(std::string_view v) {
    pod(static_cast<std::uint32_t>(v.size()));
    p_ = copy_run(p_, v.data(), v.size());
  }
  [[gnu::always_inline]] void value(ValueView v) {
    pod(static_cast<std::uint8_t>(v.kind()));
    switch (v.kind()) {
      case ValueView::Kind::Null:
        break;
      case ValueView::Kind::Bool:
        pod(static_cast<std::uint8_t>(v.as_bool() ? 1 : 0));
        break;
      case ValueView::Kind::Int:
        pod(v.as_int());
        break;
      case ValueView::Kind::Uint:
        pod(v.as_uint());
        break;
      case ValueView::Kind::Double:
        pod(v.as_double());
        break;
      case ValueView::Kind::String:
        str(v.as_string());
        break;
    }
  }
  [[gnu::always_inline]] void attributes(const Attributes* a) {
    pod(static_cast<std::uint32_t>(a == nullptr ? 0 : a->size()));
    if (a == nullptr)
      return;
    for (const auto& at : *a) {
      str(at.key);
      value(ValueView(at.value));
    }
  }
  [[nodiscard]] char* cursor() const noexcept { return p_; }

 private:
  char* p_;
};

// Bytes encode_record may write (every string with its length, every value at its largest),
// or 0 when the record is to be rendered on the caller instead: a string over
// kDeferMaxString or more than kDeferMaxFields fields. The queue reserves this much for the
// record, so it is kept close: at most 4 bytes over per string value.
std::size_t deferred_size_bound(const Record& r) noexcept {
  // Key length, kind, then a number (8) or a string's length (4) and its bytes.
  constexpr std::size_t kItem = 4 + 1 + 8;
  // Time, level, line; 5 string lengths; span flag and ids; the 4 item counts.
  constexpr std::size_t kFixed = 8 + 1 + 4 + 5 * 4 + 1 + 3 * 8 + 4 * 4;
  if (r.event.size() > kDeferMaxString || r.exception_message.size() > kDeferMaxString)
    return 0;
  std::size_t n = kFixed + r.logger.size() + r.event.size() + r.file.size() +
                  r.exception_type.size() + r.exception_message.size();
  std::size_t count = 0;
  bool fits = true;
  const auto add = [&](std::string_view key, ValueView v) {
    const std::size_t value_size = v.kind() == ValueView::Kind::String ? v.as_string().size() : 0;
    fits = fits && key.size() <= kDeferMaxString && value_size <= kDeferMaxString;
    n += kItem + key.size() + value_size;
    ++count;
  };
  for (const auto& f : r.fields)
    add(f.key, f.value);
  const auto add_all = [&add](const Attributes* a) {
    if (a != nullptr) {
      for (const auto& at : *a)
        add(at.key, ValueView(at.value));
    }
  };
  add_all(r.bound);
  if (r.frame != nullptr) {
    add_all(&r.frame->tags);
    add_all(&r.frame->log_context);
  }
  return fits && count <= kDeferMaxFields ? n : 0;
}

/// Encodes into out, which must hold deferred_size_bound(r) bytes; returns the bytes written.
/// Flattened, so that copy_run() is inlined here without being forced on the renderers, where
/// forcing it cost the JSON line 2-3%.
[[gnu::flatten]] std::size_t encode_record(const Record& r, char* out) noexcept {
  RecordWriter w(out);
  w.pod(r.time_ns);
  w.pod(static_cast<std::uint8_t>(r.level));
  w.pod(r.line);
  w.str(r.logger);
  w.str(r.event);
  w.str(r.file);
  w.str(r.exception_type);
  w.str(r.exception_message);
  const SpanState* span = r.frame != nullptr ? r.frame->span : nullptr;
  w.pod(static_cast<std::uint8_t>(span != nullptr ? 1 : 0));
  if (span != nullptr) {
    const auto& ctx = span->data.context;  // ids never change after start
    w.pod(ctx.trace_id.hi);
    w.pod(ctx.trace_id.lo);
    w.pod(ctx.span_id.value);
  }
  w.pod(static_cast<std::uint32_t>(r.fields.size()));
  for (const auto& f : r.fields) {
    w.str(f.key);
    w.value(f.value);
  }
  w.attributes(r.bound);
  w.attributes(r.frame != nullptr ? &r.frame->tags : nullptr);
  w.attributes(r.frame != nullptr ? &r.frame->log_context : nullptr);
  return static_cast<std::size_t>(w.cursor() - out);
}

/// Decodes what encode_record wrote. The record borrows from the bytes and from this object,
/// which the writer thread keeps and reuses.
class RecordReader {
 public:
  Record decode(std::string_view bytes) {
    in_ = bytes;
    Record r;
    r.time_ns = pod<std::uint64_t>();
    r.level = static_cast<Level>(pod<std::uint8_t>());
    r.line = pod<std::uint32_t>();
    r.logger = str();
    r.event = str();
    r.file = str();
    r.exception_type = str();
    r.exception_message = str();
    frame_.span = nullptr;
    if (pod<std::uint8_t>() != 0) {
      auto& ctx = span_->data.context;
      ctx.trace_id.hi = pod<std::uint64_t>();
      ctx.trace_id.lo = pod<std::uint64_t>();
      ctx.span_id.value = pod<std::uint64_t>();
      frame_.span = span_.get();
    }
    fields_.clear();
    const auto n = pod<std::uint32_t>();
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto key = str();
      fields_.push_back({key, value()});
    }
    r.fields = fields_;
    attributes(bound_);
    r.bound = bound_.empty() ? nullptr : &bound_;
    attributes(frame_.tags);
    attributes(frame_.log_context);
    r.frame = &frame_;
    return r;
  }

 private:
  template <class T>
  T pod() {
    T v{};
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  std::string_view str() {
    const auto n = pod<std::uint32_t>();
    const auto v = in_.substr(0, n);
    in_.remove_prefix(n);
    return v;
  }
  ValueView value() {
    switch (static_cast<ValueView::Kind>(pod<std::uint8_t>())) {
      case ValueView::Kind::Null:
        break;
      case ValueView::Kind::Bool:
        return {pod<std::uint8_t>() != 0};
      case ValueView::Kind::Int:
        return {pod<std::int64_t>()};
      case ValueView::Kind::Uint:
        return {pod<std::uint64_t>()};
      case ValueView::Kind::Double:
        return {pod<double>()};
      case ValueView::Kind::String:
        return {str()};
    }
    return {};
  }
  void attributes(Attributes& out) {
    out.clear();
    const auto n = pod<std::uint32_t>();
    for (std::uint32_t i = 0; i < n; ++i) {
      auto& a = out.emplace_back();
      a.key.assign(str());
      a.value = Value(value());
    }
  }

  std::string_view in_;
  std::vector<Field> fields_;
  Attributes bound_;
  Frame frame_;
  std::unique_ptr<SpanState> span_ = std::make_unique<SpanState>();
};

// Lines and records written by one background thread, from a bounded byte queue of entries.
// A caller reserves its entry under the lock and fills it after unlocking, so callers contend
// only for a bump of the queue's size, and a record is encoded once, in place. (Encoded into a
// buffer of its own and then copied into the queue, the copy and the second buffer were a tenth
// of an async call.) The writer swaps the whole queue out under the lock and reads it without,
// waiting at each entry until its caller has committed it.
class AsyncWriter {
 public:
  /// An entry's room in the queue: fill `data`, then commit(). Null when the line was dropped.
  struct Slot {
    char* data = nullptr;
    explicit operator bool() const noexcept { return data != nullptr; }
  };

  AsyncWriter(std::vector<Output> outputs, Renderers renderers, std::size_t capacity, bool drop)
      : outputs_(std::move(outputs)),
        renderers_(std::move(renderers)),
        capacity_(capacity),
        drop_(drop),
        // Not value-initialised: pages are touched only as the queue first fills them.
        queue_(new Word[capacity / sizeof(Word) + 1]),   // NOLINT(*-avoid-c-arrays)
        batch_(new Word[capacity / sizeof(Word) + 1]) {  // NOLINT(*-avoid-c-arrays)
    start();
  }
  /// In a fork()ed child the writer thread does not exist: the writer must never be used,
  /// flushed or destroyed there (its destructor would join a thread that is not).
  void abandon() noexcept { abandoned_ = true; }
  ~AsyncWriter() {
    if (!abandoned_)
      stop();
  }
  AsyncWriter(const AsyncWriter&) = delete;
  AsyncWriter& operator=(const AsyncWriter&) = delete;
  AsyncWriter(AsyncWriter&&) = delete;
  AsyncWriter& operator=(AsyncWriter&&) = delete;

  /// Room for `bytes` bytes for this output (kRecordEntry: an encoded record). Waits while the
  /// queue is full, or drops the line (counted) in drop mode. Never throws.
  Slot reserve(std::size_t output, std::size_t bytes, Level level) noexcept {
    const std::size_t need = entry_size(bytes);
    std::unique_lock lock(mu_);
    if (need > capacity_ || (drop_ && size_ + need > capacity_)) {
      lock.unlock();
      count_dropped_line();
      return {};
    }
    has_space_.wait(lock, [&] { return size_ + need <= capacity_ || stop_; });
    if (stop_) {
      lock.unlock();
      count_dropped_line();
      return {};
    }
    char* entry = bytes_of(queue_) + size_;
    new (entry) EntryHeader{0, 0, static_cast<std::uint32_t>(bytes),
                            static_cast<std::uint8_t>(output), static_cast<std::uint8_t>(level)};
    size_ += need;
    ++pushed_;
    // Waking the writer is a futex call, more than the rest of a push: wake it only when it
    // sleeps untimed (idle) or for a burst. Otherwise it finds the lines on its next poll,
    // within kPoll.
    if (sleeping_) {
      sleeping_ = false;  // one wake-up is enough
      has_data_.notify_one();
    } else if (writer_waiting_ && size_ > capacity_ / 8) {
      has_data_.notify_one();
    }
    return {entry + kEntryHeader};
  }

  /// Hands a filled slot to the writer: `length` bytes of it are the entry.
  static void commit(const Slot& slot, std::size_t length) noexcept {
    auto* h = std::launder(reinterpret_cast<EntryHeader*>(  // NOLINT(*-reinterpret-cast)
        slot.data - kEntryHeader));
    h->length = static_cast<std::uint32_t>(length);
    std::atomic_ref<std::uint32_t>(h->committed).store(1, std::memory_order_release);
  }

  /// Queues a line rendered on the caller for one output.
  void push(std::size_t output, std::string_view bytes, Level level) noexcept {
    if (const Slot slot = reserve(output, bytes.size(), level)) {
      std::memcpy(slot.data, bytes.data(), bytes.size());
      commit(slot, bytes.size());
    }
  }

  void flush() noexcept {
    if (abandoned_)
      return;
    std::unique_lock lock(mu_);
    const auto target = pushed_;
    flush_requested_ = true;
    has_data_.notify_one();
    drained_.wait(lock, [&] { return written_ >= target || stop_; });
  }

 private:
  void start() {
    thread_ = std::make_unique<std::thread>(start_thread("o11y-log-async", [this] { run(); }));
  }

  void stop() noexcept {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    has_data_.notify_all();
    has_space_.notify_all();
    if (thread_ && thread_->joinable())
      thread_->join();
    for (const auto& o : outputs_)
      flush_sink(o);
  }

  void run() noexcept {
    const auto has_work = [this] { return size_ != 0 || stop_ || flush_requested_; };
    std::size_t idle_polls = 0;
    for (;;) {
      std::uint64_t upto = 0;
      std::size_t batch_size = 0;
      bool flush_now = false;
      bool stopping = false;
      {
        std::unique_lock lock(mu_);
        if (idle_polls >= kIdlePollsBeforeSleep && !has_work()) {
          // Idle for a while: sleep until a caller queues a line, rather than wake every
          // kPoll (200 times a second) in a process that logs nothing for hours. The caller
          // that finds the writer asleep pays one futex wake-up.
          sleeping_ = true;
          has_data_.wait(lock, has_work);
          sleeping_ = false;
        }
        writer_waiting_ = true;
        has_data_.wait_for(lock, kPoll, has_work);
        writer_waiting_ = false;
        idle_polls = has_work() ? 0 : idle_polls + 1;
        queue_.swap(batch_);
        batch_size = size_;
        size_ = 0;
        upto = pushed_;
        flush_now = flush_requested_;
        flush_requested_ = false;
        stopping = stop_;
      }
      has_space_.notify_all();
      write_batch(bytes_of(batch_), batch_size);
      // Flushing every batch keeps a crash from losing more than one batch; batches grow with
      // load, so the flush cost per line falls as throughput rises.
      for (const auto& o : outputs_)
        flush_sink(o);
      {
        std::lock_guard lock(mu_);
        written_ = upto;
      }
      drained_.notify_all();
      if (stopping && !flush_now) {
        std::lock_guard lock(mu_);
        if (size_ == 0)
          return;
      }
    }
  }

  void write_batch(char* batch, std::size_t size) noexcept {
    for (std::size_t pos = 0; pos < size;) {
      auto* h = std::launder(reinterpret_cast<EntryHeader*>(batch + pos));  // NOLINT(*-cast)
      // Its caller reserved it under the lock and is filling it: a few hundred nanoseconds,
      // unless that thread was preempted.
      while (std::atomic_ref<std::uint32_t>(h->committed).load(std::memory_order_acquire) == 0)
        std::this_thread::yield();
      const std::string_view bytes(batch + pos + kEntryHeader, h->length);
      const std::size_t output = h->output;
      const auto level = static_cast<Level>(h->level);
      if (output == kRecordEntry) {
        write_record(bytes, level);
      } else if (output < outputs_.size()) {
        write_to_sink(outputs_[output], bytes, level);
      }
      pos += entry_size(h->reserved);
    }
  }

  // Renders a deferred record once per renderer and writes it to every output.
  void write_record(std::string_view bytes, Level level) noexcept {
    try {
      const Record r = reader_.decode(bytes);
      RenderedLines lines(r, renderers_, buffers_);
      for (const auto& o : outputs_)
        write_to_sink(o, lines.line(o.renderer), level);
    } catch (const std::exception& e) {
      count_dropped_line();
      report_internal_error("logging", e.what());
    } catch (...) {
      count_dropped_line();
      report_internal_error("logging", "unknown exception while rendering a queued line");
    }
  }

  static constexpr auto kPoll = std::chrono::milliseconds(5);
  // 200 ms without a line: a service logging 5 lines a second or more never sleeps, so its
  // callers never pay for waking the writer.
  static constexpr std::size_t kIdlePollsBeforeSleep = 40;

  // An entry: this header, then `reserved` bytes of which the first `length` are the line or
  // record, padded so that the next header is aligned.
  struct EntryHeader {
    std::uint32_t committed;  ///< 0 until the caller has filled the entry (atomic_ref)
    std::uint32_t length;
    std::uint32_t reserved;
    std::uint8_t output;
    std::uint8_t level;
  };
  using Word = std::uint64_t;
  static constexpr std::size_t kEntryHeader = (sizeof(EntryHeader) + 7) / 8 * 8;
  static constexpr std::size_t entry_size(std::size_t bytes) noexcept {
    return kEntryHeader + (bytes + 7) / 8 * 8;
  }
  static char* bytes_of(const std::unique_ptr<Word[]>& words) noexcept {  // NOLINT(*-c-arrays)
    return reinterpret_cast<char*>(words.get());  // NOLINT(*-reinterpret-cast)
  }

  std::vector<Output> outputs_;
  Renderers renderers_;
  RecordReader reader_;             // writer thread only
  Buffer buffers_[kRendererCount];  // writer thread only
  std::size_t capacity_;
  bool drop_;
  std::mutex mu_;
  std::condition_variable has_data_;
  std::condition_variable has_space_;
  std::condition_variable drained_;
  std::unique_ptr<Word[]> queue_;  // NOLINT(*-avoid-c-arrays): capacity_ bytes, size_ used
  std::size_t size_ = 0;
  // Owned by the writer, not a local of its thread: in a fork()ed child, where that thread's
  // stack is gone, the buffer is still reachable from this (abandoned) object.
  std::unique_ptr<Word[]> batch_;  // NOLINT(*-avoid-c-arrays): touched by the writer only
  std::uint64_t pushed_ = 0;
  std::uint64_t written_ = 0;
  bool writer_waiting_ = false;
  bool sleeping_ = false;  ///< the writer waits, untimed, for a first line
  bool flush_requested_ = false;
  bool stop_ = false;
  std::unique_ptr<std::thread> thread_;
  bool abandoned_ = false;
};

struct LoggingState {
  Renderers renderers;
  std::vector<Output> outputs;
  std::shared_ptr<AsyncWriter> async;  // null: write on the caller's thread
  /// Also among the outputs; each has a writer thread of its own in sync mode.
  std::vector<std::shared_ptr<LineSink>> line_sinks;
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
  // Captures are written synchronously even in async mode, so a test sees its line at once.
  if (cfg.async) {
    for (auto& o : state->outputs)
      o.queued = true;
    std::vector<Output> queued = state->outputs;
    state->async = std::make_shared<AsyncWriter>(std::move(queued), state->renderers,
                                                 cfg.async_queue_bytes, cfg.async_drop_when_full);
  }
  for (const auto& s : capture_sinks)
    state->outputs.emplace_back(kJson, s, false);
  state->configured = true;

  std::shared_ptr<const LoggingState> old = published().snapshot();
  published().update([&](LoggingState& s) { s = *state; });
  // The old writer drains on destruction, once no thread's cache still holds it.
  if (old && old->async)
    old->async->flush();
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
  if (!old->async && old->line_sinks.empty())
    return false;
  // Kept reachable for ever: destroying them would join the parent's writer threads, and
  // their locks may have been held by threads the child does not have.
  static auto* abandoned = new std::vector<std::shared_ptr<const LoggingState>>();  // NOLINT
  if (old->async)
    old->async->abandon();
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
    return pthread_atfork(atfork_prepare, atfork_parent, atfork_child) == 0;
  }();
  (void)kHooks;
  std::lock_guard lock(g_setup_mu);
  // A worker calling init() again after fork(): building the new state flushes the old, and
  // an inherited writer holding a line logged after the pre-fork flush would wait for ever.
  (void)abandon_inherited_writers();
  const auto level = parse_level(setup.config.level).value_or(Level::Info);
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

void dispatch(const Record& record) noexcept {
  // A sink or renderer that logs would re-enter and clobber this thread's buffers.
  thread_local bool t_inside = false;
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
    // One copy of the record for every queued output; the writer renders it.
    // Queued outputs come first, so the first one says whether there are any.
    const bool any_queued = st.async && !st.outputs.empty() && st.outputs.front().queued;
    const std::size_t deferred_bound = any_queued ? deferred_size_bound(record) : 0;
    if (deferred_bound != 0) {
      if (const auto slot = st.async->reserve(kRecordEntry, deferred_bound, record.level)) {
        const std::size_t n = encode_record(record, slot.data);
        // Past the reservation it would have overwritten the next entry: the test builds,
        // with assertions, check the bound against every record the tests log.
        assert(n <= deferred_bound);
        AsyncWriter::commit(slot, n);
      }
    }
    for (std::size_t i = 0; i < st.outputs.size(); ++i) {
      const auto& out = st.outputs[i];
      if (out.queued && deferred_bound != 0)
        continue;
      const std::string_view bytes = lines.line(out.renderer);
      if (out.queued && st.async) {
        st.async->push(i, bytes, record.level);
      } else {
        write_to_sink(out, bytes, record.level);
      }
    }
  } catch (const std::exception& e) {
    count_dropped_line();
    report_internal_error("logging", e.what());
  } catch (...) {
    count_dropped_line();
    report_internal_error("logging", "unknown exception while writing a log line");
  }
  t_inside = false;
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

std::optional<Level> parse_level(std::string_view s) noexcept {
  if (s == "debug")
    return Level::Debug;
  if (s == "info")
    return Level::Info;
  if (s == "warning" || s == "warn")
    return Level::Warning;
  if (s == "error")
    return Level::Error;
  if (s == "critical")
    return Level::Critical;
  if (s == "off")
    return Level::Off;
  return std::nullopt;
}

LoggingConfig apply_logging_env(LoggingConfig c) {
  if (auto v = env("O11Y_LOGGING_FORMAT")) {
    if (*v == "json") {
      c.format = LogFormat::Json;
    } else if (*v == "console") {
      c.format = LogFormat::Console;
    } else {
      report_bad_env("O11Y_LOGGING_FORMAT", *v, "json or console", "the default format");
    }
  }
  if (auto v = env("O11Y_LOGGING_LEVEL")) {
    if (parse_level(*v)) {
      c.level = *v;
    } else {
      report_bad_env("O11Y_LOGGING_LEVEL", *v, "debug, info, warning, error, critical or off",
                     c.level);
    }
  }
  if (auto v = env("O11Y_LOGGING_LEVELS")) {
    // "orders=debug,orders.payments=warning", merged into what code set.
    bool ok = true;
    std::string_view rest(*v);
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      auto item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!item.empty() && item.front() == ' ')
        item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ')
        item.remove_suffix(1);
      if (item.empty())
        continue;
      const auto eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0 || !parse_level(item.substr(eq + 1))) {
        ok = false;
        continue;
      }
      c.levels.insert_or_assign(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
    if (!ok) {
      report_bad_env("O11Y_LOGGING_LEVELS", *v, "comma-separated logger=level pairs",
                     "the well-formed pairs only");
    }
  }
  if (auto v = env("O11Y_LOGGING_FILE_PATH"))
    c.file_path = *v;
  if (auto v = env("O11Y_LOGGING_FILE_MAX_BYTES")) {
    if (auto d = parse_double_in(*v, 1024, 1e15)) {
      c.file_max_bytes = static_cast<std::size_t>(*d);
    } else {
      report_bad_env("O11Y_LOGGING_FILE_MAX_BYTES", *v, "a byte count of at least 1024",
                     std::to_string(c.file_max_bytes));
    }
  }
  if (auto v = env("O11Y_LOGGING_FILE_MAX_FILES")) {
    if (auto d = parse_double_in(*v, 1, 1000)) {
      c.file_max_files = static_cast<std::size_t>(*d);
    } else {
      report_bad_env("O11Y_LOGGING_FILE_MAX_FILES", *v, "a whole number from 1 to 1000",
                     std::to_string(c.file_max_files));
    }
  }
  if (auto v = env("O11Y_LOGGING_ASYNC")) {
    if (auto b = parse_bool(*v)) {
      c.async = *b;
    } else {
      report_bad_env("O11Y_LOGGING_ASYNC", *v, "true or false", c.async ? "true" : "false");
    }
  }
  if (auto v = env("O11Y_LOGGING_STDOUT")) {
    if (auto b = parse_bool(*v)) {
      c.stdout_output = *b;
    } else {
      report_bad_env("O11Y_LOGGING_STDOUT", *v, "true or false",
                     c.stdout_output ? "true" : "false");
    }
  }
  if (auto v = env("O11Y_LOGGING_ASYNC_POLICY")) {
    if (*v == "block" || *v == "drop") {
      c.async_drop_when_full = *v == "drop";
    } else {
      report_bad_env("O11Y_LOGGING_ASYNC_POLICY", *v, "block or drop",
                     c.async_drop_when_full ? "drop" : "block");
    }
  }
  if (auto v = env("O11Y_SOURCE_ROOT"))
    c.source_root = *v;
  return c;
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
