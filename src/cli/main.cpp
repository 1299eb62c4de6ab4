// opendo, the command line of opendod: bitsadmin-style verbs (create, addfile, resume, info, ...)
// and `get`, a one-shot download with a progress bar. Uses only the public libopendo API.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/content.hpp"
#include "cli/progress.hpp"
#include "cli/status.hpp"
#include "common/numbers.hpp"
#include "ipc/codec.hpp"
#include "opendo/opendo.hpp"

namespace {

namespace cli = opendo::cli;
namespace fs = std::filesystem;
using json = nlohmann::json;
using opendo::hr;
using opendo::job_info;
using opendo::job_state;

constexpr std::uint32_t kInvalidArg = opendo::value_of(hr::e_invalidarg);
constexpr std::uint32_t kFail = opendo::value_of(hr::e_fail);

// Options that apply to every verb.
struct settings {
  std::string socket;
  bool json = false;
  bool no_autostart = false;
};

opendo::client connect(const settings& global) {
  opendo::client_options options;
  options.socket_path = global.socket;
  options.autostart = !global.no_autostart;
  return opendo::client(options);
}

[[noreturn]] void invalid(const std::string& what) {
  throw opendo::error(kInvalidArg, what);
}

void print_error(std::uint32_t code, const std::string& what) {
  std::fflush(stdout);
  std::fprintf(stderr, "opendo: error 0x%08" PRIX32 ": %s\n", code, cli::printable(what).c_str());
  std::fflush(stderr);
}

void print_json(const json& value) {
  std::puts(value.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  std::fflush(stdout);
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

opendo::job_priority parse_priority(const std::string& text) {
  auto priority = opendo::job_priority_from_string(upper(text));
  if (!priority) invalid("unknown priority '" + text + "' (use FOREGROUND, HIGH, NORMAL or LOW)");
  return *priority;
}

// "client,server" (any of client, server, disable-branch-cache; "none" for none) -> the BITS
// peer caching flags.
std::uint32_t parse_peer_caching(const std::string& text) {
  if (text == "none") return 0;
  std::uint32_t flags = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string name = text.substr(start, comma - start);
    if (name == "client") {
      flags |= opendo::peer_caching::client;
    } else if (name == "server") {
      flags |= opendo::peer_caching::server;
    } else if (name == "disable-branch-cache") {
      flags |= opendo::peer_caching::disable_branch_cache;
    } else {
      invalid("unknown peer caching flag '" + name +
              "' (use client, server and disable-branch-cache separated by commas, or none)");
    }
    start = comma + 1;
  }
  return flags;
}

std::string peer_caching_text(const std::optional<std::uint32_t>& flags) {
  if (!flags) return "not set (the daemon's download mode decides)";
  std::string out;
  auto add = [&](std::uint32_t bit, const char* name) {
    if ((*flags & bit) == 0) return;
    if (!out.empty()) out += ", ";
    out += name;
  };
  add(opendo::peer_caching::client, "client (fetches from peers)");
  add(opendo::peer_caching::server, "server (serves peers)");
  add(opendo::peer_caching::disable_branch_cache, "disable-branch-cache");
  return out.empty() ? "none (no peers)" : out;
}

constexpr const char* kCostPolicies[] = {"always",     "unrestricted", "standard",
                                         "no-roaming", "no-surcharge", "no-cellular"};

opendo::do_cost_policy parse_cost_policy(const std::string& text) {
  for (std::size_t i = 0; i < std::size(kCostPolicies); ++i) {
    if (text == kCostPolicies[i]) return static_cast<opendo::do_cost_policy>(i);
  }
  invalid("unknown cost policy '" + text +
          "' (use always, unrestricted, standard, no-roaming, no-surcharge or no-cellular)");
}

// BITS_COST_STATE_* flags as a number: decimal or 0x hexadecimal.
std::uint32_t parse_cost_flags(const std::string& text) {
  const bool hex = text.rfind("0x", 0) == 0 || text.rfind("0X", 0) == 0;
  const std::optional<std::uint32_t> value = opendo::numbers::parse_whole<std::uint32_t>(
      std::string_view(text).substr(hex ? 2 : 0), hex ? 16 : 10);
  if (!value) invalid("cost flags must be a number such as 0x800000FF (BITS_COST_STATE_* flags)");
  return *value;
}

// ---- job ids ----

// A whole GUID, with or without braces, in the registry format the daemon uses.
std::optional<std::string> whole_job_id(const std::string& text) {
  std::string bare = text;
  if (bare.size() == 38 && bare.front() == '{' && bare.back() == '}') bare = bare.substr(1, 36);
  if (bare.size() != 36) return std::nullopt;
  for (std::size_t i = 0; i < bare.size(); ++i) {
    const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here ? bare[i] != '-' : !std::isxdigit(static_cast<unsigned char>(bare[i]))) {
      return std::nullopt;
    }
  }
  return "{" + bare + "}";
}

// The first hex block of an id, which is what `monitor` shows and what JOB arguments accept.
std::string short_id(const std::string& id) {
  const std::size_t start = !id.empty() && id.front() == '{' ? 1 : 0;
  return id.substr(start, 8);
}

// A job named by its id or by a unique prefix of the id of one of the caller's active jobs.
opendo::job open_job(opendo::client& client, const std::string& text) {
  if (auto id = whole_job_id(text)) return client.open_job(*id);
  std::string prefix = upper(text.empty() || text.front() != '{' ? text : text.substr(1));
  if (prefix.empty()) invalid("empty job id");
  std::vector<std::string> matches;
  for (const auto& info : client.list_jobs()) {
    const std::string bare =
        upper(info.id.substr(!info.id.empty() && info.id.front() == '{' ? 1 : 0));
    if (bare.compare(0, prefix.size(), prefix) == 0) matches.push_back(info.id);
  }
  if (matches.empty()) {
    throw opendo::error(opendo::value_of(hr::bg_e_not_found),
                        "no active job of yours has an id starting with '" + text + "'");
  }
  if (matches.size() > 1) {
    invalid("'" + text + "' is the start of " + std::to_string(matches.size()) +
            " job ids; give more of the id");
  }
  return client.open_job(matches.front());
}

// ---- local paths ----

// An absolute local name for `text`: relative names are taken against the current directory, and
// the directory part is resolved so the daemon gets the real place the user meant.
std::string local_file_path(const std::string& text) {
  if (text.empty()) invalid("the local file name is empty");
  const fs::path absolute = fs::absolute(fs::path(text));
  const fs::path name = absolute.filename();
  if (name.empty() || name == "." || name == "..") {
    invalid("'" + text + "' does not name a file (it ends in '/', '.' or '..')");
  }
  return (fs::weakly_canonical(absolute.parent_path()) / name).string();
}

// The last path component of a URL, as `get` names the downloaded file.
std::string url_file_name(const std::string& url) {
  std::string rest = url.substr(0, url.find_first_of("?#"));
  if (auto scheme = rest.find("://"); scheme != std::string::npos) rest.erase(0, scheme + 3);
  const auto path_start = rest.find('/');
  const std::string path = path_start == std::string::npos ? "" : rest.substr(path_start);
  std::string name = path.substr(path.rfind('/') + 1);
  if (name.empty() || name == "." || name == "..") {
    invalid("cannot name the file for " + url + ": its path has no last component to use " +
            "(give -o PATH)");
  }
  return name;
}

// ---- printing jobs ----

std::string format_time(std::int64_t seconds) {
  if (seconds == 0) return "-";
  const std::time_t time = static_cast<std::time_t>(seconds);
  std::tm local{};
  if (::localtime_r(&time, &local) == nullptr) return std::to_string(seconds);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S %z", &local);
  return buffer;
}

std::string bytes_summary(std::uint64_t done, std::uint64_t total) {
  if (total == opendo::size_unknown) {
    return std::to_string(done) + " / ? bytes (" + cli::format_bytes(done) + ")";
  }
  char percent[16];
  std::snprintf(percent, sizeof percent, "%.1f%%",
                total == 0 ? 0.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total));
  return std::to_string(done) + " / " + std::to_string(total) + " bytes (" + percent + ", " +
         cli::format_bytes(done) + " / " + cli::format_bytes(total) + ")";
}

