// The text helpers that the parsers of configuration values, command lines and HTTP headers
// share (src/common/text.hpp): ASCII rules that do not follow the C locale.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/text.hpp"

namespace {

using opendo::text::equals_ignoring_case;
using opendo::text::lower;
using opendo::text::trim;

TEST(Trim, RemovesBlanksAtBothEndsOnly) {
  EXPECT_EQ(trim(" \t a b \r\n"), "a b");
  EXPECT_EQ(trim("\v\fx\f\v"), "x");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("\xC2\xA0x"), "\xC2\xA0x") << "a UTF-8 no-break space is not a blank";
}

TEST(Lower, ChangesAsciiLettersOnly) {
  EXPECT_EQ(lower("HTTPS://Example.COM:8080/"), "https://example.com:8080/");
  EXPECT_EQ(lower("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9") << "UTF-8 bytes stay as they are";
  EXPECT_EQ(lower(""), "");
}

TEST(EqualsIgnoringCase, ComparesLengthAndLetters) {
  EXPECT_TRUE(equals_ignoring_case("Authorization", "authorization"));
  EXPECT_TRUE(equals_ignoring_case("", ""));
  EXPECT_FALSE(equals_ignoring_case("Range", "Ranges"));
  EXPECT_FALSE(equals_ignoring_case("Range", "Rangf"));
  EXPECT_FALSE(equals_ignoring_case("a-b", "a_b"));
}

// Evaluated by the compiler, so no locale is consulted (tolower() under a Turkish locale maps
// 'I' elsewhere); header names and schemes compare the same in every environment.
static_assert(trim("  x  ") == "x");
static_assert(equals_ignoring_case("FILE", "file"));

}  // namespace
