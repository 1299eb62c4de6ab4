#include "daemon/config_file.hpp"

#include <fcntl.h>
#include <spdlog/fmt/fmt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/numbers.hpp"
#include "common/text.hpp"
#include "ipc/socket.hpp"
#include "transfer/peer/metainfo.hpp"

namespace opendo::daemon {
namespace {

// What a setter says about a value it refuses: the expected form, for the error message.
using setter = std::function<std::optional<std::string>(const std::string& value, config& cfg)>;

struct key_spec {
  std::string section;
  std::string key;
  setter set;
};

using text::trim;

template <typename Number>
std::optional<Number> number_in(const std::string& text, Number low, Number high) {
  const std::optional<Number> value = numbers::parse_whole<Number>(text);
  if (!value || *value < low || *value > high) return std::nullopt;
  return value;
}

setter path_setter(std::string config::*field) {
  return [field](const std::string& value, config& cfg) -> std::optional<std::string> {
    if (value.empty() || value.front() != '/') return "an absolute path";
    cfg.*field = value;
    return std::nullopt;
  };
}

// A whole number from low to high, handed to `store`.
setter whole_number_setter(std::uint32_t low, std::uint32_t high,
                           const std::function<void(config&, std::uint32_t)>& store) {
  return [=](const std::string& value, config& cfg) -> std::optional<std::string> {
    const auto n = number_in<std::uint32_t>(value, low, high);
    if (!n) return "a whole number from " + std::to_string(low) + " to " + std::to_string(high);
    store(cfg, *n);
    return std::nullopt;
  };
}

// Whole seconds from low to high, handed to `store`.
setter seconds_setter(std::int64_t low, std::int64_t high,
                      const std::function<void(config&, std::chrono::seconds)>& store) {
  return [=](const std::string& value, config& cfg) -> std::optional<std::string> {
    const auto n = number_in<std::int64_t>(value, low, high);
    if (!n) return "whole seconds from " + std::to_string(low) + " to " + std::to_string(high);
    store(cfg, std::chrono::seconds(*n));
    return std::nullopt;
  };
}

// A number of bytes (or bytes per second), 0 to 2^50, handed to `store`.
setter bytes_setter(const std::function<void(config&, std::uint64_t)>& store) {
  return [=](const std::string& value, config& cfg) -> std::optional<std::string> {
    const auto n = number_in<std::uint64_t>(value, 0, std::uint64_t{1} << 50);
    if (!n) return "a whole number of bytes from 0 to 1125899906842624";
    store(cfg, *n);
    return std::nullopt;
  };
}

constexpr const char* kCapForm =
    "bytes per second such as 2000000, 2M, 500k or 4MiB, 0 for no cap, or a percentage of the "
    "link capacity such as 50%";

setter cap_setter(const std::function<void(config&, const jobs::bandwidth_cap&)>& store) {
  return [store](const std::string& value, config& cfg) -> std::optional<std::string> {
    const auto cap = jobs::parse_cap(value);
    if (!cap) return kCapForm;
    store(cfg, *cap);
    return std::nullopt;
  };
}

constexpr const char* kInterfaceGlobs =
    "interface names or globs separated by commas, such as wwan0, usb*, enx?? (letters, digits, "
    "_ . : @ - and the wildcards * and ?; at most 32, each at most 64 bytes); empty for none";

const std::vector<key_spec>& keys() {
  static const std::vector<key_spec> table = {
      {"daemon", "socket", path_setter(&config::socket_path)},
      {"daemon", "state_dir", path_setter(&config::state_dir)},
      {"daemon", "ca_file",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         if (value.empty() || value.front() != '/') return "an absolute path";
         cfg.http.ca_file = value;
         return std::nullopt;
       }},
      {"daemon", "admin_group",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         if (!cfg.system_mode) return "nothing: admin_group applies to a --system daemon only";
         if (value.empty() || value.size() > 256) return "a group name";
         cfg.admin_group = value;
         return std::nullopt;
       }},
      {"daemon", "max_active_jobs",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         const auto n = number_in<std::uint32_t>(value, 1, 1000);
         if (!n) return "a whole number from 1 to 1000";
         cfg.scheduler.max_active_jobs = *n;
         return std::nullopt;
       }},
      {"daemon", "max_jobs_per_user",
       whole_number_setter(1, 100000,
                           [](config& c, std::uint32_t n) { c.limits.max_jobs_per_user = n; })},
      {"daemon", "max_jobs_per_machine",
       whole_number_setter(1, 1000000,
                           [](config& c, std::uint32_t n) { c.limits.max_jobs_per_machine = n; })},
      {"daemon", "time_slice",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         // Whole milliseconds or seconds with a fraction, as --time-slice takes them.
         char* end = nullptr;
         const double seconds = std::strtod(value.c_str(), &end);
         if (value.empty() || end != value.c_str() + value.size() || !(seconds >= 0) ||
             seconds > 86400) {
           return "seconds from 0 to 86400 (fractions allowed; 0: no rotation)";
         }
         cfg.scheduler.time_slice = std::chrono::milliseconds(std::llround(seconds * 1000));
         return std::nullopt;
       }},
      {"daemon", "max_connections_per_host",
       whole_number_setter(
           1, 1000, [](config& c, std::uint32_t n) { c.scheduler.max_connections_per_host = n; })},
      {"daemon", "max_connections_per_file",
       whole_number_setter(1, 64,
                           [](config& c, std::uint32_t n) { c.segments.max_connections = n; })},
      {"daemon", "min_segment_size",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         const auto n = number_in<std::uint64_t>(value, 65536, std::uint64_t{1} << 40);
         if (!n) return "bytes from 65536 to 1099511627776";
         cfg.segments.min_segment_size = *n;
         return std::nullopt;
       }},
      {"daemon", "max_connections_total",
       whole_number_setter(1, 10000,
                           [](config& c, std::uint32_t n) { c.scheduler.max_connections = n; })},
      {"daemon", "retry_delay_floor",
       seconds_setter(1, 86400,
                      [](config& c, std::chrono::seconds s) { c.retry_delay_floor = s; })},
      {"daemon", "stall_timeout",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         const auto n = number_in<long>(value, 1, 86400);
         if (!n) return "whole seconds from 1 to 86400";
         cfg.http.low_speed_time_s = *n;
         return std::nullopt;
       }},
      {"daemon", "activity_listen",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         // Checked when the daemon starts: only a loopback address is served.
         if (value.find(':') == std::string::npos) return "HOST:PORT on a loopback address";
         cfg.activity_listen = value;
         return std::nullopt;
       }},
      {"daemon", "log_level",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
           if (value == level) {
             cfg.log_level = value;
             return std::nullopt;
           }
         }
         return "one of trace, debug, info, warn, error, critical, off";
       }},
      {"bandwidth", "foreground_cap",
       cap_setter([](config& c, const jobs::bandwidth_cap& cap) { c.bandwidth.foreground = cap; })},
      {"bandwidth", "background_cap",
       cap_setter([](config& c, const jobs::bandwidth_cap& cap) { c.bandwidth.background = cap; })},
      {"bandwidth", "link_capacity",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         constexpr const char* form = "auto, or bytes per second such as 12500000 or 100M";
         if (value == "auto") {
           cfg.bandwidth.link_capacity = 0;
           return std::nullopt;
         }
         const auto cap = jobs::parse_cap(value, false);
         if (!cap || cap->kind != jobs::bandwidth_cap::unit::bytes_per_second) return form;
         cfg.bandwidth.link_capacity = cap->value;
         return std::nullopt;
       }},
      {"business_hours", "hours",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         const auto window = jobs::parse_hours(value);
         if (!window) return "START-END in whole hours of local time, such as 8-17 or 22-6";
         const std::uint8_t days =
             cfg.bandwidth.business_hours ? cfg.bandwidth.business_hours->days : 0x7F;
         cfg.bandwidth.business_hours = *window;
         cfg.bandwidth.business_hours->days = days;
         return std::nullopt;
       }},
      {"business_hours", "days",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         const auto days = jobs::parse_days(value);
         if (!days) return "days such as mon-fri, sat,sun or all";
         if (!cfg.bandwidth.business_hours) cfg.bandwidth.business_hours = jobs::hours_window{};
         cfg.bandwidth.business_hours->days = *days;
         return std::nullopt;
       }},
      {"business_hours", "foreground_cap",
       cap_setter([](config& c, const jobs::bandwidth_cap& cap) {
         c.bandwidth.business_foreground = cap;
       })},
      {"business_hours", "background_cap",
       cap_setter([](config& c, const jobs::bandwidth_cap& cap) {
         c.bandwidth.business_background = cap;
       })},
      {"cache_hosts", "hosts",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         auto hosts = jobs::parse_cache_host_list(value);
         if (!hosts) {
           return "cache hosts separated by commas, each HOST or HOST:PORT (an IPv6 address in "
                  "brackets), such as cache1.lan, 10.0.0.9:8080";
         }
         cfg.cache_hosts.hosts = std::move(*hosts);
         return std::nullopt;
       }},
      {"cache_hosts", "fallback_delay",
       seconds_setter(0, 86400,
                      [](config& c, std::chrono::seconds s) { c.cache_hosts.fallback_delay = s; })},
      {"cache_hosts", "ban_time",
       seconds_setter(1, 86400,
                      [](config& c, std::chrono::seconds s) { c.cache_hosts.ban_time = s; })},
      {"peers", "download_mode",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         const auto n = number_in<std::uint32_t>(value, 0, 99);
         if (!n || (*n != 0 && *n != 1 && *n != 2 && *n != 99)) {
           return "0 (HTTP only), 1 (LAN), 2 (Group, with group_id) or 99 (Simple)";
         }
         cfg.peers.download_mode = *n;
         return std::nullopt;
       }},
      {"peers", "group_id",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         if (transfer::peer::group_id_problem(value)) {
           return "a group id of 1 to " + std::to_string(transfer::peer::max_group_id_bytes) +
                  " characters, such as a GUID";
         }
         cfg.peers.group_id = value;
         return std::nullopt;
       }},
      {"peers", "listen",
       [](const std::string& value,
          config& cfg) -> std::
                           optional<std::string> {
                             if (value.find(':') == std::string::npos)
                               return "ADDRESS:PORT, such as 0.0.0.0:7680";
                             cfg.peers.listen = value;
                             return std::nullopt;
                           }},
      {"peers", "peers",
       [](const std::string& value, config& cfg)
           -> std::
               optional<std::string> {
                 std::vector<std::string> peers;
                 std::string_view rest = value;
                 while (!rest.empty()) {
                   const auto comma = rest.find(',');
                   const std::string_view one = trim(rest.substr(0, comma));
                   if (one.find(':') == std::string_view::npos) {
                     return "ADDRESS:PORT entries separated by commas, such as 10.0.0.7:7680";
                   }
                   peers.emplace_back(one);
                   rest = comma == std::string_view::npos ? std::string_view()
                                                          : rest.substr(comma + 1);
                 }
                 cfg.peers.static_peers = std::move(peers);
                 return std::nullopt;
               }},
      {"peers", "local_discovery",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         if (value != "true" && value != "false") return "true or false";
         cfg.peers.local_discovery = value == "true";
         return std::nullopt;
       }},
      {"peers", "min_file_size",
       bytes_setter([](config& c, std::uint64_t n) { c.peers.min_file_size = n; })},
      {"peers", "cache_dir",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         if (value.empty() || value.front() != '/') return "an absolute path";
         cfg.peers.cache_dir = value;
         return std::nullopt;
       }},
      {"peers", "cache_max_age",
       seconds_setter(0, std::int64_t{365} * 24 * 3600,
                      [](config& c, std::chrono::seconds s) { c.peers.cache_max_age = s; })},
      {"peers", "cache_max_size",
       bytes_setter([](config& c, std::uint64_t n) { c.peers.cache_max_size = n; })},
      {"peers", "upload_limit",
       bytes_setter([](config& c, std::uint64_t n) { c.peers.upload_limit = n; })},
      {"peers", "share_on_metered",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         if (value != "true" && value != "false") return "true or false";
         cfg.peers.share_on_metered = value == "true";
         return std::nullopt;
       }},
      {"network", "metered_interfaces",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         auto globs = jobs::parse_interface_globs(value);
         if (!globs) return kInterfaceGlobs;
         cfg.network.metered_interfaces = std::move(*globs);
         return std::nullopt;
       }},
      {"network", "cellular_interfaces",
       [](const std::string& value, config& cfg) -> std::optional<std::string> {
         auto globs = jobs::parse_interface_globs(value);
         if (!globs) return kInterfaceGlobs;
         cfg.network.cellular_interfaces = std::move(*globs);
         return std::nullopt;
       }},
  };
  return table;
}

