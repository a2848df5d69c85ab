#include "common/byte_size.h"

#include <gtest/gtest.h>

namespace servelab {
namespace {

TEST(ByteSize, ParsesDecimalAndBinaryUnits) {
  EXPECT_EQ(*parse_byte_size("4096"), 4096u);
  EXPECT_EQ(*parse_byte_size("512MiB"), 512ull << 20);
  EXPECT_EQ(*parse_byte_size("1.5GiB"), 3ull << 29);
  EXPECT_EQ(*parse_byte_size("64MB"), 64'000'000u);
  EXPECT_EQ(*parse_byte_size("2 KiB"), 2048u);
  EXPECT_FALSE(parse_byte_size("").ok());
  EXPECT_FALSE(parse_byte_size("-1MiB").ok());
  EXPECT_FALSE(parse_byte_size("12 parsecs").ok());
  EXPECT_FALSE(parse_byte_size("99999999TiB").ok());
  EXPECT_EQ(format_byte_size(512ull << 20), "512 MiB");
  EXPECT_EQ(format_byte_size(100), "100 B");
}

}  // namespace
}  // namespace servelab
