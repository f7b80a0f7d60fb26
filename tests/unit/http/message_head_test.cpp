// message_head: the gateway's flat reading of a message (head_parser). It must
// read every head as Beast's own parser does, keep its text after the buffer
// it came from is reused, and show each piece of body where it was read.
#include "http/message_head.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "unit/http/parsed_head.h"

namespace bulwark::http {
namespace {

using test::read_head;

using field_pairs = std::vector<std::pair<std::string, std::string>>;

field_pairs lines_of(const head_fields& fields) {
  field_pairs out;
  for (const auto& field : fields) out.emplace_back(field.name_string(), field.value());
  return out;
}

// What Beast's own parser reads from `section`: the reference.
template <bool isRequest>
field_pairs beast_reads(const std::string& section) {
  http::parser<isRequest, http::empty_body> parser;
  parser.eager(false);
  error_code ec;
  parser.put(net::buffer(section), ec);
  EXPECT_FALSE(ec) << ec.message();
  field_pairs out;
  for (const auto& field : parser.get()) out.emplace_back(field.name_string(), field.value());
  return out;
}

TEST(head_parser, reads_a_request_head_as_received) {
  const auto parsed = read_head<true>(
      "PATCH /a/b?c=d HTTP/1.0\r\nHost: example.com\r\nx-CUSTOM:   spaced value \t\r\n"
      "Accept: */*\r\nAccept: text/plain\r\nEmpty:\r\n\r\n");
  const auto& head = parsed->get();
  EXPECT_EQ(head.method(), http::verb::patch);
  EXPECT_EQ(head.method_string(), "PATCH");
  EXPECT_EQ(head.target(), "/a/b?c=d");
  EXPECT_EQ(head.version(), 10u);
  EXPECT_EQ(lines_of(head), (field_pairs{{"Host", "example.com"},
                                         {"x-CUSTOM", "spaced value"},
                                         {"Accept", "*/*"},
                                         {"Accept", "text/plain"},
                                         {"Empty", ""}}));
  EXPECT_EQ(head.begin()->name(), http::field::host);
  EXPECT_EQ((head.begin() + 1)->name(), http::field::unknown);
}

TEST(head_parser, keeps_an_unknown_method) {
  const auto parsed = read_head<true>("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(parsed->get().method(), http::verb::unknown);
  EXPECT_EQ(parsed->get().method_string(), "BREW");
}

TEST(head_parser, each_line_is_laid_out_as_on_the_wire) {
  const auto parsed = read_head<true>("GET / HTTP/1.1\r\nhOsT:h\r\nX-A:   a  b  \r\n\r\n");
  std::vector<std::string> lines;
  for (const auto& field : parsed->get()) lines.emplace_back(field.line());
  EXPECT_EQ(lines, (std::vector<std::string>{"hOsT: h\r\n", "X-A: a  b\r\n"}));
}

TEST(head_parser, reads_the_fields_beast_reads) {
  const std::vector<std::string> requests = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: keep-alive, X-Hop\r\n"
      "X-Hop: 1\r\nCookie: a=b; c=d\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\r\n",
      "GET /x HTTP/1.0\r\nX-Forwarded-For: 203.0.113.5\r\nx-forwarded-for: 198.51.100.1, "
      "192.0.2.9\r\n\r\n",
  };
  for (const auto& section : requests) {
    EXPECT_EQ(lines_of(read_head<true>(section)->get()), beast_reads<true>(section)) << section;
  }
  // A response may fold a value over lines (obs-fold, RFC 9112 §5.2): Beast
  // unfolds it in a buffer of its own, which this parser copies too.
  const std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nVia: 1.1 a, 1.1 b\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\nContent-Length: 0\r\n\r\n",
  };
  for (const auto& section : responses) {
    EXPECT_EQ(lines_of(read_head<false>(section)->get()), beast_reads<false>(section)) << section;
  }
}

TEST(head_parser, the_head_outlives_the_buffer_it_was_read_from) {
  std::string buffer = "GET /kept HTTP/1.1\r\nHost: kept.example\r\nX-Key: value\r\n\r\n";
  const auto parsed = read_head<true>(buffer);
  std::fill(buffer.begin(), buffer.end(), '#');  // the connection's buffer, read into again
  EXPECT_EQ(parsed->get().target(), "/kept");
  EXPECT_EQ(lines_of(parsed->get()), (field_pairs{{"Host", "kept.example"}, {"X-Key", "value"}}));
}

TEST(head_parser, a_head_larger_than_the_inline_room_is_read_whole) {
  std::string section = "GET / HTTP/1.1\r\n";
  field_pairs sent;
  for (int i = 0; i < 60; ++i) {
    sent.emplace_back("X-Field-" + std::to_string(i),
                      std::string(40, static_cast<char>('a' + i % 26)));
    section += sent.back().first + ": " + sent.back().second + "\r\n";
  }
  section += "\r\n";
  ASSERT_GT(section.size(), 2048u);
  EXPECT_EQ(lines_of(read_head<true>(section)->get()), sent);
}

TEST(head_parser, reads_a_response_status_line) {
  const auto parsed = read_head<false>("HTTP/1.0 503 Busy Now\r\nRetry-After: 5\r\n\r\n");
  EXPECT_EQ(parsed->get().status(), 503u);
  EXPECT_EQ(parsed->get().reason(), "Busy Now");
  EXPECT_EQ(parsed->get().version(), 10u);
  EXPECT_EQ(read_head<false>("HTTP/1.1 204 \r\n\r\n")->get().reason(), "");
}

TEST(head_fields, lookups_take_the_first_line_of_a_name_whatever_its_case) {
  const auto parsed = read_head<true>(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Id: one\r\nx-id: two\r\nConnection: close\r\n\r\n");
  const auto& head = parsed->get();
  ASSERT_NE(head.find("X-ID"), head.end());
  EXPECT_EQ(head.find("X-ID")->value(), "one");
  EXPECT_EQ(head.find(http::field::connection)->value(), "close");
  EXPECT_EQ(head.find("Absent"), head.end());
  EXPECT_EQ(head.find(http::field::expect), head.end());
  EXPECT_EQ(head[http::field::host], "h");
  EXPECT_EQ(head[http::field::expect], "");
  EXPECT_EQ(head.count(http::field::connection), 1u);
  EXPECT_EQ(head.count(http::field::te), 0u);
}

TEST(head_fields, erase_removes_one_line_and_keeps_the_order) {
  auto parsed = read_head<true>("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
  auto& head = parsed->get();
  const auto after = head.erase(head.find("B"));
  EXPECT_EQ(after->name_string(), "C");
  const auto last = head.erase(head.find("D"));
  EXPECT_EQ(last, head.end());
  EXPECT_EQ(lines_of(head), (field_pairs{{"A", "1"}, {"C", "3"}}));
}

// Each put() shows the piece of body it found, in the buffer it was given.
std::vector<std::string> pieces_of(const std::string& message) {
  response_parser parser;
  std::vector<std::string> pieces;
  std::string_view rest = message;
  while (!parser.is_done()) {
    parser.clear_piece();
    error_code ec;
    const auto used = parser.put(net::buffer(rest.data(), rest.size()), ec);
    EXPECT_FALSE(ec) << ec.message();
    if (ec) break;
    rest.remove_prefix(used);
    if (!parser.piece().empty()) pieces.emplace_back(parser.piece());
  }
  return pieces;
}

TEST(head_parser, shows_each_piece_of_body) {
  EXPECT_EQ(pieces_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
            (std::vector<std::string>{"hello"}));
  EXPECT_EQ(pieces_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"),
            (std::vector<std::string>{"abc", "de"}));
}

}  // namespace
}  // namespace bulwark::http
