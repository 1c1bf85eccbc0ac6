#include "trace/ids.hpp"

#include <pthread.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

#include "base/fork.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "o11y/trace.hpp"

namespace o11y {
namespace {

// Bumped in every fork()ed child, so each thread's generator notices it must reseed: a child
// must never produce the ids its parent produces.
std::atomic<std::uint64_t> g_fork_generation{0};  // NOLINT(*-avoid-non-const-global-*)

void on_fork_child() noexcept {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

[[maybe_unused]] const bool kAtforkRegistered = [] {
  detail::register_fork_steps(detail::ForkStage::Ids, {nullptr, nullptr, &on_fork_child});
  return true;
}();

std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

// splitmix64 over a per-thread random starting point: a bijection of a counter, so one thread
// never repeats itself, and the 64-bit random seed keeps threads and processes apart.
class IdGenerator {
 public:
  std::uint64_t next() noexcept {
    const auto gen = g_fork_generation.load(std::memory_order_relaxed);
    if (!seeded_ || gen != generation_)
      reseed(gen);
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }

 private:
  void reseed(std::uint64_t gen) noexcept {
    std::uint64_t seed = 0;
    try {
      std::random_device rd;
      seed = (static_cast<std::uint64_t>(rd()) << 32U) ^ rd();
    } catch (...) {
      seed = 0;  // fall through to the clock/pid/thread mix below
    }
    const auto now = static_cast<std::uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count());
    const auto pid = static_cast<std::uint64_t>(::getpid());
    const auto tid = std::hash<std::thread::id>{}(std::this_thread::get_id());
    state_ = mix64(seed ^ mix64(now) ^ mix64(pid << 20U) ^ mix64(tid + state_));
    generation_ = gen;
    seeded_ = true;
  }

  std::uint64_t state_ = 0;
  std::uint64_t generation_ = 0;
  bool seeded_ = false;
};

thread_local IdGenerator t_ids;  // NOLINT(*-avoid-non-const-global-*)

// Two hex digits per byte from one table lookup: ids are formatted on every log line.
#if !defined(__SSE2__)
constexpr auto kHexPairs = [] {
  std::array<char, 512> t{};
  constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t b = 0; b < 256; ++b) {
    t[2 * b] = kHex[b >> 4U];
    t[2 * b + 1] = kHex[b & 0xFU];
  }
  return t;
}();
#endif

void write_u64(std::uint64_t v, char* out) noexcept {
#if defined(__SSE2__)
  // All 16 digits at once: every log line in a span writes 48 of them, and the table walk
  // below took six instructions a byte.
  const __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(__builtin_bswap64(v)));
  const __m128i low_nibble = _mm_set1_epi8(0x0F);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low_nibble);
  const __m128i lo = _mm_and_si128(bytes, low_nibble);
  const __m128i nibbles = _mm_unpacklo_epi8(hi, lo);  // most significant first
  const __m128i letters =
      _mm_and_si128(_mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10));
  const __m128i digits = _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')), letters);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), digits);
#else
  for (std::size_t i = 8; i-- > 0;) {
    const auto b = static_cast<std::size_t>(v & 0xFFU);
    out[2 * i] = kHexPairs[2 * b];
    out[2 * i + 1] = kHexPairs[2 * b + 1];
    v >>= 8U;
  }
#endif
}

// Lowercase hex only: W3C Trace Context rejects uppercase.
bool parse_u64(std::string_view hex, std::uint64_t& out) noexcept {
  if (hex.size() != 16)
    return false;
  std::uint64_t v = 0;
  for (char c : hex) {
    std::uint64_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<std::uint64_t>(c - 'a') + 10U;
    } else {
      return false;
    }
    v = (v << 4U) | d;
  }
  out = v;
  return true;
}

}  // namespace

void TraceId::write_hex(char* out) const noexcept {
  write_u64(hi, out);
  write_u64(lo, out + 16);
}

std::string TraceId::to_hex() const {
  std::string s(32, '0');
  write_hex(s.data());
  return s;
}

TraceId TraceId::from_hex(std::string_view hex) noexcept {
  TraceId id;
  if (hex.size() != 32 || !parse_u64(hex.substr(0, 16), id.hi) ||
      !parse_u64(hex.substr(16), id.lo)) {
    return {};
  }
  return id;
}

TraceId TraceId::generate() noexcept {
  TraceId id;
  do {
    id.hi = t_ids.next();
    id.lo = t_ids.next();
  } while (!id.valid());
  return id;
}

void SpanId::write_hex(char* out) const noexcept {
  write_u64(value, out);
}

std::string SpanId::to_hex() const {
  std::string s(16, '0');
  write_hex(s.data());
  return s;
}

SpanId SpanId::from_hex(std::string_view hex) noexcept {
  SpanId id;
  if (!parse_u64(hex, id.value))
    return {};
  return id;
}

SpanId SpanId::generate() noexcept {
  SpanId id;
  do {
    id.value = t_ids.next();
  } while (!id.valid());
  return id;
}

namespace detail {
void reseed_ids_after_fork() noexcept {
  on_fork_child();
}
}  // namespace detail

}  // namespace o11y
