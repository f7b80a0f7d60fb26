// headers: rewriting between the two sides (RFC 9110 §7.6, DESIGN.md §6).
// Hop-by-hop fields, including every field a Connection line names, must not
// cross the gateway in either direction; the forwarding fields are appended
// to, never replaced, so a chain of proxies stays visible to the upstream.
#include "proxy/headers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bulwark::proxy {
namespace {

using upstream_request = http::request<http::buffer_body>;

// Every value of `name`, in order.
template <class Header>
std::vector<std::string> values_of(const Header& header, std::string_view name) {
  std::vector<std::string> values;
  for (auto [field, end] = header.equal_range(name); field != end; ++field) {
    values.emplace_back(field->value());
  }
  return values;
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

// --- remove_hop_by_hop ------------------------------------------------------------

TEST(remove_hop_by_hop, removes_the_standard_hop_by_hop_fields) {
  http::request_header<> header;
  header.set(http::field::host, "h");
  header.set(http::field::connection, "keep-alive");
  header.set(http::field::keep_alive, "timeout=5");
  header.set(http::field::proxy_connection, "keep-alive");
  header.set(http::field::te, "trailers");
  header.set(http::field::transfer_encoding, "chunked");
  header.set(http::field::upgrade, "websocket");
  header.set(http::field::trailer, "X-Checksum");
  header.set(http::field::accept, "*/*");
  remove_hop_by_hop(header);
  for (const auto* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE",
                           "Transfer-Encoding", "Upgrade", "Trailer"}) {
    EXPECT_EQ(header.count(name), 0u) << name;
  }
  EXPECT_EQ(single(header, "Host"), "h");
  EXPECT_EQ(single(header, "Accept"), "*/*");
}

TEST(remove_hop_by_hop, removes_every_field_named_in_connection) {
  http::request_header<> header;
  header.insert(http::field::connection, "close, X-Secret");
  header.insert(http::field::connection, " x-other ,,  X-Third\t");
  header.insert("X-Secret", "s1");
  header.insert("x-secret", "s2");  // field names are case-insensitive
  header.insert("X-Other", "o");
  header.insert("X-Third", "t");
  header.insert("X-Kept", "k");
  remove_hop_by_hop(header);
  EXPECT_EQ(header.count("X-Secret"), 0u);
  EXPECT_EQ(header.count("X-Other"), 0u);
  EXPECT_EQ(header.count("X-Third"), 0u);
  EXPECT_EQ(header.count(http::field::connection), 0u);
  EXPECT_EQ(single(header, "X-Kept"), "k");
}

TEST(remove_hop_by_hop, connection_naming_absent_fields_is_harmless) {
  http::response_header<> header;
  header.set(http::field::connection, "X-Absent, close");
  header.set(http::field::server, "s");
  remove_hop_by_hop(header);
  EXPECT_EQ(single(header, "Server"), "s");
  EXPECT_EQ(header.count(http::field::connection), 0u);
}

TEST(remove_hop_by_hop, works_on_responses) {
  http::response_header<> header;
  header.insert(http::field::connection, "X-Internal");
  header.insert("X-Internal", "debug");
  header.set(http::field::upgrade, "h2c");
  header.set(http::field::content_type, "text/plain");
  remove_hop_by_hop(header);
  EXPECT_EQ(header.count("X-Internal"), 0u);
  EXPECT_EQ(header.count(http::field::upgrade), 0u);
  EXPECT_EQ(single(header, "Content-Type"), "text/plain");
}

// --- prepare_upstream_request -----------------------------------------------------

TEST(prepare_upstream_request, sets_forwarding_fields_on_a_plain_request) {
  auto request = make_request();
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(single(request, "X-Forwarded-For"), "10.0.0.7");
  EXPECT_EQ(single(request, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(single(request, "X-Forwarded-Host"), "example.com:8080");
  EXPECT_EQ(single(request, "Via"), "1.1 bulwark");
  EXPECT_EQ(single(request, "Host"), "example.com:8080");
  EXPECT_EQ(single(request, "User-Agent"), "test/1.0");
  EXPECT_EQ(request.target(), "/path?q=1");
  EXPECT_EQ(request.method(), http::verb::get);
  EXPECT_EQ(request.version(), 11u);
  EXPECT_EQ(request.count(http::field::content_length), 0u);
  EXPECT_EQ(request.count(http::field::transfer_encoding), 0u);
}

TEST(prepare_upstream_request, appends_to_an_existing_x_forwarded_for) {
  auto request = make_request();
  request.set("X-Forwarded-For", "203.0.113.5");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(single(request, "X-Forwarded-For"), "203.0.113.5, 10.0.0.7");
}

TEST(prepare_upstream_request, joins_several_x_forwarded_for_lines) {
  auto request = make_request();
  request.insert("X-Forwarded-For", "203.0.113.5");
  request.insert("x-forwarded-for", "198.51.100.1, 192.0.2.9");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(single(request, "X-Forwarded-For"),
            "203.0.113.5, 198.51.100.1, 192.0.2.9, 10.0.0.7");
}

TEST(prepare_upstream_request, ipv6_client_address) {
  auto request = make_request();
  prepare_upstream_request(request, "2001:db8::1", false);
  EXPECT_EQ(single(request, "X-Forwarded-For"), "2001:db8::1");
}

TEST(prepare_upstream_request, client_supplied_proto_and_host_are_replaced) {
  auto request = make_request();
  request.insert("X-Forwarded-Proto", "https");
  request.insert("X-Forwarded-Host", "spoofed.example");
  request.insert("X-Forwarded-Host", "spoofed2.example");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(single(request, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(single(request, "X-Forwarded-Host"), "example.com:8080");
}

TEST(prepare_upstream_request, without_host_a_client_x_forwarded_host_is_not_passed_on) {
  upstream_request request{http::verb::get, "/", 10};  // HTTP/1.0: Host is optional
  request.set("X-Forwarded-Host", "spoofed.example");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(request.count("X-Forwarded-Host"), 0u);
}

TEST(prepare_upstream_request, appends_to_an_existing_via) {
  auto request = make_request();
  request.insert(http::field::via, "1.0 fred");
  request.insert(http::field::via, "1.1 p.example.net");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(single(request, "Via"), "1.0 fred, 1.1 p.example.net, 1.1 bulwark");
}

TEST(prepare_upstream_request, removes_expect) {
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::expect, "100-continue");
  request.set(http::field::content_length, "5");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(request.count(http::field::expect), 0u);
  EXPECT_EQ(single(request, "Content-Length"), "5");
}

TEST(prepare_upstream_request, removes_hop_by_hop_fields) {
  auto request = make_request();
  request.insert(http::field::connection, "keep-alive, X-Hop");
  request.insert(http::field::connection, "Upgrade");
  request.insert("X-Hop", "1");
  request.set(http::field::keep_alive, "timeout=5");
  request.set(http::field::proxy_connection, "keep-alive");
  request.set(http::field::te, "trailers");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::trailer, "X-Sum");
  prepare_upstream_request(request, "10.0.0.7", false);
  for (const auto* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade",
                           "Trailer", "X-Hop", "Transfer-Encoding"}) {
    EXPECT_EQ(request.count(name), 0u) << name;
  }
}

TEST(prepare_upstream_request, keeps_content_length_even_when_connection_names_it) {
  // Connection: Content-Length would otherwise strip the framing and leave the
  // upstream reading the body as the next request.
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::connection, "Content-Length, close");
  request.set(http::field::content_length, "12");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(single(request, "Content-Length"), "12");
  EXPECT_EQ(request.count(http::field::transfer_encoding), 0u);
}

TEST(prepare_upstream_request, chunked_when_asked) {
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::transfer_encoding, "chunked");
  prepare_upstream_request(request, "10.0.0.7", true);
  EXPECT_EQ(single(request, "Transfer-Encoding"), "chunked");
  EXPECT_TRUE(request.chunked());
  EXPECT_EQ(request.count(http::field::content_length), 0u);
}

