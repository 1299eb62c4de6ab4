#include "jobs/ranges.hpp"

#include <algorithm>

#include "opendo/hresult.hpp"

namespace opendo::jobs {
namespace {

range_check refuse(hr code, std::string message) {
  return {value_of(code), std::move(message)};
}

bool runs_to_end(const byte_range& r) {
  return r.length == length_to_eof;
}

// The length of a range once the remote size is known (or the length as given).
std::uint64_t length_of(const byte_range& r, std::uint64_t remote_size) {
  if (!runs_to_end(r)) return r.length;
  if (remote_size == size_unknown) return size_unknown;
  return remote_size > r.offset ? remote_size - r.offset : 0;
}

}  // namespace

range_check check_ranges(std::vector<byte_range>& ranges, range_layout layout,
                         std::uint32_t max_ranges) {
  if (ranges.size() > max_ranges) {
    return refuse(hr::bg_e_too_many_ranges_in_file,
                  "a file may have at most " + std::to_string(max_ranges) + " ranges, not " +
                      std::to_string(ranges.size()));
  }
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const byte_range& r = ranges[i];
    if (r.length == 0 || r.offset == length_to_eof ||
        (!runs_to_end(r) && r.offset > length_to_eof - r.length)) {
      return refuse(hr::bg_e_invalid_range, "range " + std::to_string(i) + " (offset " +
                                                std::to_string(r.offset) + ") is not valid");
    }
  }
  std::vector<byte_range> sorted = ranges;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const byte_range& a, const byte_range& b) { return a.offset < b.offset; });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    const byte_range& before = sorted[i - 1];
    if (runs_to_end(before) || sorted[i].offset < before.offset + before.length) {
      return refuse(hr::bg_e_overlapping_ranges, "the ranges at offsets " +
                                                     std::to_string(before.offset) + " and " +
                                                     std::to_string(sorted[i].offset) + " overlap");
    }
  }
  if (layout == range_layout::in_place) ranges = std::move(sorted);
  return {};
}

range_check check_ranges_fit(const std::vector<byte_range>& ranges, std::uint64_t remote_size) {
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const byte_range& r = ranges[i];
    if (r.offset >= remote_size || (!runs_to_end(r) && r.offset + r.length > remote_size)) {
      return refuse(hr::bg_e_invalid_range,
                    "range " + std::to_string(i) + " (bytes " + std::to_string(r.offset) +
                        (runs_to_end(r) ? "-end" : "-" + std::to_string(r.offset + r.length - 1)) +
                        ") lies beyond the end of the remote file, which has " +
                        std::to_string(remote_size) + " bytes");
    }
  }
  return {};
}

std::uint64_t ranges_total(const std::vector<byte_range>& ranges, std::uint64_t remote_size) {
  std::uint64_t total = 0;
  for (const byte_range& r : ranges) {
    const std::uint64_t length = length_of(r, remote_size);
    if (length == size_unknown) return size_unknown;
    total += length;
  }
  return total;
}

std::optional<range_request> next_range_request(const std::vector<byte_range>& ranges,
                                                range_layout layout, std::uint64_t remote_size,
                                                std::uint64_t progress) {
  std::uint64_t before = 0;  // range bytes in the ranges before this one
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const byte_range& r = ranges[i];
    const std::uint64_t length = length_of(r, remote_size);
    if (length != size_unknown && progress >= before + length) {
      before += length;
      continue;
    }
    const std::uint64_t done = progress - before;
    range_request next;
    next.index = i;
    next.first = r.offset + done;
    next.last = length == size_unknown ? size_unknown : r.offset + length - 1;
    next.local_offset = layout == range_layout::in_place ? next.first : progress;
    return next;
  }
  return std::nullopt;
}

}  // namespace opendo::jobs
