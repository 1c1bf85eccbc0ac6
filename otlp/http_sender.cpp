// The OTLP/HTTP transport every signal's exporter shares.
#include "otlp/http_sender.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>

#include "base/gzip.hpp"
#include "base/internal_error.hpp"
#include "otlp/scope.hpp"

namespace o11y::otlp {
namespace {

void global_curl_init() {
  // curl_global_init is not thread-safe in every libcurl; once, before the first handle.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)rc;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  constexpr std::size_t kKeep = 4096;  // enough for an error message; never unbounded
  const std::size_t len = size * n;
  if (body->size() < kKeep)
    body->append(data, std::min(len, kKeep - body->size()));
  return len;
}

std::size_t header_line(char* data, std::size_t size, std::size_t n, void* user) {
  auto* retry_after = static_cast<long*>(user);  // NOLINT(google-runtime-int): curl's type
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string lower(line.substr(0, kName.size()));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == kName) {
      long v = 0;  // NOLINT(google-runtime-int)
      for (char c : line.substr(kName.size())) {
        if (c >= '0' && c <= '9') {
          v = std::min(v * 10 + (c - '0'), 3600L);
        } else if (c != ' ' && c != '\t') {
          break;
        }
      }
      *retry_after = v;
    }
  }
  return size * n;
}

bool retryable_status(long status) {  // NOLINT(google-runtime-int)
  return status == 429 || status == 502 || status == 503 || status == 504;
}

