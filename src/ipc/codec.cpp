#include "ipc/codec.hpp"

#include <array>
#include <cstdint>
#include <span>

#include "common/libcrypto.hpp"
#include "jobs/accounting.hpp"

namespace opendo::ipc {
namespace {

// The longest path a daemon's report may hold (PATH_MAX plus room for a temporary file's name).
constexpr std::size_t kMaxReportedPath = 8192;

// Non-negative integers, whether parsed (unsigned) or built in C++ (signed).
bool is_unsigned_number(const json& value) {
  return value.is_number_unsigned() ||
         (value.is_number_integer() && value.get<std::int64_t>() >= 0);
}

// Sizes travel as signed 64-bit numbers as Varlink's int is; BG_SIZE_UNKNOWN becomes -1.
json size_to_json(std::uint64_t size) {
  return size == size_unknown ? json(-1) : json(size);
}

std::uint64_t size_from_json(const json& value, const char* name) {
  if (value.is_number_integer() && value.get<std::int64_t>() == -1) return size_unknown;
  if (!is_unsigned_number(value)) throw bad_parameter(name);
  return value.get<std::uint64_t>();
}

const json& field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) throw bad_parameter(name);
  return *it;
}

std::string string_field(const json& object, const char* name) {
  const json& value = field(object, name);
  if (!value.is_string()) throw bad_parameter(name);
  return value.get<std::string>();
}

std::uint64_t uint_field(const json& object, const char* name) {
  const json& value = field(object, name);
  if (!is_unsigned_number(value)) throw bad_parameter(name);
  return value.get<std::uint64_t>();
}

bool bool_field(const json& object, const char* name) {
  const json& value = field(object, name);
  if (!value.is_boolean()) throw bad_parameter(name);
  return value.get<bool>();
}

// Signed 64-bit integers (times); anything else, a float or a string included, is refused
// rather than thrown by nlohmann::json or converted with undefined behaviour.
std::int64_t int64_field(const json& object, const char* name) {
  const json& value = field(object, name);
  if (!value.is_number_integer()) throw bad_parameter(name);
  if (value.is_number_unsigned() &&
      value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    throw bad_parameter(name);
  }
  return value.get<std::int64_t>();
}

std::uint32_t uint32_field(const json& object, const char* name) {
  const std::uint64_t value = uint_field(object, name);
  if (value > 0xFFFFFFFFULL) throw bad_parameter(name);
  return static_cast<std::uint32_t>(value);
}

json ranges_to_json(const std::vector<byte_range>& ranges) {
  json out = json::array();
  for (const byte_range& r : ranges) {
    out.push_back({{"offset", r.offset}, {"length", size_to_json(r.length)}});
  }
  return out;
}

std::vector<byte_range> ranges_from_json(const json& value) {
  if (!value.is_array()) throw bad_parameter("ranges");
  std::vector<byte_range> ranges;
  ranges.reserve(value.size());
  for (const json& entry : value) {
    if (!entry.is_object()) throw bad_parameter("ranges");
    ranges.push_back(
        {uint_field(entry, "offset"), size_from_json(field(entry, "length"), "length")});
  }
  return ranges;
}

std::string_view to_string(range_layout layout) {
  return layout == range_layout::in_place ? "in_place" : "concatenated";
}

range_layout layout_from_json(const json& value) {
  if (value == "concatenated") return range_layout::concatenated;
  if (value == "in_place") return range_layout::in_place;
  throw bad_parameter("layout");
}

// FileSpec's metainfo is raw bytes: it travels as base64 (RFC 4648, with padding), by OpenSSL.
std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = libcrypto().EVP_EncodeBlock(
      reinterpret_cast<unsigned char*>(out.data()),
      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// The bytes of base64 `text` (a multiple of 4 characters of the base64 alphabet, '=' padding
// at the end only); nullopt when it is not that.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/';
    const bool padding =
        c == '=' && i + 2 >= text.size() && (i + 1 == text.size() || text[i + 1] == '=');
    if (!alphabet && !padding) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int written = libcrypto().EVP_DecodeBlock(
      reinterpret_cast<unsigned char*>(out.data()),
      reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(written);
  if (text.ends_with("==")) {
    size -= 2;
  } else if (text.ends_with("=")) {
    size -= 1;
  }
  out.resize(size);
  return out;
}

constexpr std::array<std::string_view, 4> kEventKinds{"snapshot", "state", "progress", "modified"};

}  // namespace

