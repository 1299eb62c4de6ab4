// The Windows-style examples (examples/bits_download.cpp, examples/do_download.cpp) compile with
// the project and download a file from a real nginx through a real opendod, bit for bit.
#include <gtest/gtest.h>

#include <string>

#include "support/daemon.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

using namespace opendo::test;

namespace {

class CompatExamples : public ::testing::Test {
 protected:
  run_result run_example(const std::string& name, const std::string& url, const std::string& path) {
    return run({(bin_dir() / name).string(), url, path}, std::chrono::seconds(120),
               {"OPENDO_SOCKET=" + daemon.socket_path().string()});
  }

  nginx_server origin;
  daemon_process daemon;
  temp_dir out{"opendo-out"};
};

}  // namespace

TEST_F(CompatExamples, BitsSampleDownloadsAndCompletesInItsCallback) {
  const std::string digest = origin.make_random_file("bits.bin", 3000000, 31);
  const auto result =
      run_example("example_bits_download", origin.url("bits.bin"), (out / "bits.bin").string());
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << daemon.log();
  EXPECT_NE(result.out.find("JobTransferred: job completed"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("state: ACKNOWLEDGED"), std::string::npos) << result.out;
  EXPECT_EQ(sha256_file(out / "bits.bin"), digest);
}

TEST_F(CompatExamples, BitsSampleReportsAFailedDownload) {
  const auto result = run_example("example_bits_download", origin.url("missing.bin"),
                                  (out / "missing.bin").string());
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("JobError"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("the download failed"), std::string::npos) << result.err;
}

TEST_F(CompatExamples, DoSampleDownloadsAndFinalizes) {
  const std::string digest = origin.make_random_file("do.bin", 3000000, 32);
  const auto result =
      run_example("example_do_download", origin.url("do.bin"), (out / "do.bin").string());
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << daemon.log();
  EXPECT_NE(result.out.find("OnStatusChange: Transferred"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("saved"), std::string::npos) << result.out;
  EXPECT_EQ(sha256_file(out / "do.bin"), digest);
}

TEST_F(CompatExamples, SamplesPrintTheirUsage) {
  for (const char* name : {"example_bits_download", "example_do_download"}) {
    const auto result = run({(bin_dir() / name).string()});
    EXPECT_EQ(result.exit_code, 2) << name;
    EXPECT_NE(result.err.find("usage"), std::string::npos) << name;
  }
}
