// Job properties that change how files are fetched: proxy settings, Basic and Digest-free
// credentials (Basic against a real nginx auth_basic), SetRemoteName, and what GetJob reports.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "integration/helpers.hpp"
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

TEST(Credentials, UnsupportedSchemesAndTargetsAreRefused) {
  daemon_process daemon;
  client c = connect(daemon);
  job j = c.create_job("schemes");
  EXPECT_EQ(
      hresult_of([&] { j.set_credentials(auth_target::server, auth_scheme::ntlm, "u", "p"); }),
      0x80004001U);
  EXPECT_EQ(hresult_of([&] {
              j.set_credentials(static_cast<auth_target>(7), auth_scheme::basic, "u", "p");
            }),
            0x80070057U);
  j.set_credentials(auth_target::proxy, auth_scheme::digest, "u", "p");
  EXPECT_EQ(j.info().credentials.size(), 1U);
  j.remove_credentials(auth_target::proxy, auth_scheme::digest);
  EXPECT_TRUE(j.info().credentials.empty());
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
