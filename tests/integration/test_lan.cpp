// The harness of multi-host tests (support/netns.hpp) does what those tests rely on: hosts in
// network namespaces reach each other through the bridge and nothing else, tc caps a host's
// uplink and downlink, BitTorrent local service discovery multicast crosses the bridge, opendod
// runs inside a host, and a lan leaves nothing behind, even when its test was killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/daemon.hpp"
#include "support/files.hpp"
#include "support/netns.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using opendo::test::daemon_options;
using opendo::test::daemon_process;
using opendo::test::lan;
using opendo::test::lan_host;
using opendo::test::lan_options;
using opendo::test::network_namespaces;
using opendo::test::nginx_options;
using opendo::test::nginx_server;
using opendo::test::run_result;
using opendo::test::temp_dir;

constexpr std::uint64_t mib = 1 << 20;

// nginx as the origin: inside the host, on its address, port 80.
nginx_options origin_on(const lan_host& host) {
  nginx_options options;
  options.netns = host.netns();
  options.listen_address = host.address();
  options.port = 80;
  return options;
}

struct fetch {
  run_result result;
  std::uint64_t bytes = 0;
  double seconds = 0;  // curl's time_total: the transfer, not the process start
};

// curl inside the host, writing the body to `to`.
fetch fetch_with_curl(const lan_host& host, const std::string& url,
                      const std::filesystem::path& to) {
  fetch f;
  f.result = host.run({"curl", "--noproxy", "*", "--silent", "--show-error", "--fail", "-o",
                       to.string(), "-w", "%{size_download} %{time_total}", url},
                      60s);
  std::istringstream(f.result.out) >> f.bytes >> f.seconds;
  return f;
}

// fetch_with_curl, which must get all `size` bytes.
fetch fetch_all(const lan_host& host, const std::string& url, const std::filesystem::path& to,
                std::uint64_t size) {
  fetch f = fetch_with_curl(host, url, to);
  EXPECT_EQ(f.result.exit_code, 0) << f.result.err;
  EXPECT_EQ(f.bytes, size);
  return f;
}

// 16 MiB of payload is 17.5 MB of frames: 1.40 s at 100 Mbit/s. Unshaped, a veth carries
// gigabits. Bounds of shaping, not of performance: wide enough for a busy machine.
void expect_100mbit_against_unshaped(const fetch& capped, const fetch& free) {
  EXPECT_GE(capped.seconds, 1.2);
  EXPECT_LT(capped.seconds, 3.0);
  EXPECT_LT(free.seconds, capped.seconds / 4);
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(Lan, AHostFetchesAFileFromAnotherHostThroughTheBridge) {
  lan net;
  nginx_server origin(origin_on(net.host(0)));
  const std::uint64_t size = 8 * mib;
  const std::string sha = origin.make_random_file("f.bin", size, 1);
  temp_dir out("opendo-lan");
  ASSERT_EQ(origin.url("f.bin"), "http://10.213.0.1:80/f.bin");

  const auto origin_before = net.host(0).counters();
  const auto peer_before = net.host(1).counters();
  const fetch got = fetch_with_curl(net.host(1), origin.url("f.bin"), out / "f.bin");
  ASSERT_EQ(got.result.exit_code, 0) << got.result.err;
  const auto origin_after = net.host(0).counters();
  const auto peer_after = net.host(1).counters();

  EXPECT_EQ(got.bytes, size);
  EXPECT_EQ(opendo::test::sha256_file(out / "f.bin"), sha);
  EXPECT_EQ(origin.total_body_bytes_sent("f.bin"), size);
  // The file once, and headers: one set per GSO packet of up to 64 KiB, so little more.
  const std::uint64_t sent = origin_after.tx_bytes - origin_before.tx_bytes;
  const std::uint64_t received = peer_after.rx_bytes - peer_before.rx_bytes;
  EXPECT_GE(sent, size);
  EXPECT_LT(sent, size + size / 10);
  EXPECT_GE(received, size);
  std::printf("lan: %llu bytes from %s to %s: the origin sent %llu bytes (%.3f x) in %.3f s\n",
              static_cast<unsigned long long>(size), net.host(0).address().c_str(),
              net.host(1).address().c_str(), static_cast<unsigned long long>(sent),
              static_cast<double>(sent) / static_cast<double>(size), got.seconds);
}

// What a TCP connect from inside the host ends with: 0 when it connects, else its errno.
int connect_error(const lan_host& host, const std::string& address, std::uint16_t port) {
  int error = 0;
  host.call([&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    error = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
    ::close(fd);
  });
  return error;
}

TEST(Lan, AHostReachesItsOwnLanAndNothingElse) {
  lan first;
  lan second;  // the same subnet, its own namespaces
  nginx_server origin(origin_on(first.host(0)));
  origin.write_file("f.txt", "first lan\n");
  temp_dir out("opendo-lan");

  const fetch inside = fetch_with_curl(first.host(1), origin.url("f.txt"), out / "a.txt");
  ASSERT_EQ(inside.result.exit_code, 0) << inside.result.err;
  EXPECT_EQ(opendo::test::read_file(out / "a.txt"), "first lan\n");

  // The second lan's host 0 has the same address and no server: refused, not served.
  EXPECT_EQ(connect_error(first.host(1), first.host(0).address(), 80), 0);
  EXPECT_EQ(second.host(0).address(), first.host(0).address());
  EXPECT_EQ(connect_error(second.host(1), first.host(0).address(), 80), ECONNREFUSED);
  // No default route: an address off the lan is unreachable, so nothing leaves the machine.
  EXPECT_EQ(connect_error(first.host(1), "10.213.1.1", 80), ENETUNREACH);
  EXPECT_EQ(connect_error(first.host(1), "192.0.2.1", 80), ENETUNREACH);
}

TEST(Lan, AnHttpsOriginIsTrustedAtItsLanAddress) {
  lan net;
  nginx_options options = origin_on(net.host(0));
  options.tls = true;
  options.port = 443;
  nginx_server origin(options);
  origin.write_file("f.txt", "over TLS\n");
  ASSERT_EQ(origin.url("f.txt"), "https://10.213.0.1:443/f.txt");

  // The certificate names the address: curl verifies it against the fixture's CA file.
  const run_result got =
      net.host(1).run({"curl", "--noproxy", "*", "--silent", "--show-error", "--fail", "--cacert",
                       origin.ca_file().string(), origin.url("f.txt")});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "over TLS\n");
}

