// Hosts for multi-host tests in network namespaces; see netns.hpp.
#include "support/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

#include "support/files.hpp"

namespace opendo::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view name_root = "opendo-lan-";
const std::filesystem::path netns_dir = "/run/netns";

std::string joined(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& a : argv) text += (text.empty() ? "" : " ") + a;
  return text;
}

// Runs an ip or tc command that must succeed; throws with what it printed otherwise.
std::string must(const std::vector<std::string>& argv) {
  const run_result r = run(argv, 30s);
  if (r.exit_code != 0) {
    throw std::runtime_error("lan: `" + joined(argv) + "` failed (exit " +
                             std::to_string(r.exit_code) + "): " + r.err + r.out);
  }
  return r.out;
}

// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; with the pid
// it names a process for good, as a pid alone is reused. nullopt when there is no such process or
// it has died and not been reaped yet (a zombie, state Z or X, keeps its stat file: a test killed
// a moment ago, not yet reaped by its parent, is gone all the same).
std::optional<std::uint64_t> alive_since(pid_t pid) {
  std::string stat;
  try {
    stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const std::exception&) {
    return std::nullopt;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 1));
  std::string field;
  for (int i = 3; i <= 22 && (rest >> field); ++i) {
    if (i == 3 && (field == "Z" || field == "X")) return std::nullopt;
    if (i == 22) return std::stoull(field);
  }
  return std::nullopt;
}

// The pid namespace's inode: pids and start times mean something only within one, so a lan made
// in another (a container sharing /run/netns) is never judged by ours.
std::uint64_t pid_namespace() {
  struct stat ns {};
  if (::stat("/proc/self/ns/pid", &ns) != 0) {
    throw std::system_error(errno, std::generic_category(), "lan: stat /proc/self/ns/pid");
  }
  return ns.st_ino;
}

template <typename Number>
bool parse_number(std::string_view text, Number& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

// The creator of a lan namespace, from its name "opendo-lan-PIDNS-PID-START-SERIAL-ROLE".
struct creator {
  std::uint64_t pid_namespace = 0;
  pid_t pid = 0;
  std::uint64_t start = 0;
};

std::optional<creator> creator_of(std::string_view name) {
  if (!name.starts_with(name_root)) return std::nullopt;
  name.remove_prefix(name_root.size());
  std::vector<std::string_view> parts;
  for (std::size_t dash; (dash = name.find('-')) != std::string_view::npos;) {
    parts.push_back(name.substr(0, dash));
    name.remove_prefix(dash + 1);
  }
  parts.push_back(name);
  creator c;
  std::uint64_t serial = 0;
  if (parts.size() != 5 || !parse_number(parts[0], c.pid_namespace) ||
      !parse_number(parts[1], c.pid) || !parse_number(parts[2], c.start) ||
      !parse_number(parts[3], serial)) {
    return std::nullopt;
  }
  return c;
}

std::vector<pid_t> pids_in(const std::string& netns) {
  const run_result r = run({"ip", "netns", "pids", netns}, 10s);
  std::vector<pid_t> pids;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    pid_t pid = 0;
    if (parse_number(std::string_view(line), pid) && pid != ::getpid()) pids.push_back(pid);
  }
  return pids;
}

// SIGKILLs what runs in the namespace (a process keeps a namespace alive after `ip netns del`,
// and its links with it), then deletes it. Returns false when it could not.
bool remove_namespace(const std::string& netns) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (auto pids = pids_in(netns); !pids.empty(); pids = pids_in(netns)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    for (const pid_t pid : pids) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(10ms);
  }
  return run({"ip", "netns", "del", netns}, 10s).exit_code == 0;
}

