#include "daemon/network.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace opendo::daemon {

namespace {

// /proc/net/route and /proc/net/ipv6_route have a line per route; 64 KiB is hundreds of them.
constexpr std::size_t kMaxTable = std::size_t{64} * 1024;

std::string read_table(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  text.resize(kMaxTable);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

}  // namespace

network_monitor::network_monitor(jobs::network_cost_rules rules) : rules_(std::move(rules)) {
  const char* fake = std::getenv("OPENDO_TEST_ROUTE_FILE");
  const char* fake_v6 = std::getenv("OPENDO_TEST_ROUTE6_FILE");
  const bool faked = fake != nullptr && *fake != '\0';
  table_path_ = faked ? fake : "/proc/net/route";
  // A faked network is the test's alone: the machine's IPv6 table must not leak into it.
  if (fake_v6 != nullptr && *fake_v6 != '\0') {
    table_v6_path_ = fake_v6;
  } else if (!faked) {
    table_v6_path_ = "/proc/net/ipv6_route";
  }
}

bool network_monitor::refresh(jobs::mono_time now, bool force) {
  if (read_ && !force && now - read_at_ < kRefresh) return false;
  const bool first = !read_;
  read_ = true;
  read_at_ = now;
  // Traffic leaves by the IPv4 or the IPv6 default route, whichever its peer's address needs:
  // the costlier of the two is the network's cost, so nothing is served on a metered link.
  std::string interface =
      jobs::default_route_interface(read_table(table_path_)).value_or(std::string());
  jobs::network_cost cost = jobs::classify(interface, rules_);
  if (!table_v6_path_.empty()) {
    const std::string v6 =
        jobs::default_route_interface_v6(read_table(table_v6_path_)).value_or(std::string());
    const jobs::network_cost v6_cost = jobs::classify(v6, rules_);
    if (interface.empty() || (v6_cost != cost && jobs::costlier(v6_cost, cost) == v6_cost)) {
      interface = v6;
      cost = v6_cost;
    }
  }
  if (!first && interface == interface_ && cost == cost_) return false;
  interface_ = interface;
  cost_ = cost;
  spdlog::info("network: {} ({})",
               interface_.empty() ? std::string("no default route")
                                  : "the default route goes through " + interface_,
               jobs::to_string(cost_));
  return true;
}

}  // namespace opendo::daemon
