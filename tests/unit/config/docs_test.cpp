// docs/configuration.md is checked against the real parser: every ```yaml
// block in it loads with no error, so the reference cannot drift from the code.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/concat.h"
#include "config/loader.h"

namespace bulwark::config {
namespace {

// Found from this source file, so the test needs no build-system help.
const std::filesystem::path reference =
    std::filesystem::path(__FILE__).parent_path() / "../../../docs/configuration.md";

struct yaml_block {
  int first_line = 0;  // line of the opening fence in the document
  std::string text;
};

std::vector<yaml_block> yaml_blocks(std::istream& markdown) {
  std::vector<yaml_block> blocks;
  bool inside = false;
  int number = 0;
  for (std::string line; std::getline(markdown, line);) {
    ++number;
    if (!inside && line == "```yaml") {
      inside = true;
      blocks.push_back({number, {}});
    } else if (inside && line.starts_with("```")) {
      inside = false;
    } else if (inside) {
      blocks.back().text += line + "\n";
    }
  }
  return blocks;
}

TEST(config_docs, every_yaml_example_loads_without_errors) {
  std::ifstream markdown(reference);
  ASSERT_TRUE(markdown) << "cannot open " << reference;
  const auto blocks = yaml_blocks(markdown);
  ASSERT_GE(blocks.size(), 2u) << "expected at least the minimal and the full example";
  for (const yaml_block& block : blocks) {
    const auto result = load_string(block.text, "configuration.md");
    for (const error& e : result.errors) {
      ADD_FAILURE() << "block at line " << block.first_line << ": " << e.to_string();
    }
  }
}

// A documented field, by the heading it is under and its table row.
struct documented_field {
  int line = 0;
  std::string section;  // "routes[].rate_limits[]", "" for top-level fields
  std::string name;     // "retry.budget.ratio"
};

// The first backticked word of `text`, or "".
std::string first_code(std::string_view text) {
  const auto open = text.find('`');
  if (open == std::string_view::npos) return "";
  const auto close = text.find('`', open + 1);
  if (close == std::string_view::npos) return "";
  return std::string(text.substr(open + 1, close - open - 1));
}

// Rows of the reference tables whose header is `| Field |`.
std::vector<documented_field> documented_fields(std::istream& markdown) {
  std::vector<documented_field> fields;
  std::string section;
  bool field_table = false;
  int number = 0;
  for (std::string line; std::getline(markdown, line);) {
    ++number;
    if (line.starts_with("## ") || line.starts_with("### ")) {
      section = first_code(line);
      field_table = false;
    } else if (line.starts_with("| Field |")) {
      field_table = true;
    } else if (!line.starts_with("|")) {
      field_table = false;
    } else if (field_table && !line.starts_with("|---")) {
      const std::string name = first_code(line);
      if (name.empty()) continue;
      // `workers` is documented under its own heading.
      fields.push_back({number, name == section ? "" : section, name});
    }
  }
  return fields;
}

// A YAML flow map that sets `segments` (a path; `x[]` is a list of one map)
// to a value every reader refuses as malformed, never as unknown.
std::string setting(const std::vector<std::string>& segments, std::size_t i = 0) {
  const std::string& segment = segments[i];
  if (i + 1 == segments.size()) return concat({"{", segment, ": [[0]]}"});
  if (segment.ends_with("[]")) {
    const std::string_view list = std::string_view(segment).substr(0, segment.size() - 2);
    return concat({"{", list, ": [", setting(segments, i + 1), "]}"});
  }
  return concat({"{", segment, ": ", setting(segments, i + 1), "}"});
}

std::vector<std::string> split_path(const std::string& section, const std::string& name) {
  std::vector<std::string> segments;
  const std::string whole = section.empty() ? name : concat({section, ".", name});
  std::size_t start = 0;
  for (std::size_t dot; (dot = whole.find('.', start)) != std::string::npos; start = dot + 1)
    segments.push_back(whole.substr(start, dot - start));
  segments.push_back(whole.substr(start));
  return segments;
}

// Every field the tables document is one the parser reads: setting it to a
// malformed value gives a value error, never "unknown field" or "not
// supported yet". (The other direction, every parsed field documented, is
// held by the full example, which sets them all.)
TEST(config_docs, every_documented_field_is_read_by_the_parser) {
  std::ifstream markdown(reference);
  ASSERT_TRUE(markdown) << "cannot open " << reference;
  const auto fields = documented_fields(markdown);
  ASSERT_GT(fields.size(), 100u) << "the tables were not found";
  for (const documented_field& field : fields) {
    const auto segments = split_path(field.section, field.name);
    // The document is the setting's top-level map written in block style.
    const std::string yaml = setting(segments);
    const auto result = load_string(yaml.substr(1, yaml.size() - 2), "configuration.md");
    bool value_error = false;
    for (const error& e : result.errors) {
      EXPECT_EQ(e.message.find("unknown field"), std::string::npos)
          << "line " << field.line << ": " << e.to_string();
      EXPECT_EQ(e.message.find("not supported yet"), std::string::npos)
          << "line " << field.line << ": " << e.to_string();
      value_error = value_error || e.value == "a list" || e.message.find("expected") == 0;
    }
    EXPECT_TRUE(value_error) << "line " << field.line << ": `" << field.name
                             << "` was not read: " << yaml;
  }
}

// The example users start from keeps loading as the schema grows.
TEST(config_docs, quickstart_example_loads) {
  const auto quickstart =
      std::filesystem::path(__FILE__).parent_path() / "../../../examples/quickstart.yaml";
  const auto result = load_file(quickstart.string());
  for (const error& e : result.errors) ADD_FAILURE() << e.to_string();
  EXPECT_TRUE(result.config);
}

// Each designed-but-unbuilt field the page lists is indeed refused as such.
TEST(config_docs, listed_unsupported_fields_are_refused) {
  const auto result = load_string(R"(listeners: [{name: a, address: "127.0.0.1:0", tls: {}}]
upstreams: [{name: u, endpoints: ["127.0.0.1:1"]}]
routes:
  - name: r
    upstream: u
    cache: {}
    websocket: {}
cache: {}
)");
  ASSERT_EQ(result.errors.size(), 4u);
  for (const error& e : result.errors) EXPECT_EQ(e.message, "not supported yet") << e.path;
}

}  // namespace
}  // namespace bulwark::config
