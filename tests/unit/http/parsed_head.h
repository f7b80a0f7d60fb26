// Header sections in and out of the gateway, for the header tests
// (tests/unit/proxy) and the phases that read fields or add gateway fields
// (tests/unit/policy):
//   - in: a head as the gateway's parser reads it (head_parser), from text or
//     from a message built with Beast's API and written out by Beast;
//   - out: a section the gateway wrote, parsed back with Beast, so that tests
//     check what the other side would read.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/empty_body.hpp>

#include "http/net.h"

namespace bulwark::http::test {

// The gateway's reading of a whole header section. The head's text lives in
// the parser: keep the parser while the head is used.
template <bool isRequest>
std::unique_ptr<head_parser<isRequest>> read_head(std::string_view section) {
  auto parser = std::make_unique<head_parser<isRequest>>();
  parser->eager(false);
  error_code ec;
  parser->put(net::buffer(section.data(), section.size()), ec);
  EXPECT_FALSE(ec) << ec.message() << "\n" << section;
  EXPECT_TRUE(parser->is_header_done()) << section;
  return parser;
}

// The gateway's reading of `header` as Beast writes it.
template <bool isRequest, class Fields>
std::unique_ptr<head_parser<isRequest>> as_read(const http::header<isRequest, Fields>& header) {
  std::ostringstream section;
  section << header;
  return read_head<isRequest>(section.str());
}

template <class Parser>
auto parse_head(const std::string& head) {
  Parser parser;
  parser.eager(false);
  error_code ec;
  parser.put(net::buffer(head), ec);
  EXPECT_FALSE(ec) << ec.message() << "\n" << head;
  EXPECT_TRUE(parser.is_header_done()) << head;
  return parser.release().base();
}

// Every value of `name`, in order.
template <class Header>
std::vector<std::string> values_of(const Header& header, std::string_view name) {
  std::vector<std::string> values;
  for (auto [field, end] = header.equal_range(name); field != end; ++field) {
    values.emplace_back(field->value());
  }
  return values;
}

}  // namespace bulwark::http::test
