// Calls made from a thread's exit destructors: a thread_local object constructed before the
// thread first used the library is destroyed after the library's own thread-locals, and may
// still log, end a span or set tags. Each case runs in a fork()ed child, so a corrupted heap
// fails that case alone; the child reports what it saw through its exit code.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <o11y/http.hpp>
#include <o11y/o11y.hpp>
#include <string>
#include <thread>

namespace o11y {
namespace {

int in_child(const std::function<bool()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const bool ok = body();
    std::_Exit(ok ? 0 : 3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Runs `at_exit` from the destructor of a thread_local that outlives every thread-local the
/// library creates in that thread, after `first` used the library there.
void run_thread(const std::function<void()>& first, std::function<void()> at_exit) {
  struct Holder {
    std::function<void()> call;
    Holder() = default;
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    Holder(Holder&&) = delete;
    Holder& operator=(Holder&&) = delete;
    ~Holder() {
      if (call)
        call();
    }
  };
  std::thread t([&first, &at_exit] {
    thread_local Holder holder;  // constructed before the library's thread-locals
    holder.call = std::move(at_exit);
    first();
  });
  t.join();
}

TEST(ThreadExit, ASpanEndedByAThreadLocalDestructorIsExported) {
  EXPECT_EQ(in_child([] {
              auto spans = std::make_shared<InMemorySpanProcessor>();
              add_span_processor(spans);
              auto span = std::make_shared<Span>();
              run_thread(
                  [&] {
                    *span = start_span("held_by_the_thread");
                    span->set_attribute("k", 1);
                    auto log = get_logger("exit");
                    log.info("inside");
                  },
                  [span] { span->end(); });
              return spans->find("held_by_the_thread") != nullptr;
            }),
            0);
}

// Once the thread's context is destroyed, calls still write and export, without context: tags
// set there have nowhere to live. The line is longer than a renderer's inline buffer, which is
// what corrupted the heap when it was rendered into the destroyed thread buffer.
TEST(ThreadExit, LinesAndSpansFromAThreadLocalDestructorAreWrittenWithoutContext) {
  EXPECT_EQ(in_child([] {
              auto spans = std::make_shared<InMemorySpanProcessor>();
              add_span_processor(spans);
              logging::LogCapture capture;
              const std::string long_value(2000, 'x');
              run_thread(
                  [] {
                    Scope s;
                    set_custom_tags({{"tenant_id", "early"}});
                    auto span = start_span("early");
                    get_logger("exit").info("early_line", {{"v", std::string(2000, 'y')}});
                  },
                  [&long_value] {
                    Scope s;
                    set_custom_tags({{"tenant_id", "late"}});
                    auto span = start_span("late");
                    span.set_attribute("k", 2);
                    get_logger("exit").info("late_line", {{"v", long_value}});
                  });
              const auto early = capture.lines_with_event("early_line");
              const auto late = capture.lines_with_event("late_line");
              const auto late_span = spans->find("late");
              return early.size() == 1 &&
                     early[0].find("\"tenant_id\":\"early\"") != std::string::npos &&
                     late.size() == 1 && late[0].find(long_value) != std::string::npos &&
                     late[0].find("tenant_id") == std::string::npos && late_span != nullptr &&
                     late_span->attributes.size() == 1;
            }),
            0);
}

TEST(ThreadExit, MetricsRecordedInAThreadLocalDestructorCount) {
  EXPECT_EQ(in_child([] {
              const auto c = counter("thread_exit_calls_total", "Calls.", {"when"});
              run_thread([&] { c.labels({"early"}).add(); }, [&] { c.labels({"late"}).add(); });
              return c.labels({"late"}).value() == 1.0;
            }),
            0);
}

// The HTTP adapter keeps each thread's metric series, with the routes as strings; from a
// destructor after they are gone it looks the series up directly. The routes are too long to
// be stored inline, so a destroyed slot would point at freed memory.
TEST(ThreadExit, ARequestFinishedInAThreadLocalDestructorIsCountedAndLogged) {
  EXPECT_EQ(
      in_child([] {
        logging::LogCapture capture;
        const http::ServerOptions options;
        const auto served = [&options](const std::string& route) {
          http::RequestScope request({.method = "GET", .path = "/exit", .route = route}, options);
          request.finish(200);
        };
        run_thread(
            [&] {
              for (int i = 0; i < 16; ++i)  // every slot holds a long route
                served("/early/orders/{order_id}/part/" + std::to_string(i));
            },
            [&] { served("/late/orders/{order_id}/items"); });
        const auto requests = counter("http_requests_total", "", {"method", "route", "status"});
        return requests.labels({"GET", "/early/orders/{order_id}/part/3", "200"}).value() == 1.0 &&
               requests.labels({"GET", "/late/orders/{order_id}/items", "200"}).value() == 1.0 &&
               capture.lines().size() == 17;
      }),
      0);
}

}  // namespace
}  // namespace o11y
