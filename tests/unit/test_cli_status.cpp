// `opendo status` and `opendo perfsnap` formatting: rows built from job snapshots, the Status
// names, percentages, the human tables and the JSON fields.
#include <gtest/gtest.h>

#include "cli/status.hpp"

namespace {

using opendo::job_info;
using opendo::job_state;
using opendo::cli::file_status_name;

job_info two_file_job(job_state state) {
  job_info job;
  job.id = "{1A2B3C4D-0000-4000-8000-000000000001}";
  job.owner_uid = 1000;
  job.state = state;
  job.priority = opendo::job_priority::normal;
  opendo::file_info done;
  done.remote_url = "http://127.0.0.1:8080/a.bin";
  done.local_name = "/tmp/a.bin";
  done.progress = {1048576, 1048576, true};
  done.sources.bytes_from_origin = 1048576;
  done.sources.origin_connections = 1;
  done.sources.download_duration_ms = 1234;
  opendo::file_info next;
  next.remote_url = "http://127.0.0.1:8080/b.bin";
  next.local_name = "/tmp/b.bin";
  next.progress = {2000, 500, false};
  next.sources.bytes_from_origin = 500;
  job.files = {done, next};
  return job;
}

TEST(FileStatusName, CompleteFilesAreCompleteInAnyState) {
  for (auto state : {job_state::queued, job_state::transferring, job_state::suspended,
                     job_state::error, job_state::transferred}) {
    EXPECT_EQ(file_status_name(state, true, false), "Complete");
  }
}

TEST(FileStatusName, FromTheJobState) {
  EXPECT_EQ(file_status_name(job_state::transferring, false, true), "Downloading");
  EXPECT_EQ(file_status_name(job_state::connecting, false, true), "Downloading");
  EXPECT_EQ(file_status_name(job_state::transferring, false, false), "Queued");
  EXPECT_EQ(file_status_name(job_state::queued, false, true), "Queued");
  EXPECT_EQ(file_status_name(job_state::suspended, false, true), "Paused");
  EXPECT_EQ(file_status_name(job_state::error, false, true), "Error");
  EXPECT_EQ(file_status_name(job_state::transient_error, false, true), "Retrying");
  EXPECT_EQ(file_status_name(job_state::cancelled, false, true), "Cancelled");
}

TEST(FileStatuses, OneRowPerFileInOrder) {
  const auto rows = opendo::cli::file_statuses(
      {two_file_job(job_state::transferring), two_file_job(job_state::suspended)}, "HttpOnly");
  ASSERT_EQ(rows.size(), 4U);
  EXPECT_EQ(rows[0].file_id, "{1A2B3C4D-0000-4000-8000-000000000001}/0");
  EXPECT_EQ(rows[1].file_index, 1U);
  EXPECT_EQ(rows[0].status, "Complete");
  EXPECT_EQ(rows[1].status, "Downloading");
  EXPECT_EQ(rows[3].status, "Paused");
  EXPECT_EQ(rows[0].file_size, 1048576U);
  EXPECT_EQ(rows[1].sources.bytes_from_origin, 500U);
  EXPECT_EQ(rows[0].download_mode, "HttpOnly");
  EXPECT_EQ(rows[0].priority, "Background");
}

TEST(FormatPercent, TenthsWhenThereAreAny) {
  EXPECT_EQ(opendo::cli::format_percent(0), "0%");
  EXPECT_EQ(opendo::cli::format_percent(9), "0%");
  EXPECT_EQ(opendo::cli::format_percent(1250), "12.5%");
  EXPECT_EQ(opendo::cli::format_percent(3333), "33.3%");
  EXPECT_EQ(opendo::cli::format_percent(10000), "100%");
}

TEST(FormatDurationMs, SecondsWithATenthThenClock) {
  EXPECT_EQ(opendo::cli::format_duration_ms(0), "0.0 s");
  EXPECT_EQ(opendo::cli::format_duration_ms(1234), "1.2 s");
  EXPECT_EQ(opendo::cli::format_duration_ms(59999), "59.9 s");
  EXPECT_EQ(opendo::cli::format_duration_ms(62000), "1:02");
  EXPECT_EQ(opendo::cli::format_duration_ms(3723000), "1:02:03");
}

TEST(StatusTable, HeaderAndAlignedRows) {
  const auto rows = opendo::cli::file_statuses({two_file_job(job_state::transferring)}, "HttpOnly");
  const auto lines = opendo::cli::status_table(rows, false);
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_EQ(lines[0].rfind("FILE         STATUS      SIZE       ORIGIN     CACHE", 0), 0U)
      << lines[0];
  EXPECT_EQ(lines[1].rfind("1A2B3C4D/0   Complete    1.00 MiB   1.00 MiB   0 B        0 B", 0), 0U)
      << lines[1];
  EXPECT_NE(
      lines[1].find(" 0%      0%      HttpOnly  Background 1.2 s     http://127.0.0.1:8080/a.bin"),
      std::string::npos)
      << lines[1];
  EXPECT_EQ(lines[2].rfind("1A2B3C4D/1   Downloading 1.95 KiB   500 B", 0), 0U) << lines[2];
  // Every column starts at the same place in the header and the rows.
  EXPECT_EQ(lines[0].find("URL"), lines[1].find("http://"));
  EXPECT_EQ(lines[0].find("DURATION"), lines[2].find("0.0 s"));
}

TEST(StatusTable, OwnerColumnForAllUsers) {
  const auto rows = opendo::cli::file_statuses({two_file_job(job_state::queued)}, "HttpOnly");
  const auto lines = opendo::cli::status_table(rows, true);
  EXPECT_NE(lines[0].find("OWNER"), std::string::npos);
  EXPECT_EQ(lines[1].find("1000"), lines[0].find("OWNER"));
}

TEST(StatusTable, NoFiles) {
  EXPECT_EQ(opendo::cli::status_table({}, false), std::vector<std::string>{"no files"});
}

TEST(StatusJson, FieldsOfGetDeliveryOptimizationStatus) {
  auto job = two_file_job(job_state::transferring);
  job.files[0].sources.bytes_from_lan_peers = 1048576;  // half from peers
  const auto rows = opendo::cli::file_statuses({job}, "HttpOnly");
  const auto json = opendo::cli::to_json(rows[0]);
  EXPECT_EQ(json.at("file_id"), "{1A2B3C4D-0000-4000-8000-000000000001}/0");
  EXPECT_EQ(json.at("file_size"), 1048576U);
  EXPECT_EQ(json.at("bytes_from_origin"), 1048576U);
  EXPECT_EQ(json.at("bytes_from_peers"), 1048576U);
  EXPECT_EQ(json.at("total_bytes_downloaded"), 2097152U);
  EXPECT_DOUBLE_EQ(json.at("percent_from_peers").get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(json.at("percent_from_cache_hosts").get<double>(), 0.0);
  EXPECT_EQ(json.at("status"), "Complete");
  EXPECT_EQ(json.at("download_mode"), "HttpOnly");
  EXPECT_EQ(json.at("download_duration_ms"), 1234U);
  EXPECT_EQ(json.at("origin_connections"), 1U);
  EXPECT_EQ(json.at("source_url"), "http://127.0.0.1:8080/a.bin");
  EXPECT_EQ(opendo::cli::to_json(rows[1]).at("file_size"), 2000U);
}

TEST(Perfsnap, LinesGiveEachFigure) {
  opendo::machine_statistics stats;
  stats.files_downloaded = 3;
  stats.totals.bytes_from_origin = 3 * 1048576;
  stats.download_rate = 2048;
  stats.foreground_downloads = 1;
  stats.download_mode = "HttpOnly";
  stats.daemon_rss_bytes = 10 * 1048576;
  const auto lines = opendo::cli::perfsnap_lines(stats);
  auto line_with = [&](const std::string& label) {
    for (const auto& line : lines) {
      if (line.rfind(label, 0) == 0) return line;
    }
    return std::string("(no line " + label + ")");
  };
  EXPECT_EQ(line_with("files downloaded:"), "files downloaded:         3");
  EXPECT_EQ(line_with("  from origin:"), "  from origin:            3.00 MiB");
  EXPECT_EQ(line_with("download rate:"), "download rate:            2.00 KiB/s");
  EXPECT_EQ(line_with("cache size:"), "cache size:               0 B");
  EXPECT_EQ(line_with("peers connected:"), "peers connected:          0");
  EXPECT_EQ(line_with("foreground downloads:"), "foreground downloads:     1");
  EXPECT_EQ(line_with("opendod memory (RSS):"), "opendod memory (RSS):     10.0 MiB");
}

TEST(PeerTable, ShortContentIdAndBothDirections) {
  opendo::peer_connection p;
  p.content_id = "urn:btmh:1220" + std::string(64, 'a');
  p.address = "10.213.0.3:7680";
  p.client = "opendo 0.1.0.0";
  p.opendo = true;
  p.bytes_from = 3 * 1048576;
  p.bytes_to = 2048;
  const auto lines = opendo::cli::peer_table({p});
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0].rfind("CONTENT", 0), 0U);
  EXPECT_EQ(lines[1].rfind("aaaaaaaaaaaa   10.213.0.3:7680", 0), 0U) << lines[1];
  EXPECT_NE(lines[1].find("3.00 MiB"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("2.00 KiB"), std::string::npos) << lines[1];
  EXPECT_EQ(opendo::cli::peer_table({}), std::vector<std::string>{"no peers"});
  EXPECT_EQ(opendo::cli::to_json(p)["address"], "10.213.0.3:7680");
}

TEST(Perfsnap, JsonHasTotalsBySource) {
  opendo::machine_statistics stats;
  stats.files_downloaded = 2;
  stats.totals.bytes_from_origin = 300;
  stats.totals.origin_connections = 2;
  const auto json = opendo::cli::perfsnap_json(stats);
  EXPECT_EQ(json.at("files_downloaded"), 2U);
  EXPECT_EQ(json.at("bytes_downloaded"), 300U);
  EXPECT_EQ(json.at("totals").at("bytes_from_origin"), 300U);
  EXPECT_EQ(json.at("totals").at("bytes_from_cache_hosts"), 0U);
  EXPECT_EQ(json.at("totals").at("origin_connections"), 2U);
  EXPECT_EQ(json.at("cache_size"), 0U);
  EXPECT_EQ(json.at("peers_connected"), 0U);
}

}  // namespace
