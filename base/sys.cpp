#include "base/sys.hpp"

#include <cxxabi.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>

namespace o11y::detail {

std::uint64_t unix_time_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::uint64_t coarse_unix_time_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000U +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

bool write_all(int fd, std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

void name_this_thread(const char* name) noexcept {
  (void)::pthread_setname_np(::pthread_self(), name);
}

std::thread start_thread(const char* name, std::function<void()> body) {
  struct Handshake {
    std::mutex mu;
    std::condition_variable cv;
    bool running = false;
  } hs;
  // The thread is created with every asynchronous signal blocked, inherited from this mask:
  // blocking it from inside the thread would leave a window. A signal sent to the process goes
  // to some thread that does not block it; a service that blocks SIGTERM and takes it with
  // sigwait on a thread of its own, after init() started ours, otherwise had the kernel pick
  // one of ours now and then, and die by the default action with its buffered logs unwritten.
  // Faults stay unblocked: they are raised by the faulting thread and must reach its handler.
  sigset_t quiet;
  sigset_t previous;
  sigfillset(&quiet);
  for (const int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT})
    sigdelset(&quiet, fault);
  (void)::pthread_sigmask(SIG_BLOCK, &quiet, &previous);
  struct Restore {
    const sigset_t* mask;
    ~Restore() { (void)::pthread_sigmask(SIG_SETMASK, mask, nullptr); }
  } restore{&previous};
  std::thread thread([&hs, name, body = std::move(body)] {
    name_this_thread(name);
    {
      // Notified under the lock: hs is on the starter's stack, gone once it sees `running`.
      const std::lock_guard lock(hs.mu);
      hs.running = true;
      hs.cv.notify_one();
    }
    body();
  });
  std::unique_lock lock(hs.mu);
  hs.cv.wait(lock, [&hs] { return hs.running; });
  return thread;
}

}  // namespace o11y::detail
