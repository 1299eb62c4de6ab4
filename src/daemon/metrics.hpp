// The Prometheus text endpoint: opendod's machine-wide figures (the same as `opendo perfsnap`)
// as counters and gauges named by Prometheus conventions, served over HTTP on a loopback address
// (daemon/http_endpoint.hpp). Off unless `--metrics-listen` is given (see docs/configuration.md).
#pragma once

#include <string>

#include "daemon/http_endpoint.hpp"
#include "opendo/types.hpp"

namespace opendo::daemon {

// The exposition text (format 0.0.4) of `stats`. Pure.
std::string prometheus_text(const machine_statistics& stats);

// The answer to `request` on the metrics address: `GET /metrics` only.
http_reply metrics_reply(const http_request& request, const machine_statistics& stats);

}  // namespace opendo::daemon