std::string_view to_string(job_event_kind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kEventKinds.size() ? kEventKinds[index] : std::string_view("snapshot");
}

std::optional<job_event_kind> job_event_kind_from_string(std::string_view text) {
  for (std::size_t i = 0; i < kEventKinds.size(); ++i) {
    if (kEventKinds[i] == text) return static_cast<job_event_kind>(i);
  }
  return std::nullopt;
}

json to_json(const file_spec& file) {
  json out = {{"remote_url", file.remote_url}, {"local_name", file.local_name}};
  if (!file.ranges.empty()) {
    out["ranges"] = ranges_to_json(file.ranges);
    out["layout"] = std::string(to_string(file.layout));
  }
  if (!file.digest.empty()) out["digest"] = file.digest;
  if (!file.metainfo.empty()) out["metainfo"] = base64_encode(file.metainfo);
  if (!file.magnet.empty()) out["magnet"] = file.magnet;
  if (!file.metainfo_url.empty()) out["metainfo_url"] = file.metainfo_url;
  return out;
}

file_spec file_spec_from_json(const json& value, std::size_t max_url, std::size_t max_path) {
  if (!value.is_object()) throw bad_parameter("files");
  file_spec file;
  file.remote_url = required_string(value, "remote_url", max_url);
  file.local_name = required_string(value, "local_name", max_path);
  if (auto it = value.find("ranges"); it != value.end() && !it->is_null()) {
    file.ranges = ranges_from_json(*it);
  }
  if (auto it = value.find("layout"); it != value.end() && !it->is_null()) {
    file.layout = layout_from_json(*it);
  }
  if (auto digest = optional_string(value, "digest", 7 + 128)) file.digest = std::move(*digest);
  // The limits of the content metadata are checked here, on the wire, so that nothing larger is
  // ever decoded or kept; what the bytes mean is checked by the daemon.
  if (auto metainfo = optional_string(value, "metainfo", 4 * ((max_metainfo_size + 2) / 3))) {
    auto bytes = base64_decode(*metainfo);
    if (!bytes || bytes->size() > max_metainfo_size) throw bad_parameter("metainfo");
    file.metainfo = std::move(*bytes);
  }
  if (auto magnet = optional_string(value, "magnet", max_magnet_size)) {
    file.magnet = std::move(*magnet);
  }
  if (auto url = optional_string(value, "metainfo_url", max_url)) {
    file.metainfo_url = std::move(*url);
  }
  return file;
}

json to_json(const source_stats& stats) {
  json::object_t out;
  for (const auto& [name, counter] : jobs::kSourceCounters) out.emplace(name, stats.*counter);
  return out;
}

source_stats source_stats_from_json(const json& value) {
  if (!value.is_object()) throw bad_parameter("sources");
  source_stats stats;
  for (const auto& [name, counter] : jobs::kSourceCounters) {
    stats.*counter = uint_field(value, std::string(name).c_str());
  }
  return stats;
}

json to_json(const machine_statistics& s) {
  return {{"files_downloaded", s.files_downloaded},
          {"files_uploaded", s.files_uploaded},
          {"totals", to_json(s.totals)},
          {"download_rate", s.download_rate},
          {"upload_rate", s.upload_rate},
          {"cache_size", s.cache_size},
          {"peers_connected", s.peers_connected},
          {"foreground_downloads", s.foreground_downloads},
          {"background_downloads", s.background_downloads},
          {"queued_jobs", s.queued_jobs},
          {"download_mode", s.download_mode},
          {"daemon_cpu_time_ms", s.daemon_cpu_time_ms},
          {"daemon_rss_bytes", s.daemon_rss_bytes},
          {"daemon_uptime_s", s.daemon_uptime_s}};
}