std::string error_summary(const opendo::job_error& error) {
  std::string out =
      cli::format_hresult(error.code) + " in " + std::string(to_string(error.context));
  if (error.file_index) out += " (file " + std::to_string(*error.file_index + 1) + ")";
  if (!error.protocol.empty()) out += " over " + error.protocol;
  return out + ": " + cli::printable(error.message);
}

// A file's bytes by source, its requests and time transferring (`opendo info`).
void print_sources(const opendo::source_stats& s) {
  std::printf("       from origin %s, cache hosts %s, LAN peers %s, group peers %s\n",
              cli::format_bytes(s.bytes_from_origin).c_str(),
              cli::format_bytes(s.bytes_from_cache_hosts).c_str(),
              cli::format_bytes(s.bytes_from_lan_peers).c_str(),
              cli::format_bytes(s.bytes_from_group_peers).c_str());
  std::printf("       requests: origin %" PRIu64 ", cache hosts %" PRIu64 ", peers %" PRIu64
              "; uploaded %s; %s transferring\n",
              s.origin_connections, s.cache_host_connections,
              s.lan_peer_connections + s.group_peer_connections,
              cli::format_bytes(s.bytes_uploaded()).c_str(),
              cli::format_duration_ms(s.download_duration_ms).c_str());
}

void print_job(const job_info& job) {
  auto field = [](const char* label, const std::string& value) {
    std::printf("  %-21s %s\n", label, value.c_str());
  };
  std::printf("job %s\n", job.id.c_str());
  field("name:", cli::printable(job.display_name));
  if (!job.description.empty()) field("description:", cli::printable(job.description));
  field("state:", std::string(to_string(job.state)));
  field("priority:", std::string(to_string(job.priority)));
  field("owner uid:", std::to_string(job.owner_uid));
  if (job.creator_uid != job.owner_uid) field("creator uid:", std::to_string(job.creator_uid));
  field("bytes:", bytes_summary(job.bytes_transferred, job.bytes_total));
  field("files:", std::to_string(job.files_transferred) + " of " + std::to_string(job.files_total) +
                      " transferred");
  for (std::size_t i = 0; i < job.files.size(); ++i) {
    const auto& file = job.files[i];
    std::printf("    %zu. %s\n       -> %s\n       %s%s\n", i + 1,
                cli::printable(file.remote_url).c_str(), cli::printable(file.local_name).c_str(),
                bytes_summary(file.progress.bytes_transferred, file.progress.bytes_total).c_str(),
                file.progress.completed ? ", complete" : "");
    if (!file.content_id.empty()) {
      std::printf("       content %s\n", file.content_id.c_str());
    }
    if (!file.metainfo_url.empty()) {
      const std::string& note = file.metainfo_note;
      std::printf("       metainfo %s%s\n", cli::printable(file.metainfo_url).c_str(),
                  note.empty()     ? " (not fetched yet)"
                  : note == "used" ? " (used)"
                                   : (": not used, HTTP only: " + cli::printable(note)).c_str());
    }
    if (file.metainfo_url.empty() && !file.metainfo_note.empty()) {  // a file with a magnet
      const std::string& note = file.metainfo_note;
      std::printf("       magnet %s\n",
                  note == "used" ? "(metadata from peers)"
                                 : ("not used, HTTP only: " + cli::printable(note)).c_str());
    }
    if (!file.ranges.empty()) {
      std::string list;
      for (const auto& r : file.ranges) {
        if (!list.empty()) list += ',';
        list += std::to_string(r.offset) + ':' +
                (r.length == opendo::length_to_eof ? std::string("eof") : std::to_string(r.length));
      }
      std::printf("       ranges %s (%s)\n", list.c_str(),
                  file.layout == opendo::range_layout::in_place ? "in place" : "one after another");
    }
    print_sources(file.sources);
  }
  if (job.error) field("error:", error_summary(*job.error));
  field("error count:", std::to_string(job.error_count));
  field("minimum retry delay:", std::to_string(job.minimum_retry_delay) + " s");
  field("no-progress timeout:",
        std::to_string(job.no_progress_timeout) + " s (" +
            cli::format_duration(std::chrono::seconds(job.no_progress_timeout)) + ")");
  field("max download time:",
        job.max_download_time == 0
            ? std::string("none")
            : std::to_string(job.max_download_time) + " s (" +
                  cli::format_duration(std::chrono::seconds(job.max_download_time)) + ")");
  field("max download size:", job.max_download_size == 0
                                  ? std::string("none")
                                  : std::to_string(job.max_download_size) + " bytes");
  field("notification interval:", std::to_string(job.minimum_notification_interval_ms) + " ms");
  if (job.dynamic_content)
    field("dynamic content:", "yes (files are fetched whole, never resumed)");
  if (job.high_performance)
    field("high performance:", "yes (progress recorded when a transfer stops, not every second)");
  field("peer caching:", peer_caching_text(job.peer_caching_flags));
  char cost_flags[16];
  std::snprintf(cost_flags, sizeof cost_flags, "0x%08" PRIX32, job.cost_flags);
  field("cost flags:", cost_flags);
  field("cost policy:", kCostPolicies[static_cast<std::size_t>(job.cost_policy)]);
  if (job.disallow_on_cellular) field("cellular:", "not allowed");
  char flags[16];
  std::snprintf(flags, sizeof flags, "0x%02" PRIX32, job.notify_flags);
  field("notify flags:", flags);
  field("created:", format_time(job.times.creation));
  field("modified:", format_time(job.times.modification));
  if (job.times.transfer_completion != 0) {
    field("transferred at:", format_time(job.times.transfer_completion));
  }
  for (const auto& line : job.custom_headers) field("header:", cli::printable(line));
  if (job.has_custom_auth_headers) field("auth headers:", "set (write-only)");
  if (job.allow_https_to_http_redirect) field("https to http:", "redirects allowed");
  if (job.has_client_certificate) field("client certificate:", "set (write-only)");
  if (job.tls_exemptions != 0) {
    field("accepts:", cli::format_tls_exemptions(job.tls_exemptions) + " (certificate errors)");
  }
  const auto& response = job.last_response;
  if (response.status != 0) {
    field("last response:", "HTTP " + std::to_string(response.status) + " from " +
                                cli::printable(response.server_ip));
    if (!response.redirection_target.empty()) {
      field("redirected to:", cli::printable(response.redirection_target));
    }
    std::string_view rest = response.headers;
    while (!rest.empty()) {
      const auto end = rest.find("\r\n");
      field("response header:", cli::printable(std::string(rest.substr(0, end))));
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
    }
  }
}

