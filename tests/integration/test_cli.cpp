// The opendo command line, run as a user would: `get` with no daemon running starts one, the
// bitsadmin-style verbs drive a job, --json prints the wire objects, failures exit non-zero with
// the HRESULT and its message, and every verb has complete help.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;
using nlohmann::json;

namespace {

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

TEST(Cli, GetStartsADaemonWhenNoneRunsAndDownloads) {
  nginx_server origin;
  const std::string digest = origin.make_random_file("auto.bin", 2 << 20, 3);
  temp_dir home("opendo-home");
  const std::vector<std::string> env = {"XDG_RUNTIME_DIR=" + (home / "run").string(),
                                        "HOME=" + home.path().string(), "XDG_STATE_HOME="};
  fs::create_directories(home / "run");
  const std::string opendo = (bin_dir() / "opendo").string();
  const auto result =
      run({opendo, "get", origin.url("auto.bin"), "-o", (home / "auto.bin").string()},
          std::chrono::seconds(60), env);
  // The autostarted daemon holds its lock file with its pid in it; stop it whatever happens.
  const fs::path lock = home / "run" / "opendo" / "opendod.sock.lock";
  std::string pid_text;
  std::ifstream(lock) >> pid_text;
  const pid_t daemon_pid = pid_text.empty() ? 0 : static_cast<pid_t>(std::stol(pid_text));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(trim(result.out), (home / "auto.bin").string());
  EXPECT_EQ(sha256_file(home / "auto.bin"), digest);
  EXPECT_TRUE(fs::exists(home / ".local" / "state" / "opendo" / "jobs.sqlite"));
  // A second command talks to the same daemon instead of starting another.
  const auto listed = run({opendo, "--json", "list"}, std::chrono::seconds(30), env);
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  std::string pid_after;
  std::ifstream(lock) >> pid_after;
  EXPECT_EQ(pid_after, pid_text);
  ASSERT_GT(daemon_pid, 0);
  EXPECT_EQ(::kill(daemon_pid, SIGTERM), 0);
  for (int i = 0; i < 500 && ::kill(daemon_pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(::kill(daemon_pid, 0), 0) << "the autostarted daemon did not stop on SIGTERM";
}

TEST(Cli, GetOfAMissingFileFailsWithTheHresultAndCancelsTheJob) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  const auto result = daemon.cli({"get", origin.url("nope.bin"), "-d", out.path().string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("opendo: error 0x80190194"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("404"), std::string::npos) << result.err;
  EXPECT_TRUE(fs::is_empty(out.path()));
  EXPECT_TRUE(connect(daemon).list_jobs().empty());
}

TEST(Cli, VerbsDriveAJobFromCreateToComplete) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("verbs.bin", 100000, 5);
  const auto created = daemon.cli({"create", "by verbs"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string id = trim(created.out);
  ASSERT_EQ(id.size(), 38U) << id;
  EXPECT_EQ(
      daemon.cli({"addfile", id, origin.url("verbs.bin"), (out / "verbs.bin").string()}).exit_code,
      0);
  EXPECT_EQ(daemon.cli({"setprop", id, "--priority", "HIGH", "--retry-delay", "30"}).exit_code, 0);
  const json info = json::parse(daemon.cli({"--json", "info", id}).out);
  EXPECT_EQ(info["state"], "SUSPENDED");
  EXPECT_EQ(info["priority"], "HIGH");
  EXPECT_EQ(info["minimum_retry_delay"], 30);
  EXPECT_EQ(info["files"][0]["remote_url"], origin.url("verbs.bin"));
  EXPECT_EQ(daemon.cli({"resume", id}).exit_code, 0);
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred);
  const json listed = json::parse(daemon.cli({"--json", "list"}).out);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0]["state"], "TRANSFERRED");
  const auto human = daemon.cli({"info", id});
  EXPECT_NE(human.out.find("TRANSFERRED"), std::string::npos) << human.out;
  EXPECT_EQ(daemon.cli({"complete", id}).exit_code, 0);
  EXPECT_EQ(sha256_file(out / "verbs.bin"), digest);
  const auto again = daemon.cli({"resume", id});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("0x80200002"), std::string::npos) << again.err;
}

TEST(Cli, SetpropSetsTheLimitsAndInfoShowsThem) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("limits.bin", 1000, 6);
  const auto created = daemon.cli({"create", "limits"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string id = trim(created.out);
  EXPECT_EQ(daemon
                .cli({"setprop", id, "--max-download-time", "120", "--max-download-size",
                      "5000000000", "--notification-interval", "2000"})
                .exit_code,
            0);
  const json info = json::parse(daemon.cli({"--json", "info", id}).out);
  EXPECT_EQ(info["max_download_time"], 120);
  EXPECT_EQ(info["max_download_size"], 5000000000ULL);
  EXPECT_EQ(info["minimum_notification_interval_ms"], 2000);
  const auto human = daemon.cli({"info", id});
  EXPECT_NE(human.out.find("120 s"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("5000000000 bytes"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("2000 ms"), std::string::npos) << human.out;
  // The maximum download size is fixed once the job was resumed.
  EXPECT_EQ(daemon.cli({"addfile", id, origin.url("limits.bin"), (out / "limits.bin").string()})
                .exit_code,
            0);
  EXPECT_EQ(daemon.cli({"resume", id}).exit_code, 0);
  const auto late = daemon.cli({"setprop", id, "--max-download-size", "1"});
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_NE(late.err.find("0x80200062"), std::string::npos) << late.err;
}

TEST(Cli, AddfileWithRangesFetchesOnlyThoseBytes) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("r.bin", 10000, 9);
  const std::string id = trim(daemon.cli({"create", "ranges"}).out);
  const auto added = daemon.cli(
      {"addfile", id, origin.url("r.bin"), (out / "r.bin").string(), "--ranges", "9000:eof,10:5"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const auto human = daemon.cli({"info", id});
  EXPECT_NE(human.out.find("ranges 9000:eof,10:5 (one after another)"), std::string::npos)
      << human.out;
  const json info = json::parse(daemon.cli({"--json", "info", id}).out);
  EXPECT_EQ(info["files"][0]["ranges"][0]["length"], -1);
  EXPECT_EQ(info["files"][0]["layout"], "concatenated");
  ASSERT_EQ(daemon.cli({"resume", id}).exit_code, 0);
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(daemon.cli({"complete", id}).exit_code, 0);
  EXPECT_EQ(read_file(out / "r.bin"), random_bytes(9, 9000, 1000) + random_bytes(9, 10, 5));

  // A malformed list is a usage error; overlapping ranges are the daemon's BG_E_OVERLAPPING_RANGES.
  const std::string other = trim(daemon.cli({"create", "bad ranges"}).out);
  const auto malformed = daemon.cli(
      {"addfile", other, origin.url("r.bin"), (out / "x.bin").string(), "--ranges", "10-20"});
  EXPECT_NE(malformed.exit_code, 0);
  EXPECT_NE(malformed.err.find("OFFSET:LENGTH"), std::string::npos) << malformed.err;
  const auto overlapping = daemon.cli(
      {"addfile", other, origin.url("r.bin"), (out / "x.bin").string(), "--ranges", "0:10,5:10"});
  EXPECT_EQ(overlapping.exit_code, 1);
  EXPECT_NE(overlapping.err.find("0x8020002C"), std::string::npos) << overlapping.err;
}

TEST(Cli, MonitorFollowsAJobUntilItSettles) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("watched.bin", 1 << 20, 5);
  client c = connect(daemon);
  job j = c.create_job("watched");
  j.add_file(origin.url("watched.bin"), (out / "watched.bin").string());
  j.resume();
  const auto result = daemon.cli({"--json", "monitor", j.id()}, std::chrono::seconds(30));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("TRANSFERRED"), std::string::npos) << result.out;
}

TEST(Cli, UnknownJobIsNotFound) {
  daemon_process daemon;
  const auto result = daemon.cli({"info", "{00000000-0000-4000-8000-000000000000}"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("0x80200001"), std::string::npos) << result.err;
}

TEST(Cli, NoDaemonAndNoAutostartIsAClearError) {
  const auto result = run({(bin_dir() / "opendo").string(), "--no-autostart", "--socket",
                           "/nonexistent/opendod.sock", "list"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("0x80D01001"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("/nonexistent/opendod.sock"), std::string::npos) << result.err;
}

TEST(Cli, EveryVerbHasHelp) {
  const std::string opendo = (bin_dir() / "opendo").string();
  const auto top = run({opendo, "--help"});
  EXPECT_EQ(top.exit_code, 0);
  for (const char* verb : {"create", "addfile", "resume", "suspend", "cancel", "complete", "info",
                           "list", "monitor", "get", "setprop", "publish"}) {
    EXPECT_NE(top.out.find(verb), std::string::npos) << verb << " missing from --help";
    const auto help = run({opendo, verb, "--help"});
    EXPECT_EQ(help.exit_code, 0) << verb;
    EXPECT_GT(help.out.size(), 100U) << verb << ":\n" << help.out;
  }
  const auto daemon_help = run({(bin_dir() / "opendod").string(), "--help"});
  EXPECT_EQ(daemon_help.exit_code, 0);
  EXPECT_NE(daemon_help.out.find("--state-dir"), std::string::npos);
}

TEST(Cli, OpendoSocketPicksTheDaemonWithoutSocketOption) {
  daemon_process daemon;
  client c = connect(daemon);
  c.create_job("seen through OPENDO_SOCKET");
  const auto result =
      run({(bin_dir() / "opendo").string(), "--json", "list"}, std::chrono::seconds(30),
          {"OPENDO_SOCKET=" + daemon.socket_path().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json listed = json::parse(result.out);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0]["display_name"], "seen through OPENDO_SOCKET");
}
