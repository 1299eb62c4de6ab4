// Per-source accounting end to end: a real nginx origin, a real opendod, the opendo CLI. After a
// download of a known size, `opendo status` shows the file's bytes as coming from the origin
// (cache hosts and peers 0), `opendo perfsnap` totals grow by the size, and the totals survive a
// kill -9 of the daemon.
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "integration/cli_json.hpp"
#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

using namespace opendo;
using namespace opendo::test;
using nlohmann::json;

namespace {

// 3 MiB and a bit: not a round number, so that a size read from the wrong place shows.
constexpr std::uint64_t kSize = (3U << 20) + 12345;

// The row of `opendo status --json` for file `index` of job `id`.
json status_row(const daemon_process& daemon, const std::string& id, std::uint32_t index) {
  for (const json& row : cli_json(daemon, {"status"})) {
    if (row.at("job_id") == id && row.at("file_index") == index) return row;
  }
  ADD_FAILURE() << "no status row for " << id << "/" << index;
  return json::object();
}

// Downloads `name` (kSize bytes) in a job of its own and leaves it TRANSFERRED.
std::string download(const daemon_process& daemon, const nginx_server& origin, const temp_dir& out,
                     const std::string& name) {
  client c = connect(daemon);
  job j = c.create_job(name);
  j.add_file(origin.url(name), (out / name).string());
  j.resume();
  const job_info done = wait_for_state(j, job_state::transferred);
  EXPECT_EQ(done.state, job_state::transferred);
  return j.id();
}

}  // namespace

