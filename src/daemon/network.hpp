// The cost of the network the machine uses now (jobs/network_cost.hpp), read from the kernel's
// routing tables: the interface of the default route (IPv4's, and IPv6's: the costlier of the
// two), named metered or cellular by [network].
// Works without NetworkManager. The table is read again at most every kRefresh, which costs a
// few microseconds, so a change of network is noticed within that time.
#pragma once

#include <chrono>
#include <string>

#include "jobs/job.hpp"
#include "jobs/network_cost.hpp"

namespace opendo::daemon {

class network_monitor {
 public:
  static constexpr std::chrono::seconds kRefresh{2};

  // The tables are /proc/net/route and /proc/net/ipv6_route, or the files OPENDO_TEST_ROUTE_FILE
  // and OPENDO_TEST_ROUTE6_FILE name (tests only: they fake the network of one daemon, and with
  // the first alone no IPv6 table is read; docs/testing.md).
  explicit network_monitor(jobs::network_cost_rules rules);

  // Reads the table again when kRefresh passed since the last read (or `force`). True when the
  // default route's interface or the network's cost changed.
  bool refresh(jobs::mono_time now, bool force = false);
  jobs::network_cost cost() const { return cost_; }
  bool metered() const { return cost_ != jobs::network_cost::unrestricted; }
  // Empty when there is no default route.
  const std::string& interface() const { return interface_; }

 private:
  jobs::network_cost_rules rules_;
  std::string table_path_;
  std::string table_v6_path_;  // empty: none is read
  jobs::mono_time read_at_{};
  bool read_ = false;
  std::string interface_;
  jobs::network_cost cost_ = jobs::network_cost::unrestricted;
};

}  // namespace opendo::daemon
