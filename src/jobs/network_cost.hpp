// What the network the machine uses now costs, without NetworkManager: the interface that
// carries the default route, named as metered or cellular by the daemon's configuration
// ([network] metered_interfaces, cellular_interfaces: shell globs such as "ww*"). Pure logic;
// the daemon reads the routing tables (/proc/net/route, /proc/net/ipv6_route) and hands their
// text in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opendo::jobs {

// Cellular is metered too (Windows' NLM_CONNECTION_COST_VARIABLE with a mobile interface).
enum class network_cost { unrestricted, metered, cellular };

std::string_view to_string(network_cost cost);

struct network_cost_rules {
  std::vector<std::string> metered_interfaces;
  // "ww*": systemd's predictable names give WWAN (mobile broadband) interfaces the prefix "ww".
  std::vector<std::string> cellular_interfaces = {"ww*"};
  friend bool operator==(const network_cost_rules&, const network_cost_rules&) = default;
};

// "glob, glob, ..." -> the globs (spaces around each ignored; an empty text is none). nullopt
// when an entry is empty, longer than 64 bytes, holds a character outside [A-Za-z0-9_.:@*?-]
// (interface names are at most 15 bytes of such characters; brackets are not taken, so a glob is
// only '*' and '?'), or there are more than 32.
std::optional<std::vector<std::string>> parse_interface_globs(std::string_view text);

// The cost of a network reached through `interface`: cellular when a cellular glob matches it,
// else metered when a metered glob does, else unrestricted. No interface (no default route):
// unrestricted, since nothing is transferred anyway.
network_cost classify(std::string_view interface, const network_cost_rules& rules);

// The interface of the IPv4 default route in the text of /proc/net/route: the line with
// destination and mask 00000000 and the RTF_UP flag, the lowest metric winning (the kernel's
// choice). nullopt when there is none or the text is not that table.
std::optional<std::string> default_route_interface(std::string_view proc_net_route);

// The same for IPv6, in the text of /proc/net/ipv6_route: the line with destination ::/0, RTF_UP
// and not RTF_REJECT (the kernel's "unreachable" default on lo), the lowest metric winning.
std::optional<std::string> default_route_interface_v6(std::string_view proc_net_ipv6_route);

// The costlier of two: cellular, then metered, then unrestricted.
network_cost costlier(network_cost a, network_cost b);

}  // namespace opendo::jobs
