// HTTP options of a job against real nginx: custom and auth headers on every request (resumed
// ones too), the last response after a redirect, and https-to-http redirects refused unless the
// job allows them. Secrets never reach the daemon's log or a client.
#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "integration/helpers.hpp"
#include "ipc/codec.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

using namespace opendo;
using namespace opendo::test;

namespace {

constexpr std::uint32_t kInvalidArg = 0x80070057;
constexpr std::uint32_t kStringTooLong = 0x80200021;
constexpr std::uint32_t kRedirectFailed = 0x80072F7C;  // ERROR_WINHTTP_REDIRECT_FAILED
constexpr const char* kSecret = "s3cr3t-t0ken-4f9a";

std::vector<access_log_entry> requests_for(const nginx_server& origin, const std::string& path) {
  std::vector<access_log_entry> out;
  for (const auto& entry : origin.access_log()) {
    if (entry.path == path) out.push_back(entry);
  }
  return out;
}

std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const opendo::error& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST(HttpOptions, HeadersGoWithEveryRequestIncludingResumedOnesAndSecretsStayHidden) {
  nginx_options slow;
  slow.limit_rate = 4 << 20;
  nginx_server origin(slow);
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("h.bin", 16 << 20, 3);
  client c = connect(daemon);
  job j = c.create_job("headers");
  j.set_custom_headers({"X-Opendo-Test: value 1", "Accept-Language: en"});
  j.set_custom_auth_headers({std::string("Authorization: Bearer ") + kSecret});
  j.add_file(origin.url("h.bin"), (out / "h.bin").string());

  const job_info before = j.info();
  EXPECT_EQ(before.custom_headers,
            (std::vector<std::string>{"X-Opendo-Test: value 1", "Accept-Language: en"}));
  EXPECT_TRUE(before.has_custom_auth_headers);
  EXPECT_EQ(ipc::to_json(before).dump().find(kSecret), std::string::npos);

  j.resume();
  wait_until(j, [](const job_info& i) { return i.bytes_transferred > (5 << 20); });
  j.suspend();
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "h.bin"), digest);

  origin.wait_for_requests(2);
  const auto requests = requests_for(origin, "/h.bin");
  ASSERT_GE(requests.size(), 2U);
  EXPECT_FALSE(requests.back().range.empty());  // the resumed request
  for (const auto& r : requests) {
    EXPECT_EQ(r.x_opendo_test, "value 1") << r.request << " " << r.range;
    EXPECT_EQ(r.authorization, std::string("Bearer ") + kSecret) << r.request;
  }
  // The secret appears nowhere but on the wire: not in the log (debug level), not in `info`.
  EXPECT_EQ(daemon.log().find(kSecret), std::string::npos);
  const auto info = daemon.cli({"info", j.id()});
  EXPECT_EQ(info.out.find(kSecret), std::string::npos) << info.out;
}

TEST(HttpOptions, RefusedHeadersSayWhyAndChangeNothing) {
  daemon_process daemon;
  client c = connect(daemon);
  job j = c.create_job("refused");
  j.set_custom_headers({"X-Kept: 1"});
  EXPECT_EQ(hresult_of([&] { j.set_custom_headers({"Range: bytes=0-1"}); }), kInvalidArg);
  EXPECT_NE(message_of([&] { j.set_custom_headers({"Range: bytes=0-1"}); }).find("Range"),
            std::string::npos);
  EXPECT_EQ(hresult_of([&] { j.set_custom_headers({"X-A: 1\r\nHost: evil"}); }), kInvalidArg);
  EXPECT_EQ(hresult_of([&] { j.set_custom_headers({"no colon"}); }), kInvalidArg);
  EXPECT_EQ(hresult_of([&] { j.set_custom_headers({"Authorization: Basic eA=="}); }), kInvalidArg);
  EXPECT_EQ(hresult_of([&] { j.set_custom_headers({"X-Big: " + std::string(20000, 'a')}); }),
            kStringTooLong);
  const std::string bad_secret = std::string("X-Key: ") + kSecret + "\x01";
  const std::string why = message_of([&] { j.set_custom_auth_headers({bad_secret}); });
  EXPECT_EQ(hresult_of([&] { j.set_custom_auth_headers({bad_secret}); }), kInvalidArg);
  EXPECT_NE(why.find("X-Key"), std::string::npos) << why;
  EXPECT_EQ(why.find(kSecret), std::string::npos) << why;
  EXPECT_EQ(daemon.log().find(kSecret), std::string::npos);
  EXPECT_EQ(j.info().custom_headers, (std::vector<std::string>{"X-Kept: 1"}));
  EXPECT_FALSE(j.info().has_custom_auth_headers);
  // An empty list removes them.
  j.set_custom_headers({});
  EXPECT_TRUE(j.info().custom_headers.empty());
}

