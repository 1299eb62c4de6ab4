// Bad input gets a clear error (HRESULT and words) and changes nothing else: invalid URLs,
// relative or missing paths, names over the limits, unknown jobs, calls on final jobs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "integration/helpers.hpp"
#include "support/files.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

class BadInput : public ::testing::Test {
 protected:
  daemon_process daemon;
  temp_dir out{"opendo-out"};
  client c = connect(daemon);

  // The HRESULT of adding a file, and that the job still has no files afterwards.
  std::uint32_t add_file_result(const std::string& url, const std::string& local) {
    job j = c.create_job("bad");
    const std::uint32_t code = hresult_of([&] { j.add_file(url, local); });
    EXPECT_EQ(j.info().files_total, 0U);
    return code;
  }
};

}  // namespace

TEST_F(BadInput, InvalidUrlsAreRefused) {
  const std::string local = (out / "x").string();
  EXPECT_EQ(add_file_result("not a url", local), 0x80072EE5U);
  EXPECT_EQ(add_file_result("ftp://127.0.0.1/x", local), 0x80072EE6U);
  EXPECT_EQ(add_file_result("file:///etc/passwd", local), 0x80072EE6U);
  EXPECT_EQ(add_file_result("http://", local), 0x80072EE5U);
  EXPECT_EQ(add_file_result("", local), 0x80070057U);
  EXPECT_EQ(add_file_result("http://127.0.0.1/" + std::string(2200, 'a'), local), 0x80200021U);
}

TEST_F(BadInput, LocalNamesMustBeAbsoluteWritableFiles) {
  const std::string url = "http://127.0.0.1:1/x";
  EXPECT_EQ(add_file_result(url, "relative/x"), 0x80070057U);
  EXPECT_EQ(add_file_result(url, ""), 0x80070057U);
  EXPECT_EQ(add_file_result(url, (out / "dir/").string()), 0x80070057U);
  EXPECT_EQ(add_file_result(url, (out / "missing/x").string()), 0x80070003U);
  fs::create_directory(out / "a-directory");
  EXPECT_EQ(add_file_result(url, (out / "a-directory").string()), 0x80070057U);
  EXPECT_EQ(add_file_result(url, "/" + std::string(5000, 'p')), 0x80200021U);
}

TEST_F(BadInput, ErrorsSayWhatHappenedInWords) {
  job j = c.create_job("words");
  try {
    j.add_file("http://127.0.0.1:1/x", (out / "missing/x").string());
    FAIL() << "AddFile into a missing directory succeeded";
  } catch (const opendo::error& e) {
    EXPECT_NE(std::string(e.what()).find((out / "missing").string()), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos)
        << e.what();
  }
}

TEST_F(BadInput, NamesOverTheLimitsAreRefused) {
  EXPECT_EQ(hresult_of([&] { c.create_job(std::string(257, 'n')); }), 0x80200021U);
  EXPECT_EQ(hresult_of([&] { c.create_job(std::string(256, 'n')); }), 0U);
  job j = c.create_job("limits");
  EXPECT_EQ(hresult_of([&] { j.set_description(std::string(1025, 'd')); }), 0x80200021U);
  EXPECT_EQ(hresult_of([&] { j.set_description(std::string(1024, 'd')); }), 0U);
  EXPECT_EQ(j.info().description, std::string(1024, 'd'));
}

TEST_F(BadInput, UnknownJobsAreNotFound) {
  EXPECT_EQ(hresult_of([&] { c.open_job("{00000000-0000-4000-8000-000000000000}"); }), 0x80200001U);
  EXPECT_EQ(hresult_of([&] { c.open_job("garbage"); }), 0x80200001U);
}

TEST_F(BadInput, ResumeWithoutFilesIsEmptyAndStaysSuspended) {
  job j = c.create_job("empty");
  EXPECT_EQ(j.info().state, job_state::suspended);
  EXPECT_EQ(hresult_of([&] { j.resume(); }), 0x80200003U);
  EXPECT_EQ(j.info().state, job_state::suspended);
}

TEST_F(BadInput, EveryMutationOfAFinalJobIsInvalidState) {
  job j = c.create_job("final");
  EXPECT_EQ(j.complete(), hr::ok);
  const std::string url = "http://127.0.0.1:1/x";
  EXPECT_EQ(hresult_of([&] { j.add_file(url, (out / "x").string()); }), 0x80200002U);
  EXPECT_EQ(hresult_of([&] { j.resume(); }), 0x80200002U);
  EXPECT_EQ(hresult_of([&] { j.suspend(); }), 0x80200002U);
  EXPECT_EQ(hresult_of([&] { j.cancel(); }), 0x80200002U);
  EXPECT_EQ(hresult_of([&] { j.complete(); }), 0x80200002U);
  EXPECT_EQ(hresult_of([&] { j.set_display_name("x"); }), 0x80200002U);
  EXPECT_EQ(hresult_of([&] { j.set_priority(job_priority::high); }), 0x80200002U);
  EXPECT_EQ(j.info().state, job_state::acknowledged);
}

TEST_F(BadInput, UnknownNotifyFlagsAreNotImplemented) {
  job j = c.create_job("flags");
  EXPECT_EQ(hresult_of([&] { j.set_notify_flags(0x40); }), 0x80004001U);
  EXPECT_EQ(j.info().notify_flags, 0x3U);
}

TEST_F(BadInput, TooManyFilesInAJob) {
  job j = c.create_job("files");
  for (int i = 0; i < 200; ++i) {
    j.add_file("http://127.0.0.1:1/" + std::to_string(i), (out / std::to_string(i)).string());
  }
  EXPECT_EQ(hresult_of([&] { j.add_file("http://127.0.0.1:1/x", (out / "x").string()); }),
            0x80200051U);
  EXPECT_EQ(j.info().files_total, 200U);
}

TEST_F(BadInput, TooManyJobsPerUser) {
  for (int i = 0; i < 60; ++i) c.create_job("j" + std::to_string(i));
  EXPECT_EQ(hresult_of([&] { c.create_job("one too many"); }), 0x80200049U);
  EXPECT_EQ(c.list_jobs().size(), 60U);
}

// A directory the daemon's user cannot write: E_ACCESSDENIED at AddFile, naming the directory.
// As root the daemon runs as nobody (root may write anywhere); otherwise the directory is 0555.
TEST(BadInputPermissions, UnwritableDirectoryIsAccessDenied) {
  const bool root = ::geteuid() == 0;
  daemon_options options;
  if (root) options.run_as = std::make_pair(uid_t{65534}, gid_t{65534});
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  fs::create_directory(out / "locked");
  fs::permissions(out / "locked", fs::perms::owner_read | fs::perms::owner_exec |
                                      fs::perms::group_read | fs::perms::group_exec |
                                      fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(out.path(), fs::perms::all);  // nobody may enter the temp dir
  client c = connect(daemon);
  job j = c.create_job("locked");
  try {
    j.add_file("http://127.0.0.1:1/x", (out / "locked" / "x").string());
    FAIL() << "AddFile into an unwritable directory succeeded";
  } catch (const opendo::error& e) {
    EXPECT_EQ(e.hresult(), 0x80070005U);
    EXPECT_NE(std::string(e.what()).find((out / "locked").string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(j.info().files_total, 0U);
  EXPECT_EQ(j.info().owner_uid, ::geteuid());  // the caller owns the job, whoever runs opendod
}
