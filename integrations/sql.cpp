// SQL text handling for the database spans: the sanitizer (values out of db.query.text), the
// summary (operation and table, for span names and metric labels) and comment detection (for
// sqlcommenter). One lexer serves all three, so they agree on what is a literal.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "o11y/db.hpp"

namespace o11y::db {
namespace {

enum class Kind : std::uint8_t {
  Word,         // identifier or keyword (letters, digits, _, $, bytes >= 0x80)
  String,       // '...', E'...', X'...', N'...', B'...', $tag$...$tag$, MySQL "..."
  QuotedIdent,  // "..." (standard SQL) or `...`
  Number,       // 42, 4.2, .5, 1e9, 0x1F
  Placeholder,  // $1
  Comment,      // -- ..., /* ... */, MySQL # ...
  Space,        // a run of whitespace
  Other,        // one punctuation byte
};

struct Token {
  Kind kind;
  std::size_t begin;
  std::size_t end;
};

enum : std::uint8_t { kIdent = 1, kDigit = 2, kSpace = 4, kIdentCont = 8 };

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80)
      v = kIdent;
    if (c >= '0' && c <= '9')
      v = kDigit;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
      v = kSpace;
    if ((v & (kIdent | kDigit)) != 0 || c == '$')
      v = static_cast<std::uint8_t>(v | kIdentCont);
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}
constexpr auto kClasses = make_classes();

std::uint8_t cls(char c) noexcept {
  return kClasses[static_cast<unsigned char>(c)];
}
bool ident_char(char c) noexcept {
  return (cls(c) & kIdentCont) != 0;
}
char upper(char c) noexcept {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}
bool iequals(std::string_view a, std::string_view upper_b) noexcept {
  if (a.size() != upper_b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper_b[i])
      return false;
  }
  return true;
}

bool is_mysql(std::string_view system) noexcept {
  return system == "mysql" || system == "mariadb";
}

class Lexer {
 public:
  Lexer(std::string_view s, bool mysql) noexcept : s_(s), mysql_(mysql) {}

  [[nodiscard]] bool done() const noexcept { return i_ >= s_.size(); }
  [[nodiscard]] std::size_t pos() const noexcept { return i_; }
  void seek(std::size_t i) noexcept { i_ = i; }

  [[gnu::always_inline]] inline Token next() noexcept {
    const std::size_t b = i_;
    const std::size_t n = s_.size();
    const char c = s_[b];
    const auto k = cls(c);
    if ((k & kSpace) != 0) {
      while (i_ < n && (cls(s_[i_]) & kSpace) != 0)
        ++i_;
      return {Kind::Space, b, i_};
    }
    if ((k & kIdent) != 0) {
      ++i_;
      while (i_ < n && ident_char(s_[i_]))
        ++i_;
      // A one-letter prefix glued to a quote makes a string: E'\n', X'1F', B'01', N'text'.
      if (i_ - b == 1 && i_ < n && s_[i_] == '\'') {
        const char p = upper(c);
        if (p == 'E' || p == 'X' || p == 'B' || p == 'N') {
          i_ = quoted_end(i_, '\'', mysql_ || p == 'E');
          return {Kind::String, b, i_};
        }
      }
      return {Kind::Word, b, i_};
    }
    if ((k & kDigit) != 0 || (c == '.' && b + 1 < n && (cls(s_[b + 1]) & kDigit) != 0)) {
      i_ = number_end(b);
      return {Kind::Number, b, i_};
    }
    switch (c) {
      case '\'':
        i_ = quoted_end(b, '\'', mysql_);
        return {Kind::String, b, i_};
      case '"':
        i_ = quoted_end(b, '"', mysql_);
        return {mysql_ ? Kind::String : Kind::QuotedIdent, b, i_};
      case '`':
        i_ = quoted_end(b, '`', false);
        return {Kind::QuotedIdent, b, i_};
      case '$':
        return dollar(b);
      case '-':
        if (b + 1 < n && s_[b + 1] == '-')
          return line_comment(b);
        break;
      case '#':
        if (mysql_)
          return line_comment(b);
        break;
      case '/':
        if (b + 1 < n && s_[b + 1] == '*') {
          const auto close = s_.find("*/", b + 2);
          i_ = close == std::string_view::npos ? n : close + 2;
          return {Kind::Comment, b, i_};
        }
        break;
      default:
        break;
    }
    ++i_;
    return {Kind::Other, b, i_};
  }

 private:
  // The end of a literal opened by `q` at `b`: a doubled quote stays inside, and so does an
  // escaped one where backslashes escape. Unterminated: the rest of the text.
  [[nodiscard]] std::size_t quoted_end(std::size_t b, char q, bool backslash) const noexcept {
    const std::size_t n = s_.size();
    std::size_t i = b + 1;
    while (i < n) {
      const char c = s_[i];
      if (c == '\\' && backslash) {
        i += 2;
        continue;
      }
      if (c == q) {
        if (i + 1 < n && s_[i + 1] == q) {
          i += 2;
          continue;
        }
        return i + 1;
      }
      ++i;
    }
    return n;
  }

