// The SQL sanitizer, the statement summary and comment detection.
#include <gtest/gtest.h>

#include <o11y/db.hpp>
#include <string>

namespace o11y::db {
namespace {

TEST(Sanitize, ReplacesStringNumberAndBooleanLiterals) {
  EXPECT_EQ(sanitize("SELECT * FROM users WHERE email = 'ann@example.com' AND age > 42 AND "
                     "active = TRUE AND score < -1.5e3"),
            "SELECT * FROM users WHERE email = ? AND age > ? AND active = ? AND score < -?");
}

TEST(Sanitize, KeepsPlaceholdersAndIdentifiersWithDigits) {
  EXPECT_EQ(sanitize("SELECT t1.col_2 FROM \"Orders2\" t1 WHERE id = $1 AND x = ? AND y = :name"),
            "SELECT t1.col_2 FROM \"Orders2\" t1 WHERE id = $1 AND x = ? AND y = :name");
}

TEST(Sanitize, DoubledQuotesStayInsideTheLiteral) {
  EXPECT_EQ(sanitize("UPDATE t SET note = 'it''s secret', n = 1"), "UPDATE t SET note = ?, n = ?");
}

TEST(Sanitize, PrefixedAndDollarQuotedStringsAreLiterals) {
  EXPECT_EQ(sanitize("SELECT E'a\\'b', X'1F', B'0101', N'x', $$body$$, $fn$ x $fn$"),
            "SELECT ?, ?, ?, ?, ?, ?");
}

TEST(Sanitize, HexNumbersAndLeadingDotDecimalsAreLiterals) {
  EXPECT_EQ(sanitize("SELECT 0xDEADBEEF, .5, 10."), "SELECT ?, ?, ?");
}

TEST(Sanitize, ValueListsInInCollapseToOnePlaceholder) {
  EXPECT_EQ(sanitize("SELECT * FROM t WHERE id IN (1, 2, 3) AND s in ('a','b')"),
            "SELECT * FROM t WHERE id IN (?) AND s in (?)");
}

TEST(Sanitize, SubqueriesAndPlaceholderListsInInStayAsWritten) {
  EXPECT_EQ(sanitize("SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE n = 5)"),
            "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE n = ?)");
  EXPECT_EQ(sanitize("SELECT * FROM t WHERE id IN ($1, $2)"),
            "SELECT * FROM t WHERE id IN ($1, $2)");
}

TEST(Sanitize, CommentsAreDroppedBecauseTheyCanHoldValues) {
  EXPECT_EQ(sanitize("SELECT 1 -- user 'bob'\nFROM t /* token=abc */"), "SELECT ? \nFROM t");
}

TEST(Sanitize, UnterminatedLiteralHidesTheRest) {
  EXPECT_EQ(sanitize("SELECT 'never closed, password=hunter2"), "SELECT ?");
  EXPECT_EQ(sanitize("SELECT $tag$ open"), "SELECT ?");
}

TEST(Sanitize, MysqlStringsTakeBackslashEscapesAndDoubleQuotes) {
  EXPECT_EQ(sanitize(R"(SELECT 'it\'s', "secret" FROM t # note)", "mysql"), "SELECT ?, ? FROM t");
  // The same text read as standard SQL: "secret" is an identifier.
  EXPECT_EQ(sanitize(R"(SELECT "secret" FROM t)"), R"(SELECT "secret" FROM t)");
}

TEST(Sanitize, EmptyAndNonAsciiTextSurvive) {
  EXPECT_EQ(sanitize(""), "");
  EXPECT_EQ(sanitize("SELECT naïve FROM café WHERE n = 'é'"), "SELECT naïve FROM café WHERE n = ?");
}

TEST(Summarize, ReadsOperationAndTableOfCommonStatements) {
  const auto s = summarize("select id from public.orders where id = 1");
  EXPECT_EQ(s.operation, "SELECT");
  EXPECT_EQ(s.collection, "public.orders");
  EXPECT_EQ(summarize("INSERT INTO \"Order Items\" (a) VALUES (1)").collection, "Order Items");
  EXPECT_EQ(summarize("UPDATE orders SET a = 1").collection, "orders");
  EXPECT_EQ(summarize("DELETE FROM ONLY orders").collection, "orders");
  EXPECT_EQ(summarize("CREATE TABLE IF NOT EXISTS orders (id int)").collection, "orders");
  EXPECT_EQ(summarize("TRUNCATE orders").collection, "orders");
  EXPECT_EQ(summarize("  (SELECT 1)").operation, "SELECT");
}

TEST(Summarize, FromInsideASubqueryIsNotTheTable) {
  const auto s = summarize("SELECT (SELECT max(x) FROM u) FROM orders");
  EXPECT_EQ(s.collection, "orders");
  EXPECT_EQ(summarize("SELECT * FROM (SELECT 1) sub").collection, "");
}

TEST(Summarize, WithTakesTheStatementAfterItsCommonTableExpressions) {
  const auto s = summarize("WITH recent AS (SELECT * FROM orders) DELETE FROM archive WHERE x");
  EXPECT_EQ(s.operation, "DELETE");
  EXPECT_EQ(s.collection, "archive");
}

TEST(Summarize, StatementsWithoutTableHaveOnlyTheOperation) {
  const auto s = summarize("BEGIN");
  EXPECT_EQ(s.operation, "BEGIN");
  EXPECT_EQ(s.collection, "");
  EXPECT_EQ(summarize("").operation, "");
  EXPECT_EQ(summarize("'not sql'").operation, "");
}

TEST(HasComment, FindsCommentsOutsideLiteralsOnly) {
  EXPECT_TRUE(has_comment("SELECT 1 /* hi */"));
  EXPECT_TRUE(has_comment("SELECT 1 -- hi"));
  EXPECT_FALSE(has_comment("SELECT '-- not a comment', '/* nor this */'"));
  EXPECT_FALSE(has_comment("SELECT a - -1"));
}

}  // namespace
}  // namespace o11y::db
