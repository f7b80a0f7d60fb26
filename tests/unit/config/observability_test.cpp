// observability.access_log and admin.token_env: defaults, every accepted form,
// and each refusal exactly as `bulwark check` prints it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_configs.h"

namespace bulwark::config {
namespace {

using test::errors_of;
using test::errors_with_section;
using test::load_with_section;
using testing::ElementsAre;
using destination = access_log_settings::destination;

TEST(observability_config, defaults_log_json_to_stdout_and_need_no_admin_token) {
  const auto config = load_with_section("");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->observe.access_log.to, destination::stdout_stream);
  EXPECT_EQ(config->observe.access_log.line_format, access_log_settings::format::json);
  EXPECT_EQ(config->observe.access_log.path, "");
  EXPECT_EQ(config->admin_server.token_env, "");
}

TEST(observability_config, full_example_sets_a_file_and_a_token_variable) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->observe.access_log.to, destination::file);
  EXPECT_EQ(result.config->observe.access_log.path, "/var/log/bulwark/access.log");
  EXPECT_EQ(result.config->admin_server.token_env, "BULWARK_ADMIN_TOKEN");
}

TEST(observability_config, access_log_destinations) {
  const auto stdout_log = load_with_section("observability: {access_log: {path: stdout}}\n");
  ASSERT_TRUE(stdout_log);
  EXPECT_EQ(stdout_log->observe.access_log.to, destination::stdout_stream);

  const auto file_log = load_with_section("observability: {access_log: {path: logs/access.log}}\n");
  ASSERT_TRUE(file_log);
  EXPECT_EQ(file_log->observe.access_log.to, destination::file);
  EXPECT_EQ(file_log->observe.access_log.path, "logs/access.log");

  const auto off_in_map =
      load_with_section("observability: {access_log: {path: off, format: json}}\n");
  ASSERT_TRUE(off_in_map);
  EXPECT_EQ(off_in_map->observe.access_log.to, destination::off);
}

TEST(observability_config, access_log_off_is_a_shorthand) {
  const auto config = load_with_section("observability:\n  access_log: off\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->observe.access_log.to, destination::off);
}

TEST(observability_config, an_empty_access_log_map_keeps_the_defaults) {
  const auto config = load_with_section("observability:\n  access_log:\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->observe.access_log.to, destination::stdout_stream);
}

TEST(observability_config, access_log_errors) {
  EXPECT_THAT(errors_with_section("observability: {access_log: stdout}\n"),
              ElementsAre("test.yaml:10:29: observability.access_log: expected a map like "
                          "{path: stdout, format: json}, or off (got stdout)"));
  EXPECT_THAT(errors_with_section("observability: {access_log: [off]}\n"),
              ElementsAre("test.yaml:10:29: observability.access_log: expected a map of fields "
                          "(got a list)"));
  EXPECT_THAT(errors_with_section("observability: {access_log: {path: \"\"}}\n"),
              ElementsAre("test.yaml:10:36: observability.access_log.path: expected stdout, off "
                          "or a file path"));
  EXPECT_THAT(errors_with_section("observability: {access_log: {path: [a]}}\n"),
              ElementsAre("test.yaml:10:36: observability.access_log.path: expected stdout, off "
                          "or a file path (got a list)"));
  EXPECT_THAT(errors_with_section("observability: {access_log: {format: text}}\n"),
              ElementsAre("test.yaml:10:38: observability.access_log.format: expected json "
                          "(got text)"));
  EXPECT_THAT(errors_with_section("observability: {access_log: {pth: stdout}}\n"),
              ElementsAre("test.yaml:10:30: observability.access_log.pth: unknown field; did you "
                          "mean `path`?"));
}

TEST(observability_config, token_env_accepts_environment_variable_names) {
  for (const std::string name : {"BULWARK_ADMIN_TOKEN", "_x", "a1", "Z"}) {
    const auto config = load_with_section("admin: {token_env: " + name + "}\n");
    ASSERT_TRUE(config) << name;
    EXPECT_EQ(config->admin_server.token_env, name);
  }
}

TEST(observability_config, token_env_refuses_what_is_not_a_variable_name) {
  const std::string expected =
      "expected an environment variable name: letters, digits and _, not starting with a "
      "digit, like BULWARK_ADMIN_TOKEN";
  for (const std::string bad : {"1TOKEN", "MY-TOKEN", "$TOKEN", "TOKEN VALUE", "\"\"", "é"}) {
    const std::string shown = bad == "\"\"" ? "" : " (got " + bad + ")";
    EXPECT_THAT(errors_with_section("admin: {token_env: " + bad + "}\n"),
                ElementsAre("test.yaml:10:20: admin.token_env: " + expected + shown))
        << bad;
  }
  EXPECT_THAT(errors_with_section("admin: {token_env: [A]}\n"),
              ElementsAre("test.yaml:10:20: admin.token_env: " + expected + " (got a list)"));
}

}  // namespace
}  // namespace bulwark::config
