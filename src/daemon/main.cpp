// opendod: the opendo transfer daemon. Owns the jobs of its user (or, with --system, of every
// user), persists them, transfers their files, and serves the org.opendo.Transfer Varlink
// interface on a Unix socket.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/paths.hpp"
#include "daemon/activity.hpp"
#include "daemon/config.hpp"
#include "daemon/config_file.hpp"
#include "daemon/file_ops.hpp"
#include "daemon/manager.hpp"
#include "daemon/metrics.hpp"
#include "daemon/modules.hpp"
#include "daemon/owner_helper.hpp"
#include "daemon/server.hpp"
#include "daemon/systemd.hpp"
#include "store/store.hpp"
#include "transfer/http/engine_api.hpp"
#include "transfer/peer/metainfo.hpp"
#include "transfer/peer/swarm_api.hpp"

namespace {

using namespace opendo;

// One daemon per socket: the lock file beside the socket is held for the daemon's life.
ipc::unique_fd take_lock(const std::string& socket_path) {
  const std::string lock_path = socket_path + ".lock";
  ipc::unique_fd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw std::system_error(errno, std::generic_category(), "cannot open " + lock_path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return ipc::unique_fd();
  // The holder's pid, for people and scripts that need to find the daemon.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("cannot record the pid in {}", lock_path);
  }
  return fd;
}

ipc::unique_fd termination_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return ipc::unique_fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
}

// ---- configuration file ----------------------------------------------------------------------
// The settings come from defaults, then the configuration file, then the command line: a flag
// given on the command line beats the file, at start and on every SIGHUP.
struct command_line {
  // What the command line set: the flags given, and the defaults of the others. Flags that no
  // file key matches keep their value whatever the file says.
  daemon::config values;
  using copier = void (*)(const daemon::config& from, daemon::config& to);
  std::vector<copier> given;  // for each flag given that a file key also sets

  void note_given(const CLI::App& app, const std::string& flag, copier copy) {
    if (app.get_option(flag)->count() > 0) given.push_back(copy);
  }
};

// The command line's values, the file over them, the flags given over the file. Throws
// config_file_error for a bad file, or a missing --config file.
daemon::config read_config(const command_line& cl) {
  daemon::config cfg = cl.values;
  cfg.config_file_required = !cl.values.config_file.empty();
  cfg.config_file = cfg.config_file_required ? cl.values.config_file
                                             : daemon::default_config_path(cfg.system_mode);
  if (!cfg.config_file.empty()) {
    daemon::apply_config_file(cfg.config_file, cfg.config_file_required, cfg);
  }
  for (const auto copy : cl.given) copy(cl.values, cfg);
  daemon::apply_defaults(cfg);
  if (const auto problem = daemon::config_problem(cfg)) throw std::runtime_error(*problem);
  return cfg;
}

// SIGHUP: the file is read again; the bandwidth policy and the log level change at once, keys
// that need a restart are reported. A bad file changes nothing.
void reload(const command_line& cl, daemon::config& running, daemon::manager& jobs) {
  daemon::config fresh;
  try {
    fresh = read_config(cl);
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: the configuration was not reloaded, the old one stays in force: {}",
                  e.what());
    return;
  }
  for (const std::string& key : daemon::restart_only_changes(running, fresh)) {
    spdlog::warn("SIGHUP: {} changed in {}; it takes effect when opendod restarts", key,
                 fresh.config_file);
  }
  running.log_level = fresh.log_level;
  spdlog::set_level(spdlog::level::from_str(running.log_level));
  running.bandwidth = fresh.bandwidth;
  jobs.set_bandwidth_policy(running.bandwidth);
  running.cache_hosts = fresh.cache_hosts;
  jobs.set_cache_host_policy(running.cache_hosts);
  spdlog::info("SIGHUP: configuration reloaded from {}", fresh.config_file);
}

