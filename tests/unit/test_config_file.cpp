// The configuration file's parser: every key lands in the typed config, and every malformed
// line, unknown key or bad value is refused with the file, the line and what was expected,
// leaving the configuration as it was.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon/config_file.hpp"

namespace {

using namespace opendo;
using namespace opendo::daemon;
using jobs::bandwidth_cap;

config parse(const std::string& text, bool system_mode = false) {
  config cfg;
  cfg.system_mode = system_mode;
  apply_config_text(text, "/etc/opendo/opendod.conf", cfg);
  return cfg;
}

// The error message for `text`, or "" when it parses.
std::string error_of(const std::string& text, bool system_mode = false) {
  try {
    parse(text, system_mode);
  } catch (const config_file_error& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigFile, EmptyAndCommentOnlyFilesKeepTheDefaults) {
  const config defaults;
  for (const char* text : {"", "\n\n", "# nothing here\n  ; nor here\n", "[bandwidth]\n"}) {
    const config cfg = parse(text);
    EXPECT_EQ(cfg.bandwidth, defaults.bandwidth) << text;
    EXPECT_EQ(cfg.log_level, defaults.log_level);
    EXPECT_EQ(cfg.scheduler.max_active_jobs, defaults.scheduler.max_active_jobs);
  }
}

TEST(ConfigFile, EveryKeyLandsInItsSetting) {
  const config cfg = parse(
      "# opendod.conf\n"
      "[daemon]\n"
      "socket = /run/x/opendod.sock\n"
      "state_dir = /var/lib/x\n"
      "ca_file = /etc/ssl/extra.pem\n"
      "admin_group = wheel\n"
      "max_active_jobs = 7\n"
      "max_jobs_per_user = 500\n"
      "max_jobs_per_machine = 2000\n"
      "time_slice = 1.5\n"
      "max_connections_per_host = 3\n"
      "max_connections_total = 12\n"
      "retry_delay_floor = 9\n"
      "stall_timeout = 120\n"
      "log_level = debug\n"
      "\n"
      "[bandwidth]\n"
      "foreground_cap = 10M\n"
      "background_cap = 25%\n"
      "link_capacity = 100M\n"
      "\r\n"
      "[ business_hours ]\n"
      "hours = 8-17\n"
      "days = mon-fri\n"
      "foreground_cap = 0\n"
      "background_cap=500k\r\n"
      "[cache_hosts]\n"
      "hosts = cache1.lan, 10.0.0.9:8080\n"
      "fallback_delay = 90\n"
      "ban_time = 600\n",
      true);
  EXPECT_EQ(cfg.socket_path, "/run/x/opendod.sock");
  EXPECT_EQ(cfg.state_dir, "/var/lib/x");
  EXPECT_EQ(cfg.http.ca_file, "/etc/ssl/extra.pem");
  EXPECT_EQ(cfg.admin_group, "wheel");
  EXPECT_EQ(cfg.scheduler.max_active_jobs, 7U);
  EXPECT_EQ(cfg.limits.max_jobs_per_user, 500U);
  EXPECT_EQ(cfg.limits.max_jobs_per_machine, 2000U);
  EXPECT_EQ(cfg.scheduler.time_slice, std::chrono::milliseconds(1500));
  EXPECT_EQ(cfg.scheduler.max_connections_per_host, 3U);
  EXPECT_EQ(cfg.scheduler.max_connections, 12U);
  EXPECT_EQ(cfg.retry_delay_floor, std::chrono::seconds(9));
  EXPECT_EQ(cfg.http.low_speed_time_s, 120);
  EXPECT_EQ(cfg.log_level, "debug");
  EXPECT_EQ(cfg.bandwidth.foreground, bandwidth_cap::bytes(10'000'000));
  EXPECT_EQ(cfg.bandwidth.background, bandwidth_cap::percent(25));
  EXPECT_EQ(cfg.bandwidth.link_capacity, 100'000'000U);
  ASSERT_TRUE(cfg.bandwidth.business_hours);
  EXPECT_EQ(*cfg.bandwidth.business_hours, (jobs::hours_window{8, 17, 0b0111110}));
  EXPECT_EQ(cfg.bandwidth.business_foreground, bandwidth_cap{});
  EXPECT_EQ(cfg.bandwidth.business_background, bandwidth_cap::bytes(500'000));
  EXPECT_EQ(cfg.cache_hosts.hosts, (std::vector<std::string>{"cache1.lan", "10.0.0.9:8080"}));
  EXPECT_EQ(cfg.cache_hosts.fallback_delay, std::chrono::seconds(90));
  EXPECT_EQ(cfg.cache_hosts.ban_time, std::chrono::seconds(600));
}

TEST(ConfigFile, DaysBeforeHoursAndLinkCapacityAuto) {
  const config cfg =
      parse("[business_hours]\ndays = sat,sun\nhours = 22-6\n[bandwidth]\nlink_capacity = auto\n");
  ASSERT_TRUE(cfg.bandwidth.business_hours);
  EXPECT_EQ(*cfg.bandwidth.business_hours, (jobs::hours_window{22, 6, 0b1000001}));
  EXPECT_EQ(cfg.bandwidth.link_capacity, 0U);
  EXPECT_FALSE(cfg.bandwidth.business_background);  // the [bandwidth] cap applies in the window
}

TEST(ConfigFile, ErrorsNameTheFileTheLineAndWhatWasExpected) {
  const std::string f = "/etc/opendo/opendod.conf";
  EXPECT_EQ(error_of("[bandwidth]\nbackground_cap = 2X\n"),
            f + ":2: bad value \"2X\" for background_cap: expected bytes per second such as "
                "2000000, 2M, 500k or 4MiB, 0 for no cap, or a percentage of the link capacity "
                "such as 50%");
  EXPECT_EQ(error_of("# c\n[bandwidth]\nspeed = 3\n"),
            f + ":3: unknown key \"speed\" in [bandwidth]");
  EXPECT_EQ(error_of("[daemon]\nforeground_cap = 1M\n"),
            f + ":2: unknown key \"foreground_cap\" in [daemon]");
  EXPECT_EQ(error_of("[networks]\n"),
            f + ":1: unknown section [networks] (known: [daemon], [bandwidth], [business_hours], "
                "[cache_hosts], [peers], [network])");
  EXPECT_EQ(error_of("background_cap = 1M\n"),
            f + ":1: \"background_cap\" is outside a section; put it under [daemon], "
                "[bandwidth], [business_hours], [cache_hosts], [peers] or [network]");
  EXPECT_EQ(error_of("[bandwidth]\njust words\n"),
            f + ":2: expected `key = value`, a [section], or a # comment");
  EXPECT_EQ(error_of("[bandwidth\n"), f + ":1: a section line must be [NAME]");
  EXPECT_EQ(error_of("[bandwidth]\n= 3\n"), f + ":2: a key is missing before '='");
  EXPECT_EQ(error_of("[bandwidth]\nbackground_cap = 1M\n\nbackground_cap = 2M\n"),
            f + ":4: \"background_cap\" is set twice in [bandwidth] (first on line 2)");
  EXPECT_EQ(error_of("[bandwidth]\nbackground_cap = 1M\x01\n"),
            f + ":2: the line holds a control character");
  EXPECT_EQ(error_of("[business_hours]\nbackground_cap = 1M\n"),
            f + ": [business_hours] needs hours = START-END");
  EXPECT_EQ(error_of("[business_hours]\nhours = 9-9\n"),
            f + ":2: bad value \"9-9\" for hours: expected START-END in whole hours of local "
                "time, such as 8-17 or 22-6");
  EXPECT_EQ(error_of("[bandwidth]\nlink_capacity = 50%\n"),
            f + ":2: bad value \"50%\" for link_capacity: expected auto, or bytes per second "
                "such as 12500000 or 100M");
  EXPECT_EQ(error_of("[daemon]\nmax_active_jobs = 0\n"),
            f + ":2: bad value \"0\" for max_active_jobs: expected a whole number from 1 to 1000");
  EXPECT_EQ(error_of("[daemon]\nstate_dir = relative/dir\n"),
            f + ":2: bad value \"relative/dir\" for state_dir: expected an absolute path");
  EXPECT_EQ(error_of("[daemon]\nlog_level = loud\n"),
            f + ":2: bad value \"loud\" for log_level: expected one of trace, debug, info, warn, "
                "error, critical, off");
  EXPECT_EQ(error_of("[daemon]\nadmin_group = wheel\n"),
            f + ":2: bad value \"wheel\" for admin_group: expected nothing: admin_group applies "
                "to a --system daemon only");
  EXPECT_EQ(error_of("[cache_hosts]\n# the caches\nhosts = cache1, http://cache2/\n"),
            f + ":3: bad value \"cache1, http://cache2/\" for hosts: expected cache hosts "
                "separated by commas, each HOST or HOST:PORT (an IPv6 address in brackets), such "
                "as cache1.lan, 10.0.0.9:8080");
  EXPECT_EQ(error_of("[cache_hosts]\nban_time = 0\n"),
            f + ":2: bad value \"0\" for ban_time: expected whole seconds from 1 to 86400");
  EXPECT_EQ(error_of("[cache_hosts]\nfallback_delay = -1\n"),
            f + ":2: bad value \"-1\" for fallback_delay: expected whole seconds from 0 to 86400");
}

TEST(ConfigFile, ARefusedFileChangesNothing) {
  config cfg;
  cfg.bandwidth.background = bandwidth_cap::bytes(7);
  EXPECT_THROW(
      apply_config_text("[bandwidth]\nforeground_cap = 1M\nbackground_cap = x\n", "f", cfg),
      config_file_error);
  EXPECT_EQ(cfg.bandwidth.background, bandwidth_cap::bytes(7));
  EXPECT_EQ(cfg.bandwidth.foreground, bandwidth_cap{});
}

TEST(ConfigFile, SizeIsLimited) {
  const std::string big(max_config_file_size + 1, '#');
  EXPECT_EQ(error_of(big), "/etc/opendo/opendod.conf: the file is larger than 65536 bytes");
  EXPECT_EQ(error_of(std::string(max_config_file_size, '#')), "");
}

TEST(ConfigFile, MissingDefaultFileIsFineMissingRequiredFileIsAnError) {
  config cfg;
  EXPECT_FALSE(apply_config_file("/nonexistent/opendod.conf", false, cfg));
  try {
    apply_config_file("/nonexistent/opendod.conf", true, cfg);
    ADD_FAILURE() << "a missing --config file was accepted";
  } catch (const config_file_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/opendod.conf: cannot open the configuration file: No such file or "
              "directory");
  }
  EXPECT_THROW(apply_config_file("/", true, cfg), config_file_error);  // a directory
}

TEST(ConfigFile, FileIsReadAndApplied) {
  char path[] = "/tmp/opendo-conf-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "[bandwidth]\nbackground_cap = 3M\n";
  config cfg;
  EXPECT_TRUE(apply_config_file(path, true, cfg));
  EXPECT_EQ(cfg.bandwidth.background, bandwidth_cap::bytes(3'000'000));
  ::unlink(path);
}

TEST(ConfigFile, SystemDaemonRefusesAFileOthersCanWrite) {
  ASSERT_EQ(::geteuid(), 0U) << "this test must run as root: the check applies to a root daemon";
  char path[] = "/tmp/opendo-conf-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "[bandwidth]\nbackground_cap = 3M\n";
  config cfg;
  cfg.system_mode = true;
  ::chmod(path, 0644);
  EXPECT_TRUE(apply_config_file(path, true, cfg));
  ::chmod(path, 0664);
  try {
    apply_config_file(path, true, cfg);
    ADD_FAILURE() << "a group-writable file was accepted";
  } catch (const config_file_error& e) {
    EXPECT_NE(std::string(e.what()).find("must belong to root and be writable by root only"),
              std::string::npos);
  }
  cfg.system_mode = false;  // a user's own daemon: the file is the user's business
  EXPECT_TRUE(apply_config_file(path, true, cfg));
  ::unlink(path);
}

TEST(ConfigFile, DefaultPathsBySystemAndUserMode) {
  EXPECT_EQ(default_config_path(true), "/etc/opendo/opendod.conf");
  ::setenv("XDG_CONFIG_HOME", "/home/u/.cfg", 1);
  EXPECT_EQ(default_config_path(false), "/home/u/.cfg/opendo/opendod.conf");
  ::setenv("XDG_CONFIG_HOME", "relative", 1);  // ignored, as the XDG specification says
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(default_config_path(false), "/home/u/.config/opendo/opendod.conf");
}

TEST(ConfigFile, RestartOnlyKeysThatChangedAreNamed) {
  const config running = parse("[daemon]\nmax_active_jobs = 4\nlog_level = info\n");
  const config reloaded = parse(
      "[daemon]\nmax_active_jobs = 5\nlog_level = debug\nstall_timeout = 30\n"
      "[bandwidth]\nbackground_cap = 1M\n[cache_hosts]\nhosts = cache1\n");
  EXPECT_EQ(restart_only_changes(running, reloaded),
            (std::vector<std::string>{"[daemon] max_active_jobs", "[daemon] stall_timeout"}));
  EXPECT_TRUE(restart_only_changes(running, running).empty());
}

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::string(OPENDO_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ConfigFile, EveryKeyIsDocumentedAndTheShippedExampleParsesToTheDefaults) {
  const std::string docs = read_source_file("docs/configuration.md");
  const std::string example = read_source_file("packaging/opendod.conf");
  ASSERT_FALSE(docs.empty());
  ASSERT_FALSE(example.empty());
  for (const auto& [section, key] : config_file_keys()) {
    EXPECT_NE(docs.find("| `[" + section + "]` | `" + key + "` |"), std::string::npos)
        << "[" << section << "] " << key << " is not in docs/configuration.md";
    EXPECT_NE(example.find("# " + key + " = "), std::string::npos)
        << key << " is not in packaging/opendod.conf";
  }
  config cfg;
  cfg.system_mode = true;
  apply_config_text(example, "packaging/opendod.conf", cfg);
  EXPECT_EQ(cfg.bandwidth, config{}.bandwidth);
  EXPECT_EQ(cfg.cache_hosts, config{}.cache_hosts);
  EXPECT_EQ(cfg.peers, config{}.peers);
  EXPECT_EQ(cfg.network, config{}.network);
}

TEST(ConfigFile, PeersSectionSetsPeerDeliveryAndRefusesBadValues) {
  config cfg;
  apply_config_text(
      "[peers]\ndownload_mode = 99\nlisten = 10.0.0.2:7681\npeers = 10.0.0.7:7680, "
      "10.0.0.8:7680\nlocal_discovery = false\nmin_file_size = 0\ncache_dir = /srv/cache\n"
      "cache_max_age = 60\ncache_max_size = 1000\nupload_limit = 5\n",
      "/etc/opendo/opendod.conf", cfg);
  EXPECT_EQ(cfg.peers.download_mode, 99U);
  EXPECT_EQ(cfg.peers.listen, "10.0.0.2:7681");
  EXPECT_EQ(cfg.peers.static_peers, (std::vector<std::string>{"10.0.0.7:7680", "10.0.0.8:7680"}));
  EXPECT_FALSE(cfg.peers.local_discovery);
  EXPECT_EQ(cfg.peers.min_file_size, 0U);
  EXPECT_EQ(cfg.peers.cache_dir, "/srv/cache");
  EXPECT_EQ(cfg.peers.cache_max_age, std::chrono::seconds(60));
  EXPECT_EQ(cfg.peers.cache_max_size, 1000U);
  EXPECT_EQ(cfg.peers.upload_limit, 5U);
  EXPECT_EQ(error_of("[peers]\ndownload_mode = 3\n"),
            "/etc/opendo/opendod.conf:2: bad value \"3\" for download_mode: expected 0 (HTTP "
            "only), 1 (LAN), 2 (Group, with group_id) or 99 (Simple)");
  config running;
  config reloaded = running;
  reloaded.peers.download_mode = 0;
  EXPECT_EQ(restart_only_changes(running, reloaded),
            (std::vector<std::string>{"[peers] download_mode"}));
}

TEST(ConfigFile, GroupModeTakesAGroupIdOfBoundedSizeAndNeedsOne) {
  const config group = parse("[peers]\ndownload_mode = 2\ngroup_id = site-7 east\n");
  EXPECT_EQ(group.peers.download_mode, 2U);
  EXPECT_EQ(group.peers.group_id, "site-7 east");
  EXPECT_TRUE(group.peers.sharing());
  EXPECT_TRUE(group.peers.group_mode());
  EXPECT_EQ(config_problem(group), std::nullopt);
  // 256 characters are accepted, 257 are not.
  EXPECT_EQ(parse("[peers]\ngroup_id = " + std::string(256, 'g') + "\n").peers.group_id.size(),
            256U);
  const std::string long_id(257, 'g');
  EXPECT_EQ(error_of("[peers]\ngroup_id = " + long_id + "\n"),
            "/etc/opendo/opendod.conf:2: bad value \"" + long_id +
                "\" for group_id: expected a group id of 1 to 256 characters, such as a GUID");
  EXPECT_EQ(error_of("[peers]\ngroup_id =\n"),
            "/etc/opendo/opendod.conf:2: bad value \"\" for group_id: expected a group id of 1 "
            "to 256 characters, such as a GUID");
  // The file alone is fine without one; the merged settings are not (main refuses them).
  const config missing = parse("[peers]\ndownload_mode = 2\n");
  EXPECT_EQ(config_problem(missing),
            "download mode 2 (Group) needs a group id: give --group-id TEXT or group_id in the "
            "[peers] section of the configuration file");
  // A group id is unused, and no problem, in the other modes.
  EXPECT_EQ(config_problem(parse("[peers]\ngroup_id = site-7\n")), std::nullopt);
  EXPECT_FALSE(parse("[peers]\ngroup_id = site-7\n").peers.group_mode());
  config other = group;
  other.peers.group_id = "site-8";
  EXPECT_EQ(restart_only_changes(group, other), (std::vector<std::string>{"[peers] group_id"}));
}

// [network] and share_on_metered (docs/peers.md, "Metered networks"): the defaults are no metered
// interface, cellular ww*, and no serving on either; empty lists are none; bad globs are refused
// with what was expected; all of it needs a restart.
TEST(ConfigFile, NetworkSectionNamesMeteredAndCellularInterfaces) {
  const config defaults;
  EXPECT_TRUE(defaults.network.metered_interfaces.empty());
  EXPECT_EQ(defaults.network.cellular_interfaces, (std::vector<std::string>{"ww*"}));
  EXPECT_FALSE(defaults.peers.share_on_metered);
  config cfg;
  apply_config_text(
      "[network]\nmetered_interfaces = usb*, enx0a?b\ncellular_interfaces =\n"
      "[peers]\nshare_on_metered = true\n",
      "/etc/opendo/opendod.conf", cfg);
  EXPECT_EQ(cfg.network.metered_interfaces, (std::vector<std::string>{"usb*", "enx0a?b"}));
  EXPECT_TRUE(cfg.network.cellular_interfaces.empty());
  EXPECT_TRUE(cfg.peers.share_on_metered);
  EXPECT_NE(error_of("[network]\nmetered_interfaces = eth[0]\n")
                .find("/etc/opendo/opendod.conf:2: bad value \"eth[0]\" for metered_interfaces: "
                      "expected interface names or globs separated by commas"),
            std::string::npos);
  EXPECT_NE(error_of("[peers]\nshare_on_metered = yes\n").find("expected true or false"),
            std::string::npos);
  EXPECT_EQ(restart_only_changes(defaults, cfg),
            (std::vector<std::string>{"[peers] share_on_metered", "[network] metered_interfaces",
                                      "[network] cellular_interfaces"}));
}

}  // namespace