const key_spec* find_key(const std::string& section, const std::string& key) {
  for (const key_spec& spec : keys()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

bool known_section(const std::string& section) {
  for (const key_spec& spec : keys()) {
    if (spec.section == section) return true;
  }
  return false;
}

// "[daemon], [bandwidth], ... `last_separator` [network]": the sections in the order of keys(),
// so that the errors that list them never miss one added later.
std::string section_names(std::string_view last_separator) {
  std::vector<std::string_view> sections;
  for (const key_spec& spec : keys()) {
    if (sections.empty() || sections.back() != spec.section) sections.push_back(spec.section);
  }
  std::string names;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    if (i > 0) names += i + 1 == sections.size() ? last_separator : ", ";
    names += fmt::format("[{}]", sections[i]);
  }
  return names;
}

bool printable(std::string_view line) {
  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t') return false;
    if (u == 0x7F) return false;
  }
  return true;
}

[[noreturn]] void fail(const std::string& name, std::size_t line, const std::string& message) {
  throw config_file_error(name + ":" + std::to_string(line) + ": " + message);
}

}  // namespace

void apply_config_text(std::string_view text, const std::string& name, config& cfg) {
  if (text.size() > max_config_file_size) {
    throw config_file_error(name + ": the file is larger than " +
                            std::to_string(max_config_file_size) + " bytes");
  }
  config result = cfg;  // all or nothing: cfg changes only when the whole file is good
  std::string section;
  std::map<std::pair<std::string, std::string>, std::size_t> seen;  // -> line first set on
  bool business_hours_given = false;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto newline = text.find('\n');
    std::string_view raw = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);  // CRLF files
    if (!printable(raw)) fail(name, number, "the line holds a control character");
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') fail(name, number, "a section line must be [NAME]");
      section = std::string(trim(line.substr(1, line.size() - 2)));
      if (!known_section(section)) {
        fail(name, number,
             fmt::format("unknown section [{}] (known: {})", section, section_names(", ")));
      }
      business_hours_given = business_hours_given || section == "business_hours";
      continue;
    }
    const auto equals = line.find('=');
    if (equals == std::string_view::npos) {
      fail(name, number, "expected `key = value`, a [section], or a # comment");
    }
    const std::string key(trim(line.substr(0, equals)));
    const std::string value(trim(line.substr(equals + 1)));
    if (key.empty()) fail(name, number, "a key is missing before '='");
    if (section.empty()) {
      fail(name, number,
           fmt::format("\"{}\" is outside a section; put it under {}", key, section_names(" or ")));
    }
    const key_spec* spec = find_key(section, key);
    if (spec == nullptr) {
      fail(name, number, fmt::format("unknown key \"{}\" in [{}]", key, section));
    }
    const auto [first, inserted] = seen.emplace(std::make_pair(section, key), number);
    if (!inserted) {
      fail(name, number,
           fmt::format("\"{}\" is set twice in [{}] (first on line {})", key, section,
                       first->second));
    }
    if (auto expected = spec->set(value, result)) {
      fail(name, number,
           fmt::format("bad value \"{}\" for {}: expected {}", value, key, *expected));
    }
  }
  if (business_hours_given && !seen.count({"business_hours", "hours"})) {
    throw config_file_error(name + ": [business_hours] needs hours = START-END");
  }
  cfg = std::move(result);
}

