#include "proxy/relay.h"

#include <cstdio>

namespace bulwark::proxy {
namespace {

void append_fields(const http::fields& fields, std::string& out) {
  for (const auto& field : fields) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
}

void append_version(unsigned version, std::string& out) {
  out += version == 10 ? "HTTP/1.0" : "HTTP/1.1";
}

}  // namespace

void append_header_section(const http::request_header<>& header, std::string& out) {
  out += header.method_string();
  out += ' ';
  out += header.target();
  out += ' ';
  append_version(header.version(), out);
  out += "\r\n";
  append_fields(header, out);
}

void append_header_section(const http::response_header<>& header, std::string& out) {
  append_version(header.version(), out);
  out += ' ';
  out += std::to_string(header.result_int());
  out += ' ';
  const auto reason = header.reason();
  out += reason.empty() ? http::obsolete_reason(header.result()) : reason;
  out += "\r\n";
  append_fields(header, out);
}

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
