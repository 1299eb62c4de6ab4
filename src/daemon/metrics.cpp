#include "daemon/metrics.hpp"

#include <cstdio>

namespace opendo::daemon {
namespace {

// One metric: its HELP and TYPE lines, then one sample per label set.
class exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    text_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(std::uint64_t value, const std::string& labels = {}) {
    text_ +=
        name_ + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
  }
  // Seconds from milliseconds, with the milliseconds kept: "12.345".
  void seconds_sample(std::uint64_t ms) {
    char value[32];
    std::snprintf(value, sizeof value, "%llu.%03llu", static_cast<unsigned long long>(ms / 1000),
                  static_cast<unsigned long long>(ms % 1000));
    text_ += name_ + " " + value + "\n";
  }
  std::string take() { return std::move(text_); }

 private:
  std::string name_;
  std::string text_;
};

}  // namespace

std::string prometheus_text(const machine_statistics& s) {
  const source_stats& t = s.totals;
  exposition out;
  out.family("opendo_files_downloaded_total", "counter",
             "Files whose last byte arrived, since the store was created.");
  out.sample(s.files_downloaded);
  out.family("opendo_files_uploaded_total", "counter", "Shared files that sent bytes to peers.");
  out.sample(s.files_uploaded);
  out.family("opendo_downloaded_bytes_total", "counter",
             "Bytes received and recorded, by source; bytes fetched again count again.");
  out.sample(t.bytes_from_origin, "source=\"origin\"");
  out.sample(t.bytes_from_cache_hosts, "source=\"cache_host\"");
  out.sample(t.bytes_from_lan_peers, "source=\"lan_peer\"");
  out.sample(t.bytes_from_group_peers, "source=\"group_peer\"");
  out.family("opendo_uploaded_bytes_total", "counter", "Bytes sent to peers, by kind of peer.");
  out.sample(t.bytes_to_lan_peers, "destination=\"lan_peer\"");
  out.sample(t.bytes_to_group_peers, "destination=\"group_peer\"");
  out.family("opendo_requests_total", "counter", "Requests made, by source.");
  out.sample(t.origin_connections, "source=\"origin\"");
  out.sample(t.cache_host_connections, "source=\"cache_host\"");
  out.sample(t.lan_peer_connections, "source=\"lan_peer\"");
  out.sample(t.group_peer_connections, "source=\"group_peer\"");
  out.family("opendo_transfer_seconds_total", "counter",
             "Time spent transferring, summed over every file.");
  out.seconds_sample(t.download_duration_ms);
  out.family("opendo_download_bytes_per_second", "gauge",
             "Bytes received per second over the last 5 s, all sources.");
  out.sample(s.download_rate);
  out.family("opendo_upload_bytes_per_second", "gauge", "Bytes sent to peers per second.");
  out.sample(s.upload_rate);
  out.family("opendo_cache_size_bytes", "gauge",
             "Verified bytes of the content shared from the content cache.");
  out.sample(s.cache_size);
  out.family("opendo_peers_connected", "gauge", "Distinct peers connected now.");
  out.sample(s.peers_connected);
  out.family("opendo_running_jobs", "gauge", "Jobs transferring now, by priority class.");
  out.sample(s.foreground_downloads, "priority=\"foreground\"");
  out.sample(s.background_downloads, "priority=\"background\"");
  out.family("opendo_queued_jobs", "gauge", "Jobs waiting for a slot or a retry.");
  out.sample(s.queued_jobs);
  out.family("process_cpu_seconds_total", "counter", "User and system CPU time of opendod.");
  out.seconds_sample(s.daemon_cpu_time_ms);
  out.family("process_resident_memory_bytes", "gauge", "Resident memory of opendod.");
  out.sample(s.daemon_rss_bytes);
  out.family("opendo_uptime_seconds", "gauge", "Time since opendod started.");
  out.sample(s.daemon_uptime_s);
  return out.take();
}

http_reply metrics_reply(const http_request& request, const machine_statistics& stats) {
  const char* text = "text/plain; charset=utf-8";
  if (request.method != "GET") return {"405 Method Not Allowed", text, "only GET /metrics\n", {}};
  if (request.path != "/metrics") return {"404 Not Found", text, "only GET /metrics\n", {}};
  return {"200 OK", "text/plain; version=0.0.4; charset=utf-8", prometheus_text(stats), {}};
}

}  // namespace opendo::daemon
