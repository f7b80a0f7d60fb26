// The header sections the gateway sends (RFC 9110 §7.6, DESIGN.md §6),
// written straight from the parsed message in one pass, the way nginx builds
// its upstream request: the parsed fields are never edited for the other
// side. (Editing Beast's field list — erase the hop-by-hop fields, join and
// set the forwarding ones — allocated a node per field set and searched the
// list once per name: about 4k instructions per proxied request.)
//
// Both directions drop the hop-by-hop fields: Connection and every field it
// names (except Content-Length: framing is decided from the body),
// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade and Trailer;
// bulwark frames bodies itself and does not forward trailers. The forwarding
// lists (X-Forwarded-For, Via) are appended to, never replaced, and written
// as one line, so a chain of proxies stays visible to the upstream.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/vocabulary.h"

namespace bulwark::proxy {

struct upstream_head {
  std::string_view client_ip;  // appended to X-Forwarded-For
  bool chunked = false;        // the body goes out chunked
  std::span<const gateway_field> gateway_fields;
};

// Appends the request header section as the upstream must see it: HTTP/1.1,
// hop-by-hop fields and Expect removed (the gateway answers 100-continue
// itself), X-Forwarded-For and Via appended to, X-Forwarded-Proto and
// X-Forwarded-Host set (the latter from Host, or left out: a client's own
// copy never passes as ours), the gateway's fields in place of the client's
// of the same names, Transfer-Encoding: chunked when `chunked`.
void write_upstream_head(const request_head& request, const upstream_head& how,
                         std::string& out);

struct client_head {
  bool chunked = false;     // the body goes out chunked (Content-Length dropped)
  bool keep_alive = true;   // false: Connection: close
  std::span<const gateway_field> gateway_fields;
};

// Appends the response header section as the client must see it: HTTP/1.1,
// hop-by-hop fields removed, Via appended to, the gateway's fields in place
// of the upstream's of the same names, then the framing.
void write_client_head(const response_head& response, const client_head& how,
                       std::string& out);

}  // namespace bulwark::proxy