  [[nodiscard]] std::size_t number_end(std::size_t b) const noexcept {
    const std::size_t n = s_.size();
    std::size_t i = b;
    if (s_[i] == '0' && i + 1 < n && (s_[i + 1] == 'x' || s_[i + 1] == 'X')) {
      i += 2;
      while (i < n && ((cls(s_[i]) & kDigit) != 0 || (upper(s_[i]) >= 'A' && upper(s_[i]) <= 'F')))
        ++i;
      return i;
    }
    while (i < n && (cls(s_[i]) & kDigit) != 0)
      ++i;
    if (i < n && s_[i] == '.') {
      ++i;
      while (i < n && (cls(s_[i]) & kDigit) != 0)
        ++i;
    }
    if (i < n && (s_[i] == 'e' || s_[i] == 'E')) {
      std::size_t j = i + 1;
      if (j < n && (s_[j] == '+' || s_[j] == '-'))
        ++j;
      if (j < n && (cls(s_[j]) & kDigit) != 0) {
        while (j < n && (cls(s_[j]) & kDigit) != 0)
          ++j;
        i = j;
      }
    }
    return i;
  }

  Token line_comment(std::size_t b) noexcept {
    const auto eol = s_.find('\n', b);
    i_ = eol == std::string_view::npos ? s_.size() : eol;
    return {Kind::Comment, b, i_};
  }

  // $1 (a placeholder), $tag$...$tag$ or $$...$$ (PostgreSQL's dollar quoting), else one '$'.
  Token dollar(std::size_t b) noexcept {
    const std::size_t n = s_.size();
    std::size_t i = b + 1;
    if (i < n && (cls(s_[i]) & kDigit) != 0) {
      while (i < n && (cls(s_[i]) & kDigit) != 0)
        ++i;
      i_ = i;
      return {Kind::Placeholder, b, i_};
    }
    while (i < n && (cls(s_[i]) & (kIdent | kDigit)) != 0)
      ++i;
    if (i < n && s_[i] == '$') {
      const auto tag = s_.substr(b, i + 1 - b);
      const auto close = s_.find(tag, i + 1);
      i_ = close == std::string_view::npos ? n : close + tag.size();
      return {Kind::String, b, i_};
    }
    i_ = b + 1;
    return {Kind::Other, b, i_};
  }

  std::string_view s_;
  std::size_t i_ = 0;
  bool mysql_;
};

bool is_value(const Token& t, std::string_view s) noexcept {
  if (t.kind == Kind::String || t.kind == Kind::Number)
    return true;
  if (t.kind != Kind::Word)
    return false;
  const auto w = s.substr(t.begin, t.end - t.begin);
  return iequals(w, "TRUE") || iequals(w, "FALSE");
}

// After the word IN: when the parenthesised list holds only values and placeholders, with at
// least one value, the position just past its ')'; else 0.
std::size_t value_list_end(Lexer lex, std::string_view s) noexcept {
  Token t{Kind::Space, 0, 0};
  do {
    if (lex.done())
      return 0;
    t = lex.next();
  } while (t.kind == Kind::Space);
  if (t.kind != Kind::Other || s[t.begin] != '(')
    return 0;
  bool any_value = false;
  bool want_item = true;
  while (!lex.done()) {
    t = lex.next();
    if (t.kind == Kind::Space || t.kind == Kind::Comment)
      continue;
    const char c = t.kind == Kind::Other ? s[t.begin] : '\0';
    if (want_item) {
      if (c == '-' || c == '+')
        continue;  // a sign belongs to the number that follows
      if (is_value(t, s)) {
        any_value = true;
      } else if (!(t.kind == Kind::Placeholder || c == '?')) {
        return 0;
      }
      want_item = false;
    } else if (c == ',') {
      want_item = true;
    } else if (c == ')') {
      return any_value ? t.end : 0;
    } else {
      return 0;
    }
  }
  return 0;
}

}  // namespace

std::string sanitize(std::string_view query_text, std::string_view system) {
  std::string out;
  out.reserve(query_text.size());
  Lexer lex(query_text, is_mysql(system));
  // Text is copied in runs, up to each replacement and the rest at the end: most tokens are
  // kept, and appending them one by one was most of the work (docs/performance.md).
  std::size_t copied = 0;
  const auto replace = [&](const Token& t, std::string_view with) {
    out.append(query_text.substr(copied, t.begin - copied));
    out.append(with);
    copied = t.end;
  };
  bool dropped_comment = false;
  while (!lex.done()) {
    const Token t = lex.next();
    switch (t.kind) {
      case Kind::String:
      case Kind::Number:
        replace(t, "?");
        break;
      case Kind::Comment:
        // Comments can carry values too; one space keeps the tokens around it apart.
        dropped_comment = true;
        replace(t, (t.begin == 0 || query_text[t.begin - 1] == ' ') ? "" : " ");
        break;
      case Kind::Word: {
        const auto size = t.end - t.begin;
        if (size == 4 || size == 5) {
          const auto text = query_text.substr(t.begin, size);
          if (iequals(text, "TRUE") || iequals(text, "FALSE"))
            replace(t, "?");
        } else if (size == 2 && iequals(query_text.substr(t.begin, 2), "IN")) {
          if (const auto end = value_list_end(lex, query_text); end != 0) {
            replace(t, query_text.substr(t.begin, 2));
            out.append(" (?)");
            lex.seek(end);
            copied = end;
          }
        }
        break;
      }
      default:
        break;
    }
  }
  out.append(query_text.substr(copied));
  if (dropped_comment) {
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
  }
  return out;
}

