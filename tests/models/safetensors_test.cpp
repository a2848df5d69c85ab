#include "models/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "model_test_util.h"
#include "support/temp_dir.h"

namespace servelab::models {
namespace {

using ::testing::HasSubstr;

// A file from a literal header and data section.
std::string file_with(std::string_view header, std::string_view data = {}) {
  const uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  out += header;
  out += data;
  return out;
}

// The error message parse() gives for `bytes`; fails the test if it parses.
std::string parse_error(std::string bytes) {
  auto st = Safetensors::parse(std::move(bytes));
  EXPECT_FALSE(st.ok()) << "expected a parse error";
  return st.ok() ? std::string() : st.error().message;
}

TEST(Safetensors, RoundTripKeepsTensorsValuesAndMetadata) {
  const std::vector<F32Tensor> tensors{
      {"layers.0.weight", {2, 3}, {1.0f, -2.5f, 3.0f, 0.0f, 1e-7f, -1e30f}},
      {"layers.0.bias", {2}, {0.5f, -0.5f}},
      {"empty", {0, 4}, {}},
  };
  const std::string bytes = serialize_safetensors(tensors, {{"format", "pt"}, {"seed", "42"}});
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u) << "data section must start 8-byte aligned";

  auto st = Safetensors::parse(bytes);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(st->tensors().size(), 3u);
  for (const auto& t : tensors) {
    const TensorInfo* info = st->find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->dtype, Dtype::F32);
    EXPECT_EQ(info->shape, t.shape);
    auto values = st->floats(t.name);
    ASSERT_TRUE(values.ok()) << values.error().message;
    EXPECT_EQ(*values, t.values) << t.name;
  }
  const std::map<std::string, std::string> want{{"format", "pt"}, {"seed", "42"}};
  EXPECT_EQ(st->metadata(), want);
  EXPECT_EQ(st->data(*st->find("layers.0.bias")).size(), 8u);
}

TEST(Safetensors, AcceptsHeaderPaddedWithSpacesAndOtherDtypes) {
  auto st = Safetensors::parse(file_with(
      R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})"
      "      ",
      std::string(12, '\x01')));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->find("a")->dtype, Dtype::I64);
  EXPECT_EQ(st->find("b")->dtype, Dtype::BF16);
  auto f = st->floats("a");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.error().message, HasSubstr("tensor 'a' is I64, expected F32"));
}

TEST(Safetensors, RejectsFileShorterThanLengthPrefix) {
  EXPECT_THAT(parse_error("abc"),
              HasSubstr("file is 3 bytes, too short for the 8-byte header length"));
}

TEST(Safetensors, RejectsTruncatedFile) {
  std::string bytes = serialize_safetensors({{"w", {4}, {1, 2, 3, 4}}});
  bytes.resize(bytes.size() - 4);
  EXPECT_THAT(parse_error(bytes),
              HasSubstr("tensor 'w': data_offsets [0, 16] run past the data section (12 bytes)"));
}

TEST(Safetensors, RejectsHeaderLengthPastEndOfFile) {
  std::string bytes = file_with("{}");
  const uint64_t n = 1000;
  std::memcpy(bytes.data(), &n, 8);
  EXPECT_THAT(parse_error(bytes), HasSubstr("header length 1000 exceeds file size 10"));
}

TEST(Safetensors, RejectsHeaderLengthOverLimit) {
  std::string bytes = file_with("{}");
  const uint64_t n = 1ULL << 40;
  std::memcpy(bytes.data(), &n, 8);
  EXPECT_THAT(parse_error(bytes), HasSubstr("exceeds the 100000000 byte limit"));
}

TEST(Safetensors, RejectsBadJson) {
  EXPECT_THAT(parse_error(file_with(R"({"w": {"dtype": )")), HasSubstr("header is not valid JSON"));
  EXPECT_THAT(parse_error(file_with("[1, 2]")), HasSubstr("header is not a JSON object"));
}

TEST(Safetensors, RejectsUnknownDtype) {
  EXPECT_THAT(
      parse_error(file_with(R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "x")),
      HasSubstr("tensor 'w': unknown dtype 'Q4' (valid: BOOL, U8"));
}

