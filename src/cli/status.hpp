// What `opendo status` and `opendo perfsnap` show: the rows of Delivery Optimization's
// Get-DeliveryOptimizationStatus built from job snapshots, the figures of
// Get-DeliveryOptimizationPerfSnap, as tables for people and JSON for scripts. No I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "opendo/types.hpp"

namespace opendo::cli {

// One file of one job, with DO's per-file status fields.
struct file_status {
  std::string file_id;  // "<job id>/<file index>"
  std::string job_id;
  std::uint32_t file_index = 0;
  std::uint32_t owner_uid = 0;
  std::string source_url;
  std::string local_name;
  std::uint64_t file_size = size_unknown;  // bytes_total (range bytes for a ranged file)
  std::uint64_t bytes_transferred = 0;     // recorded in the file now
  source_stats sources;
  std::string_view status;  // "Downloading", "Complete", "Paused", ... (see file_status_name)
  std::string download_mode;
  // DO's Priority: "Foreground" for FOREGROUND jobs, else "Background".
  std::string_view priority;
};

// The Status of a file: "Complete" once it has all its bytes; else from its job's state:
// QUEUED "Queued", CONNECTING/TRANSFERRING "Downloading" for the file being transferred (the
// first one not complete) and "Queued" for those after it, SUSPENDED "Paused", ERROR "Error",
// TRANSIENT_ERROR "Retrying", CANCELLED "Cancelled".
std::string_view file_status_name(job_state state, bool completed, bool is_current_file);

// Every file of every job, in the order given. download_mode is the daemon's (GetStatistics);
// a file without content metadata is "HttpOnly" whatever it is.
std::vector<file_status> file_statuses(const std::vector<job_info>& jobs,
                                       std::string_view download_mode);

// "0%", "12.5%", "100%" from hundredths of a percent (rounded down to a tenth).
std::string format_percent(std::uint32_t hundredths);
// "12.3 s", "1:02:03" from milliseconds: seconds with a tenth below a minute.
std::string format_duration_ms(std::uint64_t ms);

// The table of `opendo status`: a header line and one line per file ("no files" when empty).
std::vector<std::string> status_table(const std::vector<file_status>& files, bool with_owner);
nlohmann::json to_json(const file_status& file);

// The table of `opendo status --peers` (Get-DeliveryOptimizationStatus's peer view): a header line
// and one line per connected peer ("no peers" when empty).
std::vector<std::string> peer_table(const std::vector<peer_connection>& peers);
nlohmann::json to_json(const peer_connection& peer);

// The lines of `opendo perfsnap`: "label: value" pairs, aligned.
std::vector<std::string> perfsnap_lines(const machine_statistics& stats);
nlohmann::json perfsnap_json(const machine_statistics& stats);

}  // namespace opendo::cli
