// The Redis client's protocol half, without a network: replies parsed from raw
// RESP bytes (whole, split at every byte, malformed, oversized), commands
// formatted, script digests, TIME and INFO replies.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "cluster/redis_client.h"

namespace bulwark::cluster {
namespace {

using kind = redis_reply::kind;

// Every reply in `bytes`, which must parse completely.
std::vector<redis_reply> parse_all(std::string_view bytes) {
  redis_reply_parser parser;
  EXPECT_TRUE(parser.feed(bytes)) << parser.error();
  std::vector<redis_reply> replies;
  redis_reply reply;
  while (parser.next(reply) == redis_reply_parser::status::reply) replies.push_back(reply);
  EXPECT_TRUE(parser.error().empty()) << parser.error();
  return replies;
}

redis_reply parse_one(std::string_view bytes) {
  auto replies = parse_all(bytes);
  EXPECT_EQ(replies.size(), 1u);
  return replies.empty() ? redis_reply{} : replies.front();
}

TEST(RedisReplyParser, ConvertsEveryRespTwoType) {
  auto status = parse_one("+OK\r\n");
  EXPECT_EQ(status.type, kind::status);
  EXPECT_EQ(status.text, "OK");
  EXPECT_TRUE(status.is_text("OK"));

  auto error = parse_one("-NOSCRIPT No matching script. Please use EVAL.\r\n");
  EXPECT_EQ(error.type, kind::error);
  EXPECT_TRUE(error.is_error());
  EXPECT_EQ(error.text, "NOSCRIPT No matching script. Please use EVAL.");

  auto integer = parse_one(":-9223372036854775808\r\n");
  EXPECT_EQ(integer.type, kind::integer);
  EXPECT_EQ(integer.integer, std::numeric_limits<long long>::min());

  auto bulk = parse_one("$5\r\nhello\r\n");
  EXPECT_EQ(bulk.type, kind::string);
  EXPECT_EQ(bulk.text, "hello");

  auto empty = parse_one("$0\r\n\r\n");
  EXPECT_EQ(empty.type, kind::string);
  EXPECT_EQ(empty.text, "");

  EXPECT_EQ(parse_one("$-1\r\n").type, kind::nil);
  EXPECT_EQ(parse_one("*-1\r\n").type, kind::nil);

  auto no_elements = parse_one("*0\r\n");
  EXPECT_EQ(no_elements.type, kind::array);
  EXPECT_TRUE(no_elements.elements.empty());
}

TEST(RedisReplyParser, KeepsNestedArraysAndBinaryStrings) {
  // [[1, nil], "a\0\r\nb", +QUEUED]
  std::string bytes = "*3\r\n*2\r\n:1\r\n$-1\r\n$5\r\na";
  bytes += '\0';
  bytes += "\r\nb\r\n+QUEUED\r\n";
  auto reply = parse_one(bytes);
  ASSERT_EQ(reply.type, kind::array);
  ASSERT_EQ(reply.elements.size(), 3u);
  ASSERT_EQ(reply.elements[0].type, kind::array);
  ASSERT_EQ(reply.elements[0].elements.size(), 2u);
  EXPECT_EQ(reply.elements[0].elements[0].integer, 1);
  EXPECT_EQ(reply.elements[0].elements[1].type, kind::nil);
  EXPECT_EQ(reply.elements[1].text, std::string("a\0\r\nb", 5));
  EXPECT_EQ(reply.elements[2].type, kind::status);
  EXPECT_EQ(reply.elements[2].text, "QUEUED");
}

TEST(RedisReplyParser, PipelinedRepliesComeOutInOrderHoweverTheBytesAreSplit) {
  const std::string stream = "+OK\r\n:7\r\n$3\r\nabc\r\n*2\r\n$1\r\nx\r\n:2\r\n-ERR wrong\r\n$-1\r\n";
  const auto whole = parse_all(stream);
  ASSERT_EQ(whole.size(), 6u);
  EXPECT_EQ(whole[0].text, "OK");
  EXPECT_EQ(whole[1].integer, 7);
  EXPECT_EQ(whole[2].text, "abc");
  EXPECT_EQ(whole[3].elements.size(), 2u);
  EXPECT_EQ(whole[4].text, "ERR wrong");
  EXPECT_EQ(whole[5].type, kind::nil);

  // One byte at a time: the parser says `incomplete` until a reply is whole.
  redis_reply_parser parser;
  std::vector<redis_reply> split;
  for (char byte : stream) {
    ASSERT_TRUE(parser.feed(std::string_view(&byte, 1)));
    redis_reply reply;
    for (auto status = parser.next(reply); status == redis_reply_parser::status::reply; status = parser.next(reply)) {
      split.push_back(reply);
    }
  }
  ASSERT_EQ(split.size(), whole.size());
  for (std::size_t i = 0; i < split.size(); ++i) {
    EXPECT_EQ(split[i].type, whole[i].type) << i;
    EXPECT_EQ(split[i].text, whole[i].text) << i;
    EXPECT_EQ(split[i].integer, whole[i].integer) << i;
    EXPECT_EQ(split[i].elements.size(), whole[i].elements.size()) << i;
  }
}

TEST(RedisReplyParser, IncompleteUntilTheLastByte) {
  redis_reply_parser parser;
  redis_reply reply;
  ASSERT_TRUE(parser.feed("$10\r\n01234"));
  EXPECT_EQ(parser.next(reply), redis_reply_parser::status::incomplete);
  ASSERT_TRUE(parser.feed("56789\r"));
  EXPECT_EQ(parser.next(reply), redis_reply_parser::status::incomplete);
  ASSERT_TRUE(parser.feed("\n"));
  ASSERT_EQ(parser.next(reply), redis_reply_parser::status::reply);
  EXPECT_EQ(reply.text, "0123456789");
  EXPECT_EQ(parser.next(reply), redis_reply_parser::status::incomplete);
}

TEST(RedisReplyParser, MalformedBytesAreAnErrorNotACrash) {
  redis_reply_parser parser;
  redis_reply reply;
  ASSERT_TRUE(parser.feed("?what\r\n"));
  EXPECT_EQ(parser.next(reply), redis_reply_parser::status::error);
  EXPECT_FALSE(parser.error().empty());
  // Once broken, it stays broken: the stream cannot be resynchronised.
  EXPECT_FALSE(parser.feed("+OK\r\n"));
  EXPECT_EQ(parser.next(reply), redis_reply_parser::status::error);
}

TEST(RedisReplyParser, RefusesMoreUnparsedBytesThanItsLimit) {
  redis_reply_parser parser(64);
  ASSERT_TRUE(parser.feed("$100\r\n"));
  ASSERT_TRUE(parser.feed(std::string(50, 'x')));
  EXPECT_FALSE(parser.feed(std::string(50, 'x')));
  EXPECT_NE(parser.error().find("larger than 64 bytes"), std::string::npos) << parser.error();

  // Replies taken out as they complete do not count against the limit.
  redis_reply_parser steady(64);
  redis_reply reply;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(steady.feed("$20\r\n" + std::string(20, 'y') + "\r\n")) << i;
    ASSERT_EQ(steady.next(reply), redis_reply_parser::status::reply);
  }
}

TEST(RedisCommandFormat, WritesAnArrayOfBulkStrings) {
  EXPECT_EQ(format_command({"SET", "k", "v"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  EXPECT_EQ(format_command({"GET", ""}), "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
  // Binary-safe: what is formatted parses back to the same arguments.
  const std::vector<std::string> argv{"SET", std::string("a\0b", 3), "line\r\nbreak", std::string(1000, 'z')};
  auto parsed = parse_one(format_command(argv));
  ASSERT_EQ(parsed.type, kind::array);
  ASSERT_EQ(parsed.elements.size(), argv.size());
  for (std::size_t i = 0; i < argv.size(); ++i) EXPECT_EQ(parsed.elements[i].text, argv[i]) << i;
}

TEST(RedisScript, DigestIsTheSha1RedisNamesTheScriptBy) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  // The digest Redis's own documentation gives for SCRIPT LOAD "return 1".
  redis_script script("return 1");
  EXPECT_EQ(script.source(), "return 1");
  EXPECT_EQ(script.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(RedisTimeReply, ParsesSecondsAndMicroseconds) {
  auto reply = parse_one("*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n");
  auto time = parse_time_reply(reply);
  ASSERT_TRUE(time.has_value());
  EXPECT_EQ(time->count(), 1'700'000'000'123'456LL);

  EXPECT_FALSE(parse_time_reply(parse_one(":1700000000\r\n")));
  EXPECT_FALSE(parse_time_reply(parse_one("*1\r\n$10\r\n1700000000\r\n")));
  EXPECT_FALSE(parse_time_reply(parse_one("*2\r\n$2\r\n1x\r\n$1\r\n0\r\n")));
  EXPECT_FALSE(parse_time_reply(parse_one("*2\r\n$1\r\n1\r\n$7\r\n1000000\r\n")));
  EXPECT_FALSE(parse_time_reply(parse_one("*2\r\n$2\r\n-1\r\n$1\r\n0\r\n")));
  EXPECT_FALSE(parse_time_reply(parse_one("*2\r\n:1\r\n:0\r\n")));
}

TEST(RedisInfo, FindsTheRunId) {
  const std::string info =
      "# Server\r\nredis_version:7.0.15\r\nrun_id:0f3a9c1d2e\r\ntcp_port:6379\r\n";
  EXPECT_EQ(parse_run_id(info), "0f3a9c1d2e");
  EXPECT_EQ(parse_run_id("# Server\nrun_id:abc"), "abc");
  EXPECT_EQ(parse_run_id("# Server\r\nmaster_run_id:zzz\r\n"), "");
  EXPECT_EQ(parse_run_id(""), "");
}

TEST(RedisResult, OkOnlyWithoutAnError) {
  redis_result result;
  EXPECT_TRUE(result.ok());
  result.error = redis_errc::server;
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(to_string(redis_errc::timeout), "timeout");
  EXPECT_EQ(to_string(redis_errc::disconnected), "disconnected");
}

}  // namespace
}  // namespace bulwark::cluster