machine_statistics statistics_from_json(const json& value) {
  if (!value.is_object()) throw bad_parameter("statistics");
  machine_statistics s;
  s.files_downloaded = uint_field(value, "files_downloaded");
  s.files_uploaded = uint_field(value, "files_uploaded");
  s.totals = source_stats_from_json(field(value, "totals"));
  s.download_rate = uint_field(value, "download_rate");
  s.upload_rate = uint_field(value, "upload_rate");
  s.cache_size = uint_field(value, "cache_size");
  s.peers_connected = uint32_field(value, "peers_connected");
  s.foreground_downloads = uint32_field(value, "foreground_downloads");
  s.background_downloads = uint32_field(value, "background_downloads");
  s.queued_jobs = uint32_field(value, "queued_jobs");
  s.download_mode = string_field(value, "download_mode");
  s.daemon_cpu_time_ms = uint_field(value, "daemon_cpu_time_ms");
  s.daemon_rss_bytes = uint_field(value, "daemon_rss_bytes");
  s.daemon_uptime_s = uint_field(value, "daemon_uptime_s");
  return s;
}

json to_json(const peer_connection& p) {
  return {{"content_id", p.content_id}, {"address", p.address},     {"client", p.client},
          {"opendo", p.opendo},         {"seed", p.seed},           {"bytes_from", p.bytes_from},
          {"bytes_to", p.bytes_to},     {"rate_from", p.rate_from}, {"rate_to", p.rate_to}};
}

peer_connection peer_from_json(const json& value) {
  if (!value.is_object()) throw bad_parameter("peer");
  peer_connection p;
  p.content_id = string_field(value, "content_id");
  p.address = string_field(value, "address");
  p.client = string_field(value, "client");
  p.opendo = bool_field(value, "opendo");
  p.seed = bool_field(value, "seed");
  p.bytes_from = uint_field(value, "bytes_from");
  p.bytes_to = uint_field(value, "bytes_to");
  p.rate_from = uint_field(value, "rate_from");
  p.rate_to = uint_field(value, "rate_to");
  return p;
}

// Built member by member: an initializer list of nlohmann::json copies each value it holds once
// more, which made a job of 200 files cost half again as much to encode (GetJob, Watch, ListJobs).
json to_json(const file_info& file) {
  json::object_t progress;
  progress.emplace("bytes_total", size_to_json(file.progress.bytes_total));
  progress.emplace("bytes_transferred", file.progress.bytes_transferred);
  progress.emplace("completed", file.progress.completed);
  json::object_t out;
  out.emplace("remote_url", file.remote_url);
  out.emplace("local_name", file.local_name);
  out.emplace("ranges", ranges_to_json(file.ranges));
  out.emplace("layout", to_string(file.layout));
  out.emplace("digest", file.digest);
  out.emplace("content_id", file.content_id);
  out.emplace("metainfo_url", file.metainfo_url);
  out.emplace("metainfo_note", file.metainfo_note);
  out.emplace("temp_name", file.temp_name);
  out.emplace("validated", file.validated);
  out.emplace("progress", std::move(progress));
  out.emplace("sources", to_json(file.sources));
  return out;
}