bool apply_config_file(const std::string& path, bool required, config& cfg) {
  ipc::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int open_error = errno;
    if (open_error == ENOENT && !required) return false;
    // A default path under a home directory this daemon cannot enter (it runs as another user
    // with the environment's HOME, say) is not its file: like a missing one. A file it can see
    // but not read is an error, or its settings would be dropped in silence.
    struct stat seen {};
    if (open_error == EACCES && !required && ::stat(path.c_str(), &seen) != 0 && errno == EACCES) {
      return false;
    }
    throw config_file_error(path +
                            ": cannot open the configuration file: " + std::strerror(open_error));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    throw config_file_error(path + ": not a regular file");
  }
  // A root daemon serving every user takes its policy only from a file no other user can change.
  if (cfg.system_mode && ::geteuid() == 0 &&
      (info.st_uid != 0 || (info.st_mode & (S_IWGRP | S_IWOTH)) != 0)) {
    throw config_file_error(path +
                            ": refused: a --system daemon's configuration file must belong to "
                            "root and be writable by root only (chown root; chmod go-w)");
  }
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw config_file_error(path + ": cannot read: " + std::strerror(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_config_file_size) break;  // apply_config_text says so
  }
  apply_config_text(text, path, cfg);
  return true;
}

std::vector<std::pair<std::string, std::string>> config_file_keys() {
  std::vector<std::pair<std::string, std::string>> all;
  for (const key_spec& spec : keys()) all.emplace_back(spec.section, spec.key);
  return all;
}

