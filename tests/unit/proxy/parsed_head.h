// A header section the gateway wrote, parsed back with Beast: tests check what
// the other side would read. Shared by the header tests (tests/unit/proxy) and
// the phases that add gateway fields (tests/unit/policy).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/net.h"

namespace bulwark::proxy::test {

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

}  // namespace bulwark::proxy::test
