// The examples compile with the project and do what they say against a real daemon and nginx.
#include <gtest/gtest.h>

#include <string>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

using namespace opendo::test;

TEST(Examples, DownloadFetchesAFileWithTheModernApi) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("example.bin", 700000, 17);
  const auto result = run({(bin_dir() / "example_download").string(), origin.url("example.bin"),
                           (out / "example.bin").string(), daemon.socket_path().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("state: TRANSFERRED"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("saved"), std::string::npos) << result.out;
  EXPECT_EQ(sha256_file(out / "example.bin"), digest);
}