TEST(HttpOptions, CliSetsHeadersAndInfoShowsThem) {
  daemon_process daemon;
  client c = connect(daemon);
  job j = c.create_job("cli");
  auto set = daemon.cli({"setprop", j.id(), "--header", "X-Opendo-Test: from cli", "--header",
                         "X-Second: 2", "--auth-header", std::string("X-Key: ") + kSecret,
                         "--allow-https-to-http-redirect", "true"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  const job_info info = j.info();
  EXPECT_EQ(info.custom_headers,
            (std::vector<std::string>{"X-Opendo-Test: from cli", "X-Second: 2"}));
  EXPECT_TRUE(info.has_custom_auth_headers);
  EXPECT_TRUE(info.allow_https_to_http_redirect);
  const auto shown = daemon.cli({"info", j.id()});
  EXPECT_NE(shown.out.find("X-Opendo-Test: from cli"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("auth headers:"), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find(kSecret), std::string::npos) << shown.out;
  const auto refused = daemon.cli({"setprop", j.id(), "--header", "Host: elsewhere"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("Host"), std::string::npos) << refused.err;
  auto cleared = daemon.cli({"setprop", j.id(), "--clear-headers", "--clear-auth-headers"});
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_TRUE(j.info().custom_headers.empty());
  EXPECT_FALSE(j.info().has_custom_auth_headers);
}

TEST(HttpOptions, LastResponseAfterARedirect) {
  nginx_options options;
  options.extra_config = {"location = /old.bin { return 302 /new.bin; }",
                          "location = /gone.bin { return 404; }"};
  nginx_server origin(options);
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("new.bin", 100000, 5);
  client c = connect(daemon);
  job j = c.create_job("redirect");
  EXPECT_EQ(j.info().last_response.status, 0U);  // nothing yet
  j.set_custom_headers({"X-Opendo-Test: redirected"});
  j.add_file(origin.url("old.bin"), (out / "new.bin").string());
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(done.last_response.status, 200U);
  EXPECT_EQ(done.last_response.redirection_target, origin.url("new.bin"));
  EXPECT_EQ(done.last_response.server_ip, "127.0.0.1");
  EXPECT_NE(done.last_response.headers.find("Content-Length: 100000\r\n"), std::string::npos)
      << done.last_response.headers;
  EXPECT_NE(done.last_response.headers.find("ETag: "), std::string::npos);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "new.bin"), digest);
  // The header went to both the redirecting and the final request.
  origin.wait_for_requests(2);
  ASSERT_EQ(requests_for(origin, "/old.bin").size(), 1U);
  EXPECT_EQ(requests_for(origin, "/old.bin")[0].x_opendo_test, "redirected");
  EXPECT_EQ(requests_for(origin, "/new.bin")[0].x_opendo_test, "redirected");

  job missing = c.create_job("missing");
  missing.add_file(origin.url("gone.bin"), (out / "gone.bin").string());
  missing.resume();
  const job_info failed = missing.wait();
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  EXPECT_EQ(failed.last_response.status, 404U);
  EXPECT_TRUE(failed.last_response.redirection_target.empty());
}

TEST(HttpOptions, HttpsToHttpRedirectIsRefusedUnlessTheJobAllowsIt) {
  nginx_server plain;
  const std::string digest = plain.make_random_file("target.bin", 50000, 8);
  nginx_options tls;
  tls.tls = true;
  tls.extra_config = {"location = /down.bin { return 302 " + plain.url("target.bin") + "; }"};
  nginx_server secure(tls);
  daemon_options with_ca;
  with_ca.extra_args = {"--ca-file", secure.ca_file().string()};
  daemon_process daemon(with_ca);
  temp_dir out("opendo-out");
  client c = connect(daemon);

  job refused = c.create_job("refused");
  EXPECT_FALSE(refused.info().allow_https_to_http_redirect);
  refused.add_file(secure.url("down.bin"), (out / "a.bin").string());
  refused.resume();
  const job_info failed = refused.wait();
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kRedirectFailed) << failed.error->message;
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_NE(failed.error->message.find("https to http"), std::string::npos)
      << failed.error->message;
  EXPECT_EQ(failed.last_response.status, 302U);
  EXPECT_TRUE(requests_for(plain, "/target.bin").empty());  // never asked over http

  job allowed = c.create_job("allowed");
  allowed.set_allow_https_to_http_redirect(true);
  allowed.add_file(secure.url("down.bin"), (out / "b.bin").string());
  allowed.resume();
  const job_info done = allowed.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(done.last_response.status, 200U);
  EXPECT_EQ(done.last_response.redirection_target, plain.url("target.bin"));
  EXPECT_EQ(allowed.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "b.bin"), digest);
}

