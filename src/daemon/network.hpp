// The cost of the network the machine uses now (jobs/network_cost.hpp), read from the kernel's
// routing table: the interface of the default route, named metered or cellular by [network].
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

  // The table is /proc/net/route, or the file OPENDO_TEST_ROUTE_FILE names (tests only: it
  // fakes the network of one daemon; docs/testing.md).
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
  jobs::mono_time read_at_{};
  bool read_ = false;
  std::string interface_;
  jobs::network_cost cost_ = jobs::network_cost::unrestricted;
};

}  // namespace opendo::daemon