TEST(Safetensors, RejectsMissingOrMistypedFields) {
  EXPECT_THAT(parse_error(file_with(R"({"w":{"dtype":"F32","shape":[1]}})")),
              HasSubstr("tensor 'w': missing \"data_offsets\""));
  EXPECT_THAT(
      parse_error(file_with(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd")),
      HasSubstr("tensor 'w': shape [-1] has a dimension that is not a non-negative integer"));
  EXPECT_THAT(
      parse_error(file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "abcd")),
      HasSubstr("tensor 'w': \"data_offsets\" is not an array [begin, end]"));
  EXPECT_THAT(parse_error(file_with(R"({"w":7})")),
              HasSubstr("tensor 'w': entry is not a JSON object"));
}

TEST(Safetensors, RejectsOffsetsOutOfRange) {
  EXPECT_THAT(parse_error(file_with(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                    std::string(8, '\0'))),
              HasSubstr("tensor 'w': data_offsets [0, 16] run past the data section (8 bytes)"));
  EXPECT_THAT(parse_error(file_with(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})",
                                    std::string(8, '\0'))),
              HasSubstr("tensor 'w': data_offsets [8, 0] end before they begin"));
}

TEST(Safetensors, RejectsOverlappingTensors) {
  EXPECT_THAT(parse_error(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                    std::string(12, '\0'))),
              HasSubstr("tensors 'a' [0, 8) and 'b' [4, 12) overlap"));
}

TEST(Safetensors, RejectsGapsAndUnaccountedBytes) {
  EXPECT_THAT(
      parse_error(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                            std::string(12, '\0'))),
      HasSubstr("tensor 'b' starts at byte 8, leaving bytes [4, 8) of the data section unused"));
  EXPECT_THAT(parse_error(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                    std::string(12, '\0'))),
              HasSubstr("data section is 12 bytes but the tensors cover only the first 4"));
}

TEST(Safetensors, RejectsShapeThatDisagreesWithOffsets) {
  EXPECT_THAT(
      parse_error(file_with(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                            std::string(8, '\0'))),
      HasSubstr("tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8"));
  // A product that overflows 64 bits must not wrap to a matching size.
  EXPECT_THAT(
      parse_error(file_with(
          R"({"w":{"dtype":"F32","shape":[4611686018427387904,4,4],"data_offsets":[0,0]}})")),
      HasSubstr("tensor 'w': shape [4611686018427387904,4,4] of F32 needs more than 2^64 bytes"));
}

TEST(Safetensors, RejectsNonStringMetadata) {
  EXPECT_THAT(parse_error(file_with(R"({"__metadata__":{"n":1}})")),
              HasSubstr("\"__metadata__\" value of 'n' is not a string"));
  EXPECT_THAT(parse_error(file_with(R"({"__metadata__":[]})")),
              HasSubstr("\"__metadata__\" is not a JSON object"));
}

TEST(Safetensors, ReadFileReportsMissingFile) {
  auto st = Safetensors::read_file("/nonexistent/servelab/model.safetensors");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("/nonexistent/servelab/model.safetensors"));
  EXPECT_THAT(st.error().message, HasSubstr("cannot open"));
}

// A 64 GiB sparse file of zeros (`truncate -s 64G`): its length prefix is 0,
// so the header is refused before memory is allocated for the file.
TEST(Safetensors, ReadFileChecksTheHeaderOfASparse64GiBFileBeforeAllocating) {
  servelab::testing::TempDir dir;
  const auto path = dir.path() / "model.safetensors";
  std::ofstream(path, std::ios::binary).put('\0');
  std::filesystem::resize_file(path, uint64_t{64} << 30);
  Result<Safetensors> st = make_error("not read");
  EXPECT_NO_THROW(st = Safetensors::read_file(path.string()));
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("header is not a JSON object"));
}

TEST(Safetensors, ReadFileRefusesAFileOverTheLimitFromItsSizeAlone) {
  servelab::testing::TempDir dir;
  const auto path = dir.path() / "model.safetensors";
  // A valid header for 1 GiB of F32 data (a hole on disk).
  test::write_sparse_safetensors(path, 1 << 14, 1 << 14);
  auto st = Safetensors::read_file(path.string(), uint64_t{1} << 20);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("more than the 1048576 bytes a model may take"));
}

TEST(Safetensors, HeaderIsValidatedAgainstTheFileSizeWithoutTheData) {
  const std::string h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  auto ok = parse_safetensors_header(h, 8 + h.size() + 16);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  ASSERT_EQ(ok->tensors.size(), 1u);
  EXPECT_EQ(ok->data_start, 8 + h.size());
  auto short_file = parse_safetensors_header(h, 8 + h.size() + 8);
  ASSERT_FALSE(short_file.ok());
  EXPECT_THAT(short_file.error().message, HasSubstr("run past the data section"));
  std::string prefix(8, '\0');
  prefix[7] = 1;  // 2^56 bytes of header
  auto len = parse_safetensors_header_length(prefix, uint64_t{1} << 40);
  ASSERT_FALSE(len.ok());
  EXPECT_THAT(len.error().message, HasSubstr("byte limit"));
}

}  // namespace
}  // namespace servelab::models
