#pragma once
// "Did you mean" for unknown keys and enum values: the closest valid name by
// edit distance, when it is close enough to be a typo rather than a different word.

#include <optional>
#include <span>
#include <string_view>

namespace servelab {

// Optimal string alignment distance (Levenshtein plus adjacent transposition,
// so "clsoed" is one edit from "closed"), compared case-insensitively.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word`, if within a typo's reach: at most 1 edit
// for names up to 5 characters, 2 for longer ones.
std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates);

}  // namespace servelab
