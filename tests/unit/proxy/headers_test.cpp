// headers: the header sections the gateway writes (RFC 9110 §7.6, DESIGN.md §6).
// Hop-by-hop fields, including every field a Connection line names, must not
// cross the gateway in either direction; the forwarding fields are appended
// to, never replaced, so a chain of proxies stays visible to the upstream.
// Each test writes a section and parses it back with Beast, so what is
// checked is what the other side would read.
#include "proxy/headers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/http/parsed_head.h"

namespace bulwark::proxy {
namespace {

using http::test::as_read;
using http::test::parse_head;
using http::test::read_head;
using http::test::values_of;
using upstream_request = http::request<http::empty_body>;

// What the upstream reads for `request`.
http::request_header<> as_upstream_sees(const upstream_request& request,
                                        std::string_view client_ip = "10.0.0.7",
                                        bool chunked = false) {
  std::string head;
  write_upstream_head(as_read(request.base())->get(), {.client_ip = client_ip, .chunked = chunked},
                      head);
  return parse_head<beast::http::request_parser<http::empty_body>>(head);
}

// What the client reads for `response`.
http::response_header<> as_client_sees(const http::response_header<>& response,
                                       client_head how = {}) {
  std::string head;
  write_client_head(as_read(response)->get(), how, head);
  return parse_head<beast::http::response_parser<http::empty_body>>(head);
}

// The one value of `name`; fails the test when the field is absent or repeated.
template <class Header>
std::string single(const Header& header, std::string_view name) {
  const auto values = values_of(header, name);
  EXPECT_EQ(values.size(), 1u) << name;
  return values.empty() ? std::string{} : values.front();
}

upstream_request make_request() {
  upstream_request request{http::verb::get, "/path?q=1", 11};
  request.set(http::field::host, "example.com:8080");
  request.set(http::field::user_agent, "test/1.0");
  return request;
}

http::response_header<> make_response(http::status status = http::status::ok) {
  http::response_header<> response;
  response.version(11);
  response.result(status);
  return response;
}

// --- the upstream request ---------------------------------------------------------

TEST(write_upstream_head, writes_the_exact_section_for_a_plain_request) {
  std::string head;
  write_upstream_head(as_read(make_request().base())->get(), {.client_ip = "10.0.0.7"}, head);
  EXPECT_EQ(head,
            "GET /path?q=1 HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "User-Agent: test/1.0\r\n"
            "X-Forwarded-For: 10.0.0.7\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: example.com:8080\r\n"
            "Via: 1.1 bulwark\r\n"
            "\r\n");
}

TEST(write_upstream_head, copies_parsed_fields_byte_for_byte) {
  // Fields as a parser stores them (the usual case), with odd spacing and
  // case in the name: the name is kept, the value as the parser trimmed it.
  const std::string sent =
      "POST /p HTTP/1.1\r\nhOsT: h\r\nX-Custom:   spaced value \r\nContent-Length: 0\r\n\r\n";
  std::string head;
  write_upstream_head(read_head<true>(sent)->get(), {.client_ip = "1.2.3.4"}, head);
  EXPECT_EQ(head.substr(0, head.find("X-Forwarded-For")),
            "POST /p HTTP/1.1\r\nhOsT: h\r\nX-Custom: spaced value\r\nContent-Length: 0\r\n");
}

TEST(write_upstream_head, sets_forwarding_fields_on_a_plain_request) {
  const auto seen = as_upstream_sees(make_request());
  EXPECT_EQ(single(seen, "X-Forwarded-For"), "10.0.0.7");
  EXPECT_EQ(single(seen, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(single(seen, "X-Forwarded-Host"), "example.com:8080");
  EXPECT_EQ(single(seen, "Via"), "1.1 bulwark");
  EXPECT_EQ(single(seen, "Host"), "example.com:8080");
  EXPECT_EQ(single(seen, "User-Agent"), "test/1.0");
  EXPECT_EQ(seen.target(), "/path?q=1");
  EXPECT_EQ(seen.method(), http::verb::get);
  EXPECT_EQ(seen.version(), 11u);
  EXPECT_EQ(seen.count(http::field::content_length), 0u);
  EXPECT_EQ(seen.count(http::field::transfer_encoding), 0u);
}

TEST(write_upstream_head, appends_to_an_existing_x_forwarded_for) {
  auto request = make_request();
  request.set("X-Forwarded-For", "203.0.113.5");
  EXPECT_EQ(single(as_upstream_sees(request), "X-Forwarded-For"), "203.0.113.5, 10.0.0.7");
}

TEST(write_upstream_head, joins_several_x_forwarded_for_lines) {
  auto request = make_request();
  request.insert("X-Forwarded-For", "203.0.113.5");
  request.insert("x-forwarded-for", "198.51.100.1, 192.0.2.9");
  EXPECT_EQ(single(as_upstream_sees(request), "X-Forwarded-For"),
            "203.0.113.5, 198.51.100.1, 192.0.2.9, 10.0.0.7");
}

// The section is written into room sized up front (most_written): a head
// whose fields nearly all go out twice, in lists and as X-Forwarded-Host,
// with the shortest names and values, must still fit (ASan checks the room).
TEST(write_upstream_head, a_head_of_many_short_list_fields_is_written_whole) {
  upstream_request request{http::verb::get, "/", 11};
  request.set(http::field::host, "h");
  std::string forwarded, via;
  for (int i = 0; i < 200; ++i) {
    request.insert("X-Forwarded-For", "1");
    request.insert(http::field::via, "v");
    forwarded += "1, ";
    via += "v, ";
  }
  const std::vector<gateway_field> ours{{"X-Request-Id", "abc"}};
  std::string head;
  write_upstream_head(as_read(request.base())->get(),
                      {.client_ip = "10.0.0.7", .chunked = true, .gateway_fields = ours}, head);
  const auto seen = parse_head<beast::http::request_parser<http::empty_body>>(head);
  EXPECT_EQ(single(seen, "X-Forwarded-For"), forwarded + "10.0.0.7");
  EXPECT_EQ(single(seen, "Via"), via + "1.1 bulwark");
  EXPECT_EQ(single(seen, "X-Forwarded-Host"), "h");
  EXPECT_EQ(single(seen, "X-Request-Id"), "abc");
  EXPECT_EQ(single(seen, "Transfer-Encoding"), "chunked");
}

TEST(write_upstream_head, skips_empty_x_forwarded_for_lines) {
  auto request = make_request();
  request.insert("X-Forwarded-For", "");
  request.insert("X-Forwarded-For", "203.0.113.5");
  EXPECT_EQ(single(as_upstream_sees(request), "X-Forwarded-For"), "203.0.113.5, 10.0.0.7");
}

TEST(write_upstream_head, ipv6_client_address) {
  EXPECT_EQ(single(as_upstream_sees(make_request(), "2001:db8::1"), "X-Forwarded-For"),
            "2001:db8::1");
}

TEST(write_upstream_head, client_supplied_proto_and_host_are_replaced) {
  auto request = make_request();
  request.insert("X-Forwarded-Proto", "https");
  request.insert("X-Forwarded-Host", "spoofed.example");
  request.insert("x-forwarded-host", "spoofed2.example");
  const auto seen = as_upstream_sees(request);
  EXPECT_EQ(single(seen, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(single(seen, "X-Forwarded-Host"), "example.com:8080");
}

TEST(write_upstream_head, without_host_a_client_x_forwarded_host_is_not_passed_on) {
  upstream_request request{http::verb::get, "/", 10};  // HTTP/1.0: Host is optional
  request.set("X-Forwarded-Host", "spoofed.example");
  EXPECT_EQ(as_upstream_sees(request).count("X-Forwarded-Host"), 0u);
}

TEST(write_upstream_head, appends_to_an_existing_via) {
  auto request = make_request();
  request.insert(http::field::via, "1.0 fred");
  request.insert(http::field::via, "1.1 p.example.net");
  EXPECT_EQ(single(as_upstream_sees(request), "Via"), "1.0 fred, 1.1 p.example.net, 1.1 bulwark");
}

TEST(write_upstream_head, removes_expect) {
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::expect, "100-continue");
  request.set(http::field::content_length, "5");
  const auto seen = as_upstream_sees(request);
  EXPECT_EQ(seen.count(http::field::expect), 0u);
  EXPECT_EQ(single(seen, "Content-Length"), "5");
}

TEST(write_upstream_head, removes_hop_by_hop_fields) {
  auto request = make_request();
  request.insert(http::field::connection, "keep-alive, X-Hop");
  request.insert(http::field::connection, "Upgrade");
  request.insert("X-Hop", "1");
  request.insert("x-hop", "2");  // field names are case-insensitive
  request.set(http::field::keep_alive, "timeout=5");
  request.set(http::field::proxy_connection, "keep-alive");
  request.set(http::field::te, "trailers");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::trailer, "X-Sum");
  request.set("X-Kept", "k");
  const auto seen = as_upstream_sees(request);
  for (const auto* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade",
                           "Trailer", "X-Hop", "Transfer-Encoding"}) {
    EXPECT_EQ(seen.count(name), 0u) << name;
  }
  EXPECT_EQ(single(seen, "X-Kept"), "k");
}

TEST(write_upstream_head, removes_every_field_named_in_connection) {
  auto request = make_request();
  request.insert(http::field::connection, "close, X-Secret");
  request.insert(http::field::connection, " x-other ,,  X-Third\t");
  request.insert("X-Secret", "s1");
  request.insert("X-Other", "o");
  request.insert("X-Third", "t");
  const auto seen = as_upstream_sees(request);
  EXPECT_EQ(seen.count("X-Secret"), 0u);
  EXPECT_EQ(seen.count("X-Other"), 0u);
  EXPECT_EQ(seen.count("X-Third"), 0u);
}

TEST(write_upstream_head, keeps_content_length_even_when_connection_names_it) {
  // Connection: Content-Length would otherwise strip the framing and leave the
  // upstream reading the body as the next request.
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::connection, "Content-Length, close");
  request.set(http::field::content_length, "12");
  const auto seen = as_upstream_sees(request);
  EXPECT_EQ(single(seen, "Content-Length"), "12");
  EXPECT_EQ(seen.count(http::field::transfer_encoding), 0u);
}

TEST(write_upstream_head, chunked_when_asked) {
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::transfer_encoding, "chunked");
  const auto seen = as_upstream_sees(request, "10.0.0.7", true);
  EXPECT_EQ(single(seen, "Transfer-Encoding"), "chunked");
  EXPECT_EQ(seen.count(http::field::content_length), 0u);
}

TEST(write_upstream_head, chunked_even_when_connection_names_transfer_encoding) {
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::connection, "Transfer-Encoding");
  request.set(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(single(as_upstream_sees(request, "10.0.0.7", true), "Transfer-Encoding"), "chunked");
}

TEST(write_upstream_head, gateway_fields_replace_the_clients) {
  auto request = make_request();
  request.insert("X-Request-Id", "spoofed");
  request.insert("x-request-id", "twice");
  const std::vector<gateway_field> ours{{"X-Request-Id", "abc"}};
  std::string head;
  write_upstream_head(as_read(request.base())->get(),
                      {.client_ip = "10.0.0.7", .gateway_fields = ours}, head);
  const auto seen = parse_head<beast::http::request_parser<http::empty_body>>(head);
  EXPECT_EQ(single(seen, "X-Request-Id"), "abc");
  EXPECT_EQ(single(seen, "User-Agent"), "test/1.0");
}

TEST(write_upstream_head, version_is_http_1_1) {
  upstream_request request{http::verb::get, "/", 10};
  request.set(http::field::host, "h");
  EXPECT_EQ(as_upstream_sees(request).version(), 11u);
}

// --- the client response ----------------------------------------------------------

TEST(write_client_head, writes_the_exact_section_for_a_plain_response) {
  auto response = make_response(http::status::not_found);
  response.set(http::field::content_length, "3");
  std::string head;
  write_client_head(as_read(response)->get(), {}, head);
  EXPECT_EQ(head, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nVia: 1.1 bulwark\r\n\r\n");
}

TEST(write_client_head, keeps_the_upstream_reason_phrase) {
  auto response = make_response();
  response.reason("Fine");
  std::string head;
  write_client_head(as_read(response)->get(), {}, head);
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "HTTP/1.1 200 Fine");
}

TEST(write_client_head, removes_hop_by_hop_appends_via_and_speaks_1_1) {
  auto response = make_response();
  response.version(10);
  response.insert(http::field::connection, "keep-alive, X-Backend-Debug");
  response.insert(http::field::connection, "Proxy-Authenticate");
  response.insert("X-Backend-Debug", "node-3");
  response.set(http::field::proxy_authenticate, "Basic");
  response.set(http::field::keep_alive, "timeout=5, max=100");
  response.set(http::field::transfer_encoding, "chunked");
  response.set(http::field::upgrade, "h2c");
  response.set(http::field::trailer, "X-Sum");
  response.set(http::field::via, "1.1 backend");
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  const auto seen = as_client_sees(response);
  for (const auto* name : {"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Trailer",
                           "X-Backend-Debug", "Proxy-Authenticate"}) {
    EXPECT_EQ(seen.count(name), 0u) << name;
  }
  EXPECT_EQ(single(seen, "Via"), "1.1 backend, 1.1 bulwark");
  EXPECT_EQ(single(seen, "Content-Type"), "application/json");
  EXPECT_EQ(single(seen, "Cache-Control"), "no-store");
  EXPECT_EQ(seen.version(), 11u);
  EXPECT_EQ(seen.result(), http::status::ok);
}

TEST(write_client_head, via_added_when_absent) {
  EXPECT_EQ(single(as_client_sees(make_response(http::status::not_found)), "Via"), "1.1 bulwark");
}

TEST(write_client_head, keeps_content_length_even_when_connection_names_it) {
  // The request side keeps Content-Length for this reason; a response whose
  // Connection names it must not lose its framing either, or the client
  // reads until close on a connection that stays open.
  auto response = make_response();
  response.set(http::field::connection, "Content-Length");
  response.set(http::field::content_length, "5");
  EXPECT_EQ(single(as_client_sees(response), "Content-Length"), "5");
}

TEST(write_client_head, chunked_replaces_content_length_and_upstream_framing) {
  auto response = make_response();
  response.set(http::field::transfer_encoding, "gzip, chunked");
  const auto seen = as_client_sees(response, {.chunked = true});
  EXPECT_EQ(single(seen, "Transfer-Encoding"), "chunked");
  EXPECT_EQ(seen.count(http::field::content_length), 0u);
}

TEST(write_client_head, closing_says_so) {
  const auto seen = as_client_sees(make_response(), {.keep_alive = false});
  EXPECT_EQ(single(seen, "Connection"), "close");
  EXPECT_EQ(as_client_sees(make_response()).count(http::field::connection), 0u);
}

TEST(write_client_head, gateway_fields_replace_the_upstream_ones) {
  auto response = make_response();
  response.insert("X-Request-Id", "from-upstream");
  response.insert("ratelimit", "spoofed");
  response.insert("X-App", "a");
  const std::vector<gateway_field> ours{{"X-Request-Id", "abc"}, {"RateLimit", "\"p\";r=1;t=2"}};
  const auto seen = as_client_sees(response, {.gateway_fields = ours});
  EXPECT_EQ(single(seen, "X-Request-Id"), "abc");
  EXPECT_EQ(single(seen, "RateLimit"), "\"p\";r=1;t=2");
  EXPECT_EQ(single(seen, "X-App"), "a");
}

}  // namespace
}  // namespace bulwark::proxy
