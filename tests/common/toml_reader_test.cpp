// TableReader: one wording for every TOML file servelab reads.

#include "common/toml_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/suggest.h"

namespace servelab {
namespace {

using namespace std::chrono_literals;

// Reads `text` as the [t] table of file "f.toml" with keys a, b, bee; `read`
// does the reads; returns the errors ("" when there were none).
template <class F>
std::string errors_of(std::string_view text, F read) {
  toml::table root = toml::parse(text, std::string_view("f.toml"));
  Diagnostics diagnostics("f.toml");
  TableReader r(*root.get_as<toml::table>("t"), "t", {"a", "b", "bee"}, diagnostics);
  read(r);
  r.report_unknown_keys();
  return diagnostics.empty() ? std::string() : diagnostics.to_error().message;
}

TEST(TableReader, IntegerOutOfRangeNamesTheRangeAndWhatWasThere) {
  int out = 7;
  EXPECT_EQ(errors_of("[t]\na = 0\n",
                      [&](TableReader& r) { EXPECT_FALSE(r.read_integer("a", out, 1, 9)); }),
            "f.toml:2:5: t.a: expected an integer from 1 to 9, got integer 0");
  EXPECT_EQ(out, 7);  // unchanged
  EXPECT_EQ(errors_of("[t]\na = \"x\"\n", [&](TableReader& r) { r.read_integer("a", out, 1); }),
            "f.toml:2:5: t.a: expected an integer >= 1, got string \"x\"");
  EXPECT_EQ(errors_of("[t]\na = 1.5\n", [&](TableReader& r) { r.read_integer("a", out); }),
            "f.toml:2:5: t.a: expected an integer, got floating-point 1.5");
  uint64_t big = 0;
  EXPECT_EQ(errors_of("[t]\na = -1\n", [&](TableReader& r) { r.read_integer("a", big); }),
            "f.toml:2:5: t.a: expected an integer >= 0, got integer -1");
}

TEST(TableReader, ValidValuesAreStored) {
  int a = 0;
  std::chrono::microseconds b{};
  bool bee = false;
  EXPECT_EQ(errors_of("[t]\na = 5\nb = \"1m30s\"\nbee = true\n",
                      [&](TableReader& r) {
                        EXPECT_TRUE(r.read_integer("a", a, 1, 9));
                        EXPECT_TRUE(r.read_duration("b", b, false));
                        EXPECT_TRUE(r.read_bool("bee", bee));
                      }),
            "");
  EXPECT_EQ(a, 5);
  EXPECT_EQ(b, 90s);
  EXPECT_TRUE(bee);
}

TEST(TableReader, ChoiceErrorListsTheChoicesAndSuggestsTheNearest) {
  constexpr Choice<int> kChoices[] = {{"closed", 0}, {"open", 1}};
  int out = 0;
  EXPECT_EQ(
      errors_of("[t]\na = \"clsoed\"\n",
                [&](TableReader& r) { r.read_choice<int>("a", out, kChoices); }),
      R"(f.toml:2:5: t.a: expected one of "closed", "open", got "clsoed"; did you mean "closed"?)");
}

TEST(TableReader, UnknownKeysGetADidYouMeanOrTheValidKeys) {
  EXPECT_EQ(errors_of("[t]\nbe = 1\nzzz = 2\n", [](TableReader&) {}),
            "f.toml:2:1: unknown key \"be\" in [t]; did you mean \"b\"?\n"
            "f.toml:3:1: unknown key \"zzz\" in [t]; valid keys: a, b, bee");
}

TEST(TableReader, AKeyRefusedByNameIsNotAlsoUnknown) {
  EXPECT_EQ(errors_of("[t]\nold = 1\n",
                      [](TableReader& r) { r.error(*r.find("old"), "old", "is not supported"); }),
            "f.toml:2:7: t.old: is not supported");
}

TEST(TableReader, ReportedRemembersKeysWithErrors) {
  errors_of("[t]\na = true\nb = 1\n", [](TableReader& r) {
    std::string text;
    r.read_string("a", text);
    EXPECT_TRUE(r.reported("a"));
    EXPECT_FALSE(r.reported("b"));
  });
}

TEST(TableReader, MissingKeyIsReportedAtTheTable) {
  EXPECT_EQ(errors_of("[t]\n", [](TableReader& r) { r.missing("a", "a number"); }),
            "f.toml:1:1: t.a: missing required key; expected a number");
}

TEST(Suggest, TranspositionIsOneEditAndFarWordsGetNoMatch) {
  EXPECT_EQ(edit_distance("clsoed", "closed"), 1u);
  constexpr std::string_view kWords[] = {"connections", "threads"};
  EXPECT_EQ(closest_match("conections", kWords), "connections");
  EXPECT_FALSE(closest_match("banana", kWords));
}

}  // namespace
}  // namespace servelab