bool has_comment(std::string_view query_text) noexcept {
  Lexer lex(query_text, false);
  while (!lex.done()) {
    if (lex.next().kind == Kind::Comment)
      return true;
  }
  return false;
}

namespace {

constexpr std::size_t kMaxOperation = 32;
constexpr std::size_t kMaxCollection = 64;

// The next word or quoted identifier at depth 0, skipping space and comments.
bool next_significant(Lexer& lex, Token& t) noexcept {
  while (!lex.done()) {
    t = lex.next();
    if (t.kind != Kind::Space && t.kind != Kind::Comment)
      return true;
  }
  return false;
}

// A table name: identifiers joined by '.', quotes removed ("public"."orders" -> public.orders).
std::string table_name(Lexer& lex, std::string_view s, Token t) {
  std::string name;
  for (;;) {
    if (t.kind == Kind::Word) {
      name.append(s.substr(t.begin, t.end - t.begin));
    } else if (t.kind == Kind::QuotedIdent && t.end - t.begin >= 2) {
      name.append(s.substr(t.begin + 1, t.end - t.begin - 2));
    } else {
      break;
    }
    const auto save = lex.pos();
    if (lex.done() || lex.next().kind != Kind::Other || s[lex.pos() - 1] != '.' || lex.done()) {
      lex.seek(save);
      break;
    }
    name.push_back('.');
    t = lex.next();
  }
  if (name.size() > kMaxCollection)
    name.resize(kMaxCollection);
  return name;
}

}  // namespace

StatementSummary summarize(std::string_view query_text) {
  StatementSummary out;
  Lexer lex(query_text, false);
  Token t{Kind::Space, 0, 0};
  auto word = [&](const Token& tok) { return query_text.substr(tok.begin, tok.end - tok.begin); };
  // The first keyword, past any opening parentheses.
  while (next_significant(lex, t)) {
    if (t.kind == Kind::Word)
      break;
    if (t.kind != Kind::Other || query_text[t.begin] != '(')
      return out;
  }
  if (t.kind != Kind::Word)
    return out;
  std::string op;
  for (char c : word(t).substr(0, kMaxOperation))
    op.push_back(upper(c));
  int depth = 0;
  // WITH ...: the statement is the first top-level SELECT, INSERT, UPDATE or DELETE after it.
  if (op == "WITH") {
    while (next_significant(lex, t)) {
      if (t.kind == Kind::Other) {
        depth += query_text[t.begin] == '(' ? 1 : query_text[t.begin] == ')' ? -1 : 0;
      } else if (t.kind == Kind::Word && depth == 0) {
        const auto w = word(t);
        if (iequals(w, "SELECT") || iequals(w, "INSERT") || iequals(w, "UPDATE") ||
            iequals(w, "DELETE")) {
          op.clear();
          for (char c : w)
            op.push_back(upper(c));
          break;
        }
      }
    }
  }
  out.operation = op;
  // The keyword after which the table is named.
  std::string_view marker;
  if (op == "SELECT" || op == "DELETE") {
    marker = "FROM";
  } else if (op == "INSERT" || op == "REPLACE") {
    marker = "INTO";
  } else if (op == "CREATE" || op == "DROP" || op == "ALTER") {
    marker = "TABLE";
  } else if (op != "UPDATE" && op != "TRUNCATE") {
    return out;
  }
  depth = 0;
  bool found = marker.empty();
  while (!found && next_significant(lex, t)) {
    if (t.kind == Kind::Other) {
      depth += query_text[t.begin] == '(' ? 1 : query_text[t.begin] == ')' ? -1 : 0;
    } else if (t.kind == Kind::Word && depth == 0 && iequals(word(t), marker)) {
      found = true;
    }
  }
  if (!found)
    return out;
  // TRUNCATE [TABLE], CREATE TABLE IF NOT EXISTS, DROP TABLE IF EXISTS, DELETE FROM ONLY.
  while (next_significant(lex, t)) {
    const auto w = word(t);
    if (t.kind == Kind::Word && (iequals(w, "TABLE") || iequals(w, "IF") || iequals(w, "NOT") ||
                                 iequals(w, "EXISTS") || iequals(w, "ONLY"))) {
      continue;
    }
    out.collection = table_name(lex, query_text, t);
    break;
  }
  return out;
}

}  // namespace o11y::db
