// Header rewriting between the two sides (RFC 9110 §7.6, DESIGN.md §6).
#pragma once

#include <string_view>

#include "proxy/net.h"

namespace bulwark::proxy {

// Removes the hop-by-hop fields: Connection and every field it names,
// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade and Trailer
// (bulwark re-frames bodies itself and does not forward trailers).
template <bool isRequest, class Fields>
void remove_hop_by_hop(http::header<isRequest, Fields>& header);

// The request as the upstream must see it: hop-by-hop fields removed,
// X-Forwarded-For appended, X-Forwarded-Proto / -Host set, Via appended,
// Expect removed (the gateway answers 100-continue itself), framing reset
// to what the body really is.
void prepare_upstream_request(http::request<http::buffer_body>& request,
                              std::string_view client_ip, bool chunked_body);

// The response as the client must see it: hop-by-hop fields removed, Via
// appended, HTTP/1.1, framing reset to what the body really is.
void prepare_client_response(http::response_header<>& response);

}  // namespace bulwark::proxy
