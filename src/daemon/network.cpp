#include "daemon/network.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace opendo::daemon {

namespace {

// /proc/net/route has a line per route; 64 KiB is hundreds of them.
constexpr std::size_t kMaxTable = 64 * 1024;

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
  table_path_ = fake != nullptr && *fake != '\0' ? fake : "/proc/net/route";
}

bool network_monitor::refresh(jobs::mono_time now, bool force) {
  if (read_ && !force && now - read_at_ < kRefresh) return false;
  const bool first = !read_;
  read_ = true;
  read_at_ = now;
  const std::string interface =
      jobs::default_route_interface(read_table(table_path_)).value_or(std::string());
  const jobs::network_cost cost = jobs::classify(interface, rules_);
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