void print_job_table(const std::vector<job_info>& jobs, bool with_owner) {
  if (jobs.empty()) {
    std::puts("no jobs");
    return;
  }
  std::printf("%-38s  %s%-15s  %-25s  %-7s  %s\n", "ID", with_owner ? "OWNER   " : "", "STATE",
              "TRANSFERRED / TOTAL", "FILES", "NAME");
  for (const auto& job : jobs) {
    std::string owner;
    if (with_owner) owner = cli::pad(std::to_string(job.owner_uid), 6) + "  ";
    const std::string bytes =
        cli::format_bytes(job.bytes_transferred) + " / " + cli::format_bytes(job.bytes_total);
    const std::string files =
        std::to_string(job.files_transferred) + "/" + std::to_string(job.files_total);
    std::printf("%-38s  %s%-15s  %-25s  %-7s  %s\n", job.id.c_str(), owner.c_str(),
                std::string(to_string(job.state)).c_str(), bytes.c_str(), files.c_str(),
                cli::printable(job.display_name).c_str());
  }
}

// One status line of `monitor`.
std::string monitor_line(const job_info& job, const cli::rate_meter& rate, bool terminal,
                         std::size_t columns) {
  std::string line = short_id(job.id) + "  " + cli::pad(to_string(job.state), 15) + "  " +
                     cli::pad(cli::printable(job.display_name), 20) + "  ";
  // Room for the columns before the bar and the numbers after it (about 100 characters).
  const std::size_t bar = !terminal || columns < 110 ? 0 : std::min<std::size_t>(columns - 100, 40);
  line += cli::progress_text(job, rate, bar);
  if (job.error) {
    line += "  " + cli::format_hresult(job.error->code) + " " + cli::printable(job.error->message);
  }
  return line;
}

// ---- verbs ----

// --metainfo PATH | --magnet URI of addfile and get.
void add_content_options(CLI::App* verb, cli::content_options& content) {
  CLI::Option* metainfo =
      verb->add_option("--metainfo", content.metainfo_path,
                       "A BitTorrent v2 or hybrid metainfo of the file (.torrent, at most 512 "
                       "KiB; opendo publish makes one): trusted hashes that let opendod fetch "
                       "it from peers and check every piece. Whole files only, not with --ranges")
          ->type_name("PATH");
  verb->add_option("--magnet", content.magnet,
                   "As --metainfo, a magnet URI with the file's v2 info hash "
                   "(magnet:?xt=urn:btmh:1220...)")
      ->type_name("URI")
      ->excludes(metainfo);
  verb->add_option("--metainfo-url", content.metainfo_url,
                   "As --metainfo, the URL of a metainfo published beside the file, which "
                   "opendod fetches with the job's HTTP options when the file starts; if it "
                   "cannot be used (missing, not a v2 metainfo, another size than the origin's "
                   "file), the file comes over HTTP only and opendo info says why")
      ->type_name("URL");
  verb->add_flag("--published-metainfo", content.published,
                 "As --metainfo-url URL.torrent: the metainfo `opendo publish` wrote beside "
                 "the file on the origin");
}

int run_create(const settings& global, const std::string& name) {
  opendo::client client = connect(global);
  opendo::job job = client.create_job(name);
  if (global.json) {
    print_json({{"id", job.id()}});
  } else {
    std::puts(job.id().c_str());
  }
  return 0;
}

// bitsadmin's range list: "OFFSET:LENGTH[,OFFSET:LENGTH...]", LENGTH "eof" for to the end.
std::vector<opendo::byte_range> parse_ranges(const std::string& text) {
  std::vector<opendo::byte_range> ranges;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const std::size_t colon = item.find(':');
    const std::string length = colon == std::string::npos ? "" : item.substr(colon + 1);
    const auto offset = opendo::numbers::parse_whole<std::uint64_t>(item.substr(0, colon));
    const auto count = length == "eof" ? std::optional(opendo::length_to_eof)
                                       : opendo::numbers::parse_whole<std::uint64_t>(length);
    if (colon == std::string::npos || !offset || !count) {
      throw CLI::ValidationError("--ranges",
                                 "\"" + item + "\" is not OFFSET:LENGTH (LENGTH may be eof)");
    }
    ranges.push_back({*offset, *count});
    start = end + 1;
  }
  return ranges;
}

struct addfile_args {
  std::string url;
  std::string local;
  std::string ranges;
  bool in_place = false;
  std::string sha256;
  std::string sha512;
  cli::content_options content;
};

int run_addfile(const settings& global, const std::string& id, const addfile_args& args) {
  const std::string& ranges = args.ranges;
  const bool in_place = args.in_place;
  opendo::file_spec file{
      args.url, local_file_path(args.local), {}, opendo::range_layout::concatenated, {}};
  if (!args.sha256.empty()) file.digest = "sha256:" + args.sha256;
  if (!args.sha512.empty()) file.digest = "sha512:" + args.sha512;
  if (!ranges.empty()) file.ranges = parse_ranges(ranges);
  if (in_place) file.layout = opendo::range_layout::in_place;
  cli::apply_content_options(args.content, file);
  opendo::client client = connect(global);
  open_job(client, id).add_file(file);
  return 0;
}

int run_simple(const settings& global, const std::string& id,
               const std::function<void(opendo::job&)>& action) {
  opendo::client client = connect(global);
  opendo::job job = open_job(client, id);
  action(job);
  return 0;
}

int run_cancel(const settings& global, const std::string& id) {
  opendo::client client = connect(global);
  const hr result = open_job(client, id).cancel();
  if (global.json) {
    print_json({{"hresult", opendo::value_of(result)}});
  } else if (result == hr::bg_s_unable_to_delete_files) {
    std::puts("cancelled, but some temporary files could not be deleted");
  }
  return 0;
}

int run_complete(const settings& global, const std::string& id) {
  opendo::client client = connect(global);
  const hr result = open_job(client, id).complete();
  if (global.json) {
    print_json({{"hresult", opendo::value_of(result)}});
  } else if (result == hr::bg_s_partial_complete) {
    std::puts("partial: some files were not transferred and were dropped");
  }
  return 0;
}

