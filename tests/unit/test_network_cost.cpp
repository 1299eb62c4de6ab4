// The network's cost from the default route's interface (src/jobs/network_cost.hpp): glob lists
// as the configuration gives them, classification, and /proc/net/route as the kernel writes it.
#include "jobs/network_cost.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace opendo::jobs;
using strings = std::vector<std::string>;

// A real table (Debian 12, Wi-Fi default route, a VPN, a docker bridge), with a metric of 600.
constexpr const char* kTable =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "wlp2s0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    "wlp2s0\t0002A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
    "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

TEST(NetworkCost, GlobListsParse) {
  EXPECT_EQ(parse_interface_globs(""), strings{});
  EXPECT_EQ(parse_interface_globs("  "), strings{});
  EXPECT_EQ(parse_interface_globs("ww*"), strings{"ww*"});
  EXPECT_EQ(parse_interface_globs(" wwan0 , usb? ,enx*,tun.1@x:y-z"),
            (strings{"wwan0", "usb?", "enx*", "tun.1@x:y-z"}));
}

TEST(NetworkCost, BadGlobListsAreRefused) {
  for (const char* bad : {",", "a,,b", "a,", "eth 0", "eth[0]", "a/b", "x\n", "caf\xc3\xa9"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_interface_globs(bad).has_value());
  }
  EXPECT_FALSE(parse_interface_globs(std::string(65, 'a')).has_value());
  EXPECT_TRUE(parse_interface_globs(std::string(64, 'a')).has_value());
  std::string many = "a";
  for (int i = 1; i < 32; ++i) many += ",a";
  EXPECT_TRUE(parse_interface_globs(many).has_value());
  EXPECT_FALSE(parse_interface_globs(many + ",a").has_value());
}

TEST(NetworkCost, CellularByDefaultIsTheWwanPrefix) {
  const network_cost_rules defaults;
  EXPECT_EQ(classify("wwan0", defaults), network_cost::cellular);
  EXPECT_EQ(classify("wwp0s20f0u6", defaults), network_cost::cellular);
  EXPECT_EQ(classify("eth0", defaults), network_cost::unrestricted);
  EXPECT_EQ(classify("wlp2s0", defaults), network_cost::unrestricted);
  EXPECT_EQ(classify("", defaults), network_cost::unrestricted) << "no default route";
}

TEST(NetworkCost, MeteredGlobsAndCellularFirst) {
  network_cost_rules rules;
  rules.metered_interfaces = {"usb*", "enx0a?b"};
  rules.cellular_interfaces = {"ww*", "usb1"};
  EXPECT_EQ(classify("usb0", rules), network_cost::metered);
  EXPECT_EQ(classify("usb1", rules), network_cost::cellular);
  EXPECT_EQ(classify("enx0a1b", rules), network_cost::metered);
  EXPECT_EQ(classify("enx0a12b", rules), network_cost::unrestricted);
  EXPECT_EQ(classify("eth0", rules), network_cost::unrestricted);
  rules.cellular_interfaces.clear();
  EXPECT_EQ(classify("wwan0", rules), network_cost::unrestricted) << "no cellular globs";
}

TEST(NetworkCost, TheDefaultRouteOfTheKernelsTable) {
  EXPECT_EQ(default_route_interface(kTable), "wlp2s0");
}

TEST(NetworkCost, TheLowestMetricWinsAndDownRoutesDoNotCount) {
  const std::string header =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
  EXPECT_EQ(default_route_interface(
                header + "wwan0\t00000000\t0101A8C0\t0003\t0\t0\t700\t00000000\t0\t0\t0\n"
                         "eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"),
            "eth0");
  EXPECT_EQ(default_route_interface(
                header + "eth0\t00000000\t0102A8C0\t0002\t0\t0\t100\t00000000\t0\t0\t0\n"
                         "wwan0\t00000000\t0101A8C0\t0003\t0\t0\t700\t00000000\t0\t0\t0\n"),
            "wwan0")
      << "a route without RTF_UP is not used";
  EXPECT_FALSE(default_route_interface(
                   header + "eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
                   .has_value())
      << "no default route";
}

TEST(NetworkCost, TextThatIsNotTheTableHasNoDefaultRoute) {
  EXPECT_FALSE(default_route_interface("").has_value());
  EXPECT_FALSE(default_route_interface("eth0 00000000 0 3 0 0 0 00000000\n").has_value());
  const std::string header =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
  EXPECT_FALSE(default_route_interface(header + "eth0\tzz\t0\t3\t0\t0\t0\t00000000\n").has_value());
  EXPECT_FALSE(default_route_interface(header + "eth0\t00000000\n").has_value());
}

}  // namespace

// /proc/net/ipv6_route as the kernel writes it: 32 hex digits per address, no header. The
// unreachable default route the kernel keeps on lo (RTF_REJECT) is no way out.
TEST(NetworkCost, TheIpv6DefaultRouteOfTheKernelsTable) {
  const std::string zero(32, '0');
  const std::string gateway = "fe800000000000000000000000000001";
  auto line = [&](const std::string& dest, const std::string& prefix, const std::string& metric,
                  const std::string& flags, const std::string& iface) {
    return dest + " " + prefix + " " + zero + " 00 " + gateway + " " + metric +
           " 00000001 00000000 " + flags + " " + iface + "\n";
  };
  const std::string table =
      line("fd000000000000000000000000000000", "40", "00000100", "00000001", "eth0") +
      line(zero, "00", "00000400", "00000003", "wwan0") +
      line(zero, "00", "00000100", "00000003", "wlan0") +
      line(zero, "00", "00000000", "00200200", "lo");
  EXPECT_EQ(default_route_interface_v6(table), "wlan0") << "the lowest metric, lo's reject aside";
  EXPECT_EQ(default_route_interface_v6(line(zero, "00", "00000400", "00000002", "wwan0") +
                                       line(zero, "00", "ffffffff", "00200200", "lo")),
            std::nullopt)
      << "a route that is not up, and the unreachable one";
  EXPECT_EQ(default_route_interface_v6(line(zero, "00", "00000400", "00000003", "wwan0")), "wwan0");
  EXPECT_FALSE(default_route_interface_v6("").has_value());
  EXPECT_FALSE(default_route_interface_v6("not the table\n").has_value());
  EXPECT_FALSE(default_route_interface_v6(line(zero, "00", "zz", "00000003", "eth0")).has_value());
}

TEST(NetworkCost, TheCostlierOfTwoNetworks) {
  EXPECT_EQ(costlier(network_cost::unrestricted, network_cost::metered), network_cost::metered);
  EXPECT_EQ(costlier(network_cost::cellular, network_cost::metered), network_cost::cellular);
  EXPECT_EQ(costlier(network_cost::unrestricted, network_cost::unrestricted),
            network_cost::unrestricted);
}
