// Expected digests (jobs/digest.hpp): the forms accepted, and their normal form.
#include "jobs/digest.hpp"

#include <gtest/gtest.h>

#include <string>

using opendo::jobs::parse_digest;

TEST(Digest, AcceptsSha256AndSha512InEitherCase) {
  const std::string hex256(64, 'A');
  auto d = parse_digest("SHA256:" + hex256);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->algorithm, "sha256");
  EXPECT_EQ(d->hex, std::string(64, 'a'));
  EXPECT_EQ(d->text(), "sha256:" + std::string(64, 'a'));
  d = parse_digest("sha512:" + std::string(128, '0'));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->algorithm, "sha512");
}

TEST(Digest, RefusesOtherAlgorithmsLengthsAndDigits) {
  EXPECT_FALSE(parse_digest(""));
  EXPECT_FALSE(parse_digest(std::string(64, 'a')));               // no algorithm
  EXPECT_FALSE(parse_digest("md5:" + std::string(32, 'a')));      // not offered
  EXPECT_FALSE(parse_digest("sha256:" + std::string(63, 'a')));   // short
  EXPECT_FALSE(parse_digest("sha256:" + std::string(128, 'a')));  // the wrong length
  EXPECT_FALSE(parse_digest("sha256:" + std::string(63, 'a') + "g"));
  EXPECT_FALSE(parse_digest("sha256: " + std::string(63, 'a')));
  EXPECT_FALSE(parse_digest("sha1:" + std::string(40, 'a')));
}