// DO SecurityFlags (job::set_tls_exemptions) against nginx serving a certificate with one flaw
// each: a job that does not accept that flaw fails with ERROR_WINHTTP_SECURE_FAILURE; one that
// accepts another flaw fails the same way; one that accepts it gets the file. A certificate with
// no flaw is verified as before.
TEST(HttpOptions, ACertificateErrorFailsAJobUnlessItAcceptsThatVeryError) {
  constexpr std::uint32_t kSecureFailure = 0x80072F8F;  // ERROR_WINHTTP_SECURE_FAILURE
  struct flaw {
    const char* name;
    std::function<void(nginx_options&)> make;
    bool trust_certificate;  // opendod --ca-file: the flaw is then the only problem
    std::uint32_t exemption;
  };
  const std::vector<flaw> flaws = {
      {"unknown authority", [](nginx_options&) {}, false, tls_exemption::unknown_ca},
      {"another name", [](nginx_options& o) { o.certificate_names = "DNS:example.invalid"; }, true,
       tls_exemption::name_mismatch},
      {"client use only", [](nginx_options& o) { o.certificate_usage = "clientAuth"; }, true,
       tls_exemption::wrong_usage},
      {"expired", [](nginx_options& o) { o.certificate_expired = true; }, true,
       tls_exemption::date_invalid},
  };
  for (const flaw& f : flaws) {
    SCOPED_TRACE(f.name);
    nginx_options options;
    options.tls = true;
    f.make(options);
    nginx_server origin(options);
    const std::string digest = origin.make_random_file("t.bin", 100000, 4);
    daemon_options daemon_opts;
    if (f.trust_certificate) daemon_opts.extra_args = {"--ca-file", origin.ca_file().string()};
    daemon_process daemon(daemon_opts);
    temp_dir out("opendo-out");
    client c = connect(daemon);
    auto run = [&](const std::string& name, std::uint32_t exemptions) {
      job j = c.create_job(name);
      j.set_tls_exemptions(exemptions);
      j.add_file(origin.url("t.bin"), (out / name).string());
      j.resume();
      const job_info done = wait_until(j, [](const job_info& i) {
        return i.state == job_state::transferred || i.state == job_state::error;
      });
      if (done.state == job_state::transferred) {
        EXPECT_EQ(j.complete(), hr::ok);
      }
      return done;
    };
    const job_info refused = run("refused", 0);
    ASSERT_EQ(refused.state, job_state::error) << daemon.log();
    ASSERT_TRUE(refused.error);
    EXPECT_EQ(refused.error->code, kSecureFailure);
    const job_info other = run("other", tls_exemption::all & ~f.exemption);
    EXPECT_EQ(other.state, job_state::error) << "accepting the other errors is not enough";
    const job_info accepted = run("accepted", f.exemption);
    ASSERT_EQ(accepted.state, job_state::transferred) << daemon.log();
    EXPECT_EQ(accepted.tls_exemptions, f.exemption);
    EXPECT_EQ(sha256_file(out / "accepted"), digest);
  }
}