struct setprop_args {
  std::string id;
  std::string name;
  std::string description;
  std::string priority;
  std::uint32_t retry_delay = 0;
  std::uint32_t no_progress_timeout = 0;
  CLI::Option* name_option = nullptr;
  CLI::Option* description_option = nullptr;
  CLI::Option* priority_option = nullptr;
  CLI::Option* retry_delay_option = nullptr;
  CLI::Option* no_progress_timeout_option = nullptr;
  std::uint32_t max_download_time = 0;
  std::uint64_t max_download_size = 0;
  std::uint32_t notification_interval = 0;
  CLI::Option* max_download_time_option = nullptr;
  CLI::Option* max_download_size_option = nullptr;
  CLI::Option* notification_interval_option = nullptr;
  bool dynamic_content = false;
  CLI::Option* dynamic_content_option = nullptr;
  bool high_performance = false;
  CLI::Option* high_performance_option = nullptr;
  std::vector<std::string> headers;
  std::vector<std::string> auth_headers;
  bool clear_headers = false;
  bool clear_auth_headers = false;
  bool allow_https_to_http = false;
  CLI::Option* allow_https_to_http_option = nullptr;
  std::vector<std::string> accept_certificate_errors;
  CLI::Option* accept_certificate_errors_option = nullptr;
  std::string client_certificate;
  bool clear_client_certificate = false;
  std::string peer_caching;
  CLI::Option* peer_caching_option = nullptr;
  std::string cost_flags;
  CLI::Option* cost_flags_option = nullptr;
  std::string cost_policy;
  CLI::Option* cost_policy_option = nullptr;
  bool disallow_on_cellular = false;
  CLI::Option* disallow_on_cellular_option = nullptr;
};

int run_setprop(const settings& global, const setprop_args& args) {
  const bool any =
      args.name_option->count() + args.description_option->count() + args.priority_option->count() +
          args.retry_delay_option->count() + args.no_progress_timeout_option->count() +
          args.max_download_time_option->count() + args.max_download_size_option->count() +
          args.notification_interval_option->count() + args.dynamic_content_option->count() +
          args.high_performance_option->count() + args.peer_caching_option->count() +
          args.cost_flags_option->count() + args.cost_policy_option->count() +
          args.disallow_on_cellular_option->count() >
      0;
  const bool any_http = !args.headers.empty() || !args.auth_headers.empty() || args.clear_headers ||
                        args.clear_auth_headers || args.allow_https_to_http_option->count() > 0 ||
                        args.accept_certificate_errors_option->count() > 0 ||
                        !args.client_certificate.empty() || args.clear_client_certificate;
  if (!any && !any_http) {
    invalid(
        "nothing to set: give at least one of --name, --description, --priority, "
        "--retry-delay, --no-progress-timeout, --max-download-time, --max-download-size, "
        "--notification-interval, --dynamic-content, --high-performance, --peer-caching, "
        "--cost-flags, --cost-policy, --disallow-on-cellular, --header, --clear-headers, "
        "--auth-header, --clear-auth-headers, --allow-https-to-http-redirect, "
        "--accept-certificate-errors, --client-certificate, --clear-client-certificate");
  }
  if (args.clear_client_certificate && !args.client_certificate.empty()) {
    invalid("--clear-client-certificate cannot be combined with --client-certificate");
  }
  if ((args.clear_headers && !args.headers.empty()) ||
      (args.clear_auth_headers && !args.auth_headers.empty())) {
    invalid("--clear-headers / --clear-auth-headers cannot be combined with headers to set");
  }
  // Check everything before changing anything.
  std::optional<opendo::job_priority> priority;
  if (args.priority_option->count() > 0) priority = parse_priority(args.priority);
  std::optional<std::uint32_t> exemptions;
  if (args.accept_certificate_errors_option->count() > 0) {
    exemptions = cli::parse_tls_exemptions(args.accept_certificate_errors);
    if (!exemptions) {
      invalid("--accept-certificate-errors takes unknown-ca, wrong-usage, name, date or none");
    }
  }
  std::optional<std::uint32_t> peer_caching;
  if (args.peer_caching_option->count() > 0) peer_caching = parse_peer_caching(args.peer_caching);
  std::optional<std::uint32_t> cost_flags;
  if (args.cost_flags_option->count() > 0) cost_flags = parse_cost_flags(args.cost_flags);
  std::optional<opendo::do_cost_policy> cost_policy;
  if (args.cost_policy_option->count() > 0) cost_policy = parse_cost_policy(args.cost_policy);
  opendo::client client = connect(global);
  opendo::job job = open_job(client, args.id);
  // First, as it may still be refused (the file is read here, as the user running this command).
  if (!args.client_certificate.empty()) job.set_client_certificate_file(args.client_certificate);
  if (args.name_option->count() > 0) job.set_display_name(args.name);
  if (args.description_option->count() > 0) job.set_description(args.description);
  if (priority) job.set_priority(*priority);
  if (args.retry_delay_option->count() > 0) {
    job.set_minimum_retry_delay(std::chrono::seconds(args.retry_delay));
  }
  if (args.no_progress_timeout_option->count() > 0) {
    job.set_no_progress_timeout(std::chrono::seconds(args.no_progress_timeout));
  }
  if (args.max_download_time_option->count() > 0) {
    job.set_maximum_download_time(std::chrono::seconds(args.max_download_time));
  }
  if (args.max_download_size_option->count() > 0) {
    job.set_maximum_download_size(args.max_download_size);
  }
  if (args.dynamic_content_option->count() > 0) job.set_dynamic_content(args.dynamic_content);
  if (args.high_performance_option->count() > 0) job.set_high_performance(args.high_performance);
  if (peer_caching) job.set_peer_caching_flags(*peer_caching);
  if (cost_flags) job.set_cost_flags(*cost_flags);
  if (cost_policy) job.set_cost_policy(*cost_policy);
  if (args.disallow_on_cellular_option->count() > 0) {
    job.set_disallow_on_cellular(args.disallow_on_cellular);
  }
  if (args.notification_interval_option->count() > 0) {
    job.set_minimum_notification_interval(std::chrono::milliseconds(args.notification_interval));
  }
  if (!args.headers.empty() || args.clear_headers) job.set_custom_headers(args.headers);
  if (!args.auth_headers.empty() || args.clear_auth_headers) {
    job.set_custom_auth_headers(args.auth_headers);
  }
  if (args.allow_https_to_http_option->count() > 0) {
    job.set_allow_https_to_http_redirect(args.allow_https_to_http);
  }
  if (exemptions) job.set_tls_exemptions(*exemptions);
  if (args.clear_client_certificate) job.set_client_certificate({}, {});
  return 0;
}

int run_info(const settings& global, const std::string& id) {
  opendo::client client = connect(global);
  const job_info info = open_job(client, id).info();
  if (global.json) {
    print_json(opendo::ipc::to_json(info));
  } else {
    print_job(info);
  }
  return 0;
}

int run_list(const settings& global, bool all_users) {
  opendo::client client = connect(global);
  const std::vector<job_info> jobs = client.list_jobs(all_users);
  if (global.json) {
    json out = json::array();
    for (const auto& job : jobs) out.push_back(opendo::ipc::to_json(job));
    print_json(out);
  } else {
    print_job_table(jobs, all_users);
  }
  return 0;
}

