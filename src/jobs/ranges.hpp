// Byte ranges of a file (AddFileWithRanges, IDODownload::Start with ranges): checking what a
// client asks for, and mapping a file's progress to the next HTTP range request and the place in
// the local file where its bytes go. Pure logic; no I/O.
//
// Progress of a ranged file is one number, the range bytes received so far, taken in the order of
// the file's ranges. That is enough to resume after a crash: ranges are fetched one after another
// and both layouts put a range's bytes after those of the ranges before it, so the local file
// never holds useful bytes beyond the point the progress names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "opendo/types.hpp"

namespace opendo::jobs {

struct range_check {
  std::uint32_t code = 0;  // S_OK, BG_E_INVALID_RANGE, BG_E_OVERLAPPING_RANGES,
                           // BG_E_TOO_MANY_RANGES_IN_FILE
  std::string message;
  bool ok() const { return code == 0; }
};

// Checks ranges a client gives for a file, and sorts them by offset for the in_place layout.
// Refused: more than max_ranges; an empty range; an offset of length_to_eof or a range whose end
// overflows; ranges that overlap or repeat once sorted by offset (so only the last one by offset
// may run to the end of the file). The concatenated layout keeps the order given.
range_check check_ranges(std::vector<byte_range>& ranges, range_layout layout,
                         std::uint32_t max_ranges);

// Checks the ranges against the size of the remote file once it is known: BG_E_INVALID_RANGE
// when one starts at or beyond the end, or ends beyond it.
range_check check_ranges_fit(const std::vector<byte_range>& ranges, std::uint64_t remote_size);

// The number of bytes the ranges hold: size_unknown when one runs to the end of the file and
// the remote size is not known yet.
std::uint64_t ranges_total(const std::vector<byte_range>& ranges, std::uint64_t remote_size);

// What to fetch next for a ranged file that has `progress` range bytes already.
struct range_request {
  std::size_t index = 0;              // the range being fetched
  std::uint64_t first = 0;            // first remote byte to ask for
  std::uint64_t last = size_unknown;  // last remote byte to ask for; size_unknown: to the end
  std::uint64_t local_offset = 0;     // where that first byte goes in the local file
};

// nullopt when every range is complete. A range that runs to the end of a file of unknown size is
// asked for as "first-" until the size is known.
std::optional<range_request> next_range_request(const std::vector<byte_range>& ranges,
                                                range_layout layout, std::uint64_t remote_size,
                                                std::uint64_t progress);

}  // namespace opendo::jobs