TEST(Lan, AnUplinkCapOf100MbitHoldsAndLiftingItRestoresFullSpeed) {
  lan net;
  nginx_server origin(origin_on(net.host(0)));
  const std::uint64_t size = 16 * mib;
  origin.make_random_file("f.bin", size, 2);
  temp_dir out("opendo-lan");

  net.host(0).set_uplink_rate(100'000'000);
  EXPECT_EQ(net.host(0).uplink_rate(), 100'000'000u);
  const fetch capped = fetch_all(net.host(1), origin.url("f.bin"), out / "capped.bin", size);
  net.host(0).set_uplink_rate(std::nullopt);
  EXPECT_EQ(net.host(0).uplink_rate(), std::nullopt);
  const fetch free = fetch_all(net.host(1), origin.url("f.bin"), out / "free.bin", size);

  expect_100mbit_against_unshaped(capped, free);
  std::printf(
      "lan: 16 MiB with the origin's uplink at 100 Mbit/s: %.3f s (%.1f Mbit/s of "
      "payload); uncapped: %.3f s (%.0f Mbit/s)\n",
      capped.seconds, static_cast<double>(size) * 8 / capped.seconds / 1e6, free.seconds,
      static_cast<double>(size) * 8 / free.seconds / 1e6);
}

TEST(Lan, ADownlinkCapSlowsOnlyTheHostItIsSetOn) {
  lan net(lan_options{.hosts = 3, .subnet = 0});
  nginx_server origin(origin_on(net.host(0)));
  const std::uint64_t size = 16 * mib;
  origin.make_random_file("f.bin", size, 3);
  temp_dir out("opendo-lan");

  net.host(1).set_downlink_rate(100'000'000);
  const fetch capped = fetch_all(net.host(1), origin.url("f.bin"), out / "1.bin", size);
  const fetch free = fetch_all(net.host(2), origin.url("f.bin"), out / "2.bin", size);

  expect_100mbit_against_unshaped(capped, free);
  std::printf(
      "lan: 16 MiB to a host with its downlink at 100 Mbit/s: %.3f s; to its "
      "neighbour: %.3f s\n",
      capped.seconds, free.seconds);
}

// A UDP socket closed on scope exit.
class udp_socket {
 public:
  udp_socket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  }
  ~udp_socket() { ::close(fd_); }
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// BEP 14: local service discovery announces to this group and port.
constexpr const char* lsd_group = "239.192.152.143";
constexpr std::uint16_t lsd_port = 6771;

