#include "cli/status.hpp"

#include <cinttypes>
#include <cstdio>
#include <utility>

#include "cli/progress.hpp"

namespace opendo::cli {
namespace {

using json = nlohmann::json;

// Percentages travel as numbers with two decimals (12.34), as DO's PercentPeerCaching does.
double percent_value(std::uint32_t hundredths) {
  return static_cast<double>(hundredths) / 100.0;
}

json size_json(std::uint64_t size) {
  return size == size_unknown ? json(-1) : json(size);
}

std::string short_job_id(const std::string& id) {
  const std::size_t start = !id.empty() && id.front() == '{' ? 1 : 0;
  return id.substr(start, 8);
}

}  // namespace

std::string_view file_status_name(job_state state, bool completed, bool is_current_file) {
  if (completed) return "Complete";
  switch (state) {
    case job_state::queued:
      return "Queued";
    case job_state::connecting:
    case job_state::transferring:
      return is_current_file ? "Downloading" : "Queued";
    case job_state::suspended:
      return "Paused";
    case job_state::error:
      return "Error";
    case job_state::transient_error:
      return "Retrying";
    case job_state::transferred:
    case job_state::acknowledged:
      return "Complete";
    case job_state::cancelled:
      return "Cancelled";
  }
  return "Unknown";
}

std::vector<file_status> file_statuses(const std::vector<job_info>& jobs,
                                       std::string_view download_mode) {
  std::vector<file_status> out;
  for (const job_info& job : jobs) {
    bool seen_current = false;
    for (std::uint32_t i = 0; i < job.files.size(); ++i) {
      const file_info& file = job.files[i];
      // The file being transferred is the first one not complete (files go in order).
      const bool is_current = !file.progress.completed && !seen_current;
      if (is_current) seen_current = true;
      file_status row;
      row.file_id = job.id + "/" + std::to_string(i);
      row.job_id = job.id;
      row.file_index = i;
      row.owner_uid = job.owner_uid;
      row.source_url = file.remote_url;
      row.local_name = file.local_name;
      row.file_size = file.progress.bytes_total;
      row.bytes_transferred = file.progress.bytes_transferred;
      row.sources = file.sources;
      row.status = file_status_name(job.state, file.progress.completed, is_current);
      // Only a file with trusted content metadata can come from peers: any other is HTTP only.
      row.download_mode = file.content_id.empty() ? std::string_view("HttpOnly") : download_mode;
      row.priority = job.priority == job_priority::foreground ? "Foreground" : "Background";
      out.push_back(std::move(row));
    }
  }
  return out;
}

std::string format_percent(std::uint32_t hundredths) {
  char buffer[16];
  if (hundredths % 100 < 10) {
    std::snprintf(buffer, sizeof buffer, "%" PRIu32 "%%", hundredths / 100);
  } else {
    std::snprintf(buffer, sizeof buffer, "%" PRIu32 ".%" PRIu32 "%%", hundredths / 100,
                  hundredths % 100 / 10);
  }
  return buffer;
}

std::string format_duration_ms(std::uint64_t ms) {
  if (ms < 60000) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%" PRIu64 ".%" PRIu64 " s", ms / 1000, ms % 1000 / 100);
    return buffer;
  }
  return format_duration(std::chrono::seconds(ms / 1000));
}

std::vector<std::string> status_table(const std::vector<file_status>& files, bool with_owner) {
  if (files.empty()) return {"no files"};
  std::vector<std::string> lines;
  char line[512];
  std::snprintf(line, sizeof line,
                "%-12s %s%-11s %-10s %-10s %-10s %-10s %-10s %-7s %-7s %-9s %-10s %-9s %s", "FILE",
                with_owner ? "OWNER  " : "", "STATUS", "SIZE", "ORIGIN", "CACHE", "LAN", "GROUP",
                "PEERS%", "CACHE%", "MODE", "PRIORITY", "DURATION", "URL");
  lines.emplace_back(line);
  for (const file_status& f : files) {
    const std::string id = short_job_id(f.job_id) + "/" + std::to_string(f.file_index);
    const std::string owner = with_owner ? pad(std::to_string(f.owner_uid), 6) + " " : "";
    std::snprintf(line, sizeof line,
                  "%-12s %s%-11s %-10s %-10s %-10s %-10s %-10s %-7s %-7s %-9s %-10s %-9s %s",
                  id.c_str(), owner.c_str(), std::string(f.status).c_str(),
                  format_bytes(f.file_size).c_str(),
                  format_bytes(f.sources.bytes_from_origin).c_str(),
                  format_bytes(f.sources.bytes_from_cache_hosts).c_str(),
                  format_bytes(f.sources.bytes_from_lan_peers).c_str(),
                  format_bytes(f.sources.bytes_from_group_peers).c_str(),
                  format_percent(f.sources.percent_from_peers()).c_str(),
                  format_percent(f.sources.percent_from_cache_hosts()).c_str(),
                  printable(f.download_mode).c_str(), std::string(f.priority).c_str(),
                  format_duration_ms(f.sources.download_duration_ms).c_str(),
                  printable(f.source_url).c_str());
    lines.emplace_back(line);
  }
  return lines;
}

