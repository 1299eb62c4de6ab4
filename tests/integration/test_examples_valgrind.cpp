// The client library leaks nothing and reads no memory it should not, as its users run it: each
// example (the modern API and the two Windows-style samples) downloads a file from a real nginx
// through a real opendod under valgrind --leak-check=full. Definite, indirect and possible leaks
// and every memory error fail the test; memory still reachable at exit (libcurl's and
// OpenSSL's global tables) does not. Not built with sanitizers: valgrind cannot run an ASan
// binary, and ASan's own leak checker covers that build.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/daemon.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

using namespace opendo::test;

namespace {

class ExamplesUnderValgrind : public ::testing::Test {
 protected:
  // Runs build/bin/NAME ARGS under valgrind with the daemon's socket in OPENDO_SOCKET.
  run_result run_checked(const std::string& name, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"valgrind",
                                     "--leak-check=full",
                                     "--error-exitcode=1",
                                     "--errors-for-leak-kinds=definite,indirect,possible",
                                     "--show-leak-kinds=definite,indirect,possible",
                                     "--num-callers=30",
                                     (bin_dir() / name).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, std::chrono::seconds(300), {"OPENDO_SOCKET=" + daemon.socket_path().string()});
  }

  // valgrind ran the program to its end and found nothing.
  static void expect_clean(const run_result& r) {
    EXPECT_NE(r.err.find("ERROR SUMMARY: 0 errors"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("definitely lost: "), r.err.find("definitely lost: 0 bytes")) << r.err;
  }

  nginx_server origin;
  daemon_process daemon;
  temp_dir out{"opendo-out"};
};

}  // namespace

TEST_F(ExamplesUnderValgrind, ModernApiDownloadIsClean) {
  const std::string digest = origin.make_random_file("modern.bin", 400000, 81);
  const auto r = run_checked(
      "example_download",
      {origin.url("modern.bin"), (out / "modern.bin").string(), daemon.socket_path().string()});
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << daemon.log();
  expect_clean(r);
  EXPECT_EQ(sha256_file(out / "modern.bin"), digest);
}

TEST_F(ExamplesUnderValgrind, BitsSampleIsClean) {
  const std::string digest = origin.make_random_file("bits.bin", 400000, 82);
  const auto r =
      run_checked("example_bits_download", {origin.url("bits.bin"), (out / "bits.bin").string()});
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << daemon.log();
  expect_clean(r);
  EXPECT_EQ(sha256_file(out / "bits.bin"), digest);
}

TEST_F(ExamplesUnderValgrind, DoSampleIsClean) {
  const std::string digest = origin.make_random_file("do.bin", 400000, 83);
  const auto r =
      run_checked("example_do_download", {origin.url("do.bin"), (out / "do.bin").string()});
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << daemon.log();
  expect_clean(r);
  EXPECT_EQ(sha256_file(out / "do.bin"), digest);
}

// A failed download takes the error paths (JobError, the error object) and leaks nothing either;
// the sample exits 1 for the failure itself, so valgrind's verdict is read from its summary.
TEST_F(ExamplesUnderValgrind, BitsSampleFailureIsClean) {
  const auto r = run_checked("example_bits_download",
                             {origin.url("missing.bin"), (out / "missing.bin").string()});
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("JobError"), std::string::npos) << r.out;
  expect_clean(r);
}