json to_json(const job_info& job, watched_files which) {
  json files = json::array();
  const std::span<const file_info> listed = which == watched_files::all
                                                ? std::span<const file_info>(job.files)
                                                : std::span<const file_info>();
  for (const auto& file : listed) files.push_back(to_json(file));
  json out = {{"id", job.id},
              {"owner_uid", job.owner_uid},
              {"creator_uid", job.creator_uid},
              {"display_name", job.display_name},
              {"description", job.description},
              {"priority", std::string(to_string(job.priority))},
              {"state", std::string(to_string(job.state))},
              {"bytes_total", size_to_json(job.bytes_total)},
              {"bytes_transferred", job.bytes_transferred},
              {"files_total", job.files_total},
              {"files_transferred", job.files_transferred},
              {"notify_flags", job.notify_flags},
              {"minimum_retry_delay", job.minimum_retry_delay},
              {"no_progress_timeout", job.no_progress_timeout},
              {"error_count", job.error_count},
              {"times",
               {{"creation", job.times.creation},
                {"modification", job.times.modification},
                {"transfer_completion", job.times.transfer_completion}}},
              {"files", std::move(files)}};
  out["proxy"] = {{"usage", std::string(to_string(job.proxy.usage))},
                  {"proxy_list", job.proxy.proxy_list},
                  {"bypass_list", job.proxy.bypass_list}};
  out["notify_command"] = {{"program", job.notify_command.program},
                           {"parameters", job.notify_command.parameters}};
  json credentials = json::array();
  for (const auto& c : job.credentials) {
    credentials.push_back({{"target", static_cast<std::uint32_t>(c.target)},
                           {"scheme", static_cast<std::uint32_t>(c.scheme)},
                           {"user_name", c.user_name}});
  }
  out["credentials"] = std::move(credentials);
  out["max_download_time"] = job.max_download_time;
  out["max_download_size"] = job.max_download_size;
  out["dynamic_content"] = job.dynamic_content;
  out["high_performance"] = job.high_performance;
  out["minimum_notification_interval_ms"] = job.minimum_notification_interval_ms;
  out["custom_headers"] = job.custom_headers;
  out["has_custom_auth_headers"] = job.has_custom_auth_headers;
  out["allow_https_to_http_redirect"] = job.allow_https_to_http_redirect;
  out["tls_exemptions"] = job.tls_exemptions;
  out["has_client_certificate"] = job.has_client_certificate;
  if (job.peer_caching_flags) out["peer_caching_flags"] = *job.peer_caching_flags;
  out["cost_flags"] = job.cost_flags;
  out["cost_policy"] = static_cast<std::uint32_t>(job.cost_policy);
  out["disallow_on_cellular"] = job.disallow_on_cellular;
  out["last_response"] = {{"status", job.last_response.status},
                          {"headers", job.last_response.headers},
                          {"server_ip", job.last_response.server_ip},
                          {"redirection_target", job.last_response.redirection_target}};
  if (job.error) {
    json error = {{"code", job.error->code},
                  {"context", std::string(to_string(job.error->context))},
                  {"message", job.error->message},
                  {"protocol", job.error->protocol}};
    if (job.error->file_index) error["file_index"] = *job.error->file_index;
    out["error"] = std::move(error);
  }
  return out;
}