std::vector<std::string> peer_table(const std::vector<peer_connection>& peers) {
  if (peers.empty()) return {"no peers"};
  std::vector<std::string> lines;
  char line[512];
  std::snprintf(line, sizeof line, "%-14s %-24s %-22s %-6s %-5s %-10s %-10s %-10s %s", "CONTENT",
                "ADDRESS", "CLIENT", "OPENDO", "SEED", "FROM", "TO", "FROM/S", "TO/S");
  lines.emplace_back(line);
  for (const peer_connection& p : peers) {
    // "urn:btmh:1220" and 64 hex digits: the first 12 of them name it well enough in a table.
    const std::string content =
        p.content_id.size() > 25 ? p.content_id.substr(13, 12) : p.content_id;
    std::snprintf(line, sizeof line, "%-14s %-24s %-22s %-6s %-5s %-10s %-10s %-10s %s",
                  printable(content).c_str(), printable(p.address).c_str(),
                  printable(p.client).c_str(), p.opendo ? "yes" : "no", p.seed ? "yes" : "no",
                  format_bytes(p.bytes_from).c_str(), format_bytes(p.bytes_to).c_str(),
                  format_bytes(p.rate_from).c_str(), format_bytes(p.rate_to).c_str());
    lines.emplace_back(line);
  }
  return lines;
}

json to_json(const peer_connection& p) {
  return {{"content_id", p.content_id}, {"address", p.address},     {"client", p.client},
          {"opendo", p.opendo},         {"seed", p.seed},           {"bytes_from", p.bytes_from},
          {"bytes_to", p.bytes_to},     {"rate_from", p.rate_from}, {"rate_to", p.rate_to}};
}

json to_json(const file_status& f) {
  const source_stats& s = f.sources;
  return {{"file_id", f.file_id},
          {"job_id", f.job_id},
          {"file_index", f.file_index},
          {"owner_uid", f.owner_uid},
          {"source_url", f.source_url},
          {"local_name", f.local_name},
          {"file_size", size_json(f.file_size)},
          {"bytes_transferred", f.bytes_transferred},
          {"total_bytes_downloaded", s.bytes_downloaded()},
          {"bytes_from_origin", s.bytes_from_origin},
          {"bytes_from_cache_hosts", s.bytes_from_cache_hosts},
          {"bytes_from_peers", s.bytes_from_peers()},
          {"bytes_from_lan_peers", s.bytes_from_lan_peers},
          {"bytes_from_group_peers", s.bytes_from_group_peers},
          {"bytes_to_lan_peers", s.bytes_to_lan_peers},
          {"bytes_to_group_peers", s.bytes_to_group_peers},
          {"percent_from_peers", percent_value(s.percent_from_peers())},
          {"percent_from_cache_hosts", percent_value(s.percent_from_cache_hosts())},
          {"origin_connections", s.origin_connections},
          {"cache_host_connections", s.cache_host_connections},
          {"lan_peer_connections", s.lan_peer_connections},
          {"group_peer_connections", s.group_peer_connections},
          {"download_duration_ms", s.download_duration_ms},
          {"status", std::string(f.status)},
          {"download_mode", f.download_mode},
          {"priority", std::string(f.priority)}};
}

