// The SQL sanitizer and summary over arbitrary text: never crash, never grow the text beyond a
// bound, reach a fixed point after one pass, and never let a string literal's content through.
#include <o11y/db.hpp>
#include <string>

#include "fuzz/fuzz_input.hpp"

namespace {

// Bytes that cannot open a literal, an identifier quote or a comment.
bool plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' ' || c == ',' || c == '=' ||
         c == '(' || c == ')';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  o11y::fuzz::Pieces in(data, size);
  const auto text = in.next('\n');
  const auto system = in.next('\n');
  const auto once = o11y::db::sanitize(text, system);
  // "IN(1)" becomes "IN (?)": a value list grows by at most the space and the parentheses.
  if (once.size() > text.size() + text.size() / 2 + 8)
    __builtin_trap();
  if (o11y::db::sanitize(once, system) != once)
    __builtin_trap();
  (void)o11y::db::summarize(text);
  (void)o11y::db::has_comment(text);

  // A literal between plain text: its content never reaches the output.
  std::string prefix;
  for (const char c : in.next('\n')) {
    if (plain(c))
      prefix.push_back(c);
  }
  std::string secret = "Zq7";
  for (const char c : in.next('\n')) {
    if (c != '\'' && c != '\\')
      secret.push_back(c);
  }
  const std::string sql = prefix + " '" + secret + "' " + prefix;
  if (o11y::db::sanitize(sql).find(secret) != std::string::npos)
    __builtin_trap();
  return 0;
}
