// Expected digests of files: a file is delivered only when its bytes have the SHA-256 (or
// SHA-512) it was added with; a mismatch puts the job in ERROR with BG_E_VALIDATION_FAILED and
// the file is never delivered, and a Resume fetches it again.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

job add_checked(client& c, const std::string& url, const fs::path& local,
                const std::string& digest) {
  job j = c.create_job("integrity");
  j.add_file(file_spec{url, local.string(), {}, range_layout::concatenated, digest});
  return j;
}

}  // namespace

TEST(Integrity, AFileWithItsExpectedDigestIsDelivered) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string sha256 = origin.make_random_file("good.bin", 3 << 20, 5);
  client c = connect(daemon);
  job j = add_checked(c, origin.url("good.bin"), out / "good.bin", "sha256:" + sha256);
  EXPECT_EQ(j.info().files[0].digest, "sha256:" + sha256);
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "good.bin"), sha256);

  // SHA-512, given in upper case, and for a file of byte ranges (the local file's bytes).
  const std::string part = random_bytes(5, 100, 50) + random_bytes(5, 1000, 20);
  job k = c.create_job("integrity 512");
  const fs::path piece = out / "piece.bin";
  write_file(out / "expected.bin", part);
  const run_result sum = run({"sha512sum", (out / "expected.bin").string()});
  ASSERT_EQ(sum.exit_code, 0);
  std::string hex = sum.out.substr(0, 128);
  for (char& ch : hex) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  k.add_file(file_spec{origin.url("good.bin"),
                       piece.string(),
                       {{100, 50}, {1000, 20}},
                       range_layout::concatenated,
                       "sha512:" + hex});
  k.resume();
  ASSERT_EQ(k.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(k.complete(), hr::ok);
  EXPECT_EQ(read_file(piece), part);
}

TEST(Integrity, AMismatchIsValidationFailedAndTheFileIsNeverDelivered) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("bad.bin", 1 << 20, 6);
  client c = connect(daemon);
  job j = add_checked(c, origin.url("bad.bin"), out / "bad.bin", "sha256:" + std::string(64, '0'));
  j.resume();
  const job_info failed = j.wait();
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, 0x80200053U);  // BG_E_VALIDATION_FAILED
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_EQ(failed.error->file_index, 0U);
  EXPECT_NE(failed.error->message.find("not delivered"), std::string::npos);
  EXPECT_EQ(failed.files[0].progress.bytes_transferred, 0U);  // the bytes were dropped
  EXPECT_FALSE(failed.files[0].progress.completed);
  // A Resume fetches it again (and fails again: the server still has other bytes).
  j.resume();
  const job_info again = j.wait();
  EXPECT_EQ(again.state, job_state::error);
  EXPECT_EQ(again.error_count, 2U);
  EXPECT_EQ(origin.total_body_bytes_sent("bad.bin"), 2U << 20);
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_FALSE(fs::exists(out / "bad.bin"));
}

TEST(Integrity, MalformedDigestsAreRefusedWhenTheFileIsAdded) {
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("bad digests");
  for (const std::string& digest :
       std::vector<std::string>{"sha256:abc", "md5:" + std::string(32, 'a'), std::string(64, 'a'),
                                "sha256:" + std::string(64, 'x')}) {
    SCOPED_TRACE(digest);
    EXPECT_EQ(hresult_of([&] {
                j.add_file(file_spec{"http://127.0.0.1:1/x",
                                     (out / "x").string(),
                                     {},
                                     range_layout::concatenated,
                                     digest});
              }),
              0x80070057U);
  }
  EXPECT_TRUE(j.info().files.empty());
}

TEST(Integrity, CliChecksSha256) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string sha256 = origin.make_random_file("cli.bin", 100000, 7);
  const auto created = daemon.cli({"create", "cli digest"});
  ASSERT_EQ(created.exit_code, 0);
  std::string id = created.out;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  const auto added = daemon.cli(
      {"addfile", id, origin.url("cli.bin"), (out / "cli.bin").string(), "--sha256", sha256});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const auto wrong = daemon.cli(
      {"addfile", id, origin.url("cli.bin"), (out / "other.bin").string(), "--sha256", "12ab"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("0x80070057"), std::string::npos) << wrong.err;
  ASSERT_EQ(daemon.cli({"resume", id}).exit_code, 0);
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "cli.bin"), sha256);

  // opendo get --sha256: the right digest saves the file, a wrong one saves nothing and fails.
  const auto got = daemon.cli(
      {"get", origin.url("cli.bin"), "-o", (out / "got.bin").string(), "--sha256", sha256});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(sha256_file(out / "got.bin"), sha256);
  const auto refused =
      daemon.cli({"get", origin.url("cli.bin"), "-o", (out / "refused.bin").string(), "--sha256",
                  std::string(64, 'f')});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("0x80200053"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(out / "refused.bin"));
}
