// HRESULT values and messages: the numbers match Windows and every code says what happened.
#include <gtest/gtest.h>

#include "opendo/hresult.hpp"

using opendo::hr;

TEST(Hresult, ValuesMatchWindows) {
  EXPECT_EQ(opendo::value_of(hr::bg_e_not_found), 0x80200001U);
  EXPECT_EQ(opendo::value_of(hr::bg_s_partial_complete), 0x00200017U);
  EXPECT_EQ(opendo::value_of(hr::e_invalidarg), 0x80070057U);
  EXPECT_EQ(opendo::hresult_from_http_status(404), 0x80190194U);
  EXPECT_EQ(opendo::hresult_from_http_status(503), 0x801901F7U);
  EXPECT_EQ(opendo::hresult_from_win32(5), opendo::value_of(hr::e_accessdenied));
}

TEST(Hresult, MessagesSayWhatHappened) {
  EXPECT_EQ(opendo::describe(0x80200001U), "The requested job was not found.");
  EXPECT_NE(opendo::describe(0x80190194U).find("404"), std::string::npos);
  EXPECT_NE(opendo::describe(0x80190194U).find("Not Found"), std::string::npos);
  EXPECT_EQ(opendo::describe(0x8123ABCDU), "Error 0x8123ABCD.");
}

TEST(Hresult, ErrorCodesCarryTheHresult) {
  std::error_code code = hr::bg_e_invalid_state;
  EXPECT_EQ(static_cast<std::uint32_t>(code.value()), 0x80200002U);
  EXPECT_STREQ(code.category().name(), "hresult");
  opendo::error err(0x80200003U, "job {X}");
  EXPECT_EQ(err.hresult(), 0x80200003U);
  EXPECT_NE(std::string(err.what()).find("There are no files attached to this job."),
            std::string::npos);
}

TEST(Hresult, SuccessAndFailure) {
  EXPECT_TRUE(opendo::succeeded(0x00200017U));
  EXPECT_TRUE(opendo::failed(0x80200002U));
}
