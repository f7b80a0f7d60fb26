// problem: the gateway's own error responses (DESIGN.md §6, RFC 9457). The
// body is checked by parsing it, so hostile detail text cannot break it; the
// Retry-After rule is DESIGN.md §5 (whole seconds, at least 1).
#include "http/problem.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace bulwark::http {
namespace {

using nlohmann::json;

std::optional<std::string> header_value(const local_response& response, std::string_view name) {
  std::optional<std::string> found;
  for (const auto& [key, value] : response.headers) {
    if (key == name) {
      EXPECT_FALSE(found.has_value()) << name << " appears twice";
      found = value;
    }
  }
  return found;
}

TEST(problem, body_is_problem_json_with_every_member) {
  const auto response = problem(404, "no route for GET /x", "abc123");
  EXPECT_EQ(response.status, 404u);
  EXPECT_EQ(response.content_type, "application/problem+json");
  const auto body = json::parse(response.body);
  ASSERT_TRUE(body.is_object());
  EXPECT_EQ(body.size(), 5u);
  EXPECT_EQ(body["type"], "about:blank");
  EXPECT_EQ(body["title"], "Not Found");
  EXPECT_EQ(body["status"], 404);
  EXPECT_TRUE(body["status"].is_number_integer());
  EXPECT_EQ(body["detail"], "no route for GET /x");
  EXPECT_EQ(body["request_id"], "abc123");
}

TEST(problem, no_extra_headers_and_connection_kept_by_default) {
  const auto response = problem(400, "bad", "id");
  EXPECT_TRUE(response.headers.empty());
  EXPECT_FALSE(response.close_connection);
}

TEST(problem, titles_are_the_standard_reason_phrases) {
  const std::pair<unsigned, const char*> expected[] = {
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {413, "Content Too Large"},  // RFC 9110 §15.5.14 (was "Payload Too Large")
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  for (const auto& [status, title] : expected) {
    const auto body = json::parse(problem(status, "d", "id").body);
    EXPECT_EQ(body["title"], title) << status;
    EXPECT_EQ(body["status"], status);
  }
}

TEST(problem, unknown_status_still_gives_a_valid_body) {
  const auto body = json::parse(problem(418, "teapot", "id").body);
  EXPECT_TRUE(body["title"].is_string());
  EXPECT_FALSE(body["title"].get<std::string>().empty());
  EXPECT_EQ(body["status"], 418);
}

TEST(problem, detail_with_quotes_and_control_characters_is_escaped) {
  const std::string detail = "bad header \"X-A\": value\r\n\x01\x7f\\ end";
  const auto response = problem(400, detail, "id");
  EXPECT_EQ(response.body.find('\n'), std::string::npos);
  EXPECT_EQ(response.body.find('\r'), std::string::npos);
  EXPECT_EQ(response.body.find('\x01'), std::string::npos);
  const auto body = json::parse(response.body);
  EXPECT_EQ(body["detail"], detail);
}

TEST(problem, detail_with_invalid_utf8_still_parses) {
  const auto response = problem(400, "target /\xff\xc0\xaf", "id");
  EXPECT_TRUE(json::accept(response.body)) << response.body;
}

TEST(problem, request_id_is_escaped_too) {
  const auto body = json::parse(problem(400, "d", "id\"},\"x\":\"y").body);
  EXPECT_EQ(body["request_id"], "id\"},\"x\":\"y");
  EXPECT_FALSE(body.contains("x"));
}

TEST(problem_retry_after, carries_retry_after_in_whole_seconds) {
  const auto response = problem_retry_after(503, "breaker open", "id", 7);
  EXPECT_EQ(response.status, 503u);
  EXPECT_EQ(response.content_type, "application/problem+json");
  EXPECT_EQ(header_value(response, "Retry-After"), "7");
  EXPECT_EQ(json::parse(response.body)["title"], "Service Unavailable");
}

TEST(problem_retry_after, zero_becomes_one) {
  EXPECT_EQ(header_value(problem_retry_after(429, "slow down", "id", 0), "Retry-After"), "1");
  EXPECT_EQ(header_value(problem_retry_after(429, "slow down", "id", 1), "Retry-After"), "1");
}

TEST(problem_retry_after, value_is_always_a_positive_integer) {
  for (const unsigned seconds : {0u, 1u, 2u, 59u, 3600u, 86400u, 4294967295u}) {
    const auto value = header_value(problem_retry_after(503, "d", "id", seconds), "Retry-After");
    ASSERT_TRUE(value.has_value()) << seconds;
    ASSERT_FALSE(value->empty());
    EXPECT_EQ(value->find_first_not_of("0123456789"), std::string::npos) << *value;
    EXPECT_GE(std::stoull(*value), 1u) << *value;
    if (seconds > 0) {
      EXPECT_EQ(std::stoull(*value), seconds);
    }
  }
}

}  // namespace
}  // namespace bulwark::http
