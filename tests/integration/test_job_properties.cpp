// Job properties that change how files are fetched: proxy settings, credentials (Basic against a
// real nginx auth_basic, NTLM against the fault origin as server and as proxy), SetRemoteName, the
// limits (maximum download time and size, minimum notification interval), and what GetJob reports.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/fault_origin.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

// An nginx that answers every request with the same body: proof that a request went through it.
nginx_options answering(const std::string& body) {
  nginx_options options;
  options.extra_config = {"location / { return 200 '" + body + "'; }"};
  return options;
}

}  // namespace

TEST(Proxy, OverrideSendsRequestsThroughTheProxy) {
  nginx_server origin;
  nginx_server proxy(answering("via-proxy"));
  origin.make_random_file("p.bin", 1000, 1);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("proxied");
  j.set_proxy_settings({proxy_usage::override, "127.0.0.1:" + std::to_string(proxy.port()), ""});
  j.add_file(origin.url("p.bin"), (out / "p.bin").string());
  const job_info before = j.info();
  EXPECT_EQ(before.proxy.usage, proxy_usage::override);
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  j.complete();
  EXPECT_EQ(read_file(out / "p.bin"), "via-proxy");
  EXPECT_TRUE(origin.access_log().empty());
}

TEST(Proxy, BypassListGoesDirect) {
  nginx_server origin;
  nginx_server proxy(answering("via-proxy"));
  const std::string digest = origin.make_random_file("d.bin", 1000, 1);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("bypass");
  j.set_proxy_settings(
      {proxy_usage::override, "127.0.0.1:" + std::to_string(proxy.port()), "127.0.0.1"});
  j.add_file(origin.url("d.bin"), (out / "d.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  j.complete();
  EXPECT_EQ(sha256_file(out / "d.bin"), digest);
}

TEST(Proxy, NoProxyIgnoresTheEnvironmentsProxy) {
  nginx_server origin;
  nginx_server proxy(answering("via-proxy"));
  const std::string digest = origin.make_random_file("n.bin", 1000, 1);
  daemon_options options;
  options.env = {"http_proxy=http://127.0.0.1:" + std::to_string(proxy.port()), "no_proxy="};
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  client c = connect(daemon);
  // PRECONFIG (the default) follows the environment...
  job through = c.create_job("preconfig");
  through.add_file(origin.url("n.bin"), (out / "through.bin").string());
  through.resume();
  ASSERT_EQ(through.wait().state, job_state::transferred);
  through.complete();
  EXPECT_EQ(read_file(out / "through.bin"), "via-proxy");
  // ...NO_PROXY does not.
  job direct = c.create_job("no proxy");
  direct.set_proxy_settings({proxy_usage::no_proxy, "", ""});
  direct.add_file(origin.url("n.bin"), (out / "direct.bin").string());
  direct.resume();
  ASSERT_EQ(direct.wait().state, job_state::transferred);
  direct.complete();
  EXPECT_EQ(sha256_file(out / "direct.bin"), digest);
}

TEST(Proxy, InvalidSettingsAreRefused) {
  daemon_process daemon;
  client c = connect(daemon);
  job j = c.create_job("bad proxy");
  EXPECT_EQ(hresult_of([&] {
              j.set_proxy_settings({proxy_usage::override, "", ""});
            }),
            0x80070057U);
  EXPECT_EQ(hresult_of([&] {
              j.set_proxy_settings({proxy_usage::no_proxy, "p:1", ""});
            }),
            0x80070057U);
  EXPECT_EQ(j.info().proxy.usage, proxy_usage::preconfig);
}

TEST(Credentials, BasicAuthenticationWithTheJobsCredentials) {
  temp_dir secrets("opendo-secrets");
  // The password file nginx checks, made with openssl as htpasswd would.
  const auto hashed = run({"openssl", "passwd", "-apr1", "s3cret-pa55"});
  ASSERT_EQ(hashed.exit_code, 0);
  write_file(secrets / "htpasswd", "alice:" + hashed.out);
  nginx_options options;
  options.extra_config = {"auth_basic \"opendo test\";",
                          "auth_basic_user_file " + (secrets / "htpasswd").string() + ";"};
  nginx_server origin(options);
  const std::string digest = origin.make_random_file("private.bin", 4000, 1);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);

  job anonymous = c.create_job("anonymous");
  anonymous.add_file(origin.url("private.bin"), (out / "a.bin").string());
  anonymous.resume();
  const job_info refused = anonymous.wait();
  ASSERT_EQ(refused.state, job_state::error);
  EXPECT_EQ(refused.error->code, 0x80190191U);  // HTTP 401

  job j = c.create_job("with credentials");
  j.set_credentials(auth_target::server, auth_scheme::basic, "alice", "s3cret-pa55");
  j.add_file(origin.url("private.bin"), (out / "private.bin").string());
  const job_info info = j.info();
  ASSERT_EQ(info.credentials.size(), 1U);
  EXPECT_EQ(info.credentials[0].user_name, "alice");
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  j.complete();
  EXPECT_EQ(sha256_file(out / "private.bin"), digest);
  // The secret is in no log and in no reply.
  EXPECT_EQ(daemon.log().find("s3cret-pa55"), std::string::npos);
  EXPECT_EQ(daemon.cli({"--json", "info", j.id()}).out.find("s3cret"), std::string::npos);
}

// SetCredentials with BG_AUTH_SCHEME_DIGEST: the origin checks the Digest response (MD5 over
// the password, its nonce and the request), so only the right password gets the file.
TEST(Credentials, DigestAuthenticationWithTheJobsCredentials) {
  fault_origin origin;
  const std::string digest = origin.serve_random("digest.bin", 50000, 9);
  origin.set_fault("digest.bin", fault::digest_authentication("alice", "d1gest-pa55"));
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);

  job wrong = c.create_job("wrong password");
  wrong.set_credentials(auth_target::server, auth_scheme::digest, "alice", "not-the-one");
  wrong.add_file(origin.url("digest.bin"), (out / "wrong.bin").string());
  wrong.resume();
  const job_info refused = wrong.wait();
  ASSERT_EQ(refused.state, job_state::error);
  EXPECT_EQ(refused.error->code, 0x80190191U);  // HTTP 401

  job j = c.create_job("digest");
  j.set_credentials(auth_target::server, auth_scheme::digest, "alice", "d1gest-pa55");
  j.add_file(origin.url("digest.bin"), (out / "digest.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  j.complete();
  EXPECT_EQ(sha256_file(out / "digest.bin"), digest);

  int verified = 0;
  int failed = 0;
  for (const request_record& r : origin.requests_for("digest.bin")) {
    if (r.digest_user.empty()) continue;
    EXPECT_EQ(r.digest_user, "alice");
    if (r.digest_verified) {
      ++verified;
      EXPECT_EQ(r.status, 200);
    } else {
      ++failed;
    }
  }
  EXPECT_GE(verified, 1) << "no request carried a valid Digest response";
  EXPECT_GE(failed, 1) << "the wrong password was never tried";
  EXPECT_EQ(daemon.log().find("d1gest-pa55"), std::string::npos);
  EXPECT_EQ(daemon.cli({"--json", "info", j.id()}).out.find("d1gest"), std::string::npos);
}

TEST(Credentials, UnsupportedSchemesAndTargetsAreRefused) {
  daemon_process daemon;
  client c = connect(daemon);
  job j = c.create_job("schemes");
  EXPECT_EQ(
      hresult_of([&] { j.set_credentials(auth_target::server, auth_scheme::negotiate, "u", "p"); }),
      0x80004001U);
  EXPECT_EQ(
      hresult_of([&] { j.set_credentials(auth_target::proxy, auth_scheme::passport, "u", "p"); }),
      0x80004001U);
  EXPECT_EQ(hresult_of([&] {
              j.set_credentials(auth_target::server, static_cast<auth_scheme>(6), "u", "p");
            }),
            0x80070057U);
  EXPECT_EQ(hresult_of([&] {
              j.set_credentials(static_cast<auth_target>(7), auth_scheme::basic, "u", "p");
            }),
            0x80070057U);
  j.set_credentials(auth_target::proxy, auth_scheme::digest, "u", "p");
  EXPECT_EQ(j.info().credentials.size(), 1U);
  j.remove_credentials(auth_target::proxy, auth_scheme::digest);
  EXPECT_TRUE(j.info().credentials.empty());
}

// NTLM is connection-based: the origin answers 401 to the plain request, a challenge to the
// Type 1 message, and serves the Type 3 message on the same connection; it logs the user and
// domain the Type 3 message carried ("DOMAIN\\user" as BITS takes them).
TEST(Credentials, NtlmAuthenticationWithTheServer) {
  fault_origin origin;
  const std::string digest = origin.serve_random("ntlm.bin", 50000, 7);
  origin.set_fault("ntlm.bin", fault::ntlm_authentication(false));
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);

  job anonymous = c.create_job("anonymous");
  anonymous.add_file(origin.url("ntlm.bin"), (out / "anonymous.bin").string());
  anonymous.resume();
  const job_info refused = anonymous.wait();
  ASSERT_EQ(refused.state, job_state::error);
  EXPECT_EQ(refused.error->code, 0x80190191U);  // HTTP 401

  job j = c.create_job("ntlm");
  j.set_credentials(auth_target::server, auth_scheme::ntlm, "CORP\\alice", "n7lm-pa55");
  j.add_file(origin.url("ntlm.bin"), (out / "ntlm.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  j.complete();
  EXPECT_EQ(sha256_file(out / "ntlm.bin"), digest);

  bool authenticated = false;
  for (const request_record& r : origin.requests_for("ntlm.bin")) {
    if (r.ntlm_message == 3 && r.status == 200) {
      authenticated = true;
      EXPECT_EQ(r.ntlm_user, "alice");
      EXPECT_EQ(r.ntlm_domain, "CORP");
    }
  }
  EXPECT_TRUE(authenticated) << "no request was served after an NTLM Type 3 message";
  EXPECT_EQ(daemon.log().find("n7lm-pa55"), std::string::npos);
}

// A corporate proxy that wants NTLM: the job's proxy credentials answer its 407.
TEST(Credentials, NtlmAuthenticationWithTheProxy) {
  fault_origin proxy;  // also the origin: it serves the paths of the URLs it is asked for
  const std::string digest = proxy.serve_random("p.bin", 30000, 8);
  proxy.set_fault("p.bin", fault::ntlm_authentication(true));
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("ntlm proxy");
  j.set_proxy_settings({proxy_usage::override, "127.0.0.1:" + std::to_string(proxy.port()), ""});
  j.set_credentials(auth_target::proxy, auth_scheme::ntlm, "bob", "pr0xy-pa55");
  j.add_file(proxy.url("p.bin"), (out / "p.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  j.complete();
  EXPECT_EQ(sha256_file(out / "p.bin"), digest);
  const auto requests = proxy.requests_for("p.bin");
  ASSERT_FALSE(requests.empty());
  EXPECT_TRUE(requests.front().absolute_form) << "the request did not go through the proxy";
  const bool authenticated = std::any_of(requests.begin(), requests.end(), [](const auto& r) {
    return r.ntlm_message == 3 && r.status == 200 && r.ntlm_user == "bob";
  });
  EXPECT_TRUE(authenticated);
}

TEST(RemoteName, AFileInErrorIsFixedWithSetRemoteName) {
  nginx_server origin;
  const std::string digest = origin.make_random_file("right.bin", 5000, 1);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("rename");
  j.add_file(origin.url("wrong.bin"), (out / "f.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::error);
  j.set_remote_name(0, origin.url("right.bin"));
  EXPECT_EQ(j.info().files[0].remote_url, origin.url("right.bin"));
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  j.complete();
  EXPECT_EQ(sha256_file(out / "f.bin"), digest);
}

// BITS allows SetRemoteName in every state but the final ones. A file being transferred goes on
// from the new server at the byte it had reached (same validators); a transferred file keeps its
// bytes.
TEST(RemoteName, ChangesInAnyActiveStateAndAMovingFileContinuesFromTheNewServer) {
  nginx_options slow;
  slow.limit_rate = 256 << 10;
  nginx_server origin(slow);
  const std::string digest = origin.make_random_file("s.bin", 4 << 20, 1);
  // The same bytes under another name, with the same mtime and so the same ETag.
  origin.make_random_file("mirror/s.bin", 4 << 20, 1);
  const auto when = std::chrono::system_clock::now() - std::chrono::hours(1);
  origin.set_mtime("s.bin", when);
  origin.set_mtime("mirror/s.bin", when);
  origin.make_random_file("t.bin", 1000, 2);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("states");
  j.add_file(origin.url("t.bin"), (out / "t.bin").string());
  j.add_file(origin.url("s.bin"), (out / "s.bin").string());
  EXPECT_EQ(hresult_of([&] { j.set_remote_name(2, origin.url("x")); }), 0x80070057U);
  EXPECT_EQ(hresult_of([&] { j.set_remote_name(1, "ftp://x/y"); }), 0x80072EE6U);
  j.resume();
  const job_info moving =
      wait_until(j, [](const job_info& i) { return i.files[1].progress.bytes_transferred > 0; });
  ASSERT_EQ(moving.state, job_state::transferring) << daemon.log();
  ASSERT_TRUE(moving.files[0].progress.completed);
  j.set_remote_name(1, origin.url("mirror/s.bin"));
  j.set_remote_name(0, origin.url("gone.bin"));  // transferred: kept as it is
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.info().files[1].remote_url, origin.url("mirror/s.bin"));
  EXPECT_EQ(j.info().files[0].remote_url, origin.url("gone.bin"));
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "s.bin"), digest);
  EXPECT_EQ(read_file(out / "t.bin").size(), 1000U);
  // The mirror was asked for the rest only, guarded by If-Range; gone.bin was never asked for.
  std::vector<access_log_entry> mirror;
  for (const auto& entry : origin.access_log()) {
    EXPECT_NE(entry.path, "/gone.bin");
    if (entry.path == "/mirror/s.bin") mirror.push_back(entry);
  }
  ASSERT_EQ(mirror.size(), 1U);
  EXPECT_EQ(mirror[0].range.rfind("bytes=", 0), 0U) << mirror[0].range;
  EXPECT_NE(mirror[0].range, "bytes=0-");
  EXPECT_FALSE(mirror[0].if_range.empty());
  EXPECT_EQ(mirror[0].status, 206);
  EXPECT_EQ(hresult_of([&] { j.set_remote_name(1, origin.url("s.bin")); }), 0x80200002U);
}

TEST(RemoteName, ReplaceRemotePrefixChangesAllMatchingFilesOrNone) {
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("prefix");
  j.add_file("http://old.example/a", (out / "a").string());
  j.add_file("http://old.example/b", (out / "b").string());
  j.add_file("http://other.example/c", (out / "c").string());
  EXPECT_FALSE(j.replace_remote_prefix("http://none.example/", "http://new.example/"));
  // One new URL would be refused (not http): nothing changes.
  EXPECT_EQ(hresult_of([&] { j.replace_remote_prefix("http://old.example/", "gopher://x/"); }),
            0x80072EE6U);
  EXPECT_EQ(j.info().files[0].remote_url, "http://old.example/a");
  EXPECT_TRUE(j.replace_remote_prefix("http://old.example/", "https://new.example/v2/"));
  const job_info info = j.info();
  EXPECT_EQ(info.files[0].remote_url, "https://new.example/v2/a");
  EXPECT_EQ(info.files[1].remote_url, "https://new.example/v2/b");
  EXPECT_EQ(info.files[2].remote_url, "http://other.example/c");
  EXPECT_EQ(hresult_of([&] { j.replace_remote_prefix("", "x"); }), 0x80070057U);
  j.cancel();
  EXPECT_EQ(hresult_of([&] { j.replace_remote_prefix("https://", "http://"); }), 0x80200002U);
}

TEST(Ownership, TheOwnerIsTheCallerAndOnlyAdministratorsTakeOwnership) {
  daemon_process daemon;
  client c = connect(daemon);
  job j = c.create_job("owned");
  EXPECT_EQ(j.info().owner_uid, ::geteuid());
  EXPECT_EQ(owner_sid(1000), "S-1-22-1-1000");
  if (::geteuid() == 0) {
    j.set_notify_command("/bin/true", "");
    j.take_ownership();  // root is an administrator
    EXPECT_EQ(j.info().owner_uid, 0U);
    EXPECT_TRUE(j.info().notify_command.program.empty());  // cleared by TakeOwnership
  } else {
    EXPECT_EQ(hresult_of([&] { j.take_ownership(); }), 0x80070005U);
  }
}

TEST(AddFiles, AFileSetIsAddedWholeOrNotAtAll) {
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("set");
  EXPECT_EQ(hresult_of([&] {
              j.add_files({{"http://127.0.0.1:1/a", (out / "a").string()},
                           {"http://127.0.0.1:1/b", "relative"}});
            }),
            0x80070057U);
  EXPECT_EQ(j.info().files_total, 0U);
  j.add_files({{"http://127.0.0.1:1/a", (out / "a").string()},
               {"http://127.0.0.1:1/b", (out / "b").string()}});
  EXPECT_EQ(j.info().files_total, 2U);
}

// ---- limits -----------------------------------------------------------------------------------

TEST(MaxDownloadTime, ASlowDownloadFailsWhenItsTimeIsUp) {
  nginx_options slow;
  slow.limit_rate = 256 << 10;  // 8 MiB take 32 s
  nginx_server origin(slow);
  origin.make_random_file("slow.bin", 8 << 20, 1);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("timed");
  EXPECT_EQ(j.info().max_download_time, 7776000U);  // Windows' default, 90 days
  j.set_maximum_download_time(std::chrono::seconds(2));
  EXPECT_EQ(j.info().max_download_time, 2U);
  j.add_file(origin.url("slow.bin"), (out / "slow.bin").string());
  const auto start = std::chrono::steady_clock::now();
  j.resume();
  const job_info failed = wait_for_state(j, job_state::error, std::chrono::seconds(20));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  ASSERT_TRUE(failed.error.has_value());
  EXPECT_EQ(failed.error->code, 0x80200054U);  // BG_E_MAXDOWNLOAD_TIMEOUT
  EXPECT_EQ(failed.error->context, error_context::general_queue_manager);
  EXPECT_FALSE(failed.error->file_index.has_value());
  EXPECT_GE(elapsed, std::chrono::milliseconds(1900));
  EXPECT_LE(elapsed, std::chrono::seconds(5));
  // The transfer stopped with its bytes on disk recorded: some arrived, far from all of them.
  EXPECT_GT(failed.bytes_transferred, 0U);
  EXPECT_LT(failed.bytes_transferred, 4U << 20);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(j.info().bytes_transferred, failed.bytes_transferred);  // nothing more arrives
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_FALSE(fs::exists(out / "slow.bin"));
  EXPECT_TRUE(fs::is_empty(out.path()));  // and no temporary file is left behind
}

TEST(MaxDownloadTime, ResumeStartsTheCountAgainAndZeroIsNoLimit) {
  nginx_options slow;
  slow.limit_rate = 1 << 20;
  nginx_server origin(slow);
  const std::string digest = origin.make_random_file("r.bin", 3 << 20, 2);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("timed twice");
  j.set_maximum_download_time(std::chrono::seconds(1));
  j.add_file(origin.url("r.bin"), (out / "r.bin").string());
  j.resume();
  job_info info = wait_for_state(j, job_state::error, std::chrono::seconds(20));
  ASSERT_EQ(info.state, job_state::error) << daemon.log();
  EXPECT_EQ(info.error->code, 0x80200054U);
  j.set_maximum_download_time(std::chrono::seconds(0));
  j.resume();
  info = j.wait();
  ASSERT_EQ(info.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "r.bin"), digest);
}

TEST(MaxDownloadTime, TimeSpentSurvivesADaemonRestart) {
  nginx_options slow;
  slow.limit_rate = 256 << 10;
  nginx_server origin(slow);
  origin.make_random_file("k.bin", 16 << 20, 3);
  daemon_process daemon;
  temp_dir out("opendo-out");
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("restarted");
    id = j.id();
    j.set_maximum_download_time(std::chrono::seconds(4));
    j.add_file(origin.url("k.bin"), (out / "k.bin").string());
    j.resume();
    ASSERT_EQ(wait_until(j, [](const job_info& i) { return i.bytes_transferred > 0; }).state,
              job_state::transferring);
    // About 3 s of the 4 s are spent (and checkpointed once a second) when the daemon dies.
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    EXPECT_EQ(j.info().state, job_state::transferring);
  }
  daemon.kill9();
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  const auto start = std::chrono::steady_clock::now();
  const job_info failed = wait_for_state(j, job_state::error, std::chrono::seconds(20));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  EXPECT_EQ(failed.error->code, 0x80200054U);
  // Only what was left of the 4 s (about 1 s, 2 s at most with the last second unrecorded).
  EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
}

TEST(MaxDownloadSize, AFileLargerThanTheLimitIsNotFetched) {
  nginx_options slow;
  slow.limit_rate = 1 << 20;
  nginx_server origin(slow);
  origin.make_random_file("big.bin", 16 << 20, 4);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("capped");
  EXPECT_EQ(j.info().max_download_size, 0U);
  j.set_maximum_download_size(1 << 20);
  EXPECT_EQ(j.info().max_download_size, 1U << 20);
  j.add_file(origin.url("big.bin"), (out / "big.bin").string());
  const auto start = std::chrono::steady_clock::now();
  j.resume();
  const job_info failed = wait_for_state(j, job_state::error, std::chrono::seconds(20));
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ASSERT_TRUE(failed.error.has_value());
  EXPECT_EQ(failed.error->code, 0x80200064U);  // BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_EQ(failed.error->file_index, 0U);
  EXPECT_EQ(failed.files.at(0).progress.bytes_transferred, 0U);
  // nginx gave up the request when the client hung up: far less than the file was sent.
  const auto log = origin.wait_for_requests(1, std::chrono::seconds(20));
  EXPECT_EQ(log[0].path, "/big.bin");
  EXPECT_LT(log[0].body_bytes_sent, 4U << 20);
  // Only before the first Resume.
  EXPECT_EQ(hresult_of([&] { j.set_maximum_download_size(0); }), 0x80200062U);
  EXPECT_EQ(j.info().max_download_size, 1U << 20);
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_FALSE(fs::exists(out / "big.bin"));
}

TEST(MaxDownloadSize, TheLimitIsForTheWholeJob) {
  nginx_server origin;
  const std::string first = origin.make_random_file("a.bin", 600000, 5);
  origin.make_random_file("b.bin", 600000, 6);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("two files");
  j.set_maximum_download_size(1000000);
  j.add_files({{origin.url("a.bin"), (out / "a.bin").string()},
               {origin.url("b.bin"), (out / "b.bin").string()}});
  j.resume();
  const job_info failed = j.wait();
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  EXPECT_EQ(failed.error->code, 0x80200064U);
  EXPECT_EQ(failed.error->file_index, 1U);
  EXPECT_TRUE(failed.files.at(0).progress.completed);
  EXPECT_EQ(failed.files.at(1).progress.bytes_transferred, 0U);
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_EQ(sha256_file(out / "a.bin"), first);
  EXPECT_FALSE(fs::exists(out / "b.bin"));
}

TEST(MaxDownloadSize, ABodyOfUnknownSizeIsStoppedWhenItGrowsPastTheLimit) {
  fault_origin origin;
  origin.serve_random("endless.bin", 1 << 20, 7);
  origin.set_fault("endless.bin", fault::endless(/*chunked=*/true));
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("endless");
  j.set_maximum_download_size(2 << 20);
  j.add_file(origin.url("endless.bin"), (out / "endless.bin").string());
  j.resume();
  const job_info failed = wait_for_state(j, job_state::error, std::chrono::seconds(20));
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  EXPECT_EQ(failed.error->code, 0x80200064U);
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_EQ(failed.error->file_index, 0U);
}

namespace {

// Records when each modification notification arrived.
class modification_clock {
 public:
  std::function<bool(const notification&)> handler() {
    return [this](const notification& n) {
      std::lock_guard lock(mutex_);
      if (n.kind == notification_kind::modification) {
        times_.push_back(std::chrono::steady_clock::now());
      }
      if (n.kind == notification_kind::transferred) transferred_ = true;
      changed_.notify_all();
      return true;
    };
  }
  bool wait_transferred(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return transferred_; });
  }
  std::vector<std::chrono::steady_clock::time_point> times() {
    std::lock_guard lock(mutex_);
    return times_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::chrono::steady_clock::time_point> times_;
  bool transferred_ = false;
};

std::chrono::milliseconds shortest_gap(
    const std::vector<std::chrono::steady_clock::time_point>& times) {
  auto gap = std::chrono::milliseconds::max();
  for (std::size_t i = 1; i < times.size(); ++i) {
    gap = std::min(gap,
                   std::chrono::duration_cast<std::chrono::milliseconds>(times[i] - times[i - 1]));
  }
  return gap;
}

}  // namespace

TEST(MinimumNotificationInterval, ModificationsComeNoMoreOftenThanTheJobSays) {
  nginx_options slow;
  slow.limit_rate = 1 << 20;
  nginx_server origin(slow);
  origin.make_random_file("n1.bin", 5 << 20, 8);
  origin.make_random_file("n2.bin", 5 << 20, 9);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);

  job sparse = c.create_job("every 2 s");
  EXPECT_EQ(sparse.info().minimum_notification_interval_ms, 500U);  // Windows' default
  sparse.set_minimum_notification_interval(std::chrono::milliseconds(2000));
  EXPECT_EQ(sparse.info().minimum_notification_interval_ms, 2000U);
  sparse.set_notify_flags(notify::job_transferred | notify::job_modification);
  sparse.set_priority(job_priority::foreground);
  sparse.add_file(origin.url("n1.bin"), (out / "n1.bin").string());

  job dense = c.create_job("every 100 ms");
  dense.set_minimum_notification_interval(std::chrono::milliseconds(100));
  dense.set_notify_flags(notify::job_transferred | notify::job_modification);
  dense.set_priority(job_priority::foreground);
  dense.add_file(origin.url("n2.bin"), (out / "n2.bin").string());

  modification_clock sparse_clock;
  modification_clock dense_clock;
  auto sparse_registration = sparse.subscribe(sparse_clock.handler());
  auto dense_registration = dense.subscribe(dense_clock.handler());
  sparse.resume();
  dense.resume();
  ASSERT_TRUE(sparse_clock.wait_transferred(std::chrono::seconds(30))) << daemon.log();
  ASSERT_TRUE(dense_clock.wait_transferred(std::chrono::seconds(30))) << daemon.log();

  // About 5 s of transfer each: the sparse job hears of it every 2 s, the dense one each time
  // something changes (progress is reported once a second).
  const auto sparse_times = sparse_clock.times();
  const auto dense_times = dense_clock.times();
  ASSERT_GE(sparse_times.size(), 2U);
  EXPECT_LE(sparse_times.size(), 4U);
  EXPECT_GE(shortest_gap(sparse_times), std::chrono::milliseconds(1900));
  EXPECT_GE(dense_times.size(), 5U);
  EXPECT_GT(dense_times.size(), sparse_times.size());
}

