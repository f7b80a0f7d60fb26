// "Did you mean" hints for misspelt field names, enum values and references.
//
// A hint is offered only when it is close enough to be a likely typo: an edit
// distance (insertions, deletions, substitutions and swaps of neighbours, case
// ignored) of at most 1 for words of up to 4 letters, 2 up to 8 and 3 beyond.
// A far-fetched suggestion is worse than none.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::config {

std::size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate to `word`, if one is close enough; the first on ties.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates);

}  // namespace bulwark::config
