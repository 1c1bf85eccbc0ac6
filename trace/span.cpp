#include <array>
#include <cstdlib>
#include <memory>
#include <new>
#include <typeinfo>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "base/thread_instance.hpp"
#include "base/tick_clock.hpp"
#include "context/frame.hpp"
#include "context/redact.hpp"
#include "context/span_state.hpp"
#include "o11y/trace.hpp"
#include "trace/tracer.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace o11y {

namespace {

// Recycling. A span took two allocations and two frees (the block and its attribute list),
// and malloc's code and bins in a cold request's cache. Clearing a block and using it again
// cost a span with 4 attributes 2,159 instructions instead of 2,392 (callgrind). Each thread
// keeps up to kPooled cleared blocks; a block released on a thread whose pool is full, or gone
// (thread exit), is deleted. The batch processor hands exported spans back to the threads
// that make spans, one per span, so those threads' pools stay stocked.

constexpr std::size_t kPooled = 32;
// Buffers kept past a block's clear(): enough for any usual span, bounded against a span that
// grew to the attribute limit.
constexpr std::size_t kKeptAttributes = 32;
constexpr std::size_t kKeptNameBytes = 128;
constexpr std::size_t kKeptTags = 16;

// Empties `c`, keeping its buffer if it holds at most `kept` elements (0: frees it).
template <class C>
void keep_or_release(C& c, std::size_t kept) noexcept {
  if (c.capacity() <= kept)
    c.clear();
  else
    C().swap(c);
}

}  // namespace

detail::SpanBlock::SpanBlock() noexcept = default;

// Field by field: assigning a fresh SpanData cost 160 instructions more than destroying one.
// A field added to SpanData must be cleared here too; the assertion below is a tripwire for
// that on the platforms CI builds on.
#if defined(__GLIBCXX__) && __SIZEOF_POINTER__ == 8
static_assert(sizeof(SpanData) == 280, "SpanData changed: clear the new field in clear()");
#endif
void detail::SpanBlock::clear() noexcept {
  SpanData& d = state.data;
  d.context.trace_id = {};
  d.context.span_id = {};
  d.context.flags = 0;
  d.context.trace_state.clear();
  d.context.remote = false;
  d.parent_span_id = {};
  d.parent_remote = false;
  keep_or_release(d.name, kKeptNameBytes);
  d.kind = SpanKind::Internal;
  d.start_time_ns = 0;
  d.end_time_ns = 0;
  keep_or_release(d.attributes, kKeptAttributes);
  keep_or_release(d.events, 0);
  keep_or_release(d.links, 0);
  d.status = StatusCode::Unset;
  keep_or_release(d.status_description, kKeptNameBytes);
  d.dropped_attributes = 0;
  d.dropped_events = 0;
  d.resource.reset();
  state.ended = false;
  state.recording = false;
  state.start_ticks = 0;
  state.prev_frame.reset();
  state.owner = nullptr;
  keep_or_release(frame.tags, kKeptTags);
  keep_or_release(frame.log_context, kKeptTags);
  frame.span = nullptr;
  frame.span_owner.reset();
}

namespace {

struct BlockPool {
  std::array<detail::SpanBlock*, kPooled> blocks{};
  std::size_t size = 0;

  BlockPool() noexcept = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  BlockPool(BlockPool&&) = delete;
  BlockPool& operator=(BlockPool&&) = delete;
  ~BlockPool();
};

// A pooled block is poisoned under AddressSanitizer, so a use after the last release is still
// reported as it was when blocks were freed.
void poison(detail::SpanBlock* b) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  __asan_poison_memory_region(b, sizeof *b);
#else
  (void)b;
#endif
}

detail::SpanBlock* unpoison(detail::SpanBlock* b) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  __asan_unpoison_memory_region(b, sizeof *b);
#endif
  return b;
}

BlockPool::~BlockPool() {
  for (std::size_t i = 0; i < size; ++i)
    delete unpoison(blocks[i]);  // NOLINT(cppcoreguidelines-owning-memory, *-constant-array-index)
}