job_info job_from_json(const json& value) {
  if (!value.is_object()) throw bad_parameter("job");
  job_info job;
  job.id = string_field(value, "id");
  job.owner_uid = uint32_field(value, "owner_uid");
  job.creator_uid = uint32_field(value, "creator_uid");
  job.display_name = string_field(value, "display_name");
  job.description = string_field(value, "description");
  auto priority = job_priority_from_string(string_field(value, "priority"));
  auto state = job_state_from_string(string_field(value, "state"));
  if (!priority) throw bad_parameter("priority");
  if (!state) throw bad_parameter("state");
  job.priority = *priority;
  job.state = *state;
  job.bytes_total = size_from_json(field(value, "bytes_total"), "bytes_total");
  job.bytes_transferred = uint_field(value, "bytes_transferred");
  job.files_total = uint32_field(value, "files_total");
  job.files_transferred = uint32_field(value, "files_transferred");
  job.notify_flags = uint32_field(value, "notify_flags");
  job.minimum_retry_delay = uint32_field(value, "minimum_retry_delay");
  job.no_progress_timeout = uint32_field(value, "no_progress_timeout");
  job.error_count = uint32_field(value, "error_count");
  const json& times = field(value, "times");
  job.times.creation = int64_field(times, "creation");
  job.times.modification = int64_field(times, "modification");
  job.times.transfer_completion = int64_field(times, "transfer_completion");
  if (auto it = value.find("error"); it != value.end() && !it->is_null()) {
    job_error error;
    error.code = uint32_field(*it, "code");
    const std::string context = string_field(*it, "context");
    for (std::uint32_t i = 0; i <= 7; ++i) {
      if (to_string(static_cast<error_context>(i)) == context)
        error.context = static_cast<error_context>(i);
    }
    if (auto index = it->find("file_index"); index != it->end() && !index->is_null()) {
      error.file_index = uint32_field(*it, "file_index");
    }
    error.message = string_field(*it, "message");
    error.protocol = string_field(*it, "protocol");
    job.error = std::move(error);
  }
  const json& proxy = field(value, "proxy");
  auto usage = proxy_usage_from_string(string_field(proxy, "usage"));
  if (!usage) throw bad_parameter("usage");
  job.proxy = {*usage, string_field(proxy, "proxy_list"), string_field(proxy, "bypass_list")};
  const json& command = field(value, "notify_command");
  job.notify_command = {string_field(command, "program"), string_field(command, "parameters")};
  const json& credentials = field(value, "credentials");
  if (!credentials.is_array()) throw bad_parameter("credentials");
  for (const json& entry : credentials) {
    job.credentials.push_back(credential_slot{
        static_cast<auth_target>(uint32_field(entry, "target")),
        static_cast<auth_scheme>(uint32_field(entry, "scheme")), string_field(entry, "user_name")});
  }
  // The limits came with version 4 of the store: a daemon from before sends none of them.
  if (value.contains("max_download_time")) {
    job.max_download_time = uint32_field(value, "max_download_time");
  }
  if (value.contains("dynamic_content")) job.dynamic_content = bool_field(value, "dynamic_content");
  if (value.contains("high_performance")) {
    job.high_performance = bool_field(value, "high_performance");
  }
  if (value.contains("max_download_size")) {
    job.max_download_size = uint_field(value, "max_download_size");
  }
  if (value.contains("minimum_notification_interval_ms")) {
    job.minimum_notification_interval_ms = uint32_field(value, "minimum_notification_interval_ms");
  }
  const json& headers = field(value, "custom_headers");
  if (!headers.is_array()) throw bad_parameter("custom_headers");
  for (const json& line : headers) {
    if (!line.is_string()) throw bad_parameter("custom_headers");
    job.custom_headers.push_back(line.get<std::string>());
  }
  job.has_custom_auth_headers = bool_field(value, "has_custom_auth_headers");
  job.allow_https_to_http_redirect = bool_field(value, "allow_https_to_http_redirect");
  // Absent from an opendod older than DO SecurityFlags: none.
  if (value.contains("tls_exemptions")) job.tls_exemptions = uint32_field(value, "tls_exemptions");
  if (value.contains("has_client_certificate")) {
    job.has_client_certificate = bool_field(value, "has_client_certificate");
  }
  // Absent: never set (and a daemon from before sends none).
  if (auto it = value.find("peer_caching_flags"); it != value.end() && !it->is_null()) {
    job.peer_caching_flags = uint32_field(value, "peer_caching_flags");
  }
  // The network policy came with version 9 of the store: a daemon from before sends none.
  if (value.contains("cost_flags")) job.cost_flags = uint32_field(value, "cost_flags");
  if (value.contains("cost_policy")) {
    const std::uint32_t policy = uint32_field(value, "cost_policy");
    if (policy > static_cast<std::uint32_t>(do_cost_policy::no_cellular)) {
      throw bad_parameter("cost_policy");
    }
    job.cost_policy = static_cast<do_cost_policy>(policy);
  }
  if (value.contains("disallow_on_cellular")) {
    job.disallow_on_cellular = bool_field(value, "disallow_on_cellular");
  }
  const json& response = field(value, "last_response");
  job.last_response = {uint32_field(response, "status"), string_field(response, "headers"),
                       string_field(response, "server_ip"),
                       string_field(response, "redirection_target")};
  const json& files = field(value, "files");
  if (!files.is_array()) throw bad_parameter("files");
  for (const json& entry : files) {
    file_info file;
    file.remote_url = string_field(entry, "remote_url");
    file.local_name = string_field(entry, "local_name");
    file.ranges = ranges_from_json(field(entry, "ranges"));
    file.layout = layout_from_json(field(entry, "layout"));
    file.digest = string_field(entry, "digest");
    // Absent from an opendod older than content metadata: no content id.
    if (auto id = optional_string(entry, "content_id", 13 + 64)) file.content_id = std::move(*id);
    // Absent from an opendod older than published metainfo.
    if (auto url = optional_string(entry, "metainfo_url", kMaxReportedPath)) {
      file.metainfo_url = std::move(*url);
    }
    if (auto note = optional_string(entry, "metainfo_note", kMaxReportedPath)) {
      file.metainfo_note = std::move(*note);
    }
    // Absent from an opendod older than IBackgroundCopyFile3.
    if (auto temp = optional_string(entry, "temp_name", kMaxReportedPath)) {
      file.temp_name = std::move(*temp);
    }
    if (auto validated = optional_bool(entry, "validated")) file.validated = *validated;
    const json& progress = field(entry, "progress");
    file.progress.bytes_total = size_from_json(field(progress, "bytes_total"), "bytes_total");
    file.progress.bytes_transferred = uint_field(progress, "bytes_transferred");
    const json& completed = field(progress, "completed");
    if (!completed.is_boolean()) throw bad_parameter("completed");
    file.progress.completed = completed.get<bool>();
    file.sources = source_stats_from_json(field(entry, "sources"));
    job.files.push_back(std::move(file));
  }
  return job;
}

