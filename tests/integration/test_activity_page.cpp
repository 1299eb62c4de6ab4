// The activity page of a real opendod (--activity-listen on loopback): over HTTP, nothing without
// the token that GetActivityPage (`opendo activity`) issues, and with it the caller's jobs and
// the same figures as `opendo status` and `perfsnap`; then in Debian's headless Chromium during
// a running download: the DOM shows the job's progress and a chart drawn from live data, and a
// screenshot is kept at <build>/tests/activity-page.png (docs/testing.md) and checked.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "integration/cli_json.hpp"
#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/net.hpp"
#include "support/nginx.hpp"

using namespace opendo;
using namespace opendo::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A daemon serving its activity page on a free loopback port.
daemon_process activity_daemon(daemon_options options = {}) {
  options.extra_args.insert(options.extra_args.end(),
                            {"--activity-listen", "127.0.0.1:" + std::to_string(find_free_port())});
  return daemon_process(options);
}

// A job of one file from `origin`, resumed.
job start_download(client& c, const nginx_server& origin, const temp_dir& out,
                   const std::string& display_name, const std::string& file) {
  job j = c.create_job(display_name);
  j.add_file(origin.url(file), (out / file).string());
  j.resume();
  return j;
}

// "http://127.0.0.1:PORT/?token=T" -> "http://127.0.0.1:PORT/"
std::string page_base(const std::string& url) {
  return url.substr(0, url.find('?'));
}

json activity_json(const activity_page_link& link) {
  const http_reply reply =
      http_get(page_base(link.url) + "activity.json", {"Authorization: Bearer " + link.token});
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.content_type, "application/json");
  return json::parse(reply.body);
}

const json* job_in(const json& data, const std::string& id) {
  for (const json& job : data.at("jobs")) {
    if (job.at("id") == id) return &job;
  }
  return nullptr;
}

}  // namespace

TEST(ActivityPage, NothingIsServedWithoutAValidToken) {
  daemon_process daemon = activity_daemon();
  client c = connect(daemon);
  job j = c.create_job("secret-looking job name");
  const json link = cli_json(daemon, {"activity"});
  const std::string token = link.at("token");
  const std::string base = page_base(link.at("url"));
  ASSERT_EQ(link.at("url"), base + "?token=" + token);
  ASSERT_EQ(token.size(), 64U);  // 256 bits in hex

  std::string wrong = token;
  wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
  const std::vector<std::pair<http_reply, long>> refused = {
      {http_get(base), 401},
      {http_get(base + "activity.json"), 401},
      {http_get(base + "?token=" + wrong), 403},
      {http_get(base + "activity.json?token=" + wrong), 403},
      {http_get(base + "activity.json?token=" + token.substr(0, 32)), 403},
      {http_get(base + "activity.json", {"Authorization: Bearer " + wrong}), 403},
  };
  for (const auto& [reply, status] : refused) {
    EXPECT_EQ(reply.status, status) << reply.body;
    EXPECT_EQ(reply.body.find("secret-looking"), std::string::npos) << reply.body;
    EXPECT_EQ(reply.body.find(j.id()), std::string::npos) << reply.body;
  }

  // The right token, in the query (the page's address) or as a bearer token (its polls).
  const http_reply page = http_get(base + "?token=" + token);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.headers.find("Content-Security-Policy: default-src 'none';"), std::string::npos)
      << page.headers;
  // Self-contained: no address the page could load anything from.
  EXPECT_EQ(page.body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.body.find("href=\"http"), std::string::npos);
  const json data = activity_json({link.at("url"), token});
  ASSERT_NE(job_in(data, j.id()), nullptr) << data.dump();
  EXPECT_EQ(job_in(data, j.id())->at("display_name"), "secret-looking job name");
  EXPECT_EQ(http_get(base + "nothing-here?token=" + token).status, 404);
  // The daemon still answers its clients after all that.
  EXPECT_EQ(c.list_jobs().size(), 1U);
}