TEST(Status, DownloadedFileCountsItsBytesFromTheOrigin) {
  nginx_server origin;
  origin.make_random_file("status.bin", kSize, 41);
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string id = download(daemon, origin, out, "status.bin");

  const json row = status_row(daemon, id, 0);
  EXPECT_EQ(row.at("file_id"), id + "/0");
  EXPECT_EQ(row.at("file_size"), kSize);
  EXPECT_EQ(row.at("bytes_from_origin"), kSize);
  EXPECT_EQ(row.at("total_bytes_downloaded"), kSize);
  EXPECT_EQ(row.at("bytes_from_cache_hosts"), 0U);
  EXPECT_EQ(row.at("bytes_from_lan_peers"), 0U);
  EXPECT_EQ(row.at("bytes_from_group_peers"), 0U);
  EXPECT_EQ(row.at("bytes_from_peers"), 0U);
  EXPECT_EQ(row.at("bytes_to_lan_peers"), 0U);
  EXPECT_EQ(row.at("bytes_to_group_peers"), 0U);
  EXPECT_EQ(row.at("percent_from_peers").get<double>(), 0.0);
  EXPECT_EQ(row.at("percent_from_cache_hosts").get<double>(), 0.0);
  EXPECT_EQ(row.at("cache_host_connections"), 0U);
  EXPECT_GE(row.at("origin_connections").get<std::uint64_t>(), 1U);
  EXPECT_EQ(row.at("status"), "Complete");
  EXPECT_EQ(row.at("download_mode"), "HttpOnly");
  EXPECT_EQ(row.at("source_url"), origin.url("status.bin"));
  // nginx sent the body once: one request, as the counter says.
  EXPECT_EQ(origin.total_body_bytes_sent("status.bin"), kSize);
  EXPECT_EQ(row.at("origin_connections"), 1U);

  // The same figures through the API and `opendo info`.
  const job_info info = connect(daemon).open_job(id).info();
  ASSERT_EQ(info.files.size(), 1U);
  EXPECT_EQ(info.files[0].sources.bytes_from_origin, kSize);
  EXPECT_EQ(info.files[0].sources.origin_connections, 1U);
  const json as_json = cli_json(daemon, {"info", id});
  EXPECT_EQ(as_json.at("files").at(0).at("sources").at("bytes_from_origin"), kSize);
  const auto human = daemon.cli({"info", id});
  EXPECT_NE(human.out.find("from origin 3.01 MiB, cache hosts 0 B, LAN peers 0 B, group peers 0 B"),
            std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("requests: origin 1, cache hosts 0, peers 0; uploaded 0 B"),
            std::string::npos)
      << human.out;

  // The human table: a header and the file's row, with the sizes people read.
  const auto table = daemon.cli({"status"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("FILE ", 0), 0U) << table.out;
  const std::string short_id = id.substr(1, 8) + "/0";
  const auto line_start = table.out.find("\n" + short_id);
  ASSERT_NE(line_start, std::string::npos) << table.out;
  const std::string line =
      table.out.substr(line_start + 1, table.out.find('\n', line_start + 1) - line_start - 1);
  EXPECT_NE(line.find("Complete    3.01 MiB   3.01 MiB   0 B        0 B        0 B        0%"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(origin.url("status.bin")), std::string::npos) << line;
  std::cerr << "opendo status:\n" << table.out;
}

// A download that takes a while counts the time it took.
TEST(Status, DurationCountsTheTimeTransferring) {
  nginx_options slow;
  slow.limit_rate = 1 << 20;  // 1 MiB/s: about 3 s for the file (at least 1, says nginx.hpp)
  nginx_server origin(slow);
  origin.make_random_file("slow.bin", kSize, 42);
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string id = download(daemon, origin, out, "slow.bin");
  const json row = status_row(daemon, id, 0);
  EXPECT_GE(row.at("download_duration_ms").get<std::uint64_t>(), 1000U);
  // Not more than the whole test may take.
  EXPECT_LE(row.at("download_duration_ms").get<std::uint64_t>(), 60000U);
  EXPECT_EQ(row.at("bytes_from_origin"), kSize);
}

TEST(Perfsnap, TotalsGrowByTheDownloadAndSurviveAKill) {
  nginx_server origin;
  origin.make_random_file("one.bin", kSize, 43);
  origin.make_random_file("two.bin", kSize, 44);
  daemon_process daemon;
  temp_dir out("opendo-out");

  const json before = cli_json(daemon, {"perfsnap"});
  EXPECT_EQ(before.at("files_downloaded"), 0U);
  EXPECT_EQ(before.at("totals").at("bytes_from_origin"), 0U);
  EXPECT_EQ(before.at("cache_size"), 0U);
  EXPECT_EQ(before.at("peers_connected"), 0U);
  EXPECT_GT(before.at("daemon_rss_bytes").get<std::uint64_t>(), 0U);

  download(daemon, origin, out, "one.bin");
  const json after_one = cli_json(daemon, {"perfsnap"});
  EXPECT_EQ(after_one.at("files_downloaded"), 1U);
  EXPECT_EQ(after_one.at("totals").at("bytes_from_origin"), kSize);
  EXPECT_EQ(after_one.at("bytes_downloaded"), kSize);
  EXPECT_EQ(after_one.at("totals").at("bytes_from_cache_hosts"), 0U);
  EXPECT_EQ(after_one.at("totals").at("origin_connections"), 1U);
  EXPECT_EQ(after_one.at("percent_from_peers").get<double>(), 0.0);

  daemon.kill9();
  daemon.restart();
  const json after_kill = cli_json(daemon, {"perfsnap"});
  EXPECT_EQ(after_kill.at("files_downloaded"), 1U);
  EXPECT_EQ(after_kill.at("totals").at("bytes_from_origin"), kSize);
  EXPECT_EQ(after_kill.at("totals").at("origin_connections"), 1U);
  EXPECT_EQ(after_kill.at("totals").at("download_duration_ms"),
            after_one.at("totals").at("download_duration_ms"));

  // And they go on growing from there.
  download(daemon, origin, out, "two.bin");
  const json after_two = cli_json(daemon, {"perfsnap"});
  EXPECT_EQ(after_two.at("files_downloaded"), 2U);
  EXPECT_EQ(after_two.at("totals").at("bytes_from_origin"), 2 * kSize);

  // The human lines.
  const auto human = daemon.cli({"perfsnap"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("files downloaded:         2\n"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("  from origin:            6.02 MiB\n"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("cache size:               0 B\n"), std::string::npos) << human.out;
  std::cerr << "opendo perfsnap:\n" << human.out;
}

// Cancel removes the job without saving it first; the bytes its transfer brought still count in
// the machine's totals, on record before the Cancel's answer, so a kill -9 right after keeps them.
TEST(Perfsnap, ACancelledDownloadsBytesStayCountedOverAKill) {
  nginx_options slow;
  slow.limit_rate = 512 << 10;
  nginx_server origin(slow);
  origin.make_random_file("cancelled.bin", kSize, 46);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("cancelled");
  j.add_file(origin.url("cancelled.bin"), (out / "cancelled.bin").string());
  j.resume();
  wait_until(j, [](const job_info& info) { return info.bytes_transferred > 0; });
  ASSERT_EQ(j.cancel(), hr::ok);
  const json after_cancel = cli_json(daemon, {"perfsnap"});
  const std::uint64_t counted = after_cancel.at("totals").at("bytes_from_origin");
  EXPECT_GT(counted, 0U);
  EXPECT_LT(counted, kSize);
  EXPECT_EQ(after_cancel.at("totals").at("origin_connections"), 1U);

  daemon.kill9();
  daemon.restart();
  const json after_kill = cli_json(daemon, {"perfsnap"});
  EXPECT_EQ(after_kill.at("totals").at("bytes_from_origin"), counted);
  EXPECT_EQ(after_kill.at("totals").at("origin_connections"), 1U);
  EXPECT_EQ(after_kill.at("files_downloaded"), 0U);
}

// A running download shows up in perfsnap as a background download with a rate.
TEST(Perfsnap, RunningDownloadHasARate) {
  nginx_options slow;
  slow.limit_rate = 512 << 10;
  nginx_server origin(slow);
  origin.make_random_file("running.bin", kSize, 45);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("running");
  j.add_file(origin.url("running.bin"), (out / "running.bin").string());
  j.resume();
  // Wait for bytes to flow, then for the rate window to see them.
  wait_until(j, [](const job_info& info) { return info.bytes_transferred > 0; });
  json snap;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    snap = cli_json(daemon, {"perfsnap"});
  } while (snap.at("download_rate") == 0U && std::chrono::steady_clock::now() < deadline);
  EXPECT_GT(snap.at("download_rate").get<std::uint64_t>(), 0U);
  // Never faster than nginx lets it be, with room for nginx's first burst.
  EXPECT_LT(snap.at("download_rate").get<std::uint64_t>(), 4U << 20);
  EXPECT_EQ(snap.at("background_downloads"), 1U);
  EXPECT_EQ(snap.at("foreground_downloads"), 0U);
  const json running = status_row(daemon, j.id(), 0);
  EXPECT_EQ(running.at("status"), "Downloading");
  // The figures of a running file include what arrived since the last checkpoint.
  EXPECT_GT(running.at("bytes_from_origin").get<std::uint64_t>(), 0U);
  EXPECT_GT(running.at("download_duration_ms").get<std::uint64_t>(), 0U);
  const auto table = daemon.cli({"status"});
  EXPECT_NE(table.out.find("Downloading"), std::string::npos) << table.out;
  std::cerr << "opendo status, downloading:\n" << table.out;
  j.cancel();
}
