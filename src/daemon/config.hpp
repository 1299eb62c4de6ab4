// opendod's configuration: one typed object with documented defaults (see docs/configuration.md).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "jobs/bandwidth.hpp"
#include "jobs/cache_hosts.hpp"
#include "jobs/job.hpp"
#include "jobs/network_cost.hpp"
#include "jobs/scheduler.hpp"
#include "jobs/segments.hpp"
#include "transfer/http/engine_api.hpp"

namespace opendo::daemon {

// Peer-to-peer delivery (transfer/peer/swarm.hpp, docs/peers.md).
struct peer_config {
  // Delivery Optimization's DownloadMode: 0 HTTP only, 1 LAN (the default), 2 Group (only the
  // hosts with the same group_id), 99 Simple (no peers).
  std::uint32_t download_mode = 1;
  // --group-id (DO's DOGroupId): in mode 2, keys each shared content's swarm so that only the
  // hosts that know it can join (transfer/peer/metainfo.hpp, group_metainfo). Required in mode
  // 2, unused in the others; at most transfer::peer::max_group_id_bytes.
  std::string group_id;
  // --peer-listen: where peers connect (libtorrent's "ADDRESS:PORT"; DO's port is 7680).
  std::string listen = "0.0.0.0:7680";
  // --peer: "ADDRESS:PORT" of hosts connected to for every shared file, beside local discovery.
  std::vector<std::string> static_peers;
  bool local_discovery = true;  // BEP 14 multicast on the LAN
  // A file smaller than this is fetched over HTTP only (DO's default minimum: 50 MB).
  std::uint64_t min_file_size = 50'000'000;
  // Where shared content is kept and served from; default: <state dir>/content.
  std::string cache_dir;
  std::uint64_t upload_limit = 0;  // bytes/s to peers outside the LAN; 0: none
  // A complete content is shared from the cache for this long after its download (DO's
  // MaxCacheAge), then deleted.
  std::chrono::seconds cache_max_age{3 * 24 * 3600};
  // The cache's complete content is kept under this many bytes, the oldest deleted first; 0:
  // 20% of the cache's file system (DO's MaxCacheSize default).
  std::uint64_t cache_max_size = 0;
  // Bytes of the file one origin request asks for (jobs/origin_share.hpp).
  std::uint64_t origin_request_bytes = std::uint64_t{1} << 20;
  // Before a shared file's first origin request, so that local discovery finds the other hosts.
  std::chrono::milliseconds start_grace{2000};
  // Whether content is served to peers while the network is metered or cellular
  // (jobs/network_cost.hpp). Fetching from peers goes on either way.
  bool share_on_metered = false;
  bool sharing() const { return download_mode == 1 || download_mode == 2; }
  bool group_mode() const { return download_mode == 2; }
  friend bool operator==(const peer_config&, const peer_config&) = default;
};

struct config {
  // --system: one root daemon serves every user of the machine (see docs/security.md).
  bool system_mode = false;
  // default: paths::user_socket_path(), or paths::system_socket_path() in system mode
  std::string socket_path;
  // default: paths::user_state_dir(), or paths::system_state_dir(); holds jobs.sqlite
  std::string state_dir;
  // --admin-group (system mode): members administer every job, as root does. Empty: root only.
  std::string admin_group;
  // A file operation done by a job owner's helper (system mode) that takes longer fails, and the
  // helper is killed: a hung file system must not stop the daemon.
  std::chrono::milliseconds file_helper_timeout{10000};
  std::string log_level = "info";
  // --metrics-listen: the Prometheus endpoint's loopback HOST:PORT; empty (the default, in user
  // and system mode): no endpoint.
  std::string metrics_listen;
  // --activity-listen: the activity page's loopback HOST:PORT; empty (the default, in user and
  // system mode): no page.
  std::string activity_listen;
  jobs::limits limits;
  // --max-active-jobs, --time-slice, --max-connections-per-host, --max-connections-total: see
  // jobs/scheduler.hpp for what each means and its default.
  jobs::scheduler_limits scheduler;
  // --max-connections-per-file, --min-segment-size: segmented downloads (jobs/segments.hpp).
  jobs::segment_policy segments;
  transfer::http::engine_options http;
  // Retry delays (MinimumRetryDelay, notification re-delivery) under this become this: the
  // reference's 5 s. Tests lower it to see retries without waiting.
  std::chrono::seconds retry_delay_floor{5};
  // How often the bytes of running transfers are synced and recorded in the store.
  std::chrono::milliseconds checkpoint_interval{1000};
  // How often watchers may be told about progress at most (each watcher may ask for less).
  std::chrono::milliseconds progress_interval{100};
  // Varlink clients served at once (not HTTP connections: those are scheduler limits).
  std::size_t max_connections = 1024;
  std::size_t max_output_per_connection = std::size_t{16} << 20;
  // A connection that holds an incomplete message this long is closed.
  std::chrono::seconds incomplete_message_timeout{30};

  // ---- configuration file and bandwidth policy (docs/configuration.md) ----
  // The file read at start and on SIGHUP; empty: default_config_path(system_mode).
  std::string config_file;
  // Given with --config: a missing file is then an error, not "no settings".
  bool config_file_required = false;
  // Download caps by class; applied at run time (SIGHUP).
  jobs::bandwidth_policy bandwidth;
  // Cache hosts, their fallback delay and ban time ([cache_hosts]); applied at run time (SIGHUP).
  jobs::cache_host_policy cache_hosts;
  peer_config peers;
  // [network]: which interfaces are metered or cellular; the cost of the network is that of the
  // default route's interface.
  jobs::network_cost_rules network;
};

// Fills the defaults that depend on the environment (paths).
void apply_defaults(config& c);

// What makes the settings unusable together once the file and the flags are merged (download
// mode 2 without a group id), in words; nullopt when they are fine.
std::optional<std::string> config_problem(const config& c);

// /etc/opendo/opendod.conf in system mode; $XDG_CONFIG_HOME/opendo/opendod.conf, or
// $HOME/.config/opendo/opendod.conf, in user mode.
std::string default_config_path(bool system_mode);

}  // namespace opendo::daemon