sockaddr_in lsd_address() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(lsd_port);
  ::inet_pton(AF_INET, lsd_group, &addr.sin_addr);
  return addr;
}

struct lsd_listener {
  std::atomic<bool> ready{false};
  std::atomic<bool> done{false};
  std::string payload;
  std::string sender;
  std::string error;
};

// Joins the LSD group as a BitTorrent client does (any interface: the one the group's route
// names) and waits for one announcement.
void listen_for_announcement(const lan_host& host, lsd_listener& listener) {
  try {
    host.call([&] {
      udp_socket s;
      const int one = 1;
      ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in any{};
      any.sin_family = AF_INET;
      any.sin_port = htons(lsd_port);
      any.sin_addr.s_addr = htonl(INADDR_ANY);
      if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&any), sizeof any) != 0) {
        throw std::system_error(errno, std::generic_category(), "bind 0.0.0.0:6771");
      }
      ip_mreq join{};
      join.imr_multiaddr = lsd_address().sin_addr;
      join.imr_interface.s_addr = htonl(INADDR_ANY);
      if (::setsockopt(s.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join) != 0) {
        throw std::system_error(errno, std::generic_category(), "IP_ADD_MEMBERSHIP");
      }
      listener.ready = true;
      pollfd p{s.get(), POLLIN, 0};
      if (::poll(&p, 1, 10'000) != 1) throw std::runtime_error("no announcement within 10 s");
      char buffer[1500];
      sockaddr_in from{};
      socklen_t length = sizeof from;
      const ssize_t n = ::recvfrom(s.get(), buffer, sizeof buffer, 0,
                                   reinterpret_cast<sockaddr*>(&from), &length);
      if (n < 0) throw std::system_error(errno, std::generic_category(), "recvfrom");
      listener.payload.assign(buffer, static_cast<std::size_t>(n));
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
      listener.sender = text;
    });
  } catch (const std::exception& e) {
    listener.error = e.what();
  }
  listener.ready = true;
  listener.done = true;
}

TEST(Lan, AnLsdAnnouncementFromOneHostReachesEveryOtherHost) {
  lan net(lan_options{.hosts = 3, .subnet = 0});
  // A snooping bridge forwards a group only to ports it saw join; with no querier to refresh
  // them, those memberships lapse. LSD must not depend on that.
  const run_result bridge =
      opendo::test::run({"ip", "-n", net.switch_netns(), "-d", "-j", "link", "show", "dev", "br0"});
  ASSERT_EQ(bridge.exit_code, 0) << bridge.err;
  EXPECT_EQ(
      nlohmann::json::parse(bridge.out).at(0).at("linkinfo").at("info_data").at("mcast_snooping"),
      0)
      << bridge.out;

  const std::string announcement =
      "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n"
      "Infohash: 0123456789abcdef0123456789abcdef01234567\r\ncookie: opendo-lan\r\n\r\n\r\n";

  std::vector<lsd_listener> listeners(2);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    threads.emplace_back([&, i] { listen_for_announcement(net.host(i + 1), listeners[i]); });
  }
  const auto all = [&](auto member) {
    return std::all_of(listeners.begin(), listeners.end(),
                       [&](const lsd_listener& l) { return (l.*member).load(); });
  };
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!all(&lsd_listener::ready) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }

  // Datagrams may be lost: announce every 100 ms, as a client re-announces, until all heard.
  int sent = 0;
  std::string send_error;
  try {
    net.host(0).call([&] {
      udp_socket s;
      const sockaddr_in group = lsd_address();
      while (!all(&lsd_listener::done) && std::chrono::steady_clock::now() < deadline) {
        if (::sendto(s.get(), announcement.data(), announcement.size(), 0,
                     reinterpret_cast<const sockaddr*>(&group), sizeof group) < 0) {
          throw std::system_error(errno, std::generic_category(), "sendto 239.192.152.143:6771");
        }
        ++sent;
        std::this_thread::sleep_for(100ms);
      }
    });
  } catch (const std::exception& e) {
    send_error = e.what();
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(send_error, "");
  EXPECT_GE(sent, 1);
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    SCOPED_TRACE("host " + std::to_string(i + 1));
    EXPECT_EQ(listeners[i].error, "");
    EXPECT_EQ(listeners[i].payload, announcement);
    EXPECT_EQ(listeners[i].sender, net.host(0).address());
  }
  std::printf("lan: an LSD announcement from %s reached 2 hosts after %d datagram(s)\n",
              net.host(0).address().c_str(), sent);
}

