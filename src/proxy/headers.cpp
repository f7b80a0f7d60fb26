#include "proxy/headers.h"

#include <charconv>
#include <cstring>
#include <vector>

#include "http/strings.h"

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

// Writes a section through a pointer into room made once, for at most
// `most` bytes: std::string::append checks the capacity and calls memcpy for
// each piece, and a section has some forty pieces.
class section_writer {
 public:
  section_writer(std::string& out, std::size_t most) : out_(out) {
    const auto begin = out.size();
    out.resize(begin + most);
    at_ = out.data() + begin;
  }
  section_writer(const section_writer&) = delete;
  section_writer& operator=(const section_writer&) = delete;
  ~section_writer() { out_.resize(static_cast<std::size_t>(at_ - out_.data())); }

  section_writer& operator<<(std::string_view text) {
    if (!text.empty()) std::memcpy(at_, text.data(), text.size());
    at_ += text.size();
    return *this;
  }

  void line(std::string_view name, std::string_view value) {
    *this << name << ": " << value << "\r\n";
  }

  // One line for a comma-separated list field: the values of every field
  // that `is_member` picks, in order, then `last`.
  template <class IsMember>
  void list(const head_fields& fields, std::string_view name, IsMember is_member,
            std::string_view last) {
    *this << name << ": ";
    for (const auto& field : fields) {
      if (!is_member(field)) continue;
      const auto value = trim_ows(field.value());
      if (!value.empty()) *this << value << ", ";
    }
    *this << last << "\r\n";
  }

 private:
  std::string& out_;
  char* at_;
};

// Room for any section written from `fields` and `gateway_fields` plus
// `other` bytes of text: each field goes out at most twice (as its own line,
// and as a list member or the value of another line: Host also becomes
// X-Forwarded-Host), each gateway field once, and the fixed text of a
// section (names, the version, the framing lines) is under 256 bytes.
std::size_t most_written(const head_fields& fields, std::span<const gateway_field> gateway_fields,
                         std::size_t other) {
  std::size_t most = 256 + other;
  for (const auto& field : fields) most += 2 * field.line().size();
  for (const auto& [name, value] : gateway_fields) most += name.size() + value.size() + 4;
  return most;
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

}  // namespace

void write_upstream_head(const request_head& request, const upstream_head& how, std::string& out) {
  section_writer section(out, most_written(request, how.gateway_fields,
                                           request.method_string().size() +
                                               request.target().size() + how.client_ip.size()));
  section << request.method_string() << " " << request.target() << " HTTP/1.1\r\n";
  const auto named = connection_options(request);
  const field_line* host = nullptr;
  for (const auto& field : request) {
    if (dropped(field, named) || field.name() == http::field::expect || is_via(field) ||
        forwarding_field(field) != forwarding::none ||
        set_by_gateway(field.name_string(), how.gateway_fields)) {
      continue;
    }
    if (field.name() == http::field::host && host == nullptr) host = &field;
    section << field.line();
  }
  section.list(request, "X-Forwarded-For", is_x_forwarded_for, how.client_ip);
  section << "X-Forwarded-Proto: http\r\n";
  if (host != nullptr) section.line("X-Forwarded-Host", host->value());
  section.list(request, "Via", is_via, via_value);
  for (const auto& [name, value] : how.gateway_fields) section.line(name, value);
  if (how.chunked) section << "Transfer-Encoding: chunked\r\n";
  section << "\r\n";
}

void write_client_head(const response_head& response, const client_head& how, std::string& out) {
  const auto reason =
      response.reason().empty()
          ? std::string_view(http::obsolete_reason(http::int_to_status(response.status())))
          : response.reason();
  char code[8];
  const auto printed = std::to_chars(code, code + sizeof code, response.status());
  section_writer section(out, most_written(response, how.gateway_fields, reason.size()));
  section << "HTTP/1.1 " << std::string_view(code, printed.ptr) << " " << reason << "\r\n";
  const auto named = connection_options(response);
  for (const auto& field : response) {
    if (dropped(field, named) || is_via(field) ||
        (how.chunked && field.name() == http::field::content_length) ||
        set_by_gateway(field.name_string(), how.gateway_fields)) {
      continue;
    }
    section << field.line();
  }
  section.list(response, "Via", is_via, via_value);
  for (const auto& [name, value] : how.gateway_fields) section.line(name, value);
  if (how.chunked) section << "Transfer-Encoding: chunked\r\n";
  if (!how.keep_alive) section << "Connection: close\r\n";
  section << "\r\n";
}

}  // namespace bulwark::proxy