// A pool is gone once its thread's exit destroyed it: spans released by later thread-exit
// destructors are then deleted instead of pooled.
detail::SpanBlock* take_block() {
  if (auto* pool = detail::thread_instance<BlockPool>(); pool != nullptr && pool->size > 0)
    return unpoison(pool->blocks[--pool->size]);  // NOLINT(*-constant-array-index)
  return new detail::SpanBlock();  // NOLINT(cppcoreguidelines-owning-memory): see release_block
}

void release_block(detail::SpanBlock* b) noexcept {
  if (auto* pool = detail::thread_instance<BlockPool>(); pool != nullptr && pool->size < kPooled) {
    pool->blocks[pool->size++] = b;  // NOLINT(*-constant-array-index)
    poison(b);
    return;
  }
  delete b;  // NOLINT(cppcoreguidelines-owning-memory)
}

// The shared_ptr's deleter: runs when the last strong reference goes.
struct ClearBlock {
  void operator()(detail::SpanBlock* b) const noexcept { b->clear(); }
};

// The allocator of the shared_ptr's control block, which it places in the block itself. Its
// deallocate() runs last, after the deleter and once no weak reference is left either: only
// then is the block free to serve another span.
template <class T>
struct InBlock {
  using value_type = T;
  detail::SpanBlock* block;

  explicit InBlock(detail::SpanBlock* b) noexcept : block(b) {}
  template <class U>
  InBlock(const InBlock<U>& other) noexcept : block(other.block) {}  // NOLINT(*-explicit-*)

  T* allocate(std::size_t n) {
    static_assert(sizeof(T) <= sizeof(detail::SpanBlock::control));
    static_assert(alignof(T) <= alignof(std::max_align_t));
    if (n != 1)
      throw std::bad_alloc();
    return reinterpret_cast<T*>(block->control);  // NOLINT(*-reinterpret-cast): raw storage
  }
  void deallocate(T* /*unused*/, std::size_t /*unused*/) noexcept { release_block(block); }

  template <class U>
  friend bool operator==(const InBlock& a, const InBlock<U>& b) noexcept {
    return a.block == b.block;
  }
};

std::shared_ptr<detail::SpanBlock> new_block() {
  detail::SpanBlock* const b = take_block();
  return {b, ClearBlock{}, InBlock<detail::SpanBlock>(b)};
}

// Sets one attribute on a recording span's data, counting it as dropped past the limit.
void add_attribute(SpanData& d, std::string_view key, detail::KeyTraits traits, ValueView value) {
  if (!detail::upsert_redacted(d.attributes, key, traits, value, detail::kMaxSpanAttributes))
    ++d.dropped_attributes;
}

bool span_ended(detail::SpanState* s) {
  std::lock_guard lock(s->mu);
  return s->ended;
}

// Runs f(state) under the span's lock if the span still records; reports instead of throwing.
template <class F>
void with_live_span(const std::shared_ptr<detail::SpanState>& st, const char* what,
                    F&& f) noexcept {
  if (!st || !st->recording)
    return;
  try {
    std::lock_guard lock(st->mu);
    if (st->ended)
      return;
    std::forward<F>(f)(*st);
  } catch (...) {
    detail::report_internal_error("trace", what);
  }
}

void add_event_locked(detail::SpanState& st, std::string_view name,
                      std::initializer_list<Field> attributes, const Attributes* extra) {
  if (st.data.events.size() >= detail::kMaxSpanEvents) {
    ++st.data.dropped_events;
    return;
  }
  SpanEvent ev{std::string(name), detail::tick_clock::unix_ns_at(detail::tick_clock::now()), {}};
  ev.attributes.reserve(attributes.size() + (extra != nullptr ? extra->size() : 0));
  if (extra != nullptr) {
    for (const auto& a : *extra)
      detail::upsert_user(ev.attributes, a.key, ValueView(a.value));
  }
  for (const auto& f : attributes)
    detail::upsert_user(ev.attributes, f.key, f.value);
  st.data.events.push_back(std::move(ev));
}

}  // namespace

