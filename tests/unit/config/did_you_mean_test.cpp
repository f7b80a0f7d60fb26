// Edit distance and the "did you mean" threshold.
#include "config/did_you_mean.h"

#include <gtest/gtest.h>

namespace bulwark::config {
namespace {

TEST(did_you_mean, edit_distance_counts_typos) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("timeout", "timeout"), 0u);
  EXPECT_EQ(edit_distance("timeot", "timeout"), 1u);    // deletion
  EXPECT_EQ(edit_distance("timeoutt", "timeout"), 1u);  // insertion
  EXPECT_EQ(edit_distance("timeoat", "timeout"), 1u);   // substitution
  EXPECT_EQ(edit_distance("timoeut", "timeout"), 1u);   // swap of neighbours
  EXPECT_EQ(edit_distance("Timeout", "timeout"), 0u);   // case is ignored
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(did_you_mean, offers_only_close_candidates) {
  const std::vector<std::string_view> fields = {"name", "endpoints", "balance", "connect_timeout",
                                                "pool"};
  EXPECT_EQ(closest_match("balanse", fields), "balance");
  EXPECT_EQ(closest_match("endpoint", fields), "endpoints");
  EXPECT_EQ(closest_match("conect_timout", fields), "connect_timeout");
  EXPECT_EQ(closest_match("nmae", fields), "name");
  EXPECT_EQ(closest_match("host", fields), std::nullopt);
  EXPECT_EQ(closest_match("weight", fields), std::nullopt);
  EXPECT_EQ(closest_match("x", {}), std::nullopt);
}

}  // namespace
}  // namespace bulwark::config