namespace {

// A routing table as /proc/net/route shows it, whose default route goes through `interface`.
void write_route_table(const std::filesystem::path& file, const std::string& interface) {
  write_file(
      file,
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
          interface + "\t00000000\t0100007F\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
}

// An IPv6 table (/proc/net/ipv6_route's format) whose default route goes through `interface`.
void write_route6_table(const std::filesystem::path& file, const std::string& interface) {
  const std::string zero(32, '0');
  write_file(file, zero + " 00 " + zero + " 00 fe800000000000000000000000000001 00000400 " +
                       "00000001 00000000 00000003 " + interface + "\n");
}

}  // namespace

// An IPv6-only network: no IPv4 default route, the IPv6 one through ww0 (cellular). A job with
// DisallowOnCellular waits with DO_E_BLOCKED_BY_CELLULAR_POLICY, and goes on when the IPv6 route
// moves to eth0.
TEST(CostPolicy, AnIpv6OnlyNetworkIsJudgedByItsIpv6DefaultRoute) {
  using namespace std::chrono_literals;
  nginx_server origin;
  const std::string sha = origin.make_random_file("f.bin", 64 * 1024, 23);
  temp_dir out("opendo-out");
  const auto table = out / "route";
  const auto table6 = out / "ipv6_route";
  write_file(
      table,
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
  write_route6_table(table6, "ww0");
  daemon_options options;
  options.env.push_back("OPENDO_TEST_ROUTE_FILE=" + table.string());
  options.env.push_back("OPENDO_TEST_ROUTE6_FILE=" + table6.string());
  daemon_process daemon(options);
  client c = connect(daemon);
  job j = c.create_job("no cellular");
  j.add_file(origin.url("f.bin"), (out / "f.bin").string());
  j.set_disallow_on_cellular(true);
  j.resume();
  const job_info waiting = wait_for_state(j, job_state::transient_error, 10s);
  ASSERT_EQ(waiting.state, job_state::transient_error) << daemon.log();
  ASSERT_TRUE(waiting.error.has_value());
  EXPECT_EQ(waiting.error->code, value_of(hr::do_e_blocked_by_cellular_policy));
  EXPECT_NE(daemon.log().find("the default route goes through ww0"), std::string::npos)
      << daemon.log();
  write_route6_table(table6, "eth0");
  const job_info done = wait_for_state(j, job_state::transferred, 30s);
  ASSERT_EQ(done.state, job_state::transferred) << (done.error ? done.error->message : "");
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "f.bin"), sha);
}