constexpr std::array<std::string_view, 4> kNotificationKinds{"transferred", "error", "modification",
                                                             "file_transferred"};

json to_json(const notification& n) {
  json out = {{"kind", std::string(kNotificationKinds.at(static_cast<std::size_t>(n.kind)))},
              {"sequence", n.sequence},
              {"job", to_json(n.job)}};
  if (n.file_index) out["file_index"] = *n.file_index;
  return out;
}

notification notification_from_json(const json& value) {
  notification n;
  const std::string kind = string_field(value, "kind");
  bool known = false;
  for (std::size_t i = 0; i < kNotificationKinds.size(); ++i) {
    if (kNotificationKinds[i] == kind) {
      n.kind = static_cast<notification_kind>(i);
      known = true;
    }
  }
  if (!known) throw bad_parameter("kind");
  n.sequence = uint_field(value, "sequence");
  if (auto it = value.find("file_index"); it != value.end() && !it->is_null()) {
    n.file_index = uint32_field(value, "file_index");
  }
  n.job = job_from_json(field(value, "job"));
  return n;
}

call parse_call(const std::string& message) {
  json value = json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) throw bad_parameter("message");
  call out;
  auto method = value.find("method");
  if (method == value.end() || !method->is_string()) throw bad_parameter("method");
  out.method = method->get<std::string>();
  if (auto params = value.find("parameters"); params != value.end() && !params->is_null()) {
    if (!params->is_object()) throw bad_parameter("parameters");
    out.parameters = std::move(*params);
  }
  if (auto more = value.find("more"); more != value.end()) {
    if (!more->is_boolean()) throw bad_parameter("more");
    out.more = more->get<bool>();
  }
  if (auto oneway = value.find("oneway"); oneway != value.end()) {
    if (!oneway->is_boolean()) throw bad_parameter("oneway");
    out.oneway = oneway->get<bool>();
  }
  return out;
}

std::string required_string(const json& params, const char* name, std::size_t max_length) {
  auto value = optional_string(params, name, max_length);
  if (!value) throw bad_parameter(name);
  return *value;
}

std::optional<std::string> optional_string(const json& params, const char* name,
                                           std::size_t max_length) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw bad_parameter(name);
  const auto& text = it->get_ref<const std::string&>();
  if (text.size() > max_length) throw bad_parameter(name);
  return text;
}

std::optional<std::uint64_t> optional_uint(const json& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return std::nullopt;
  if (!is_unsigned_number(*it)) throw bad_parameter(name);
  return it->get<std::uint64_t>();
}

std::optional<std::uint32_t> optional_uint32(const json& params, const char* name) {
  const auto value = optional_uint(params, name);
  if (!value) return std::nullopt;
  if (*value > 0xFFFFFFFFULL) throw bad_parameter(name);
  return static_cast<std::uint32_t>(*value);
}

std::optional<bool> optional_bool(const json& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw bad_parameter(name);
  return it->get<bool>();
}

std::string reply(json parameters, bool continues) {
  json::object_t out;
  out.emplace("parameters", std::move(parameters));  // a job's files are not copied once more
  if (continues) out.emplace("continues", true);
  return json(std::move(out)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_reply(const std::string& error, const json& parameters) {
  return json{{"error", error}, {"parameters", parameters}}.dump(-1, ' ', false,
                                                                 json::error_handler_t::replace);
}

std::string hresult_reply(std::uint32_t code, const std::string& message) {
  return error_reply(hresult_error, {{"code", code}, {"message", message}});
}

}  // namespace opendo::ipc
