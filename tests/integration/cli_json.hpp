// `opendo --json ...` for the end-to-end tests that read the CLI's machine-readable output.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/daemon.hpp"

namespace opendo::test {

// `opendo --json ARGS...` against the daemon, expected to succeed, and its output parsed.
inline nlohmann::json cli_json(const daemon_process& daemon, const std::vector<std::string>& args) {
  std::vector<std::string> with_json = {"--json"};
  with_json.insert(with_json.end(), args.begin(), args.end());
  const auto result = daemon.cli(with_json);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return nlohmann::json::parse(result.out);
}

}  // namespace opendo::test