// tc's arguments for a token bucket (tbf) at the rate. tbf counts a GSO packet as the frames it
// will be on the wire, headers included, so a TCP stream's payload gets 1448/1514 = 95.6% of it.
// burst, what may leave back to back, is 128 KiB (two 64 KiB GSO packets, which tbf would
// otherwise split) or 5 ms at the rate, whichever is more: a smaller bucket runs dry while a
// late timer or a busy CPU holds the queue back (measured, 16 MiB at 100 Mbit/s: 1 ms gave 91.9
// Mbit/s of payload, 128 KiB 96.0; 64 MiB at 1 Gbit/s: 128 KiB gave 919, 5 ms 945-950, 1 MB 966,
// above the 956 possible, the bucket's head start), and against 16 MiB or more it is a head
// start under 1%. latency bounds the queue behind the bucket to 25 ms at the rate: deep enough
// that one TCP stream keeps the bucket busy without a loss (5 ms dropped 71 packets of a 16 MiB
// stream at 100 Mbit/s), shallow enough not to add a deep queue's hundreds of milliseconds of
// delay to every peer sharing the link.
std::vector<std::string> token_bucket(std::uint64_t bits_per_second) {
  const std::string rate = std::to_string(bits_per_second) + "bit";
  const std::string burst =
      std::to_string(std::max<std::uint64_t>(128 << 10, bits_per_second / 8 / 200));
  return {"tbf", "rate", rate, "burst", burst, "latency", "25ms"};
}

std::uint64_t process_serial() {
  static std::atomic<std::uint64_t> next{0};
  return next++;
}

}  // namespace

