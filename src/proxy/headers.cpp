#include "proxy/headers.h"

#include <string>
#include <vector>

#include "proxy/strings.h"

namespace bulwark::proxy {
namespace {

constexpr std::string_view via_value = "1.1 bulwark";

// Joins every line of a repeated field into one comma-separated value.
template <class Fields>
std::string joined_values(const Fields& fields, std::string_view name) {
  std::string joined;
  for (auto [field, end] = fields.equal_range(name); field != end; ++field) {
    if (!joined.empty()) joined += ", ";
    joined += field->value();
  }
  return joined;
}

template <class Fields>
void append_to_list(Fields& fields, std::string_view name, std::string_view value) {
  std::string joined = joined_values(fields, name);
  joined += joined.empty() ? "" : ", ";
  joined += value;
  fields.set(name, joined);
}

}  // namespace

template <bool isRequest, class Fields>
void remove_hop_by_hop(http::header<isRequest, Fields>& header) {
  std::vector<std::string> named;
  for (auto [field, end] = header.equal_range(http::field::connection); field != end; ++field) {
    for (const auto option : split_list(field->value())) named.emplace_back(option);
  }
  for (const auto& name : named) {
    // A Connection option naming Content-Length is bogus: framing is decided
    // from the body, so the length stays.
    if (!iequals(name, "content-length")) header.erase(name);
  }
  for (const auto field : {http::field::connection, http::field::keep_alive,
                           http::field::proxy_connection, http::field::te,
                           http::field::transfer_encoding, http::field::upgrade,
                           http::field::trailer}) {
    header.erase(field);
  }
}

template void remove_hop_by_hop(http::header<true, http::fields>&);
template void remove_hop_by_hop(http::header<false, http::fields>&);

void prepare_upstream_request(http::request<http::buffer_body>& request,
                              std::string_view client_ip, bool chunked_body) {
  remove_hop_by_hop(request);
  request.erase(http::field::expect);

  append_to_list(request, "X-Forwarded-For", client_ip);
  request.set("X-Forwarded-Proto", "http");
  // Set from Host, or removed: a client's own copy must never pass as ours.
  const auto host = request.find(http::field::host);
  if (host != request.end()) {
    request.set("X-Forwarded-Host", std::string(host->value()));
  } else {
    request.erase("X-Forwarded-Host");
  }
  append_to_list(request, "Via", via_value);

  request.version(11);
  if (chunked_body) request.chunked(true);
}

void prepare_client_response(http::response_header<>& response) {
  remove_hop_by_hop(response);
  append_to_list(response, "Via", via_value);
  response.version(11);
}

}  // namespace bulwark::proxy