// Cost policies (docs/configuration.md, "The network's cost"). The daemon's default route goes
// through ww0, a cellular interface by default: a job whose BITS cost flags are
// TRANSFER_UNRESTRICTED and one with DisallowOnCellular wait in TRANSIENT_ERROR with Windows'
// codes and say why, while a job with the default policy transfers. When the route moves to eth0
// they go on by themselves, long before their 600 s retry delay.
TEST(CostPolicy, JobsWaitForANetworkTheirPolicyAllowsAndGoOnWhenItChanges) {
  using namespace std::chrono_literals;
  nginx_server origin;
  const std::string sha = origin.make_random_file("f.bin", 256 * 1024, 21);
  temp_dir out("opendo-out");
  const auto table = out / "route";
  write_route_table(table, "ww0");
  daemon_options options;
  options.env.push_back("OPENDO_TEST_ROUTE_FILE=" + table.string());
  daemon_process daemon(options);
  client c = connect(daemon);

  job unrestricted = c.create_job("unrestricted only");
  unrestricted.add_file(origin.url("f.bin"), (out / "a.bin").string());
  unrestricted.set_cost_flags(cost_state::transfer_unrestricted);
  job no_cellular = c.create_job("no cellular");
  no_cellular.add_file(origin.url("f.bin"), (out / "b.bin").string());
  const run_result set =
      daemon.cli({"setprop", no_cellular.id(), "--disallow-on-cellular", "true"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_TRUE(no_cellular.info().disallow_on_cellular);
  job any = c.create_job("any network");
  any.add_file(origin.url("f.bin"), (out / "c.bin").string());
  for (job* j : {&unrestricted, &no_cellular, &any}) j->resume();

  EXPECT_EQ(wait_for_state(any, job_state::transferred, 30s).state, job_state::transferred);
  const job_info a = wait_for_state(unrestricted, job_state::transient_error, 10s);
  ASSERT_EQ(a.state, job_state::transient_error);
  ASSERT_TRUE(a.error.has_value());
  EXPECT_EQ(a.error->code, value_of(hr::bg_e_blocked_by_cost_transfer_policy));
  EXPECT_EQ(a.error->context, error_context::general_queue_manager);
  EXPECT_NE(a.error->message.find("cellular"), std::string::npos) << a.error->message;
  EXPECT_EQ(a.bytes_transferred, 0U);
  const job_info b = wait_for_state(no_cellular, job_state::transient_error, 10s);
  ASSERT_TRUE(b.error.has_value());
  EXPECT_EQ(b.error->code, value_of(hr::do_e_blocked_by_cellular_policy));
  const run_result shown = daemon.cli({"info", unrestricted.id()});
  EXPECT_NE(shown.out.find("0x80200059"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("0x80000021"), std::string::npos) << "its cost flags: " << shown.out;
  EXPECT_EQ(origin.total_body_bytes_sent("f.bin"), 256U * 1024) << "only the allowed job asked";

  const auto changed = std::chrono::steady_clock::now();
  write_route_table(table, "eth0");
  for (job* j : {&unrestricted, &no_cellular}) {
    const job_info done = wait_for_state(*j, job_state::transferred, 30s);
    EXPECT_EQ(done.state, job_state::transferred) << (done.error ? done.error->message : "");
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - changed).count();
  std::printf("the waiting jobs were transferred %.1f s after the network changed\n", took);
  EXPECT_LT(took, 20.0);
  for (job* j : {&unrestricted, &no_cellular, &any}) EXPECT_EQ(j->complete(), hr::ok);
  for (const char* name : {"a.bin", "b.bin", "c.bin"}) EXPECT_EQ(sha256_file(out / name), sha);
}

// A job transferring when the network becomes metered, whose cost policy is DO's Unrestricted,
// stops within the monitor's 2 s with DO_E_BLOCKED_BY_COST_TRANSFER_POLICY and keeps its bytes; a
// job with the default policy goes on. Back on an unrestricted network the stopped one resumes
// from where it stopped and the file is whole.
TEST(CostPolicy, ARunningJobStopsWhenTheNetworkBecomesMeteredAndResumesAfterwards) {
  using namespace std::chrono_literals;
  nginx_options slow;
  slow.limit_rate = 512 * 1024;  // 4 MiB take 8 s
  nginx_server origin(slow);
  const std::uint64_t size = 4U << 20;
  const std::string sha = origin.make_random_file("f.bin", size, 22);
  temp_dir out("opendo-out");
  const auto table = out / "route";
  write_route_table(table, "eth0");
  daemon_options options;
  options.env.push_back("OPENDO_TEST_ROUTE_FILE=" + table.string());
  options.extra_args = {"--metered-interfaces", "usb*"};
  daemon_process daemon(options);
  client c = connect(daemon);

  job picky = c.create_job("unrestricted networks only");
  picky.add_file(origin.url("f.bin"), (out / "a.bin").string());
  picky.set_cost_policy(do_cost_policy::unrestricted);
  job any = c.create_job("any network");
  any.add_file(origin.url("f.bin"), (out / "b.bin").string());
  picky.resume();
  any.resume();
  const job_info started = wait_until(
      picky, [](const job_info& i) { return i.bytes_transferred > 0; }, 10s);
  ASSERT_GT(started.bytes_transferred, 0U);

  write_route_table(table, "usb0");
  const job_info stopped = wait_for_state(picky, job_state::transient_error, 10s);
  ASSERT_EQ(stopped.state, job_state::transient_error);
  ASSERT_TRUE(stopped.error.has_value());
  EXPECT_EQ(stopped.error->code, value_of(hr::do_e_blocked_by_cost_transfer_policy));
  EXPECT_NE(stopped.error->message.find("metered"), std::string::npos) << stopped.error->message;
  EXPECT_GT(stopped.bytes_transferred, 0U);
  EXPECT_LT(stopped.bytes_transferred, size);
  EXPECT_EQ(any.info().error, std::nullopt) << "the default policy goes on";

  write_route_table(table, "eth0");
  const job_info done = wait_for_state(picky, job_state::transferred, 30s);
  EXPECT_EQ(done.state, job_state::transferred) << (done.error ? done.error->message : "");
  EXPECT_EQ(wait_for_state(any, job_state::transferred, 30s).state, job_state::transferred);
  EXPECT_EQ(picky.complete(), hr::ok);
  EXPECT_EQ(any.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "a.bin"), sha);
  EXPECT_EQ(sha256_file(out / "b.bin"), sha);
  // It resumed: the origin sent less than two whole files for it and the other job.
  EXPECT_LT(origin.total_body_bytes_sent("f.bin"), 2 * size + size / 2);
}