std::vector<std::string> in_netns(const std::string& netns, std::vector<std::string> argv) {
  if (!netns.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", netns});
  return argv;
}

void call_in_netns(const std::string& netns, const std::function<void()>& fn) {
  const auto path = netns_dir / netns;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "call_in_netns: open " + path.string());
  }
  std::exception_ptr error;
  std::thread thread([&] {
    try {
      if (::setns(fd, CLONE_NEWNET) != 0) {
        throw std::system_error(errno, std::generic_category(), "setns " + path.string());
      }
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  thread.join();
  ::close(fd);
  if (error) std::rethrow_exception(error);
}

lan_host::lan_host(std::size_t index, std::string netns, std::string switch_netns,
                   std::string address)
    : index_(index),
      netns_(std::move(netns)),
      switch_netns_(std::move(switch_netns)),
      address_(std::move(address)) {}

void lan_host::shape(const std::string& netns, const std::string& device,
                     std::optional<std::uint64_t>& current,
                     std::optional<std::uint64_t> bits_per_second) {
  if (bits_per_second) {
    if (*bits_per_second == 0) throw std::invalid_argument("lan_host: a rate of 0 bit/s");
    std::vector<std::string> argv = {"tc", "-n", netns, "qdisc", "replace", "dev", device, "root"};
    const auto bucket = token_bucket(*bits_per_second);
    argv.insert(argv.end(), bucket.begin(), bucket.end());
    must(argv);
  } else if (current) {
    must({"tc", "-n", netns, "qdisc", "del", "dev", device, "root"});
  }
  current = bits_per_second;
}

void lan_host::set_uplink_rate(std::optional<std::uint64_t> bits_per_second) {
  shape(netns_, interface, uplink_rate_, bits_per_second);
}

void lan_host::set_downlink_rate(std::optional<std::uint64_t> bits_per_second) {
  // The bridge's end of this host's veth is named after the host; what it sends, the host gets.
  shape(switch_netns_, "h" + std::to_string(index_), downlink_rate_, bits_per_second);
}

link_counters lan_host::counters() const {
  const auto json = nlohmann::json::parse(
      must({"ip", "-n", netns_, "-s", "-j", "link", "show", "dev", interface}));
  const auto& stats = json.at(0).at("stats64");
  link_counters c;
  c.tx_bytes = stats.at("tx").at("bytes").get<std::uint64_t>();
  c.tx_packets = stats.at("tx").at("packets").get<std::uint64_t>();
  c.rx_bytes = stats.at("rx").at("bytes").get<std::uint64_t>();
  c.rx_packets = stats.at("rx").at("packets").get<std::uint64_t>();
  return c;
}

run_result lan_host::run(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout) const {
  return opendo::test::run(in_netns(netns_, argv), timeout);
}

pid_t lan_host::spawn(const std::vector<std::string>& argv, const spawn_options& options) const {
  return opendo::test::spawn(in_netns(netns_, argv), options);
}

bool lan_host::holds(pid_t pid) const {
  struct stat ours {};
  struct stat theirs {};
  const auto proc = "/proc/" + std::to_string(pid) + "/ns/net";
  if (::stat((netns_dir / netns_).c_str(), &ours) != 0 || ::stat(proc.c_str(), &theirs) != 0) {
    return false;
  }
  return ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino;
}

lan::lan(lan_options options) {
  if (options.hosts == 0 || options.hosts > 253) {
    throw std::invalid_argument("lan: between 1 and 253 hosts, not " +
                                std::to_string(options.hosts));
  }
  const pid_t self = ::getpid();
  const auto started = alive_since(self);
  if (!started) throw std::runtime_error("lan: cannot read /proc/self/stat");
  prefix_ = std::string(name_root) + std::to_string(pid_namespace()) + "-" + std::to_string(self) +
            "-" + std::to_string(*started) + "-" + std::to_string(process_serial()) + "-";
  remove_stale_lans();
  try {
    build(options);
  } catch (...) {
    destroy();
    throw;
  }
}

lan::~lan() {
  destroy();
}

std::vector<std::string> lan::namespaces() const {
  std::vector<std::string> names = {switch_netns_};
  for (const auto& h : hosts_) names.push_back(h.netns());
  return names;
}

void lan::build(const lan_options& options) {
  const auto add = [this](const std::string& name) {
    const run_result r = run({"ip", "netns", "add", name}, 30s);
    if (r.exit_code != 0) {
      throw std::runtime_error(
          "lan: cannot create the network namespace " + name + " (`ip netns add` exit " +
          std::to_string(r.exit_code) + ": " + r.err +
          "). Multi-host tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2.");
    }
    made_.push_back(name);
  };

  switch_netns_ = prefix_ + "sw";
  add(switch_netns_);
  must({"ip", "-n", switch_netns_, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"});
  must({"ip", "-n", switch_netns_, "link", "set", "br0", "up"});

  const std::string subnet = "10.213." + std::to_string(options.subnet) + ".";
  for (std::size_t i = 0; i < options.hosts; ++i) {
    const std::string port = "h" + std::to_string(i);
    lan_host host(i, prefix_ + port, switch_netns_, subnet + std::to_string(i + 1));
    add(host.netns());
    // Both ends are made in their namespaces: neither ever appears in the caller's, so the
    // short fixed names cannot clash with another lan's or the machine's.
    must({"ip", "link", "add", lan_host::interface, "netns", host.netns(), "type", "veth", "peer",
          "name", port, "netns", switch_netns_});
    must({"ip", "-n", switch_netns_, "link", "set", port, "master", "br0", "up"});
    must({"ip", "-n", host.netns(), "link", "set", "lo", "up"});
    must({"ip", "-n", host.netns(), "address", "add", host.address() + "/24", "dev",
          lan_host::interface});
    must({"ip", "-n", host.netns(), "link", "set", lan_host::interface, "up"});
    must({"ip", "-n", host.netns(), "route", "add", "224.0.0.0/4", "dev", lan_host::interface});
    hosts_.push_back(std::move(host));
  }
}

void lan::destroy() noexcept {
  // Hosts first: once they are gone, no veth is left on the bridge.
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    try {
      if (!remove_namespace(*it)) {
        std::fprintf(stderr, "opendo test: lan: could not remove the network namespace %s\n",
                     it->c_str());
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "opendo test: lan: removing %s: %s\n", it->c_str(), e.what());
    }
  }
  made_.clear();
}

std::vector<std::string> remove_stale_lans() {
  std::vector<std::string> removed;
  for (const auto& name : network_namespaces()) {
    const auto c = creator_of(name);
    if (!c || c->pid_namespace != pid_namespace()) continue;
    if (alive_since(c->pid) == c->start) continue;  // its test still runs
    if (remove_namespace(name)) removed.push_back(name);
  }
  return removed;
}

std::vector<std::string> network_namespaces() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(netns_dir, error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace opendo::test