int run(daemon::config cfg, const command_line& cl) {
  if (cfg.system_mode && ::geteuid() != 0) {
    spdlog::critical(
        "opendod --system must run as root (uid {} is not): it serves every user and does each "
        "one's file operations as that user. Run it as root (e.g. from its systemd unit), or "
        "without --system as your own user-mode daemon.",
        ::geteuid());
    return 1;
  }
  ipc::unique_fd activated = daemon::take_activated_socket();
  const auto [socket_dir, socket_name] = daemon::split_path(cfg.socket_path);
  // System mode: every user must reach the socket; its directory is root's and read-only to
  // them, so nobody can replace the socket. The job store stays private either way.
  if (cfg.system_mode) {
    paths::ensure_shared_dir(socket_dir);
  } else {
    paths::ensure_private_dir(socket_dir);
  }
  paths::ensure_private_dir(cfg.state_dir);

  ipc::unique_fd lock = take_lock(cfg.socket_path);
  if (!lock) {
    spdlog::info("another opendod already serves {}; exiting", cfg.socket_path);
    return 0;
  }
  ipc::unique_fd signals = termination_signals();
  // libcurl and libtorrent load when first needed (daemon/modules.hpp); a missing module fails now.
  daemon::check_module(transfer::http::kModuleFile);
  daemon::check_module(transfer::peer::kModuleFile);

  store::job_store store(cfg.state_dir + "/jobs.sqlite");
  // User mode: the daemon is the owner and does the file operations itself. System mode: each
  // owner's helper does them with the owner's credentials (src/daemon/owner_helper.hpp).
  std::unique_ptr<daemon::file_ops> files;
  if (cfg.system_mode) {
    files = std::make_unique<daemon::helper_file_ops>(cfg.file_helper_timeout);
  } else {
    files = std::make_unique<daemon::direct_file_ops>();
  }
  daemon::manager jobs(cfg, store, *files);
  jobs.load();
  // Before the socket: a daemon that cannot serve its metrics or activity page as asked exits
  // before any client could think it runs.
  std::optional<daemon::http_endpoint> metrics;
  if (!cfg.metrics_listen.empty()) {
    ipc::unique_fd metrics_fd = daemon::listen_loopback(cfg.metrics_listen, "metrics");
    spdlog::info("metrics on http://{}/metrics (port {})", cfg.metrics_listen,
                 daemon::bound_port(metrics_fd.get()));
    metrics.emplace(std::move(metrics_fd), [&jobs](const daemon::http_request& request) {
      return daemon::metrics_reply(request, jobs.statistics());
    });
  }
  std::optional<daemon::activity_page> activity;
  std::optional<daemon::http_endpoint> activity_http;
  if (!cfg.activity_listen.empty()) {
    ipc::unique_fd activity_fd = daemon::listen_loopback(cfg.activity_listen, "activity page");
    activity.emplace(
        jobs, daemon::base_url_of(cfg.activity_listen, daemon::bound_port(activity_fd.get())));
    spdlog::info("activity page on {} (opendo activity prints its address with a token)",
                 activity->base_url());
    activity_http.emplace(std::move(activity_fd), [&activity](const daemon::http_request& r) {
      return activity->answer(r);
    });
  }
  // Socket activation: systemd made and owns the socket (its unit sets the mode). Otherwise any
  // user may connect to a system daemon: SO_PEERCRED, not the socket's mode, decides.
  ipc::unique_fd listener = std::move(activated);
  const bool socket_activated = static_cast<bool>(listener);
  if (!socket_activated) {
    listener = ipc::listen_unix(cfg.socket_path, cfg.system_mode ? 0666 : 0600);
  }
  daemon::server ipc_server(cfg, jobs, std::move(listener), activity ? &*activity : nullptr);
  spdlog::info("opendod {} serving {} (state in {}{}{})", "0.1.0", cfg.socket_path, cfg.state_dir,
               cfg.system_mode ? ", system mode" : "",
               socket_activated ? ", socket from systemd" : "");
  daemon::notify_systemd("READY=1\nSTATUS=serving " + cfg.socket_path);

  int timeout_ms = 0;
  for (;;) {
    auto& fds = ipc_server.wait_fds();
    const std::size_t signal_index = fds.size();
    fds.push_back({signals.get(), CURL_WAIT_POLLIN, 0});
    const std::size_t metrics_index = metrics ? metrics->add_fds(fds) : fds.size();
    const std::size_t activity_index = activity_http ? activity_http->add_fds(fds) : fds.size();
    jobs.poll(fds, timeout_ms);
    const bool signalled = (fds[signal_index].revents & CURL_WAIT_POLLIN) != 0;
    if (metrics) metrics->dispatch(fds, metrics_index);
    if (activity_http) activity_http->dispatch(fds, activity_index);
    if (activity) activity->tick();
    fds.resize(signal_index);
    ipc_server.dispatch();
    if (signalled) {
      signalfd_siginfo info{};
      if (::read(signals.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGHUP) {
          reload(cl, cfg, jobs);
        } else {
          spdlog::info("signal {}: recording progress and stopping", info.ssi_signo);
          break;
        }
      }
    }
    timeout_ms = jobs.run_once();
  }
  daemon::notify_systemd("STOPPING=1");
  jobs.checkpoint_all();
  if (!socket_activated) ::unlink(cfg.socket_path.c_str());  // systemd's socket stays
  return 0;
}