TEST(ActivityPage, FiguresAreThoseOfStatusAndPerfsnap) {
  nginx_server origin;
  constexpr std::uint64_t kSize = (2U << 20) + 4321;
  origin.make_random_file("figures.bin", kSize, 61);
  daemon_process daemon = activity_daemon();
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = start_download(c, origin, out, "figures", "figures.bin");
  ASSERT_EQ(wait_for_state(j, job_state::transferred).state, job_state::transferred);

  const json data = activity_json(c.activity_page());
  const json status = cli_json(daemon, {"status"});
  const json perfsnap = cli_json(daemon, {"perfsnap"});
  ASSERT_EQ(status.size(), 1U);
  const json* row = job_in(data, j.id());
  ASSERT_NE(row, nullptr) << data.dump();
  EXPECT_EQ(row->at("state"), "TRANSFERRED");
  EXPECT_EQ(row->at("bytes_total"), status[0].at("file_size"));
  EXPECT_EQ(row->at("bytes_transferred"), status[0].at("bytes_transferred"));
  EXPECT_EQ(row->at("bytes_transferred"), kSize);
  EXPECT_EQ(row->at("files_transferred"), 1U);
  const json& totals = data.at("totals");
  EXPECT_EQ(totals.at("origin"), perfsnap.at("totals").at("bytes_from_origin"));
  EXPECT_EQ(totals.at("origin"), kSize);
  EXPECT_EQ(totals.at("cache_host"), 0U);
  EXPECT_EQ(totals.at("lan_peer"), 0U);
  EXPECT_EQ(totals.at("group_peer"), 0U);
  EXPECT_EQ(totals.at("uploaded"), perfsnap.at("bytes_uploaded"));
  EXPECT_EQ(totals.at("files_downloaded"), perfsnap.at("files_downloaded"));
  // The chart's history ends with the bytes now recorded: [time_ms, origin, cache, lan, group, up].
  const json& history = data.at("history");
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().at(1), kSize);
}

// A user-mode daemon serves its user and root; run as nobody, it has one of each: nobody's token
// shows nobody's jobs only, root's (an administrator's) every user's.
TEST(ActivityPage, ATokenShowsItsCallersJobsOnly) {
  // Fails rather than skips without root, as every test that needs root does (docs/testing.md).
  ASSERT_EQ(::geteuid(), 0U) << "run as root: this test acts as two users, root and nobody";
  daemon_options options;
  options.run_as = std::make_pair(uid_t{65534}, gid_t{65534});
  daemon_process daemon = activity_daemon(options);
  const std::vector<std::string> as_nobody = {"setpriv",
                                              "--reuid=65534",
                                              "--regid=65534",
                                              "--clear-groups",
                                              (bin_dir() / "opendo").string(),
                                              "--socket",
                                              daemon.socket_path().string(),
                                              "--json"};
  auto nobody = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = as_nobody;
    argv.insert(argv.end(), args.begin(), args.end());
    const run_result result = run(argv);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return json::parse(result.out);
  };
  const std::string nobodys_job = nobody({"create", "nobody's job"}).at("id");
  const json nobodys_link = nobody({"activity"});
  client c = connect(daemon);
  job roots_job = c.create_job("root's job");

  const json for_nobody = activity_json({nobodys_link.at("url"), nobodys_link.at("token")});
  EXPECT_EQ(for_nobody.at("uid"), 65534);
  EXPECT_EQ(for_nobody.at("all_users"), false);
  ASSERT_EQ(for_nobody.at("jobs").size(), 1U) << for_nobody.dump();
  EXPECT_EQ(for_nobody.at("jobs")[0].at("id"), nobodys_job);

  const json for_root = activity_json(c.activity_page());
  EXPECT_EQ(for_root.at("all_users"), true);
  EXPECT_NE(job_in(for_root, nobodys_job), nullptr);
  EXPECT_NE(job_in(for_root, roots_job.id()), nullptr);
}

TEST(ActivityPage, OffUnlessAsked) {
  daemon_process daemon;
  const run_result result = daemon.cli({"activity"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("--activity-listen"), std::string::npos) << result.err;
  client c = connect(daemon);
  EXPECT_EQ(hresult_of([&] { c.activity_page(); }), 0x80004001U);  // E_NOTIMPL
}

TEST(ActivityPage, ANonLoopbackAddressIsRefused) {
  daemon_options options;
  options.extra_args = {"--activity-listen", "0.0.0.0:0"};
  try {
    daemon_process daemon(options);
    ADD_FAILURE() << "opendod started with its activity page on 0.0.0.0";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("exited with status 1"), std::string::npos) << what;
    EXPECT_NE(what.find("activity page address 0.0.0.0:0: not a loopback address"),
              std::string::npos)
        << what;
  }
}

// ---- in a browser ------------------------------------------------------------------------------

namespace {

constexpr int kWidth = 1280;
constexpr int kHeight = 900;

// Headless Chromium ($OPENDO_CHROMIUM, else Debian's `chromium`) with a throwaway profile. As
// root it needs --no-sandbox. The virtual time budget lets the page poll a few times (timers run
// in virtual time, and the clock stops while a fetch is pending) before the DOM or the picture
// is taken.
run_result run_chromium(const std::string& url, const std::vector<std::string>& what) {
  temp_dir profile("opendo-chromium");
  const char* program = std::getenv("OPENDO_CHROMIUM");
  std::vector<std::string> argv = {program != nullptr ? program : "chromium",
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--no-first-run",
                                   "--disable-extensions",
                                   "--hide-scrollbars",
                                   "--force-device-scale-factor=1",
                                   "--user-data-dir=" + profile.path().string(),
                                   "--virtual-time-budget=3000"};
  argv.insert(argv.end(), what.begin(), what.end());
  argv.push_back(url);
  return run(argv, std::chrono::seconds(45), {"HOME=" + profile.path().string()});
}

std::string attribute(const std::string& html, const std::string& pattern) {
  std::smatch match;
  if (!std::regex_search(html, match, std::regex(pattern))) return {};
  return match[1];
}

struct png_facts {
  bool signature = false;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uintmax_t size = 0;
};

// The signature and the IHDR chunk, which a PNG must have first.
png_facts read_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  png_facts facts;
  facts.size = bytes.size();
  if (bytes.size() < 24) return facts;
  facts.signature =
      bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && bytes.compare(12, 4, "IHDR") == 0;
  auto be32 = [&](std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i)
      value = value << 8 | static_cast<unsigned char>(bytes[at + i]);
    return value;
  };
  facts.width = be32(16);
  facts.height = be32(20);
  return facts;
}