TEST(HttpOptions, UnknownCertificateExemptionsAreRefusedAndKeptAcrossRestarts) {
  daemon_process daemon;
  client c = connect(daemon);
  job j = c.create_job("flags");
  EXPECT_EQ(hresult_of([&] { j.set_tls_exemptions(0x10); }), kInvalidArg);
  EXPECT_EQ(j.info().tls_exemptions, 0U);
  j.set_tls_exemptions(tls_exemption::unknown_ca | tls_exemption::date_invalid);
  daemon.restart();
  client again = connect(daemon);
  EXPECT_EQ(again.open_job(j.id()).info().tls_exemptions,
            tls_exemption::unknown_ca | tls_exemption::date_invalid);
  // The CLI: names in, names out; an unknown name changes nothing.
  const auto shown = daemon.cli({"info", j.id()});
  EXPECT_NE(shown.out.find("unknown-ca,date (certificate errors)"), std::string::npos) << shown.out;
  const auto set =
      daemon.cli({"setprop", j.id(), "--accept-certificate-errors", "name,wrong-usage"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(again.open_job(j.id()).info().tls_exemptions,
            tls_exemption::name_mismatch | tls_exemption::wrong_usage);
  const auto refused = daemon.cli({"setprop", j.id(), "--accept-certificate-errors", "all"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("--accept-certificate-errors takes"), std::string::npos)
      << refused.err;
  ASSERT_EQ(daemon.cli({"setprop", j.id(), "--accept-certificate-errors", "none"}).exit_code, 0);
  EXPECT_EQ(again.open_job(j.id()).info().tls_exemptions, 0U);
}

// DO SecurityContext (job::set_client_certificate_file) against nginx that asks every client for
// a certificate of its CA: a job without one, or with one of another CA, fails with nginx's
// answer (HTTP 400: nginx finishes the handshake and refuses the request); a job with one of its
// CA gets the file. The certificate survives a restart of the daemon, and neither its key nor its
// certificate reaches a client, the CLI or the daemon's log.
TEST(HttpOptions, AClientCertificateIsPresentedOnlyByItsJob) {
  constexpr std::uint32_t kHttp400 = 0x80190190;  // BG_E_HTTP_ERROR_400
  nginx_options options;
  options.tls = true;
  options.client_certificates = true;
  nginx_server origin(options);
  const std::string digest = origin.make_random_file("c.bin", 300000, 7);
  const auto trusted = origin.make_client_certificate("trusted", true);
  const auto stranger = origin.make_client_certificate("stranger", false);
  daemon_options daemon_opts;
  daemon_opts.extra_args = {"--ca-file", origin.ca_file().string()};
  daemon_process daemon(daemon_opts);
  temp_dir out("opendo-out");
  client c = connect(daemon);
  auto run = [&](job& j, const std::string& name) {
    j.add_file(origin.url("c.bin"), (out / name).string());
    j.resume();
    return wait_until(j, [](const job_info& i) {
      return i.state == job_state::transferred || i.state == job_state::error;
    });
  };

  job none = c.create_job("none");
  const job_info refused = run(none, "none");
  ASSERT_EQ(refused.state, job_state::error) << daemon.log();
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, kHttp400);
  EXPECT_FALSE(refused.has_client_certificate);

  job other = c.create_job("other");
  other.set_client_certificate_file(stranger.string());
  const job_info untrusted = run(other, "other");
  ASSERT_EQ(untrusted.state, job_state::error) << daemon.log();
  EXPECT_EQ(untrusted.error->code, kHttp400);

  // Set before a restart; the file is added and transferred after it.
  job good = c.create_job("good");
  good.set_client_certificate_file(trusted.string());
  EXPECT_TRUE(good.info().has_client_certificate);
  daemon.restart();
  client again = connect(daemon);
  job reopened = again.open_job(good.id());
  EXPECT_TRUE(reopened.info().has_client_certificate);
  const job_info accepted = run(reopened, "good");
  ASSERT_EQ(accepted.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(reopened.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "good"), digest);
  // Only the requests with the trusted certificate got the file.
  std::size_t served = 0;
  for (const auto& entry : origin.access_log()) {
    if (entry.path == "/c.bin" && (entry.status == 200 || entry.status == 206)) ++served;
  }
  EXPECT_GE(served, 1U);

  // The CLI: set from a file, shown as set, never its text; removed.
  const std::string pem = read_file(trusted);
  const std::string key_line = pem.substr(pem.find("-----BEGIN PRIVATE KEY-----") + 28, 40);
  const std::string cert_line = pem.substr(pem.find("-----BEGIN CERTIFICATE-----") + 28, 40);
  job cli_job = again.create_job("cli");
  const auto set = daemon.cli({"setprop", cli_job.id(), "--client-certificate", trusted.string()});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  const auto shown = daemon.cli({"info", cli_job.id()});
  EXPECT_NE(shown.out.find("client certificate:"), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find(key_line), std::string::npos);
  EXPECT_EQ(shown.out.find(cert_line), std::string::npos);
  const auto json = daemon.cli({"--json", "info", cli_job.id()});
  EXPECT_EQ(json.out.find(key_line), std::string::npos);
  ASSERT_EQ(daemon.cli({"setprop", cli_job.id(), "--clear-client-certificate"}).exit_code, 0);
  EXPECT_FALSE(cli_job.info().has_client_certificate);
  const auto missing =
      daemon.cli({"setprop", cli_job.id(), "--client-certificate", (out / "nope.pem").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_FALSE(cli_job.info().has_client_certificate);
  EXPECT_EQ(daemon.log().find(key_line), std::string::npos);
  // A new owner does not authenticate as the old one.
  if (::geteuid() == 0) {
    cli_job.set_client_certificate_file(trusted.string());
    ASSERT_TRUE(cli_job.info().has_client_certificate);
    cli_job.take_ownership();  // root is an administrator
    EXPECT_FALSE(cli_job.info().has_client_certificate);
  }
}

// What set_client_certificate refuses (E_INVALIDARG, nothing changed): a file that cannot be
// read, is too large, holds no certificate or no key, or a key of another certificate; the
// daemon checks what it is sent apart from the file too.
TEST(HttpOptions, BadClientCertificatesAreRefused) {
  nginx_options options;
  options.tls = true;
  options.client_certificates = true;
  nginx_server origin(options);
  const std::string a = read_file(origin.make_client_certificate("a", true));
  const std::string b = read_file(origin.make_client_certificate("b", true));
  const auto cert_of = [](const std::string& pem) {
    return pem.substr(0, pem.find("-----BEGIN PRIVATE KEY-----"));
  };
  const auto key_of = [](const std::string& pem) {
    return pem.substr(pem.find("-----BEGIN PRIVATE KEY-----"));
  };
  daemon_process daemon;
  temp_dir dir("opendo-certs");
  client c = connect(daemon);
  job j = c.create_job("bad");
  const auto refused = [&](const std::string& name, const std::string& text) {
    SCOPED_TRACE(name);
    const auto path = dir / name;
    write_file(path, text);
    EXPECT_EQ(hresult_of([&] { j.set_client_certificate_file(path.string()); }), kInvalidArg);
  };
  refused("empty.pem", "");
  refused("garbage.pem", "not a certificate\n");
  refused("cert-only.pem", cert_of(a));
  refused("key-only.pem", key_of(a));
  refused("mismatch.pem", cert_of(a) + key_of(b));
  refused("large.pem", a + std::string(70000, '\n'));
  EXPECT_EQ(hresult_of([&] { j.set_client_certificate_file((dir / "none.pem").string()); }),
            kInvalidArg);
  EXPECT_EQ(hresult_of([&] { j.set_client_certificate_file(dir.path().string()); }),
            kInvalidArg);  // a directory
  // Sent apart, the daemon checks them itself.
  EXPECT_EQ(hresult_of([&] { j.set_client_certificate(cert_of(a), key_of(b)); }), kInvalidArg);
  EXPECT_EQ(hresult_of([&] { j.set_client_certificate(cert_of(a), ""); }), kInvalidArg);
  EXPECT_EQ(hresult_of([&] {
              j.set_client_certificate(cert_of(a) + std::string(70000, '\n'), key_of(a));
            }),
            kInvalidArg);
  EXPECT_FALSE(j.info().has_client_certificate);
  // The key may come first in the file.
  write_file(dir / "key-first.pem", key_of(a) + cert_of(a));
  j.set_client_certificate_file((dir / "key-first.pem").string());
  EXPECT_TRUE(j.info().has_client_certificate);
}