int daemon_main(int argc, char** argv) {
  // A job owner's file helper (system mode), exec'd by the daemon itself; not for people.
  if (argc > 1 && std::strcmp(argv[1], "--file-helper") == 0) {
    return daemon::run_file_helper(argc, argv);
  }
  CLI::App app{
      "opendod: the opendo background transfer daemon.\n"
      "Runs as a user-mode service: it owns your download jobs, keeps them in a SQLite store so\n"
      "they survive restarts and kill -9, and transfers their files over HTTP(S). Clients talk\n"
      "to it over the Varlink interface org.opendo.Transfer on a Unix socket; the opendo command\n"
      "and libopendo start it on demand. With --system it runs as root and serves every user of\n"
      "the machine, doing each user's file operations as that user (see docs/security.md).",
      "opendod"};
  daemon::config cfg;
  std::string ca_file;
  CLI::Option* system_flag =
      app.add_flag("--system", cfg.system_mode,
                   "Serve every user of the machine (must run as root): socket mode 0666 in a "
                   "0755 directory, each user sees only their own jobs, file operations and "
                   "notify commands run as the job's owner");
  app.add_option("--socket", cfg.socket_path,
                 "Unix socket to serve (default: $XDG_RUNTIME_DIR/opendo/opendod.sock, or "
                 "/tmp/opendo-UID/opendod.sock; with --system /run/opendo/opendod.sock)");
  app.add_option("--state-dir", cfg.state_dir,
                 "Directory of the job store jobs.sqlite (default: $XDG_STATE_HOME/opendo, or "
                 "~/.local/state/opendo; with --system /var/lib/opendo)");
  app.add_option("--admin-group", cfg.admin_group,
                 "With --system: members of this group administer every user's jobs (list all "
                 "users, take ownership), as root does (default: root only)")
      ->type_name("NAME")
      ->needs(system_flag);
  app.add_option("--ca-file", cfg.http.ca_file,
                 "PEM file of certificate authorities to trust for https (default: the system's)");
  app.add_option("--max-active-jobs", cfg.scheduler.max_active_jobs,
                 "Background jobs that transfer at the same time (default 4; FOREGROUND jobs are "
                 "not counted)")
      ->check(CLI::Range(1, 1000));
  // BITS's group policies MaxJobsPerUser and MaxJobsPerMachine, with their defaults.
  app.add_option("--max-jobs-per-user", cfg.limits.max_jobs_per_user,
                 "Jobs a user may have that are not ACKNOWLEDGED or CANCELLED "
                 "(BG_E_TOO_MANY_JOBS_PER_USER past it; default 60, as BITS's MaxJobsPerUser)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-jobs-per-machine", cfg.limits.max_jobs_per_machine,
                 "Jobs of all users together (BG_E_TOO_MANY_JOBS_PER_MACHINE past it; default "
                 "300, as BITS's MaxJobsPerMachine)")
      ->check(CLI::Range(1, 1000000));
  double time_slice_s = std::chrono::duration<double>(cfg.scheduler.time_slice).count();
  app.add_option("--time-slice", time_slice_s,
                 "Seconds a background job may keep its slot while a job of the same priority "
                 "waits; then it queues (keeping its bytes) and the longest-waiting job runs "
                 "(default 60; 0: no rotation)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--max-connections-per-host", cfg.scheduler.max_connections_per_host,
                 "HTTP transfers to one host (host:port of the file's URL) at the same time; "
                 "a job waits while its file's host has that many (default 6; FOREGROUND jobs "
                 "are not held back but count)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--max-connections-total", cfg.scheduler.max_connections,
                 "HTTP transfers in all at the same time (default 32; FOREGROUND jobs are not "
                 "held back but count, so background jobs never take it past the cap)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--max-connections-per-file", cfg.segments.max_connections,
                 "Connections one large file may use at once, each fetching its own byte range "
                 "(default 8; 1: no segments). More are added while each one raises the rate, "
                 "within the per-host and total caps")
      ->check(CLI::Range(1, 64));
  app.add_option("--min-segment-size", cfg.segments.min_segment_size,
                 "Bytes each half keeps at least when a file is first split among connections "
                 "(default 4194304; later splits keep 1 MiB, or this if smaller); smaller files "
                 "use one connection")
      ->check(CLI::Range(std::uint64_t{65536}, std::uint64_t{1} << 40));
  app.add_option("--retry-delay-floor", cfg.retry_delay_floor,
                 "Shortest retry delay in seconds: a job's MinimumRetryDelay under it is raised "
                 "to it (default 5, as on Windows; lower values are for tests)")
      ->check(CLI::Range(1, 86400));
  app.add_option("--stall-timeout", cfg.http.low_speed_time_s,
                 "Seconds a transfer may receive nothing before it fails as a transient error "
                 "(default 60)")
      ->check(CLI::Range(1, 86400));
  app.add_option("--metrics-listen", cfg.metrics_listen,
                 "Serve Prometheus metrics (the figures of 'opendo perfsnap') at "
                 "http://HOST:PORT/metrics; HOST must be a loopback address (127.0.0.1, ::1, "
                 "localhost). Default: no endpoint")
      ->type_name("HOST:PORT");
  std::string metered_interfaces;
  std::string cellular_interfaces;
  const auto globs_check = CLI::Validator(
      [](const std::string& value) -> std::string {
        if (jobs::parse_interface_globs(value)) return {};
        return "expected interface names or globs separated by commas, such as wwan0, usb*";
      },
      "");
  app.add_option("--metered-interfaces", metered_interfaces,
                 "Interfaces whose network is metered, comma separated, globs allowed: while the "
                 "default route goes through one, content is not served to peers (unless "
                 "--share-on-metered) and jobs whose cost policy refuses metered networks wait "
                 "(default: none)")
      ->type_name("GLOB,...")
      ->check(globs_check);
  app.add_option("--cellular-interfaces", cellular_interfaces,
                 "Interfaces whose network is cellular (and so metered), comma separated, globs "
                 "allowed (default ww*, systemd's names of WWAN interfaces; empty for none)")
      ->type_name("GLOB,...")
      ->check(globs_check);
  app.add_flag("--share-on-metered", cfg.peers.share_on_metered,
               "Serve content to peers on a metered or cellular network too (default: not)");
  std::string cache_hosts;
  app.add_option("--cache-hosts", cache_hosts,
                 "Cache hosts (HTTP caching proxies, Delivery Optimization's DOCacheHost) tried "
                 "in order before the origin for http URLs, comma separated: HOST or HOST:PORT. "
                 "Each is asked http://HOST/PATH?cacheHostOrigin=ORIGIN (default: none)")
      ->type_name("HOST[:PORT],...")
      ->check(CLI::Validator(
          [](const std::string& value) -> std::string {
            if (jobs::parse_cache_host_list(value)) return {};
            return "expected cache hosts separated by commas, each HOST or HOST:PORT";
          },
          ""));
  app.add_option("--cache-host-fallback-delay", cfg.cache_hosts.fallback_delay,
                 "Seconds after a file first went to a cache host before the origin may serve "
                 "it; meanwhile, with no usable cache host, the job waits in TRANSIENT_ERROR "
                 "(default 0: the origin right after the cache hosts failed)")
      ->check(CLI::Range(0, 86400));
  app.add_option("--cache-host-ban-time", cfg.cache_hosts.ban_time,
                 "Seconds a cache host that failed is not asked again (default 300)")
      ->check(CLI::Range(1, 86400));
  app.add_option("--activity-listen", cfg.activity_listen,
                 "Serve the activity page (your jobs with progress and rates, bytes by source) "
                 "at http://HOST:PORT/; HOST must be a loopback address. 'opendo activity' "
                 "prints its address with the token it needs. Default: no page")
      ->type_name("HOST:PORT");
  // ---- peer-to-peer delivery (docs/peers.md) ----
  app.add_option("--download-mode", cfg.peers.download_mode,
                 "Delivery Optimization's DownloadMode: 0 HTTP only, 1 LAN peers (default), 2 "
                 "Group (only peers with the same --group-id), 99 Simple (no peers). Only files "
                 "with trusted metadata (a metainfo or magnet) of at least --peer-min-file-size "
                 "bytes are shared")
      ->check(CLI::IsMember({0U, 1U, 2U, 99U}));
  app.add_option("--group-id", cfg.peers.group_id,
                 "Delivery Optimization's DOGroupId: with --download-mode 2, only the hosts "
                 "with the same group id share with each other (1 to 256 characters)")
      ->type_name("TEXT")
      ->check(CLI::Validator(
          [](const std::string& value) -> std::string {
            return transfer::peer::group_id_problem(value).value_or(std::string());
          },
          ""));
  app.add_option("--peer-listen", cfg.peers.listen,
                 "Where peers connect, ADDRESS:PORT (default 0.0.0.0:7680)")
      ->type_name("ADDRESS:PORT");
  app.add_option("--peer", cfg.peers.static_peers,
                 "A peer connected to for every shared file, ADDRESS:PORT; repeat for more "
                 "(beside local service discovery)")
      ->type_name("ADDRESS:PORT");
  app.add_flag("!--no-local-discovery", cfg.peers.local_discovery,
               "Do not find peers by local service discovery (BEP 14 multicast)");
  app.add_option("--peer-min-file-size", cfg.peers.min_file_size,
                 "Smallest file shared with peers, in bytes (default 50000000); smaller files "
                 "come over HTTP only");
  app.add_option("--content-cache-dir", cfg.peers.cache_dir,
                 "Where shared content is kept and served to peers from (default: "
                 "STATE_DIR/content)")
      ->type_name("DIR");
  app.add_option("--peer-upload-limit", cfg.peers.upload_limit,
                 "Bytes/s uploaded to peers outside the local network at most (default 0: no "
                 "limit; LAN peers are never throttled)");
  app.add_option("--content-cache-max-age", cfg.peers.cache_max_age,
                 "Seconds a complete shared file stays in the content cache after its download, "
                 "served to peers, before it is deleted (default 259200: 3 days)")
      ->check(CLI::Range(0, 365 * 24 * 3600));
  app.add_option("--content-cache-max-size", cfg.peers.cache_max_size,
                 "Bytes the content cache keeps at most, the oldest deleted first (default 0: "
                 "20% of its file system)");
  app.add_option("--peer-start-grace", cfg.peers.start_grace,
                 "Milliseconds a shared file waits for peers before its first origin request "
                 "(default 2000)")
      ->check(CLI::Range(0, 60000));
  app.add_option("--log-level", cfg.log_level, "Log level: debug, info, warn, error (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  // ---- configuration file flag ----
  app.add_option("--config", cfg.config_file,
                 "Configuration file (default: /etc/opendo/opendod.conf with --system, else "
                 "$XDG_CONFIG_HOME/opendo/opendod.conf or ~/.config/opendo/opendod.conf; a "
                 "missing default file is fine). Flags override it; SIGHUP reloads it")
      ->type_name("FILE");
  app.set_version_flag("--version", "opendod 0.1.0");
  CLI11_PARSE(app, argc, argv);
  cfg.scheduler.time_slice = std::chrono::milliseconds(std::llround(time_slice_s * 1000));
  cfg.cache_hosts.hosts = jobs::parse_cache_host_list(cache_hosts).value_or(cfg.cache_hosts.hosts);
  if (app.count("--metered-interfaces") > 0) {
    cfg.network.metered_interfaces = *jobs::parse_interface_globs(metered_interfaces);
  }
  if (app.count("--cellular-interfaces") > 0) {
    cfg.network.cellular_interfaces = *jobs::parse_interface_globs(cellular_interfaces);
  }

  // ---- configuration file: the flags given override it ----
  command_line cl{cfg, {}};
  cl.note_given(app, "--socket",
                [](const daemon::config& f, daemon::config& t) { t.socket_path = f.socket_path; });
  cl.note_given(app, "--state-dir",
                [](const daemon::config& f, daemon::config& t) { t.state_dir = f.state_dir; });
  cl.note_given(app, "--admin-group",
                [](const daemon::config& f, daemon::config& t) { t.admin_group = f.admin_group; });
  cl.note_given(app, "--ca-file", [](const daemon::config& f, daemon::config& t) {
    t.http.ca_file = f.http.ca_file;
  });
  cl.note_given(app, "--max-active-jobs", [](const daemon::config& f, daemon::config& t) {
    t.scheduler.max_active_jobs = f.scheduler.max_active_jobs;
  });
  cl.note_given(app, "--max-jobs-per-user", [](const daemon::config& f, daemon::config& t) {
    t.limits.max_jobs_per_user = f.limits.max_jobs_per_user;
  });
  cl.note_given(app, "--max-jobs-per-machine", [](const daemon::config& f, daemon::config& t) {
    t.limits.max_jobs_per_machine = f.limits.max_jobs_per_machine;
  });
  cl.note_given(app, "--time-slice", [](const daemon::config& f, daemon::config& t) {
    t.scheduler.time_slice = f.scheduler.time_slice;
  });
  cl.note_given(app, "--max-connections-per-host", [](const daemon::config& f, daemon::config& t) {
    t.scheduler.max_connections_per_host = f.scheduler.max_connections_per_host;
  });
  cl.note_given(app, "--max-connections-total", [](const daemon::config& f, daemon::config& t) {
    t.scheduler.max_connections = f.scheduler.max_connections;
  });
  cl.note_given(app, "--max-connections-per-file", [](const daemon::config& f, daemon::config& t) {
    t.segments.max_connections = f.segments.max_connections;
  });
  cl.note_given(app, "--min-segment-size", [](const daemon::config& f, daemon::config& t) {
    t.segments.min_segment_size = f.segments.min_segment_size;
  });
  cl.note_given(app, "--retry-delay-floor", [](const daemon::config& f, daemon::config& t) {
    t.retry_delay_floor = f.retry_delay_floor;
  });
  cl.note_given(app, "--stall-timeout", [](const daemon::config& f, daemon::config& t) {
    t.http.low_speed_time_s = f.http.low_speed_time_s;
  });
  // Peer-to-peer delivery: each flag over its [peers] key.
  cl.note_given(app, "--download-mode", [](const daemon::config& f, daemon::config& t) {
    t.peers.download_mode = f.peers.download_mode;
  });
  cl.note_given(app, "--group-id", [](const daemon::config& f, daemon::config& t) {
    t.peers.group_id = f.peers.group_id;
  });
  cl.note_given(app, "--peer-listen", [](const daemon::config& f, daemon::config& t) {
    t.peers.listen = f.peers.listen;
  });
  cl.note_given(app, "--peer", [](const daemon::config& f, daemon::config& t) {
    t.peers.static_peers = f.peers.static_peers;
  });
  cl.note_given(app, "--no-local-discovery", [](const daemon::config& f, daemon::config& t) {
    t.peers.local_discovery = f.peers.local_discovery;
  });
  cl.note_given(app, "--peer-min-file-size", [](const daemon::config& f, daemon::config& t) {
    t.peers.min_file_size = f.peers.min_file_size;
  });
  cl.note_given(app, "--content-cache-dir", [](const daemon::config& f, daemon::config& t) {
    t.peers.cache_dir = f.peers.cache_dir;
  });
  cl.note_given(app, "--content-cache-max-age", [](const daemon::config& f, daemon::config& t) {
    t.peers.cache_max_age = f.peers.cache_max_age;
  });
  cl.note_given(app, "--content-cache-max-size", [](const daemon::config& f, daemon::config& t) {
    t.peers.cache_max_size = f.peers.cache_max_size;
  });
  cl.note_given(app, "--peer-upload-limit", [](const daemon::config& f, daemon::config& t) {
    t.peers.upload_limit = f.peers.upload_limit;
  });
  cl.note_given(app, "--share-on-metered", [](const daemon::config& f, daemon::config& t) {
    t.peers.share_on_metered = f.peers.share_on_metered;
  });
  cl.note_given(app, "--metered-interfaces", [](const daemon::config& f, daemon::config& t) {
    t.network.metered_interfaces = f.network.metered_interfaces;
  });
  cl.note_given(app, "--cellular-interfaces", [](const daemon::config& f, daemon::config& t) {
    t.network.cellular_interfaces = f.network.cellular_interfaces;
  });
  cl.note_given(app, "--cache-hosts", [](const daemon::config& f, daemon::config& t) {
    t.cache_hosts.hosts = f.cache_hosts.hosts;
  });
  cl.note_given(app, "--cache-host-fallback-delay", [](const daemon::config& f, daemon::config& t) {
    t.cache_hosts.fallback_delay = f.cache_hosts.fallback_delay;
  });
  cl.note_given(app, "--cache-host-ban-time", [](const daemon::config& f, daemon::config& t) {
    t.cache_hosts.ban_time = f.cache_hosts.ban_time;
  });
  cl.note_given(app, "--activity-listen", [](const daemon::config& f, daemon::config& t) {
    t.activity_listen = f.activity_listen;
  });
  cl.note_given(app, "--log-level",
                [](const daemon::config& f, daemon::config& t) { t.log_level = f.log_level; });

  auto logger = spdlog::stderr_color_mt("opendod");
  spdlog::set_default_logger(logger);
  daemon::config settings;
  try {
    settings = read_config(cl);
  } catch (const std::exception& e) {
    spdlog::critical("bad configuration: {}", e.what());
    return 1;
  } catch (...) {
    spdlog::critical("bad configuration: an unknown exception (not a std::exception)");
    return 1;
  }
  spdlog::set_level(spdlog::level::from_str(settings.log_level));
  try {
    return run(std::move(settings), cl);
  } catch (const std::exception& e) {
    spdlog::critical("cannot run: {}", e.what());
    return 1;
  } catch (...) {
    spdlog::critical("cannot run: an unknown exception (not a std::exception)");
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Beyond daemon_main()'s own handlers: CLI11 and spdlog throw on a misuse (an option declared
  // twice, an unknown option name asked for), which ends opendod with a log line, not terminate().
  try {
    return daemon_main(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
  } catch (...) {
    spdlog::critical("cannot start: an unknown exception (not a std::exception)");
  }
  return 1;
}