// Get-DeliveryOptimizationStatus: every file of the caller's jobs (every user's with all_users).
int run_status(const settings& global, bool all_users, bool peers) {
  opendo::client client = connect(global);
  if (peers) {
    const auto connected = client.peers();
    if (global.json) {
      json out = json::array();
      for (const auto& p : connected) out.push_back(cli::to_json(p));
      print_json(out);
    } else {
      for (const auto& line : cli::peer_table(connected)) std::puts(line.c_str());
    }
    return 0;
  }
  const std::vector<job_info> jobs = client.list_jobs(all_users);
  const auto rows = cli::file_statuses(jobs, client.statistics().download_mode);
  if (global.json) {
    json out = json::array();
    for (const auto& row : rows) out.push_back(cli::to_json(row));
    print_json(out);
  } else {
    for (const auto& line : cli::status_table(rows, all_users)) std::puts(line.c_str());
  }
  return 0;
}

// Get-DeliveryOptimizationPerfSnap: the daemon's machine-wide figures.
int run_perfsnap(const settings& global) {
  opendo::client client = connect(global);
  const opendo::machine_statistics stats = client.statistics();
  if (global.json) {
    print_json(cli::perfsnap_json(stats));
  } else {
    for (const auto& line : cli::perfsnap_lines(stats)) std::puts(line.c_str());
  }
  return 0;
}

// The activity page's address with a fresh token, to open in a browser on this machine.
int run_activity(const settings& global) {
  opendo::client client = connect(global);
  const opendo::activity_page_link link = client.activity_page();
  if (global.json) {
    print_json({{"url", link.url}, {"token", link.token}});
  } else {
    std::puts(link.url.c_str());
  }
  return 0;
}

// `monitor` and `get` stop watching a job here: nothing more will happen without someone acting.
bool watch_is_over(job_state state) {
  return state == job_state::transferred || state == job_state::error || opendo::is_final(state);
}

int run_monitor(const settings& global, const std::vector<std::string>& ids) {
  opendo::client client = connect(global);
  std::vector<opendo::job> jobs;
  if (ids.empty()) {
    for (const auto& info : client.list_jobs()) {
      try {
        jobs.push_back(client.open_job(info.id));
      } catch (const opendo::error& e) {
        // Gone between listing and opening: nothing to monitor.
        if (e.hresult() != opendo::value_of(hr::bg_e_not_found)) throw;
      }
    }
  } else {
    for (const auto& id : ids) jobs.push_back(open_job(client, id));
  }
  if (jobs.empty()) {
    if (global.json) return 0;
    std::puts("no jobs to monitor");
    return 0;
  }

  cli::status_block block(stdout);
  const bool live = block.is_terminal() && !global.json;

  // Each job is watched on a thread of its own; the main thread owns the screen.
  struct update {
    std::size_t index = 0;
    std::optional<opendo::job_event> event;
    std::optional<opendo::error> failure;
  };
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<update> updates;
  auto post = [&](update item) {
    {
      std::lock_guard lock(mutex);
      updates.push_back(std::move(item));
    }
    ready.notify_one();
  };
  const auto interval = std::chrono::milliseconds(live ? 250 : 1000);
  std::vector<std::thread> watchers;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    watchers.emplace_back([&, i] {
      update last{i, std::nullopt, std::nullopt};
      try {
        jobs[i].watch(
            [&](const opendo::job_event& event) {
              post({i, event, std::nullopt});
              return !watch_is_over(event.job.state);
            },
            interval);
      } catch (const opendo::error& e) {
        last.failure = e;
      } catch (const std::exception& e) {
        last.failure = opendo::error(kFail, e.what());
      }
      post(std::move(last));  // an update without an event: this watcher is done
    });
  }

  std::vector<std::optional<job_info>> latest(jobs.size());
  std::vector<cli::rate_meter> rates(jobs.size());
  std::size_t running = jobs.size();
  int exit_code = 0;
  while (running > 0) {
    update item;
    {
      std::unique_lock lock(mutex);
      ready.wait(lock, [&] { return !updates.empty(); });
      item = std::move(updates.front());
      updates.pop_front();
    }
    if (!item.event) {
      --running;
      if (item.failure) {
        exit_code = 1;
        block.message("opendo: error " + cli::format_hresult(item.failure->hresult()) + ": " +
                          cli::printable(item.failure->what()),
                      stderr);
      }
      continue;
    }
    const job_info& job = item.event->job;
    latest[item.index] = job;
    rates[item.index].sample(job.bytes_transferred);
    if (global.json) {
      std::puts(json{{"kind", std::string(opendo::ipc::to_string(item.event->kind))},
                     {"job", opendo::ipc::to_json(job)}}
                    .dump(-1, ' ', false, json::error_handler_t::replace)
                    .c_str());
      std::fflush(stdout);
    } else if (live) {
      std::vector<std::string> lines;
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (latest[i]) lines.push_back(monitor_line(*latest[i], rates[i], true, block.columns()));
      }
      block.draw(lines);
    } else {
      block.draw({monitor_line(job, rates[item.index], false, 0)});
    }
  }
  block.finish();
  for (auto& watcher : watchers) watcher.join();
  return exit_code;
}

// ---- get ----

struct get_args {
  std::vector<std::string> urls;
  std::string output;
  std::string directory;
  std::string name;
  std::string priority = "FOREGROUND";
  bool keep = false;
  std::string sha256;            // of the (single) URL's file
  cli::content_options content;  // of the (single) URL's file
};

// What the Ctrl-C thread of `get` needs to know about the job.
struct interrupt_state {
  std::mutex mutex;
  std::optional<opendo::job> job;
  bool completing = false;  // too late to cancel: the files are being moved into place
  bool stderr_terminal = false;
};

// SIGINT/SIGTERM are blocked in every thread and taken by sigwait on a thread of its own, because
// the main thread sits in a blocking read of the Watch stream that a handler could not interrupt.
void cancel_on_interrupt(const std::shared_ptr<interrupt_state>& state) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([state, signals] {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) return;
    // A second Ctrl-C while the cancel hangs ends the program at once (default action).
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    std::lock_guard lock(state->mutex);
    if (state->stderr_terminal) std::fputs("\r\x1b[J", stderr);  // erase the progress bar
    if (state->job && !state->completing) {
      std::fprintf(stderr, "opendo: interrupted; cancelling job %s\n", state->job->id().c_str());
      try {
        state->job->cancel();
      } catch (const opendo::error& e) {
        print_error(e.hresult(), e.what());
      }
    } else {
      std::fputs("opendo: interrupted\n", stderr);
    }
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(128 + signal_number);
  }).detach();
}