bool retryable_curl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct HttpSender::Impl {
  Impl(OtlpOptions options, std::string what)
      : options_(std::move(options)), what_(std::move(what)) {
    const auto& e = options_.endpoint;
    if (!e.starts_with("http://") && !e.starts_with("https://"))
      throw std::invalid_argument("OTLP endpoint must be an http:// or https:// URL, got \"" + e +
                                  "\"");
    global_curl_init();
  }
  ~Impl() {
    if (curl_ != nullptr)
      curl_easy_cleanup(curl_);
    if (headers_ != nullptr)
      curl_slist_free_all(headers_);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;

  bool send(std::string_view encoded, Clock::time_point deadline) noexcept {
    if (stopped_.load(std::memory_order_relaxed))
      return false;
    std::string_view payload = encoded;
    try {
      if (options_.gzip) {
        if (!detail::gzip(encoded, gzipped_, detail::GzipLevel::Default))
          throw std::runtime_error("gzip failed");
        payload = gzipped_;
      }
      if (!ensure_handle())
        return false;
    } catch (...) {
      detail::report_internal_error("otlp", "could not compress a batch of " + what_);
      return false;
    }
    auto backoff = options_.initial_backoff;
    for (int attempt = 0;; ++attempt) {
      const auto outcome = post(payload, deadline);
      if (outcome.ok)
        return true;
      if (!outcome.retryable || attempt >= options_.max_retries) {
        detail::report_internal_error("otlp", outcome.message);
        return false;
      }
      auto wait = jittered(backoff);
      if (outcome.retry_after.count() > 0)
        wait = outcome.retry_after;
      if (Clock::now() + wait >= deadline || !sleep_for(wait)) {
        detail::report_internal_error("otlp", outcome.message + " (no time left to retry)");
        return false;
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  void shutdown() noexcept {
    if (!sleeper_) {
      stopped_.store(true, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(sleeper_->mu);
    stopped_.store(true, std::memory_order_relaxed);
    sleeper_->cv.notify_all();
  }

  void after_fork_child() noexcept {
    // The handle's socket is shared with the parent: closing it here could disturb the
    // parent's connection (a TLS close_notify would). Abandon it; the child connects anew.
    curl_ = nullptr;
    headers_ = nullptr;
    // The parent's export thread may be waiting on the sleeper: its condition variable would
    // wait for a thread that does not exist here. Abandoned too.
    (void)sleeper_.release();
    sleeper_.reset(new (std::nothrow) Sleeper());
  }

  struct Outcome {
    bool ok = false;
    bool retryable = false;
    std::chrono::milliseconds retry_after{0};
    std::string message;
  };

  bool ensure_handle() {
    if (curl_ != nullptr)
      return true;
    curl_ = curl_easy_init();
    if (curl_ == nullptr) {
      detail::report_internal_error("otlp", "curl_easy_init failed");
      return false;
    }
    const char* type = options_.encoding == OtlpEncoding::Json
                           ? "Content-Type: application/json"
                           : "Content-Type: application/x-protobuf";
    headers_ = curl_slist_append(headers_, type);
    if (options_.gzip)
      headers_ = curl_slist_append(headers_, "Content-Encoding: gzip");
    headers_ = curl_slist_append(headers_, "Expect:");  // no 100-continue round trip
    for (const auto& [k, v] : options_.headers) {
      std::string line = k;
      line += ": ";
      line += v;
      headers_ = curl_slist_append(headers_, line.c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_URL, options_.endpoint.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "o11y-cpp/" O11Y_VERSION);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &header_line);
    // Spans must never be sent anywhere but where they were told to go.
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    return true;
  }

  Outcome post(std::string_view body, Clock::time_point deadline) const {
    Outcome out;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const auto limit = std::min(left, options_.timeout);
    if (limit.count() <= 0) {
      out.message = "export to " + options_.endpoint + " timed out";
      return out;
    }
    std::string response;
    long retry_after_s = 0;  // NOLINT(google-runtime-int): curl's type
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(limit.count()));  // NOLINT
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &retry_after_s);
    const CURLcode rc = curl_easy_perform(curl_);
    if (rc != CURLE_OK) {
      out.retryable = retryable_curl(rc);
      out.message = "export to " + options_.endpoint + " failed: " + curl_easy_strerror(rc);
      return out;
    }
    long status = 0;  // NOLINT(google-runtime-int): curl's type
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      out.ok = true;
      return out;
    }
    out.retryable = retryable_status(status);
    out.retry_after = std::chrono::seconds(retry_after_s);
    std::replace_if(
        response.begin(), response.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    constexpr std::size_t kShown = 200;
    out.message = "collector at " + options_.endpoint + " answered " + std::to_string(status) +
                  (response.empty() ? "" : ": " + response.substr(0, kShown));
    return out;
  }

  std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
    // Full jitter in [base/2, base]: workers that failed together do not retry together.
    std::uniform_int_distribution<std::int64_t> d(base.count() / 2, base.count());
    return std::chrono::milliseconds(d(rng_));
  }

  /// False when shutdown() interrupted the wait.
  bool sleep_for(std::chrono::milliseconds d) {
    if (!sleeper_)
      return false;
    std::unique_lock lock(sleeper_->mu);
    return !sleeper_->cv.wait_for(lock, d, [this] { return stopped_.load(); });
  }

  OtlpOptions options_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string what_;
  std::string gzipped_;  // reused by every batch: send() runs on one thread at a time
  std::atomic<bool> stopped_{false};
  struct Sleeper {
    std::mutex mu;
    std::condition_variable cv;
  };
  std::unique_ptr<Sleeper> sleeper_ = std::make_unique<Sleeper>();
  std::minstd_rand rng_{std::random_device{}()};
};

HttpSender::HttpSender(OtlpOptions options, std::string what)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(what))) {}
HttpSender::~HttpSender() = default;

bool HttpSender::send(std::string_view encoded, Clock::time_point deadline) noexcept {
  return impl_->send(encoded, deadline);
}
void HttpSender::shutdown() noexcept {
  impl_->shutdown();
}
void HttpSender::after_fork_child() noexcept {
  impl_->after_fork_child();
}
const OtlpOptions& HttpSender::options() const noexcept {
  return impl_->options_;
}

}  // namespace o11y::otlp
