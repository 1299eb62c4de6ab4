// Hosts for multi-host tests: network namespaces joined by a Linux bridge into one private LAN,
// each host's links optionally shaped with tc, all of it removed when the test ends.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace opendo::test {

// argv prefixed with "ip netns exec NETNS", so that spawn() or run() starts it inside that
// network namespace; argv as it is when netns is empty. ip execs the program in place: the pid
// spawn() returns is the program's, and PR_SET_PDEATHSIG still applies to it.
std::vector<std::string> in_netns(const std::string& netns, std::vector<std::string> argv);

// Calls fn on a new thread that has joined the network namespace (setns), waits for it and
// rethrows what it threw. Sockets fn makes live in that namespace; the caller's thread stays
// where it is. fn must not start processes: they would be killed when its thread ends
// (PR_SET_PDEATHSIG follows the thread); use in_netns() for those.
void call_in_netns(const std::string& netns, const std::function<void()>& fn);

// A link's counters as the kernel keeps them: frames with their Ethernet, IP and TCP headers,
// where a GSO packet (up to 64 KiB of TCP payload) counts as one frame with one set of headers.
// A host that served a file once has sent its size and about 0.2% more.
struct link_counters {
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t rx_packets = 0;
};

// One host of a lan: a network namespace with lo and eth0 up, eth0 on the lan's /24 and a route
// for IPv4 multicast (224.0.0.0/4) on eth0, without which a multicast send fails with
// ENETUNREACH and a join on INADDR_ANY with ENODEV. No default route: the host reaches its lan
// and nothing else.
class lan_host {
 public:
  // The host's interface, one end of a veth pair whose other end is a port of the lan's bridge.
  static constexpr const char* interface = "eth0";

  std::size_t index() const { return index_; }
  // The namespace's name, for ip netns, daemon_options::netns and nginx_options::netns.
  const std::string& netns() const { return netns_; }
  // eth0's IPv4 address: host i of a lan is 10.213.<subnet>.<i + 1>.
  const std::string& address() const { return address_; }

  // Caps what the host sends (its uplink: a token bucket on its end of the veth) or receives
  // (its downlink: the same on the bridge's end), in bits per second of Ethernet frames; a
  // TCP stream's payload gets about 95% of it. Replaces an earlier cap; nullopt removes it.
  void set_uplink_rate(std::optional<std::uint64_t> bits_per_second);
  void set_downlink_rate(std::optional<std::uint64_t> bits_per_second);
  std::optional<std::uint64_t> uplink_rate() const { return uplink_rate_; }
  std::optional<std::uint64_t> downlink_rate() const { return downlink_rate_; }

  // eth0's counters now; subtract two readings to measure what a transfer cost.
  link_counters counters() const;

  // Runs argv inside the host (see process.hpp's run()).
  run_result run(const std::vector<std::string>& argv,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Starts argv inside the host (see process.hpp's spawn()).
  pid_t spawn(const std::vector<std::string>& argv, const spawn_options& options = {}) const;
  // call_in_netns() on this host.
  void call(const std::function<void()>& fn) const { call_in_netns(netns_, fn); }

  // True when the process is in this host's network namespace (from /proc/PID/ns/net).
  bool holds(pid_t pid) const;

 private:
  friend class lan;
  lan_host(std::size_t index, std::string netns, std::string switch_netns, std::string address);
  void shape(const std::string& netns, const std::string& device,
             std::optional<std::uint64_t>& current, std::optional<std::uint64_t> bits_per_second);

  std::size_t index_;
  std::string netns_;
  std::string switch_netns_;
  std::string address_;
  std::optional<std::uint64_t> uplink_rate_;
  std::optional<std::uint64_t> downlink_rate_;
};

struct lan_options {
  std::size_t hosts = 2;
  // The third octet of the hosts' /24. Every lan has its own namespaces, so two lans on the same
  // subnet never see each other; a test with several lans may still tell them apart this way.
  std::uint8_t subnet = 0;
};

// N hosts on one switch, for one test: a switch namespace holding the bridge br0 and one
// namespace per host. The bridge's multicast snooping is off: a snooping bridge forwards a group
// only to ports whose membership it has seen and not yet let lapse (no querier refreshes them
// here), so BitTorrent local service discovery, 239.192.152.143:6771, could go missing. Names are
// "opendo-lan-PIDNS-PID-START-SERIAL-ROLE" (the creating process: its pid namespace's inode, pid
// and start time in /proc/PID/stat; a serial within the process; "sw" or "hN"), so lans of
// parallel tests never collide and one whose creator is gone is recognised as stale. Needs root
// (CAP_SYS_ADMIN and CAP_NET_ADMIN); throws, saying so, when a namespace cannot be made.
// Declare a lan before the fixtures that run in it, so that they stop before it goes.
class lan {
 public:
  // Removes stale lans first (see remove_stale_lans()), then builds this one.
  explicit lan(lan_options options = {});
  // Kills what still runs in the lan's namespaces and deletes them, which deletes their links.
  ~lan();
  lan(const lan&) = delete;
  lan& operator=(const lan&) = delete;

  std::size_t size() const { return hosts_.size(); }
  lan_host& host(std::size_t index) { return hosts_.at(index); }
  const lan_host& host(std::size_t index) const { return hosts_.at(index); }
  const std::string& switch_netns() const { return switch_netns_; }
  // Every namespace of this lan, the switch's first.
  std::vector<std::string> namespaces() const;
  // What all of them start with: "opendo-lan-PIDNS-PID-START-SERIAL-".
  const std::string& name_prefix() const { return prefix_; }

 private:
  void build(const lan_options& options);
  void destroy() noexcept;

  std::string prefix_;
  std::string switch_netns_;
  std::vector<lan_host> hosts_;
  std::vector<std::string> made_;  // namespaces created so far, for destroy()
};

// Deletes the namespaces of lans whose creating process is gone (a test killed before its lan's
// destructor ran), killing what still runs in them; returns their names. Only lans made in this
// pid namespace are judged. Another process cleaning up at the same moment is harmless.
std::vector<std::string> remove_stale_lans();

// The names in /run/netns, as `ip netns list` shows them.
std::vector<std::string> network_namespaces();

}  // namespace opendo::test
