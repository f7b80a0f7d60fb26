#include "proxy/relay.h"

#include <cstdio>

namespace bulwark::proxy {

std::span<const net::const_buffer> body_framer::frame(std::string_view head, std::string_view data,
                                                      bool last) {
  std::size_t count = 0;
  const auto add = [&](std::string_view piece) {
    if (!piece.empty()) buffers_[count++] = net::buffer(piece.data(), piece.size());
  };
  add(head);
  if (chunked_ && !data.empty()) {
    const int n = std::snprintf(size_line_, sizeof size_line_, "%zx\r\n", data.size());
    add({size_line_, static_cast<std::size_t>(n)});
  }
  add(data);
  if (chunked_ && !data.empty()) add("\r\n");
  if (chunked_ && last) add("0\r\n\r\n");
  return {buffers_.data(), count};
}

}  // namespace bulwark::proxy