png_facts screenshot(const std::string& url, const fs::path& file) {
  fs::remove(file);
  const run_result result = run_chromium(
      url, {"--screenshot=" + file.string(),
            "--window-size=" + std::to_string(kWidth) + "," + std::to_string(kHeight)});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return read_png(file);
}

}  // namespace

TEST(ActivityPage, ChromiumShowsARunningDownload) {
  // 64 MiB at 2 MiB/s: still running while the browser looks, some seconds into it, even on a
  // busy machine; the job is cancelled at the end.
  nginx_options slow;
  slow.limit_rate = 2U << 20;
  nginx_server origin(slow);
  constexpr std::uint64_t kSize = 64U << 20;
  origin.make_random_file("big.iso", kSize, 71);
  daemon_process daemon = activity_daemon();
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = start_download(c, origin, out, "Debian netinst (big.iso)", "big.iso");
  // Three seconds of transfer give the chart's history samples that grew.
  const job_info running = wait_until(j, [](const job_info& info) {
    return info.state == job_state::transferring && info.bytes_transferred > 0;
  });
  ASSERT_EQ(running.state, job_state::transferring);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const run_result link = daemon.cli({"activity"});  // as a person would get the address
  ASSERT_EQ(link.exit_code, 0) << link.err;
  const std::string url = link.out.substr(0, link.out.find('\n'));

  const run_result dom = run_chromium(url, {"--dump-dom"});
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  const std::string& html = dom.out;
  EXPECT_EQ(attribute(html, "<body data-status=\"([a-z]+)\""), "ok") << html;
  // The job's row: its progress bar strictly between empty and full, and a rate.
  const std::size_t row_at =
      html.find("<tr class=\"job\" data-id=\"" + j.id() + "\" data-state=\"TRANSFERRING\">");
  ASSERT_NE(row_at, std::string::npos) << html;
  const std::string row = html.substr(row_at, html.find("</tr>", row_at) - row_at);
  EXPECT_NE(row.find("Debian netinst (big.iso)"), std::string::npos) << row;
  const double percent = std::stod("0" + attribute(row, "aria-valuenow=\"([0-9.]+)\""));
  EXPECT_GT(percent, 0.0) << row;
  EXPECT_LT(percent, 100.0) << row;
  EXPECT_GT(std::stoull("0" + attribute(row, "data-rate=\"([0-9]+)\"")), 0U) << row;
  // The chart, drawn from the daemon's samples: several, with bytes from the origin arriving.
  EXPECT_GE(std::stoi("0" + attribute(html, "<svg id=\"chart\"[^>]* data-samples=\"([0-9]+)\"")), 3)
      << html;
  EXPECT_GT(std::stoull("0" + attribute(html, "<svg id=\"chart\"[^>]* data-peak=\"([0-9]+)\"")), 0U)
      << html;
  EXPECT_FALSE(
      attribute(html, "<path class=\"area\" data-source=\"origin\" d=\"(M[^\"]+)\"").empty())
      << html;
  EXPECT_GT(std::stoull("0" + attribute(html, "id=\"total-origin\" data-bytes=\"([0-9]+)\"")), 0U);

  // The picture, beside a blank baseline: the refusal page at the same size.
  const fs::path picture = fs::path(OPENDO_TEST_OUTPUT_DIR) / "activity-page.png";
  const png_facts shot = screenshot(url, picture);
  const png_facts blank =
      screenshot(page_base(url), fs::path(OPENDO_TEST_OUTPUT_DIR) / "activity-page-refused.png");
  EXPECT_TRUE(shot.signature);
  EXPECT_EQ(shot.width, static_cast<std::uint32_t>(kWidth));
  EXPECT_EQ(shot.height, static_cast<std::uint32_t>(kHeight));
  EXPECT_TRUE(blank.signature);
  EXPECT_GT(shot.size, 4 * blank.size) << "the page looks as empty as the refusal page";
  // Still running when the pictures were taken: the bar showed a download in progress.
  EXPECT_NE(j.info().state, job_state::transferred);
  j.cancel();
}