TEST(Lan, AnOpendodInAHostDownloadsFromTheOriginOnAnother) {
  lan net;
  nginx_server origin(origin_on(net.host(0)));
  const std::uint64_t size = 4 * mib;
  const std::string sha = origin.make_random_file("f.bin", size, 4);
  temp_dir out("opendo-lan");

  daemon_options options;
  options.netns = net.host(1).netns();
  daemon_process daemon(options);
  EXPECT_TRUE(net.host(1).holds(daemon.pid()));
  EXPECT_FALSE(net.host(0).holds(daemon.pid()));

  // The CLI runs here and reaches the daemon's socket through the file system.
  const run_result listed = daemon.cli({"list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err << daemon.log();

  const auto origin_before = net.host(0).counters();
  const auto peer_before = net.host(1).counters();
  const run_result got =
      daemon.cli({"get", origin.url("f.bin"), "-o", (out / "f.bin").string()}, 120s);
  ASSERT_EQ(got.exit_code, 0) << got.out << got.err << daemon.log();
  const auto origin_after = net.host(0).counters();
  const auto peer_after = net.host(1).counters();

  EXPECT_EQ(opendo::test::sha256_file(out / "f.bin"), sha);
  EXPECT_EQ(origin.total_body_bytes_sent("f.bin"), size);
  // The bytes went from host 0's link to host 1's: the daemon's traffic leaves through its host.
  EXPECT_GE(origin_after.tx_bytes - origin_before.tx_bytes, size);
  EXPECT_GE(peer_after.rx_bytes - peer_before.rx_bytes, size);
  EXPECT_TRUE(net.host(1).holds(daemon.pid()));
}

TEST(Lan, DestroyingALanRemovesItsNamespacesAndEndsWhatRunsInThem) {
  std::vector<std::string> names;
  pid_t sleeper = -1;
  {
    lan net(lan_options{.hosts = 3, .subnet = 0});
    names = net.namespaces();
    ASSERT_EQ(names.size(), 4u);
    const auto present = network_namespaces();
    for (const auto& name : names) {
      EXPECT_TRUE(name.starts_with(net.name_prefix())) << name;
      EXPECT_TRUE(contains(present, name)) << name;
    }
    sleeper = net.host(2).spawn({"sleep", "600"});
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!net.host(2).holds(sleeper) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    ASSERT_TRUE(net.host(2).holds(sleeper));
  }
  // A process inside would keep its namespace, and the links in it, alive: it was killed.
  EXPECT_EQ(opendo::test::wait_for_exit(sleeper, 5s), 128 + SIGKILL);
  const auto present = network_namespaces();
  for (const auto& name : names) EXPECT_FALSE(contains(present, name)) << name;
  const run_result listed = opendo::test::run({"ip", "netns", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  for (const auto& name : names) {
    EXPECT_EQ(listed.out.find(name), std::string::npos) << listed.out;
  }
}

TEST(Lan, ALanLeftByAKilledTestIsRemovedByTheNextOne) {
  // A child process makes a lan and is SIGKILLed before its destructor can run.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string report;
    try {
      lan leftover;
      for (const auto& name : leftover.namespaces()) report += name + "\n";
      [[maybe_unused]] const ssize_t n = ::write(pipe_fds[1], report.data(), report.size());
      ::kill(::getpid(), SIGKILL);
    } catch (const std::exception& e) {
      report = std::string("error: ") + e.what();
    }
    [[maybe_unused]] const ssize_t n = ::write(pipe_fds[1], report.data(), report.size());
    ::_exit(1);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    report.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  // Dead but not reaped, as a test ctest has just killed: a zombie still has its /proc entry.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  ASSERT_EQ(info.si_code, CLD_KILLED) << report;
  ASSERT_EQ(info.si_status, SIGKILL) << report;

  std::vector<std::string> names;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) names.push_back(line);
  ASSERT_EQ(names.size(), 3u) << report;
  auto present = network_namespaces();
  for (const auto& name : names) ASSERT_TRUE(contains(present, name)) << name;

  lan next;
  present = network_namespaces();
  for (const auto& name : names) EXPECT_FALSE(contains(present, name)) << name;
  for (const auto& name : next.namespaces()) EXPECT_TRUE(contains(present, name)) << name;
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
}

}  // namespace
