// Byte ranges (jobs/ranges.hpp): what a client may ask for, and which request comes next.
#include "jobs/ranges.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "opendo/hresult.hpp"

using namespace opendo;
using namespace opendo::jobs;

namespace {

constexpr std::uint32_t kMax = 500;
constexpr auto eof = length_to_eof;

std::uint32_t check(std::vector<byte_range> ranges,
                    range_layout layout = range_layout::concatenated) {
  return check_ranges(ranges, layout, kMax).code;
}

}  // namespace

TEST(Ranges, AcceptsDisjointRangesInAnyOrderForTheConcatenatedLayout) {
  std::vector<byte_range> ranges{{100, 100}, {900, 100}, {400, 100}};
  EXPECT_TRUE(check_ranges(ranges, range_layout::concatenated, kMax).ok());
  // The order given is the order of the bytes in the local file (BITS's example).
  EXPECT_EQ(ranges, (std::vector<byte_range>{{100, 100}, {900, 100}, {400, 100}}));
}

TEST(Ranges, SortsRangesByOffsetForTheInPlaceLayout) {
  std::vector<byte_range> ranges{{900, eof}, {100, 100}, {400, 100}};
  EXPECT_TRUE(check_ranges(ranges, range_layout::in_place, kMax).ok());
  EXPECT_EQ(ranges, (std::vector<byte_range>{{100, 100}, {400, 100}, {900, eof}}));
}

TEST(Ranges, RefusesEmptyRangesAndImpossibleOffsets) {
  EXPECT_EQ(check({{0, 0}}), value_of(hr::bg_e_invalid_range));
  EXPECT_EQ(check({{eof, 10}}), value_of(hr::bg_e_invalid_range));
  EXPECT_EQ(check({{eof - 5, 10}}), value_of(hr::bg_e_invalid_range));  // its end overflows
  EXPECT_EQ(check({{10, 5}, {20, 0}}), value_of(hr::bg_e_invalid_range));
}

TEST(Ranges, RefusesOverlapsAndRepeatsWhateverTheOrder) {
  EXPECT_EQ(check({{0, 10}, {5, 10}}), value_of(hr::bg_e_overlapping_ranges));
  EXPECT_EQ(check({{5, 10}, {0, 10}}), value_of(hr::bg_e_overlapping_ranges));
  EXPECT_EQ(check({{7, 3}, {7, 3}}), value_of(hr::bg_e_overlapping_ranges));
  // The reference's example: offset 100 length 5, then offset 100 length 0 -> still refused.
  EXPECT_NE(check({{100, 5}, {100, 1}}), 0U);
  // Touching is not overlapping.
  EXPECT_EQ(check({{0, 10}, {10, 10}}), 0U);
}

TEST(Ranges, OnlyTheLastRangeByOffsetMayRunToTheEnd) {
  EXPECT_EQ(check({{0, 10}, {50, eof}}), 0U);
  EXPECT_EQ(check({{50, eof}, {0, 10}}), 0U);  // last by offset, first as given
  EXPECT_EQ(check({{0, eof}, {50, 10}}), value_of(hr::bg_e_overlapping_ranges));
}

TEST(Ranges, RefusesMoreThanTheLimit) {
  std::vector<byte_range> many;
  for (std::uint64_t i = 0; i <= kMax; ++i) many.push_back({i * 10, 5});
  EXPECT_EQ(check(many), value_of(hr::bg_e_too_many_ranges_in_file));
  many.pop_back();
  EXPECT_EQ(check(many), 0U);
}

TEST(Ranges, FitAgainstTheRemoteSize) {
  EXPECT_TRUE(check_ranges_fit({{0, 10}, {90, 10}}, 100).ok());
  EXPECT_TRUE(check_ranges_fit({{99, eof}}, 100).ok());
  EXPECT_EQ(check_ranges_fit({{90, 11}}, 100).code, value_of(hr::bg_e_invalid_range));
  EXPECT_EQ(check_ranges_fit({{100, eof}}, 100).code, value_of(hr::bg_e_invalid_range));
  EXPECT_EQ(check_ranges_fit({{0, 1}, {200, 1}}, 100).code, value_of(hr::bg_e_invalid_range));
}

TEST(Ranges, TotalIsKnownOnceEveryLengthIs) {
  EXPECT_EQ(ranges_total({{0, 10}, {50, 5}}, size_unknown), 15U);
  EXPECT_EQ(ranges_total({{0, 10}, {50, eof}}, size_unknown), size_unknown);
  EXPECT_EQ(ranges_total({{0, 10}, {50, eof}}, 80), 40U);
}

TEST(Ranges, NextRequestWalksTheRangesInOrderConcatenated) {
  const std::vector<byte_range> ranges{{100, 100}, {900, 100}, {400, 100}};
  auto next = next_range_request(ranges, range_layout::concatenated, 1000, 0);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->index, 0U);
  EXPECT_EQ(next->first, 100U);
  EXPECT_EQ(next->last, 199U);
  EXPECT_EQ(next->local_offset, 0U);
  next = next_range_request(ranges, range_layout::concatenated, 1000, 130);  // a resume
  ASSERT_TRUE(next);
  EXPECT_EQ(next->index, 1U);
  EXPECT_EQ(next->first, 930U);
  EXPECT_EQ(next->last, 999U);
  EXPECT_EQ(next->local_offset, 130U);
  next = next_range_request(ranges, range_layout::concatenated, 1000, 200);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first, 400U);
  EXPECT_EQ(next->local_offset, 200U);
  EXPECT_FALSE(next_range_request(ranges, range_layout::concatenated, 1000, 300));
}

TEST(Ranges, NextRequestPutsBytesAtTheirOffsetsInPlace) {
  const std::vector<byte_range> ranges{{100, 100}, {400, eof}};
  auto next = next_range_request(ranges, range_layout::in_place, size_unknown, 100);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first, 400U);
  EXPECT_EQ(next->last, size_unknown);  // to the end of a file of unknown size
  EXPECT_EQ(next->local_offset, 400U);
  next = next_range_request(ranges, range_layout::in_place, 1000, 170);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first, 470U);
  EXPECT_EQ(next->last, 999U);
  EXPECT_EQ(next->local_offset, 470U);
  EXPECT_FALSE(next_range_request(ranges, range_layout::in_place, 1000, 700));
}
