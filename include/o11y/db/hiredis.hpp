#pragma once

// The hiredis adapter (target o11y::hiredis). Header-only: it compiles against the hiredis your
// program links, and all the logic it calls lives behind <o11y/db.hpp>.
#include <hiredis/hiredis.h>

#include <cstdarg>
#include <cstddef>
#include <string>
#include <string_view>

#include "o11y/db.hpp"

namespace o11y::db::redis {

namespace detail {

/// "GET order:%d" -> {"GET", "GET ?"}: the command in upper case, each argument a `?` (values
/// are never recorded). `words` are the command line's space-separated words.
struct Command {
  std::string operation;
  std::string text;
};

inline Command describe(std::string_view first, std::size_t arguments) {
  Command c;
  for (const char ch : first)
    c.operation.push_back(ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 'a' + 'A') : ch);
  c.text = c.operation;
  for (std::size_t i = 0; i < arguments; ++i)
    c.text.append(" ?");
  return c;
}

inline Command describe_format(std::string_view format) {
  std::size_t words = 0;
  std::string_view first;
  std::size_t i = 0;
  while (i < format.size()) {
    while (i < format.size() && format[i] == ' ')
      ++i;
    const std::size_t b = i;
    while (i < format.size() && format[i] != ' ')
      ++i;
    if (i > b) {
      if (words == 0)
        first = format.substr(b, i - b);
      ++words;
    }
  }
  return describe(first, words == 0 ? 0 : words - 1);
}

inline QueryInfo info(const redisContext* c, const Command& cmd) noexcept {
  QueryInfo qi{
      .system = "redis", .query_text = cmd.text, .operation = cmd.operation, .sanitized = true};
  if (c != nullptr && c->connection_type == REDIS_CONN_TCP) {
    qi.server_address = c->tcp.host != nullptr ? std::string_view(c->tcp.host) : std::string_view();
    qi.server_port = c->tcp.port;
  }
  return qi;
}

/// Ends the command's scope from its reply: an error reply's prefix ("WRONGTYPE", "ERR") as
/// db.response.status_code, a missing reply as the connection's error.
inline void* finish(QueryScope& q, const redisContext* c, void* reply) noexcept {
  if (reply == nullptr) {
    q.fail("_OTHER", c != nullptr ? std::string_view(c->errstr) : std::string_view());
    return reply;
  }
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR && r->str != nullptr) {
    const std::string_view message(r->str, r->len);
    q.fail(message.substr(0, message.find(' ')), message);
  } else {
    q.finish();
  }
  return reply;
}

}  // namespace detail

/// redisCommand, traced: a CLIENT span named by the command ("GET"), db.query.text with every
/// argument shown as `?`, and a failure on an error reply or a broken connection.
inline redisReply* command(redisContext* c, const char* format, ...) {  // NOLINT(*-vararg)
  const auto cmd = detail::describe_format(format != nullptr ? format : "");
  QueryScope q(detail::info(c, cmd));
  va_list ap;
  va_start(ap, format);
  void* reply = redisvCommand(c, format, ap);
  va_end(ap);
  return static_cast<redisReply*>(detail::finish(q, c, reply));
}

/// redisCommandArgv, traced as command().
inline redisReply* command_argv(redisContext* c, int argc, const char** argv,
                                const std::size_t* argvlen) {
  std::string_view first;
  if (argc > 0 && argv != nullptr && argv[0] != nullptr)
    first = argvlen != nullptr ? std::string_view(argv[0], argvlen[0]) : std::string_view(argv[0]);
  const auto cmd =
      detail::describe(first, argc > 1 ? static_cast<std::size_t>(argc - 1) : std::size_t{0});
  QueryScope q(detail::info(c, cmd));
  return static_cast<redisReply*>(detail::finish(q, c, redisCommandArgv(c, argc, argv, argvlen)));
}

/// command_argv() under hiredis' own spelling.
inline redisReply* commandArgv(redisContext* c, int argc, const char** argv,
                               const std::size_t* argvlen) {
  return command_argv(c, argc, argv, argvlen);
}

}  // namespace o11y::db::redis
