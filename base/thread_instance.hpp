#pragma once

#include <type_traits>

namespace o11y::detail {

/// The calling thread's instance of T (default-constructed on first use), or null once this
/// thread's exit has destroyed it.
///
/// A thread's thread_local objects are destroyed in the reverse order of their construction.
/// An object of the user's that was constructed before the thread first called the library is
/// destroyed after the library's own, and its destructor may still log or end a span. Read
/// through a plain thread_local, such a call would use a destroyed object: a destroyed
/// std::string or buffer still points at freed memory, and writing there corrupted the heap
/// (tests/integration/thread_exit_test.cpp). Callers fall back to something that needs no
/// per-thread state when this returns null.
///
/// Tag tells apart two uses of the same T. The check is one thread-local byte; never throws
/// unless T's constructor does.
template <class T, class Tag = T>
[[nodiscard]] T* thread_instance() noexcept(std::is_nothrow_default_constructible_v<T>) {
  struct Gone {
    static bool& flag() noexcept {
      thread_local constinit bool gone = false;
      return gone;
    }
  };
  struct Holder {
    T value;
    Holder() = default;
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    Holder(Holder&&) = delete;
    Holder& operator=(Holder&&) = delete;
    ~Holder() { Gone::flag() = true; }
  };
  if (Gone::flag()) [[unlikely]]
    return nullptr;
  thread_local Holder holder;
  return &holder.value;
}

}  // namespace o11y::detail