Span start_span(std::string_view name, SpanOptions options) noexcept {
  try {
    const auto& cur_ptr = detail::current_frame_ptr();
    const detail::Frame& cur = detail::current_frame();

    SpanContext parent;
    if (options.parent) {
      parent = std::move(*options.parent);
    } else if (cur.span) {
      parent = cur.span->data.context;  // ids and tracestate never change after start
      parent.remote = false;
    }

    auto block = new_block();
    detail::SpanBlock* const b = block.get();
    // Moved, not copied, into the handle's pointer: one reference count update fewer.
    std::shared_ptr<detail::SpanState> st(std::move(block), &b->state);
    SpanData& d = st->data;
    bool sampled = false;
    if (parent.valid()) {
      d.context.trace_id = parent.trace_id;
      d.context.flags =
          static_cast<std::uint8_t>(parent.flags & (kTraceFlagSampled | kTraceFlagRandom));
      d.context.trace_state = std::move(parent.trace_state);
      d.parent_span_id = parent.span_id;
      d.parent_remote = parent.remote;
      sampled = parent.sampled();
    } else {
      d.context.trace_id = TraceId::generate();
      sampled = detail::sample_root(d.context.trace_id);
      d.context.flags =
          static_cast<std::uint8_t>(kTraceFlagRandom | (sampled ? kTraceFlagSampled : 0));
    }
    d.context.span_id = SpanId::generate();
    st->recording = sampled && detail::tracing_enabled();

    d.kind = options.kind;
    st->start_ticks = detail::tick_clock::now();
    d.start_time_ns = detail::tick_clock::unix_ns_at(st->start_ticks);
    if (options.start_time_ns != 0) {
      // Started earlier (a hook that reports an operation after the fact): the reading is
      // moved back as far, so that end() measures the span from its real start.
      if (options.start_time_ns < d.start_time_ns) {
        const auto back = detail::tick_clock::from_ns(d.start_time_ns - options.start_time_ns);
        st->start_ticks = back < st->start_ticks ? st->start_ticks - back : 0;
      }
      d.start_time_ns = options.start_time_ns;
    }
    st->owner = detail::current_slot();
    if (st->recording) {
      d.name.assign(name);
      d.links = std::move(options.links);
      d.resource = detail::tracer_state().resource;
      // Room for the attributes a span usually gets, so set_attribute rarely reallocates: an
      // HTTP server span has 10, and a 9th in an array of 8 moved them all to a new one.
      d.attributes.reserve(cur.tags.size() + 12);
      for (const auto& t : cur.tags) {
        add_attribute(d, t.key, detail::key_traits(t.key), ValueView(t.value));
      }
    }

    if (!cur.tags.empty())  // assigning an empty vector still costs a call
      b->frame.tags = cur.tags;
    if (!cur.log_context.empty())
      b->frame.log_context = cur.log_context;
    b->frame.span = st.get();
    st->prev_frame = cur_ptr;
    detail::exchange_current_frame(std::shared_ptr<const detail::Frame>(st, &b->frame));
    return Span(std::move(st));
  } catch (const std::exception& e) {
    detail::report_internal_error("trace", e.what());
  } catch (...) {
    detail::report_internal_error("trace", "unknown exception in start_span");
  }
  return {};
}

Span::~Span() {
  end();
}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    end();
    state_ = std::move(other.state_);
  }
  return *this;
}

void Span::set_attribute(std::string_view key, ValueView value) noexcept {
  with_live_span(state_, "could not set a span attribute", [&](detail::SpanState& st) {
    add_attribute(st.data, key, detail::key_traits(key), value);
  });
}

void detail::SpanAccess::set_attribute(Span& span, const KnownKey& key, ValueView value) noexcept {
  with_live_span(span.state_, "could not set a span attribute", [&](detail::SpanState& st) {
    add_attribute(st.data, key.key(), key.traits(), value);
  });
}

void Span::set_attributes(std::initializer_list<Field> attributes) noexcept {
  with_live_span(state_, "could not set span attributes", [&](detail::SpanState& st) {
    for (const auto& f : attributes) {
      add_attribute(st.data, f.key, detail::key_traits(f.key), f.value);
    }
  });
}

