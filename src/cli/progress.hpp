// How the opendo CLI shows transfers: human sizes and durations, a transfer-rate estimate, progress
// lines, and a block of status lines redrawn in place on a terminal (plain lines elsewhere).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opendo/types.hpp"

namespace opendo::cli {

// "0 B", "512 B", "1.5 KiB", "12.3 MiB"; "?" for size_unknown.
std::string format_bytes(std::uint64_t bytes);
// "0:07", "12:34", "1:02:03", "3d 04h".
std::string format_duration(std::chrono::seconds duration);
// "0x80190194".
std::string format_hresult(std::uint32_t code);
// The certificate errors a job accepts (opendo::tls_exemption bits), as the CLI names them:
// "unknown-ca,date"; "none" for 0.
std::string format_tls_exemptions(std::uint32_t exemptions);
// The other way, from the names given one by one (or "none"); nullopt for an unknown name.
std::optional<std::uint32_t> parse_tls_exemptions(const std::vector<std::string>& names);
// Text from the daemon or other users made safe to print: control characters (which could drive
// the terminal) become '?'.
std::string printable(std::string_view text);
// At most `columns` characters (UTF-8 aware), ending in "…" when shortened.
std::string truncate(std::string_view text, std::size_t columns);
// `text` truncated or padded with spaces to exactly `columns` characters.
std::string pad(std::string_view text, std::size_t columns);

// Transfer rate over the last few seconds of samples.
class rate_meter {
 public:
  using clock = std::chrono::steady_clock;

  void sample(std::uint64_t bytes, clock::time_point now = clock::now());
  // Bytes per second, once there is enough history to say.
  std::optional<double> bytes_per_second() const;
  // Time left to reach `total` at the current rate, when both are known.
  std::optional<std::chrono::seconds> eta(std::uint64_t transferred, std::uint64_t total) const;

 private:
  struct point {
    clock::time_point when;
    std::uint64_t bytes;
  };
  std::deque<point> points_;
};

// "[=====>    ]  45.2%  12.3 MiB / 27.2 MiB  2.1 MiB/s  ETA 0:07". bar_width 0 leaves out the bar;
// an unknown total leaves out bar, percentage and ETA.
std::string progress_text(const job_info& job, const rate_meter& rate, std::size_t bar_width);

// A block of status lines at the bottom of a stream. On a terminal it is redrawn in place and
// messages scroll above it; elsewhere every draw prints its lines and messages are plain lines.
class status_block {
 public:
  explicit status_block(std::FILE* stream);
  status_block(const status_block&) = delete;
  status_block& operator=(const status_block&) = delete;
  ~status_block() { finish(); }

  bool is_terminal() const { return terminal_; }
  // Columns of the terminal (80 when unknown or not a terminal).
  std::size_t columns() const;

  void draw(const std::vector<std::string>& lines);
  // Prints `text` as a line of its own on `stream` (default: the block's stream) above the block.
  void message(const std::string& text, std::FILE* stream = nullptr);
  // Leaves the last drawn block on screen and moves below it.
  void finish();

 private:
  void erase();
  void write_block();

  std::FILE* stream_;
  bool terminal_;
  std::vector<std::string> lines_;
  std::size_t drawn_ = 0;  // lines of the block currently on screen
};

}  // namespace opendo::cli
