// The activity page's tokens (daemon/activity.hpp) and the HTTP request parsing of its server
// (daemon/http_endpoint.hpp): pure, no socket.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "daemon/activity.hpp"
#include "daemon/http_endpoint.hpp"

using namespace opendo::daemon;

TEST(ActivityTokens, EachTokenIsFreshAndStandsForItsCaller) {
  activity_tokens tokens;
  const caller alice{1000, 1, false};
  const caller root{0, 2, true};
  std::set<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    const std::string t = tokens.issue(alice);
    EXPECT_EQ(t.size(), 64U);
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos) << t;
    EXPECT_TRUE(seen.insert(t).second) << "a token came twice";
  }
  const std::string admin = tokens.issue(root);
  ASSERT_TRUE(tokens.find(admin));
  EXPECT_EQ(tokens.find(admin)->uid, 0U);
  EXPECT_TRUE(tokens.find(admin)->admin);
  EXPECT_EQ(tokens.find(*seen.begin())->uid, 1000U);
  EXPECT_FALSE(tokens.find(*seen.begin())->admin);
  // Near misses find nothing: a changed digit, a prefix, a longer string, nothing at all.
  std::string changed = admin;
  changed.back() = changed.back() == '0' ? '1' : '0';
  EXPECT_FALSE(tokens.find(changed));
  EXPECT_FALSE(tokens.find(admin.substr(0, 63)));
  EXPECT_FALSE(tokens.find(admin + "0"));
  EXPECT_FALSE(tokens.find(""));
}

TEST(ActivityTokens, ACallerAskingInALoopRetiresOnlyItsOwnOldest) {
  activity_tokens tokens;
  const caller alice{1000, 1, false};
  const caller bob{1001, 2, false};
  const std::string bobs = tokens.issue(bob);
  const std::string first = tokens.issue(alice);
  std::string last;
  for (std::size_t i = 0; i < activity_tokens::per_uid; ++i) last = tokens.issue(alice);
  EXPECT_FALSE(tokens.find(first)) << "the oldest of alice's tokens is still held";
  EXPECT_TRUE(tokens.find(last));
  EXPECT_TRUE(tokens.find(bobs)) << "alice's tokens pushed out bob's";
}

TEST(HttpEndpoint, RequestLineHeadersAndQueryAreParsed) {
  http_request r;
  ASSERT_TRUE(
      parse_http_request("GET /activity.json?a=1&token=abc&b= HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Authorization:  Bearer xyz \r\n\r\nX-After-The-End: 1\r\n\r\n",
                         r));
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/activity.json");
  EXPECT_EQ(r.query_parameter("token"), "abc");
  EXPECT_EQ(r.query_parameter("a"), "1");
  EXPECT_EQ(r.query_parameter("b"), "");
  EXPECT_EQ(r.query_parameter("missing"), "");
  EXPECT_EQ(r.header("authorization"), "Bearer xyz");
  EXPECT_EQ(r.header("host"), "127.0.0.1");
  EXPECT_EQ(r.header("x-after-the-end"), "");
  http_request bad;
  EXPECT_FALSE(parse_http_request("GARBAGE\r\n\r\n", bad));
}

TEST(HttpEndpoint, RepliesCarryTheirLengthAndHeaders) {
  const std::string wire = to_wire({"200 OK", "text/plain", "hello", {{"X-A", "b"}}});
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
            "Connection: close\r\nX-A: b\r\n\r\nhello");
}
