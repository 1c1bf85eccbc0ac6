#pragma once

// Small system helpers every module needs; one definition each.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace o11y::detail {

/// Unix time now, in nanoseconds (the wall clock).
[[nodiscard]] std::uint64_t unix_time_ns() noexcept;

/// Unix time from the kernel's tick-updated copy (CLOCK_REALTIME_COARSE): a few times cheaper
/// to read than unix_time_ns(), but up to a tick (1-10 ms) behind.
[[nodiscard]] std::uint64_t coarse_unix_time_ns() noexcept;

/// The readable name of a mangled type name (typeid(x).name()), or the name itself.
[[nodiscard]] std::string demangle(const char* mangled);

/// Names the calling thread ("o11y-export"), as `top -H`, gdb and perf show it; at most 15
/// characters. Failure is ignored: the name is a convenience.
void name_this_thread(const char* name) noexcept;

/// Starts a thread that names itself `name` (as name_this_thread) and runs `body`; returns once
/// the thread has come through its start-up and entered `body`. A thread's start-up allocates
/// (glibc's pthread_getattr_np under ASan), and ASan's allocator before LLVM 18 (GCC 12 and
/// 13's libasan, clang 14's) takes no lock around fork(): a process that forked while one of
/// our threads was still starting, as a pre-fork master does right after init(), left the
/// child holding an allocator lock nobody would release, and the child hung on its first
/// malloc. So `body` should block before it allocates, or the window is only moved. The thread
/// starts with every asynchronous signal blocked (faults excepted), so that a signal sent to the
/// process is never taken, or its default action run, by a thread of ours. Throws
/// std::system_error when no thread can be started.
[[nodiscard]] std::thread start_thread(const char* name, std::function<void()> body);

/// Writes all of bytes to fd, retrying short writes and EINTR; false on any other failure.
bool write_all(int fd, std::string_view bytes) noexcept;

/// The text for an errno value. Thread-safe, unlike strerror.
[[nodiscard]] std::string errno_text(int err);

}  // namespace o11y::detail
