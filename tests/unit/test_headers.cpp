// Custom HTTP request headers (jobs/headers.hpp): the Windows CRLF block and the checks that keep
// a header line from splitting a request or overriding what the engine sends.
#include "jobs/headers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "opendo/hresult.hpp"

using namespace opendo;
using namespace opendo::jobs;

namespace {

constexpr std::uint32_t kInvalidArg = 0x80070057;
constexpr std::uint32_t kStringTooLong = 0x80200021;

std::uint32_t check(std::vector<std::string> lines, header_kind kind = header_kind::custom) {
  return check_headers(lines, kind).code;
}

}  // namespace

TEST(HeaderBlock, SplitsCrlfTerminatedLinesAsWindowsWritesThem) {
  std::vector<std::string> lines;
  ASSERT_TRUE(split_header_block("MyHeader_1: One\r\nMyHeader_2: Two\r\n", lines).ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"MyHeader_1: One", "MyHeader_2: Two"}));
  // The last CRLF is optional.
  ASSERT_TRUE(split_header_block("A: 1\r\nB: 2", lines).ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"A: 1", "B: 2"}));
  ASSERT_TRUE(split_header_block("", lines).ok());
  EXPECT_TRUE(lines.empty());
}

TEST(HeaderBlock, RefusesBareCrOrLfAndEmptyLines) {
  std::vector<std::string> lines;
  EXPECT_EQ(split_header_block("A: 1\nB: 2\r\n", lines).code, kInvalidArg);
  EXPECT_EQ(split_header_block("A: 1\rB: 2\r\n", lines).code, kInvalidArg);
  EXPECT_EQ(split_header_block("A: 1\r", lines).code, kInvalidArg);
  EXPECT_EQ(split_header_block("A: 1\r\n\r\nB: 2\r\n", lines).code, kInvalidArg);
  EXPECT_EQ(split_header_block("\r\n", lines).code, kInvalidArg);
}

TEST(HeaderBlock, JoinIsTheInverseOfSplit) {
  const std::vector<std::string> lines{"X-One: 1", "X-Two: two words"};
  const std::string block = join_header_block(lines);
  EXPECT_EQ(block, "X-One: 1\r\nX-Two: two words\r\n");
  std::vector<std::string> back;
  ASSERT_TRUE(split_header_block(block, back).ok());
  EXPECT_EQ(back, lines);
  EXPECT_EQ(join_header_block({}), "");
}

TEST(HeaderCheck, AcceptsOrdinaryHeaders) {
  EXPECT_EQ(check({}), 0U);
  EXPECT_EQ(check({"X-Opendo-Test: abc", "Accept-Language: en", "User-Agent: tool/1.0"}), 0U);
  EXPECT_EQ(check({"X-Empty:"}), 0U);              // an empty value is a valid header
  EXPECT_EQ(check({"X-Tab:\tv"}), 0U);             // HTAB is allowed in values
  EXPECT_EQ(check({"X-Utf8: caf\xC3\xA9"}), 0U);   // obs-text
  EXPECT_EQ(check({"x!#$%&'*+-.^_`|~9: v"}), 0U);  // every tchar
}

TEST(HeaderCheck, RefusesLinesThatAreNotNameColonValue) {
  EXPECT_EQ(check({"no colon here"}), kInvalidArg);
  EXPECT_EQ(check({": value without a name"}), kInvalidArg);
  EXPECT_EQ(check({"Bad Name: v"}), kInvalidArg);  // space in the name
  EXPECT_EQ(check({"Bad(Name): v"}), kInvalidArg);
  EXPECT_EQ(check({"Caf\xC3\xA9: v"}), kInvalidArg);  // non-ASCII name
}

TEST(HeaderCheck, RefusesControlCharactersThatCouldSplitARequest) {
  EXPECT_EQ(check({"X-A: one\r\nInjected: yes"}), kInvalidArg);
  EXPECT_EQ(check({"X-A: one\nInjected: yes"}), kInvalidArg);
  EXPECT_EQ(check({"X-A: one\rtwo"}), kInvalidArg);
  EXPECT_EQ(check({std::string("X-A: nul\0here", 13)}), kInvalidArg);
  EXPECT_EQ(check({"X-A: bell\a"}), kInvalidArg);
  EXPECT_EQ(check({"X-A: del\x7F"}), kInvalidArg);
  const auto result = check_headers({"X-A: one\r\nInjected: yes"}, header_kind::custom);
  EXPECT_NE(result.message.find("X-A"), std::string::npos) << result.message;
  EXPECT_EQ(result.message.find("Injected"), std::string::npos) << result.message;
}

TEST(HeaderCheck, RefusesHeadersTheEngineOwnsInAnyCase) {
  for (const char* name :
       {"Host", "Range", "If-Range", "Content-Length", "Transfer-Encoding", "Connection", "Expect",
        "Upgrade", "TE", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
        "Accept-Encoding", "Keep-Alive", "Proxy-Connection"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(check({std::string(name) + ": x"}), kInvalidArg);
    EXPECT_EQ(check({std::string(name) + ": x"}, header_kind::auth), kInvalidArg);
  }
  EXPECT_EQ(check({"rAnGe: bytes=0-1"}), kInvalidArg);
  EXPECT_EQ(check({"host:evil.example"}), kInvalidArg);
  const auto result = check_headers({"X-Fine: 1", "range: bytes=5-"}, header_kind::custom);
  EXPECT_EQ(result.code, kInvalidArg);
  EXPECT_NE(result.message.find("custom header 2 (range)"), std::string::npos) << result.message;
}

TEST(HeaderCheck, SecretsBelongInAuthHeadersOnly) {
  EXPECT_EQ(check({"Authorization: Bearer abc"}), kInvalidArg);
  EXPECT_EQ(check({"proxy-authorization: Basic abc"}), kInvalidArg);
  EXPECT_EQ(check({"Authorization: Bearer abc"}, header_kind::auth), 0U);
  EXPECT_EQ(check({"X-Api-Key: abc"}, header_kind::auth), 0U);
  // The refusal never repeats the secret.
  const auto result = check_headers({"Authorization: Bearer s3cr3t"}, header_kind::custom);
  EXPECT_EQ(result.message.find("s3cr3t"), std::string::npos) << result.message;
}

TEST(HeaderCheck, SizeLimitIsWindows16KiBIncludingTheTerminator) {
  // 16,384 characters with the NUL: the lines and their CRLFs may take 16,383 bytes.
  const std::string prefix = "X-Big: ";
  std::string at_limit = prefix + std::string(max_header_block - 2 - prefix.size(), 'a');
  EXPECT_EQ(check({at_limit}), 0U);
  EXPECT_EQ(check({at_limit + "a"}), kStringTooLong);
  // Spread over lines, too.
  std::vector<std::string> many(40, "X-Line: " + std::string(400, 'b'));
  EXPECT_EQ(check(many), kStringTooLong);
}

TEST(HeaderCheck, LineCountIsLimited) {
  std::vector<std::string> lines(max_header_lines, "X-N: 1");
  EXPECT_EQ(check(lines), 0U);
  lines.push_back("X-N: 1");
  EXPECT_EQ(check(lines), kInvalidArg);
}

TEST(HeaderCheck, HeaderNameIsTheTextBeforeTheColon) {
  EXPECT_EQ(header_name("X-Token: a:b"), "X-Token");
  EXPECT_EQ(header_name("X-Empty:"), "X-Empty");
}