void Span::add_event(std::string_view name, std::initializer_list<Field> attributes) noexcept {
  with_live_span(state_, "could not add a span event",
                 [&](detail::SpanState& st) { add_event_locked(st, name, attributes, nullptr); });
}

void Span::set_status(StatusCode code, std::string_view description) noexcept {
  with_live_span(state_, "could not set span status", [&](detail::SpanState& st) {
    // OpenTelemetry: Ok is final, and a description only goes with Error.
    if (st.data.status == StatusCode::Ok)
      return;
    st.data.status = code;
    st.data.status_description.assign(code == StatusCode::Error ? description : std::string_view());
  });
}

void Span::record_exception(const std::exception& ex,
                            std::initializer_list<Field> attributes) noexcept {
  with_live_span(state_, "could not record an exception", [&](detail::SpanState& st) {
    const Attributes extra{{"exception.type", detail::demangle(typeid(ex).name())},
                           {"exception.message", std::string(ex.what())}};
    add_event_locked(st, "exception", attributes, &extra);
  });
}

void Span::update_name(std::string_view name) noexcept {
  with_live_span(state_, "could not rename a span",
                 [&](detail::SpanState& st) { st.data.name.assign(name); });
}

void Span::end() noexcept {
  end(0);
}

void Span::end(std::uint64_t end_time_ns) noexcept {
  if (!state_)
    return;
  auto& st = *state_;
  std::shared_ptr<const detail::Frame> restore;
  bool pop = false;
  try {
    {
      std::lock_guard lock(st.mu);
      if (st.ended)
        return;
      st.ended = true;
      if (end_time_ns == 0) {
        // Ended on another thread, whose counter may read a few ns behind: never negative.
        const auto now = detail::tick_clock::now();
        end_time_ns = st.data.start_time_ns +
                      detail::tick_clock::to_ns(now > st.start_ticks ? now - st.start_ticks : 0);
      }
      st.data.end_time_ns = end_time_ns;
      // Only the thread that started the span, and only while the span is its current one,
      // pops the context. Ended out of order, the span keeps prev_frame so that whichever span
      // ends later can skip past it to a live ancestor.
      pop = st.owner == detail::current_slot() && detail::current_frame().span == state_.get();
      if (pop)
        restore = std::move(st.prev_frame);
    }
    if (pop) {
      while (restore && restore->span != nullptr && span_ended(restore->span)) {
        std::shared_ptr<const detail::Frame> next;
        {
          std::lock_guard lock(restore->span->mu);
          next = restore->span->prev_frame;
        }
        restore = std::move(next);  // may free that span: not while holding its lock
      }
      detail::exchange_current_frame(std::move(restore));
    }
    if (st.recording) {
      // The last processor gets the pointer moved in: two fewer atomic reference-count
      // updates per span with one processor.
      const auto& processors = detail::tracer_state().processors;
      std::shared_ptr<const SpanData> data(state_, &st.data);
      for (std::size_t i = 0; i < processors.size(); ++i)
        processors[i]->on_end(i + 1 == processors.size() ? std::move(data) : data);
    }
  } catch (...) {
    detail::report_internal_error("trace", "could not end a span");
  }
}

SpanContext Span::context() const noexcept {
  if (!state_)
    return {};
  try {
    return state_->data.context;
  } catch (...) {
    return {};
  }
}

bool Span::is_recording() const noexcept {
  if (!state_ || !state_->recording)
    return false;
  std::lock_guard lock(state_->mu);
  return !state_->ended;
}

std::string Span::trace_id() const {
  return state_ ? state_->data.context.trace_id.to_hex() : std::string();
}

std::string Span::span_id() const {
  return state_ ? state_->data.context.span_id.to_hex() : std::string();
}

std::string current_trace_id() {
  const auto& span = detail::current_frame().span;
  return span ? span->data.context.trace_id.to_hex() : std::string();
}

std::string current_span_id() {
  const auto& span = detail::current_frame().span;
  return span ? span->data.context.span_id.to_hex() : std::string();
}

SpanContext current_span_context() noexcept {
  const auto& span = detail::current_frame().span;
  if (!span)
    return {};
  try {
    return span->data.context;
  } catch (...) {
    return {};
  }
}

}  // namespace o11y