std::vector<std::string> restart_only_changes(const config& running, const config& reloaded) {
  std::vector<std::string> changed;
  const auto note = [&](bool differs, const char* key) {
    if (differs) changed.emplace_back(std::string("[daemon] ") + key);
  };
  note(running.socket_path != reloaded.socket_path, "socket");
  note(running.state_dir != reloaded.state_dir, "state_dir");
  note(running.http.ca_file != reloaded.http.ca_file, "ca_file");
  note(running.admin_group != reloaded.admin_group, "admin_group");
  note(running.scheduler.max_active_jobs != reloaded.scheduler.max_active_jobs, "max_active_jobs");
  note(running.limits.max_jobs_per_user != reloaded.limits.max_jobs_per_user, "max_jobs_per_user");
  note(running.limits.max_jobs_per_machine != reloaded.limits.max_jobs_per_machine,
       "max_jobs_per_machine");
  note(running.scheduler.time_slice != reloaded.scheduler.time_slice, "time_slice");
  note(running.scheduler.max_connections_per_host != reloaded.scheduler.max_connections_per_host,
       "max_connections_per_host");
  note(running.scheduler.max_connections != reloaded.scheduler.max_connections,
       "max_connections_total");
  note(running.segments.max_connections != reloaded.segments.max_connections,
       "max_connections_per_file");
  note(running.segments.min_segment_size != reloaded.segments.min_segment_size, "min_segment_size");
  note(running.retry_delay_floor != reloaded.retry_delay_floor, "retry_delay_floor");
  note(running.http.low_speed_time_s != reloaded.http.low_speed_time_s, "stall_timeout");
  note(running.activity_listen != reloaded.activity_listen, "activity_listen");
  const auto peer = [&](bool differs, const char* key) {
    if (differs) changed.emplace_back(std::string("[peers] ") + key);
  };
  peer(running.peers.download_mode != reloaded.peers.download_mode, "download_mode");
  peer(running.peers.group_id != reloaded.peers.group_id, "group_id");
  peer(running.peers.listen != reloaded.peers.listen, "listen");
  peer(running.peers.static_peers != reloaded.peers.static_peers, "peers");
  peer(running.peers.local_discovery != reloaded.peers.local_discovery, "local_discovery");
  peer(running.peers.min_file_size != reloaded.peers.min_file_size, "min_file_size");
  peer(running.peers.cache_dir != reloaded.peers.cache_dir, "cache_dir");
  peer(running.peers.cache_max_age != reloaded.peers.cache_max_age, "cache_max_age");
  peer(running.peers.cache_max_size != reloaded.peers.cache_max_size, "cache_max_size");
  peer(running.peers.upload_limit != reloaded.peers.upload_limit, "upload_limit");
  peer(running.peers.share_on_metered != reloaded.peers.share_on_metered, "share_on_metered");
  if (running.network.metered_interfaces != reloaded.network.metered_interfaces) {
    changed.emplace_back("[network] metered_interfaces");
  }
  if (running.network.cellular_interfaces != reloaded.network.cellular_interfaces) {
    changed.emplace_back("[network] cellular_interfaces");
  }
  return changed;
}

}  // namespace opendo::daemon
