#include "proxy/headers.h"

#include <charconv>
#include <vector>

#include "proxy/strings.h"

namespace bulwark::proxy {
namespace {

constexpr std::string_view via_value = "1.1 bulwark";

bool is_hop_by_hop(http::field name) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::trailer:
      return true;
    default:
      return false;
  }
}

// The fields the Connection lines name besides the keep-alive and close
// options (RFC 9110 §7.6.1): dropped with them. Empty for nearly every
// message, so the common path allocates nothing. Content-Length is never
// among them: a Connection option naming it is bogus, and dropping it would
// leave the other side reading the body as the next message.
std::vector<std::string_view> connection_options(const head_fields& fields) {
  std::vector<std::string_view> named;
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    for_each_list_item(field.value(), [&named](std::string_view option) {
      if (!iequals(option, "close") && !iequals(option, "keep-alive") &&
          !iequals(option, "content-length")) {
        named.push_back(option);
      }
    });
  }
  return named;
}

bool dropped(const field_line& field, const std::vector<std::string_view>& named) {
  if (is_hop_by_hop(field.name())) return true;
  for (const auto option : named) {
    if (iequals(option, field.name_string())) return true;
  }
  return false;
}

enum class forwarding { none, x_forwarded_for, x_forwarded_proto, x_forwarded_host };

forwarding forwarding_field(const field_line& field) {
  if (field.name() != http::field::unknown) return forwarding::none;  // Beast has no enum for these
  const auto name = field.name_string();
  if (name.size() < 15 || ascii_lower(name.front()) != 'x') return forwarding::none;
  if (iequals(name, "x-forwarded-for")) return forwarding::x_forwarded_for;
  if (iequals(name, "x-forwarded-proto")) return forwarding::x_forwarded_proto;
  if (iequals(name, "x-forwarded-host")) return forwarding::x_forwarded_host;
  return forwarding::none;
}

void append_line(std::string_view name, std::string_view value, std::string& out) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void append_line(const field_line& field, std::string& out) {
  out.append(field.line());
}

// One line for a comma-separated list field: the values of every field that
// `is_member` picks, in order, then `last`.
template <class IsMember>
void append_list(const head_fields& fields, std::string_view name, IsMember is_member,
                 std::string_view last, std::string& out) {
  out.append(name);
  out.append(": ");
  for (const auto& field : fields) {
    if (!is_member(field)) continue;
    const auto value = trim_ows(field.value());
    if (value.empty()) continue;
    out.append(value);
    out.append(", ");
  }
  out.append(last);
  out.append("\r\n");
}

bool is_via(const field_line& field) { return field.name() == http::field::via; }

bool is_x_forwarded_for(const field_line& field) {
  return forwarding_field(field) == forwarding::x_forwarded_for;
}

bool set_by_gateway(std::string_view name, std::span<const gateway_field> fields) {
  for (const auto& field : fields) {
    if (iequals(field.name, name)) return true;
  }
  return false;
}

void append_status_line(const response_head& response, std::string& out) {
  char code[8];
  const auto printed = std::to_chars(code, code + sizeof code, response.status());
  out.append("HTTP/1.1 ");
  out.append(code, printed.ptr);
  out.push_back(' ');
  const auto reason = response.reason();
  out.append(reason.empty()
                 ? std::string_view(http::obsolete_reason(http::int_to_status(response.status())))
                 : reason);
  out.append("\r\n");
}

}  // namespace

void write_upstream_head(const request_head& request, const upstream_head& how, std::string& out) {
  out.append(request.method_string());
  out.push_back(' ');
  out.append(request.target());
  out.append(" HTTP/1.1\r\n");
  const auto named = connection_options(request);
  const field_line* host = nullptr;
  for (const auto& field : request) {
    if (dropped(field, named) || field.name() == http::field::expect || is_via(field) ||
        forwarding_field(field) != forwarding::none ||
        set_by_gateway(field.name_string(), how.gateway_fields)) {
      continue;
    }
    if (field.name() == http::field::host && host == nullptr) host = &field;
    append_line(field, out);
  }
  append_list(request, "X-Forwarded-For", is_x_forwarded_for, how.client_ip, out);
  out.append("X-Forwarded-Proto: http\r\n");
  if (host != nullptr) append_line("X-Forwarded-Host", host->value(), out);
  append_list(request, "Via", is_via, via_value, out);
  for (const auto& [name, value] : how.gateway_fields) append_line(name, value, out);
  if (how.chunked) out.append("Transfer-Encoding: chunked\r\n");
  out.append("\r\n");
}

void write_client_head(const response_head& response, const client_head& how, std::string& out) {
  append_status_line(response, out);
  const auto named = connection_options(response);
  for (const auto& field : response) {
    if (dropped(field, named) || is_via(field) ||
        (how.chunked && field.name() == http::field::content_length) ||
        set_by_gateway(field.name_string(), how.gateway_fields)) {
      continue;
    }
    append_line(field, out);
  }
  append_list(response, "Via", is_via, via_value, out);
  for (const auto& [name, value] : how.gateway_fields) append_line(name, value, out);
  if (how.chunked) out.append("Transfer-Encoding: chunked\r\n");
  if (!how.keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
}

}  // namespace bulwark::proxy