std::vector<std::string> perfsnap_lines(const machine_statistics& stats) {
  const source_stats& t = stats.totals;
  auto rate = [](std::uint64_t bytes_per_second) { return format_bytes(bytes_per_second) + "/s"; };
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"files downloaded", std::to_string(stats.files_downloaded)},
      {"files uploaded", std::to_string(stats.files_uploaded)},
      {"bytes downloaded", format_bytes(t.bytes_downloaded())},
      {"  from origin", format_bytes(t.bytes_from_origin)},
      {"  from cache hosts", format_bytes(t.bytes_from_cache_hosts)},
      {"  from LAN peers", format_bytes(t.bytes_from_lan_peers)},
      {"  from group peers", format_bytes(t.bytes_from_group_peers)},
      {"bytes uploaded", format_bytes(t.bytes_uploaded())},
      {"  to LAN peers", format_bytes(t.bytes_to_lan_peers)},
      {"  to group peers", format_bytes(t.bytes_to_group_peers)},
      {"percent from peers", format_percent(t.percent_from_peers())},
      {"percent from cache hosts", format_percent(t.percent_from_cache_hosts())},
      {"requests to origin", std::to_string(t.origin_connections)},
      {"requests to cache hosts", std::to_string(t.cache_host_connections)},
      {"requests to peers", std::to_string(t.lan_peer_connections + t.group_peer_connections)},
      {"time transferring", format_duration_ms(t.download_duration_ms)},
      {"download rate", rate(stats.download_rate)},
      {"upload rate", rate(stats.upload_rate)},
      {"cache size", format_bytes(stats.cache_size)},
      {"peers connected", std::to_string(stats.peers_connected)},
      {"foreground downloads", std::to_string(stats.foreground_downloads)},
      {"background downloads", std::to_string(stats.background_downloads)},
      {"queued jobs", std::to_string(stats.queued_jobs)},
      {"download mode", printable(stats.download_mode)},
      {"opendod CPU time", format_duration_ms(stats.daemon_cpu_time_ms)},
      {"opendod memory (RSS)", format_bytes(stats.daemon_rss_bytes)},
      {"opendod running for", format_duration(std::chrono::seconds(stats.daemon_uptime_s))},
  };
  std::vector<std::string> lines;
  lines.reserve(rows.size());
  for (const auto& [label, value] : rows) {
    std::string line = pad(label + ":", 26);
    line += value;
    lines.push_back(std::move(line));
  }
  return lines;
}

json perfsnap_json(const machine_statistics& stats) {
  const source_stats& t = stats.totals;
  json out = {{"files_downloaded", stats.files_downloaded},
              {"files_uploaded", stats.files_uploaded},
              {"bytes_downloaded", t.bytes_downloaded()},
              {"bytes_uploaded", t.bytes_uploaded()},
              {"percent_from_peers", percent_value(t.percent_from_peers())},
              {"percent_from_cache_hosts", percent_value(t.percent_from_cache_hosts())},
              {"download_rate", stats.download_rate},
              {"upload_rate", stats.upload_rate},
              {"cache_size", stats.cache_size},
              {"peers_connected", stats.peers_connected},
              {"foreground_downloads", stats.foreground_downloads},
              {"background_downloads", stats.background_downloads},
              {"queued_jobs", stats.queued_jobs},
              {"download_mode", stats.download_mode},
              {"daemon_cpu_time_ms", stats.daemon_cpu_time_ms},
              {"daemon_rss_bytes", stats.daemon_rss_bytes},
              {"daemon_uptime_s", stats.daemon_uptime_s}};
  json totals = json::object();
  totals["bytes_from_origin"] = t.bytes_from_origin;
  totals["bytes_from_cache_hosts"] = t.bytes_from_cache_hosts;
  totals["bytes_from_lan_peers"] = t.bytes_from_lan_peers;
  totals["bytes_from_group_peers"] = t.bytes_from_group_peers;
  totals["bytes_to_lan_peers"] = t.bytes_to_lan_peers;
  totals["bytes_to_group_peers"] = t.bytes_to_group_peers;
  totals["origin_connections"] = t.origin_connections;
  totals["cache_host_connections"] = t.cache_host_connections;
  totals["lan_peer_connections"] = t.lan_peer_connections;
  totals["group_peer_connections"] = t.group_peer_connections;
  totals["download_duration_ms"] = t.download_duration_ms;
  out["totals"] = std::move(totals);
  return out;
}

}  // namespace opendo::cli