int run_get(const settings& global, const get_args& args) {
  // Everything that can be checked locally is, before a job exists.
  if (!args.sha256.empty() && args.urls.size() > 1) {
    invalid("--sha256 is the digest of a single file, but " + std::to_string(args.urls.size()) +
            " URLs were given");
  }
  const bool has_content = !args.content.metainfo_path.empty() || !args.content.magnet.empty() ||
                           !args.content.metainfo_url.empty();
  if (has_content && args.urls.size() > 1) {
    invalid("--metainfo, --magnet and --metainfo-url describe a single file, but " +
            std::to_string(args.urls.size()) + " URLs were given");
  }
  opendo::file_spec content_only;  // read now: a metainfo that cannot be read makes no job
  cli::apply_content_options(args.content, content_only);
  if (!args.output.empty() && args.urls.size() > 1) {
    invalid("-o names a single file but " + std::to_string(args.urls.size()) +
            " URLs were given; use -d DIR");
  }
  const opendo::job_priority priority = parse_priority(args.priority);
  std::vector<std::string> destinations;
  if (!args.output.empty()) {
    destinations.push_back(local_file_path(args.output));
  } else {
    const fs::path directory =
        fs::weakly_canonical(fs::absolute(args.directory.empty() ? "." : args.directory));
    std::set<std::string> seen;
    for (const auto& url : args.urls) {
      std::string path = (directory / url_file_name(url)).string();
      if (!seen.insert(path).second) invalid("two URLs would both be saved as " + path);
      destinations.push_back(std::move(path));
    }
  }
  std::string name = args.name;
  if (name.empty()) {
    name = "opendo get " + fs::path(destinations.front()).filename().string();
    if (destinations.size() > 1)
      name += " and " + std::to_string(destinations.size() - 1) + " more";
  }

  cli::status_block bar(stderr);
  auto state = std::make_shared<interrupt_state>();
  state->stderr_terminal = bar.is_terminal();
  cancel_on_interrupt(state);

  opendo::client client = connect(global);
  opendo::job job = [&] {
    std::lock_guard lock(state->mutex);
    state->job = client.create_job(name);
    return *state->job;
  }();
  try {
    job.set_priority(priority);
    for (std::size_t i = 0; i < args.urls.size(); ++i) {
      opendo::file_spec file{
          args.urls[i], destinations[i], {}, opendo::range_layout::concatenated, {}};
      if (!args.sha256.empty()) file.digest = "sha256:" + args.sha256;
      file.metainfo = content_only.metainfo;
      file.magnet = content_only.magnet;
      file.metainfo_url = content_only.metainfo_url;
      if (args.content.published) file.metainfo_url = args.urls[i] + ".torrent";
      job.add_file(file);
    }
    job.resume();
  } catch (const opendo::error&) {
    try {
      job.cancel();  // a half-built job is of no use to anyone
    } catch (const opendo::error&) {
    }
    throw;
  }

  cli::rate_meter rate;
  std::optional<job_state> shown_state;
  std::optional<job_info> last;
  auto last_plain_line = std::chrono::steady_clock::time_point{};
  auto on_event = [&](const opendo::job_event& event) {
    const job_info& info = event.job;
    last = info;
    rate.sample(info.bytes_transferred);
    const bool state_changed = !shown_state || *shown_state != info.state;
    if (state_changed) {
      shown_state = info.state;
      std::string line = "state: " + std::string(to_string(info.state));
      if (info.state == job_state::transient_error && info.error) {
        line += " (" + error_summary(*info.error) + "; will retry)";
      }
      bar.message(line);
    }
    if (bar.is_terminal()) {
      const std::size_t columns = bar.columns();
      bar.draw({cli::progress_text(info, rate, columns >= 100 ? 40 : columns >= 70 ? 24 : 0)});
    } else {
      const auto now = std::chrono::steady_clock::now();
      const bool due = event.kind == opendo::job_event_kind::progress &&
                       now - last_plain_line >= std::chrono::seconds(1);
      if (due || (state_changed && info.state == job_state::transferred)) {
        bar.draw({cli::progress_text(info, rate, 0)});
        last_plain_line = now;
      }
    }
    return !watch_is_over(info.state);
  };
  for (;;) {
    job.watch(on_event, std::chrono::milliseconds(bar.is_terminal() ? 200 : 1000));
    if (last && watch_is_over(last->state)) break;
    // The daemon ended the stream early (it may be restarting): watch again.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  bar.finish();

  job_info final_info = *last;
  int exit_code = 0;
  if (final_info.state == job_state::transferred) {
    {
      std::lock_guard lock(state->mutex);
      state->completing = true;
    }
    const hr result = job.complete();
    if (result == hr::bg_s_partial_complete) {
      std::fputs("opendo: partial: some files were not transferred and were dropped\n", stderr);
    }
    std::fputs("state: ACKNOWLEDGED\n", stderr);
    try {
      final_info = job.info();
    } catch (const opendo::error&) {
      final_info.state = job_state::acknowledged;  // a finished job may no longer be visible
    }
    if (!global.json) {
      for (std::size_t i = 0; i < final_info.files.size(); ++i) {
        const bool saved =
            result != hr::bg_s_partial_complete || final_info.files[i].progress.completed;
        if (saved) std::puts(final_info.files[i].local_name.c_str());
      }
    }
  } else if (final_info.state == job_state::error) {
    exit_code = 1;
    if (final_info.error) {
      print_error(final_info.error->code, final_info.error->message);
    } else {
      print_error(kFail, "the job failed without saying why");
    }
    if (args.keep) {
      std::fprintf(stderr, "opendo: job %s is kept in ERROR; see 'opendo info %s'\n",
                   final_info.id.c_str(), short_id(final_info.id).c_str());
    } else {
      std::lock_guard lock(state->mutex);
      try {
        job.cancel();
      } catch (const opendo::error& e) {
        print_error(e.hresult(), e.what());
      }
    }
  } else {
    exit_code = 1;
    print_error(opendo::value_of(hr::bg_e_invalid_state),
                "job " + final_info.id + " was " + std::string(to_string(final_info.state)) +
                    " by someone else before it finished");
  }
  if (global.json) print_json(opendo::ipc::to_json(final_info));
  std::fflush(stdout);
  return exit_code;
}

// ---- command line ----

const char* const kJobHelp = "Job id ({GUID}, with or without braces, or a unique prefix of it)";
const char* const kPriorityHelp = "Priority: FOREGROUND, HIGH, NORMAL or LOW (in any case)";

int run_command_line(int argc, char** argv) {
  CLI::App app{
      "opendo: background downloads through opendod, the opendo transfer service.\n"
      "Jobs are created SUSPENDED, get files, are resumed, and once TRANSFERRED are completed to\n"
      "move the files into place (or cancelled). 'opendo get URL' does all of it at once."};
  app.name("opendo");
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Examples:\n"
      "  opendo get https://example.org/file.iso\n"
      "  id=$(opendo create backup) && opendo addfile $id https://example.org/a.tar a.tar\n"
      "  opendo resume $id && opendo monitor $id && opendo complete $id\n"
      "Run 'opendo VERB --help' for the options of a verb.");

  settings global;
  app.add_option("--socket", global.socket,
                 "Socket of opendod (default: $XDG_RUNTIME_DIR/opendo/opendod.sock, or "
                 "/tmp/opendo-UID/opendod.sock; when no daemon of the user answers, the "
                 "system daemon's /run/opendo/opendod.sock)")
      ->type_name("PATH");
  app.add_flag(
      "--json", global.json,
      "Print machine-readable JSON (info, list, status, perfsnap, activity, monitor, get, create, "
      "cancel, complete, publish)");
  app.add_flag("--no-autostart", global.no_autostart,
               "Do not start a user opendod when none answers on the default socket");

  std::vector<std::pair<CLI::App*, std::function<int()>>> verbs;
  auto add_verb = [&](const char* name, const char* description, std::function<int()> run) {
    CLI::App* verb = app.add_subcommand(name, description);
    verb->footer(
        "Global options (before or after the verb): --socket PATH, --json, --no-autostart; see "
        "'opendo --help'.");
    verbs.emplace_back(verb, std::move(run));
    return verb;
  };

  std::string create_name;
  add_verb("create", "Create a download job (SUSPENDED) and print its id",
           [&] { return run_create(global, create_name); })
      ->add_option("NAME", create_name, "Display name of the job")
      ->required()
      ->type_name("");

  std::string job_id;
  addfile_args added;
  std::string& addfile_url = added.url;
  std::string& addfile_local = added.local;
  std::string& addfile_ranges = added.ranges;
  bool& addfile_in_place = added.in_place;
  CLI::App* addfile = add_verb("addfile", "Add a file to a job: download URL to LOCAL",
                               [&] { return run_addfile(global, job_id, added); });
  addfile->add_option("JOB", job_id, kJobHelp)->required()->type_name("");
  addfile->add_option("URL", addfile_url, "http(s) URL to download")->required()->type_name("");
  addfile
      ->add_option("LOCAL", addfile_local,
                   "Where to save the file once the job is completed (relative to the current "
                   "directory)")
      ->required()
      ->type_name("");
  addfile
      ->add_option("--ranges", addfile_ranges,
                   "Fetch only these byte ranges of the file (AddFileWithRanges), as "
                   "OFFSET:LENGTH[,OFFSET:LENGTH...], LENGTH eof for to the end; they are "
                   "written one after another in the order given")
      ->type_name("LIST");
  addfile
      ->add_flag("--in-place", addfile_in_place,
                 "With --ranges: write each range at its own offset of LOCAL instead")
      ->needs("--ranges");
  CLI::Option* sha256 =
      addfile
          ->add_option("--sha256", added.sha256,
                       "The SHA-256 the file must have (hex); a mismatch puts the job in ERROR "
                       "(BG_E_VALIDATION_FAILED) and the file is never delivered")
          ->type_name("HEX");
  addfile->add_option("--sha512", added.sha512, "The SHA-512 the file must have (hex)")
      ->type_name("HEX")
      ->excludes(sha256);
  add_content_options(addfile, added.content);

  add_verb("resume", "Start or restart transferring a job (after an error, too)",
           [&] { return run_simple(global, job_id, [](opendo::job& job) { job.resume(); }); })
      ->add_option("JOB", job_id, kJobHelp)
      ->required()
      ->type_name("");
  add_verb("suspend", "Pause a job",
           [&] { return run_simple(global, job_id, [](opendo::job& job) { job.suspend(); }); })
      ->add_option("JOB", job_id, kJobHelp)
      ->required()
      ->type_name("");
  add_verb("cancel", "Cancel a job and delete its temporary files",
           [&] { return run_cancel(global, job_id); })
      ->add_option("JOB", job_id, kJobHelp)
      ->required()
      ->type_name("");
  add_verb("complete", "Move the transferred files of a job into place and end the job",
           [&] { return run_complete(global, job_id); })
      ->add_option("JOB", job_id, kJobHelp)
      ->required()
      ->type_name("");

  setprop_args setprop;
  CLI::App* setprop_verb = add_verb("setprop", "Change properties of a job",
                                    [&] { return run_setprop(global, setprop); });
  setprop_verb->add_option("JOB", setprop.id, kJobHelp)->required()->type_name("");
  setprop.name_option =
      setprop_verb->add_option("--name", setprop.name, "New display name")->type_name("NAME");
  setprop.description_option =
      setprop_verb->add_option("--description", setprop.description, "New description")
          ->type_name("TEXT");
  setprop.priority_option = setprop_verb->add_option("--priority", setprop.priority, kPriorityHelp)
                                ->type_name("PRIORITY");
  setprop.retry_delay_option =
      setprop_verb
          ->add_option("--retry-delay", setprop.retry_delay,
                       "Seconds to wait before retrying after a transient error")
          ->type_name("S");
  setprop.no_progress_timeout_option =
      setprop_verb
          ->add_option("--no-progress-timeout", setprop.no_progress_timeout,
                       "Seconds without progress after which transient errors become fatal "
                       "(0: every error is fatal)")
          ->type_name("S");
  setprop.max_download_time_option =
      setprop_verb
          ->add_option("--max-download-time", setprop.max_download_time,
                       "Seconds the job may spend connecting and transferring before it fails "
                       "(0: no limit; resume starts the count again)")
          ->type_name("S");
  setprop.max_download_size_option =
      setprop_verb
          ->add_option("--max-download-size", setprop.max_download_size,
                       "Bytes the job may download in all (0: no limit); only before the first "
                       "resume")
          ->type_name("BYTES");
  setprop.dynamic_content_option =
      setprop_verb
          ->add_option("--dynamic-content", setprop.dynamic_content,
                       "true: the server's content may differ per request or come without a "
                       "size or ranges; each file is fetched whole and starts again when "
                       "interrupted (BITS_JOB_PROPERTY_DYNAMIC_CONTENT; only before the first "
                       "resume, not with ranges)")
          ->type_name("BOOL");
  setprop.high_performance_option =
      setprop_verb
          ->add_option("--high-performance", setprop.high_performance,
                       "true: speed over crash safety; running transfers are synced and "
                       "recorded when they stop or finish, not every second, so a crash of the "
                       "machine may cost the bytes since (BITS_JOB_PROPERTY_HIGH_PERFORMANCE)")
          ->type_name("BOOL");
  setprop.peer_caching_option =
      setprop_verb
          ->add_option("--peer-caching", setprop.peer_caching,
                       "What the job may do with peers (SetPeerCachingFlags): client (its files "
                       "may come from peers), server (its content may be served to them), "
                       "disable-branch-cache (kept only), separated by commas; none for neither. "
                       "Never set, a job follows the daemon's download mode")
          ->type_name("FLAGS");
  setprop.cost_flags_option =
      setprop_verb
          ->add_option("--cost-flags", setprop.cost_flags,
                       "BITS_COST_STATE_* flags of the networks the job may transfer on, such as "
                       "0x80000021 (TRANSFER_UNRESTRICTED); default 0x800000FF (any)")
          ->type_name("FLAGS");
  setprop.cost_policy_option =
      setprop_verb
          ->add_option("--cost-policy", setprop.cost_policy,
                       "DO's cost policy: always, unrestricted, standard, no-roaming, "
                       "no-surcharge or no-cellular (default always)")
          ->type_name("POLICY");
  setprop.disallow_on_cellular_option =
      setprop_verb
          ->add_option("--disallow-on-cellular", setprop.disallow_on_cellular,
                       "true: the job waits while the network is cellular (DO DisallowOnCellular)")
          ->type_name("BOOL");
  setprop.notification_interval_option =
      setprop_verb
          ->add_option("--notification-interval", setprop.notification_interval,
                       "Milliseconds between two modification notifications, at least")
          ->type_name("MS");
  setprop_verb
      ->add_option("--header", setprop.headers,
                   "A header sent with every request of the job, \"Name: value\"; repeat it "
                   "for several. Replaces the job's headers")
      ->type_name("LINE");
  setprop_verb->add_flag("--clear-headers", setprop.clear_headers, "Remove the job's headers");
  setprop_verb
      ->add_option("--auth-header", setprop.auth_headers,
                   "A secret header (\"Authorization: Bearer ...\"): sent like --header, never "
                   "shown or logged. Replaces the job's auth headers. Other local users can see "
                   "a program's arguments: prefer the library for real secrets")
      ->type_name("LINE");
  setprop_verb->add_flag("--clear-auth-headers", setprop.clear_auth_headers,
                         "Remove the job's auth headers");
  setprop.allow_https_to_http_option =
      setprop_verb
          ->add_option("--allow-https-to-http-redirect", setprop.allow_https_to_http,
                       "Whether an https URL may redirect to http (default false)")
          ->type_name("BOOL");
  setprop.accept_certificate_errors_option =
      setprop_verb
          ->add_option("--accept-certificate-errors", setprop.accept_certificate_errors,
                       "Certificate errors the job's origin may have (DO SecurityFlags), each "
                       "only that one: unknown-ca, wrong-usage, name, date; none for none "
                       "(the default). The job's connections are then its own")
          ->delimiter(',')
          ->type_name("LIST");
  setprop_verb
      ->add_option("--client-certificate", setprop.client_certificate,
                   "A PEM file with the TLS client certificate (then any chain) and its "
                   "unencrypted private key, which the job's requests to its origin present "
                   "(DO SecurityContext); read by this command as you. Write-only")
      ->type_name("FILE");
  setprop_verb->add_flag("--clear-client-certificate", setprop.clear_client_certificate,
                         "Remove the job's client certificate");

  add_verb("info", "Show a job: state, progress, files, error and settings",
           [&] { return run_info(global, job_id); })
      ->add_option("JOB", job_id, kJobHelp)
      ->required()
      ->type_name("");

  bool all_users = false;
  add_verb("list", "List your jobs that are not finished (completed or cancelled)", [&] {
    return run_list(global, all_users);
  })->add_flag("--all-users", all_users, "List the jobs of every user (administrators only)");

  bool status_all_users = false;
  bool status_peers = false;
  auto* status =
      add_verb("status",
               "Show every file of your jobs: size, bytes by source (origin, cache hosts, LAN and "
               "group peers), percent from peers and caches, status, priority, time transferring",
               [&] { return run_status(global, status_all_users, status_peers); });
  status->add_flag("--all-users", status_all_users,
                   "Show the files of every user's jobs (administrators only)");
  status->add_flag("--peers", status_peers,
                   "Show the peers connected for your shared files instead: address, client, "
                   "bytes and rates each way (an administrator sees every shared file's)");
  add_verb("perfsnap",
           "Show machine-wide figures of opendod: files and bytes down and up by source since its "
           "store was created, current rates, running jobs, its CPU time and memory",
           [&] { return run_perfsnap(global); });
  add_verb("activity",
           "Print the address of opendod's activity page (your jobs with progress bars and "
           "rates, bytes by source over time) with the token it needs; open it in a browser on "
           "this machine. The daemon needs --activity-listen",
           [&] { return run_activity(global); });

  std::vector<std::string> monitor_ids;
  add_verb("monitor",
           "Show live progress of jobs until each is TRANSFERRED, in ERROR, completed or "
           "cancelled",
           [&] { return run_monitor(global, monitor_ids); })
      ->add_option("JOB", monitor_ids, "Jobs to watch (default: all your active jobs)")
      ->type_name("");

  get_args get;
  CLI::App* get_verb =
      add_verb("get",
               "Download URLs now: create a job, transfer it with a progress bar, complete it "
               "and print the saved paths",
               [&] { return run_get(global, get); });
  get_verb->add_option("URL", get.urls, "http(s) URLs to download")->required()->type_name("");
  CLI::Option* output =
      get_verb->add_option("-o,--output", get.output, "Save the (single) URL as PATH")
          ->type_name("PATH");
  get_verb
      ->add_option("-d,--directory", get.directory,
                   "Save each URL in DIR under the last component of its path (default: the "
                   "current directory)")
      ->type_name("DIR")
      ->excludes(output);
  get_verb->add_option("--name", get.name, "Display name of the job (default: from the file name)")
      ->type_name("NAME");
  get_verb
      ->add_option("--priority", get.priority,
                   std::string(kPriorityHelp) + "; default FOREGROUND, since you are waiting")
      ->type_name("PRIORITY");
  get_verb
      ->add_option("--sha256", get.sha256,
                   "The SHA-256 the (single) file must have (hex): on a mismatch nothing is "
                   "saved and the exit status is 1 (BG_E_VALIDATION_FAILED)")
      ->type_name("HEX");
  add_content_options(get_verb, get.content);
  get_verb->add_flag("--keep", get.keep,
                     "On error, keep the job (in ERROR) for inspection instead of cancelling it");

  cli::publish_args publish;
  CLI::App* publish_verb =
      add_verb("publish",
               "Make a BitTorrent hybrid (v1+v2) metainfo of FILE with URL as its web seed, write "
               "it beside FILE (FILE.torrent) and print its magnet; give either to addfile or get "
               "(--metainfo, --magnet) so that opendod may fetch the file from peers, every piece "
               "checked against its hashes. A second line is the legacy magnet: a v1-only "
               "torrent of the same file (same name and piece length), which every opendod that "
               "holds the file also seeds, for BitTorrent clients that cannot read hybrid "
               "metainfo (Debian 12's transmission-cli, aria2c). --json gives both "
               "(magnet, legacy_magnet). Needs no daemon",
               [&] { return cli::run_publish(publish, global.json); });
  publish_verb->add_option("FILE", publish.file, "The file to publish")->required()->type_name("");
  publish_verb
      ->add_option("--web-seed", publish.web_seed,
                   "The http(s) URL the file is served at (the origin; peers and opendod fetch "
                   "from it what no peer has)")
      ->required()
      ->type_name("URL");
  publish_verb
      ->add_option("-o,--output", publish.output,
                   "Where to write the metainfo (default: FILE.torrent); an existing file is "
                   "refused without --force")
      ->type_name("PATH");
  publish_verb
      ->add_option("--piece-length", publish.piece_length,
                   "Bytes per piece, a power of two from 16384 to 67108864 (default: chosen "
                   "from the size, so that the metainfo stays under 512 KiB)")
      ->type_name("N");
  publish_verb->add_flag("--force", publish.force, "Replace the metainfo file if it exists");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::string what = e.what();
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      what = "unknown verb '" + app.remaining().front() + "'";
    }
    print_error(kInvalidArg, what);
    std::fputs("Run 'opendo --help' or 'opendo VERB --help' for usage.\n", stderr);
    return 1;
  }

  try {
    for (const auto& [verb, run] : verbs) {
      if (verb->parsed()) return run();
    }
    return 1;
  } catch (const opendo::error& e) {
    print_error(e.hresult(), e.what());
  } catch (const std::exception& e) {
    print_error(kFail, e.what());
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_command_line(argc, argv);
  } catch (const std::exception& e) {  // setting up the command line itself failed
    print_error(kFail, e.what());
  }
  return 1;
}