TEST(prepare_upstream_request, chunked_even_when_connection_names_transfer_encoding) {
  auto request = make_request();
  request.method(http::verb::post);
  request.set(http::field::connection, "Transfer-Encoding");
  request.set(http::field::transfer_encoding, "chunked");
  prepare_upstream_request(request, "10.0.0.7", true);
  EXPECT_EQ(single(request, "Transfer-Encoding"), "chunked");
}

TEST(prepare_upstream_request, version_is_http_1_1) {
  upstream_request request{http::verb::get, "/", 10};
  request.set(http::field::host, "h");
  prepare_upstream_request(request, "10.0.0.7", false);
  EXPECT_EQ(request.version(), 11u);
}

// --- prepare_client_response ------------------------------------------------------

TEST(prepare_client_response, removes_hop_by_hop_appends_via_and_speaks_1_1) {
  http::response_header<> response;
  response.version(10);
  response.result(http::status::ok);
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
  prepare_client_response(response);
  for (const auto* name : {"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Trailer",
                           "X-Backend-Debug", "Proxy-Authenticate"}) {
    EXPECT_EQ(response.count(name), 0u) << name;
  }
  EXPECT_EQ(single(response, "Via"), "1.1 backend, 1.1 bulwark");
  EXPECT_EQ(single(response, "Content-Type"), "application/json");
  EXPECT_EQ(single(response, "Cache-Control"), "no-store");
  EXPECT_EQ(response.version(), 11u);
  EXPECT_EQ(response.result(), http::status::ok);
}

TEST(prepare_client_response, via_added_when_absent) {
  http::response_header<> response;
  response.version(11);
  response.result(http::status::not_found);
  prepare_client_response(response);
  EXPECT_EQ(single(response, "Via"), "1.1 bulwark");
}

TEST(prepare_client_response, keeps_content_length_even_when_connection_names_it) {
  // The request side keeps Content-Length for this reason (headers.cpp); a
  // response whose Connection names it must not lose its framing either, or
  // the client reads until close on a connection that stays open.
  http::response_header<> response;
  response.version(11);
  response.result(http::status::ok);
  response.set(http::field::connection, "Content-Length");
  response.set(http::field::content_length, "5");
  prepare_client_response(response);
  EXPECT_EQ(single(response, "Content-Length"), "5");
}

}  // namespace
}  // namespace bulwark::proxy
