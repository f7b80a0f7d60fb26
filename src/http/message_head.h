// The head of an HTTP/1.1 message as the gateway reads it, and the parser
// that fills it.
//
// Beast's basic_parser reads the message: it finds the start line and the
// field lines (its checks are the ones every Beast server relies on; ours in
// message_checks.h come on top), and it frames the body. What it finds is
// kept flat, the way nginx keeps a request's headers: one copy of the text
// of the head, made while parsing, and a list of views into it, in the order
// received. Beast's own message (http::parser) keeps each field in a node of
// its own, allocated and inserted into a tree, and frees them one by one:
// about 1,000 instructions per proxied request for the request and the
// response together, for a head the gateway reads a few times and writes out
// once (proxy/headers.h).
//
// The body is not kept either: each piece the parser finds stays where it
// was read, in the connection's buffer, and piece() shows it. The relay
// writes the piece out before it reads again, so a body crosses the gateway
// without a copy in user space. (buffer_body, as in Beast's http_relay
// example, copies every piece into a second buffer first: 16 KiB of memcpy
// per 16 KiB response.) Beast's parser hands the body over one piece per
// put() (its non-eager mode, the default: it returns after each header,
// chunk header or piece of body), so after a put the piece is exactly what
// that put found.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace bulwark::http {

// bulwark::http is Beast's HTTP vocabulary with the gateway's own added:
// http::field, http::verb and http::status are Beast's, http::request_head and
// http::gateway_field ours. Where a name is both (request_parser,
// response_parser), http:: means ours; Beast's is beast::http::.
using namespace boost::beast::http;

template <bool isRequest>
class head_parser;

// One field line, as received (the value without its surrounding
// whitespace). A view of the text its parser keeps: valid while the parser
// lives.
class field_line {
 public:
  http::field name() const { return name_; }
  std::string_view name_string() const { return {text_ + name_at_, name_size_}; }
  std::string_view value() const { return {text_ + name_at_ + name_size_ + 2, value_size_}; }
  // `name: value\r\n`, as written on the wire (the parser keeps it so), for
  // a field passed on unchanged.
  std::string_view line() const { return {text_ + name_at_, name_size_ + value_size_ + 4}; }

 private:
  template <bool>
  friend class head_parser;

  const char* text_ = nullptr;  // set once the whole head is in (offsets until then)
  http::field name_ = http::field::unknown;
  std::uint32_t name_at_ = 0, name_size_ = 0, value_size_ = 0;
};

// The field lines of a head, in the order received; lookups compare names
// case-insensitively and take the first line of a name.
class head_fields {
 public:
  using const_iterator = const field_line*;

  const_iterator begin() const { return lines_.data(); }
  const_iterator end() const { return lines_.data() + lines_.size(); }
  std::size_t size() const { return lines_.size(); }

  const_iterator find(http::field name) const;
  const_iterator find(std::string_view name) const;
  std::size_t count(http::field name) const;
  // The first value of `name`; empty when there is none.
  std::string_view operator[](http::field name) const;
  // Removes one line (a phase keeps a field from the upstream); returns the
  // line after it.
  const_iterator erase(const_iterator line);

 private:
  template <bool>
  friend class head_parser;

  // Inline for the usual handful of fields.
  boost::container::small_vector<field_line, 8> lines_;
};

class request_head : public head_fields {
 public:
  http::verb method() const { return method_; }
  std::string_view method_string() const { return method_string_; }
  std::string_view target() const { return target_; }
  unsigned version() const { return version_; }  // 10 or 11

 private:
  template <bool>
  friend class head_parser;

  http::verb method_ = http::verb::unknown;
  std::string_view method_string_;
  std::string_view target_;
  unsigned version_ = 11;
};

class response_head : public head_fields {
 public:
  unsigned status() const { return status_; }
  std::string_view reason() const { return reason_; }
  unsigned version() const { return version_; }

 private:
  template <bool>
  friend class head_parser;

  unsigned status_ = 0;
  std::string_view reason_;
  unsigned version_ = 11;
};

// Parses one message, as http::parser does (one parser per message; the
// framing queries, limits and put/put_eof are basic_parser's), into a flat
// head and body pieces. Neither copied nor moved: the head's views point
// into the parser.
template <bool isRequest>
class head_parser final : public http::basic_parser<isRequest> {
 public:
  using head_type = std::conditional_t<isRequest, request_head, response_head>;

  head_parser() = default;
  head_parser(const head_parser&) = delete;
  head_parser& operator=(const head_parser&) = delete;

  // Complete once is_header_done().
  head_type& get() { return head_; }
  const head_type& get() const { return head_; }

  // The body bytes the last put() found (empty: none), in the buffer that
  // put() read: valid until that buffer is read into again.
  std::string_view piece() const { return piece_; }
  void clear_piece() { piece_ = {}; }

 private:
  using error_code = boost::system::error_code;
  using beast_view = boost::beast::string_view;

  struct text_span {
    std::uint32_t at = 0, size = 0;
  };

  // Copies `text` into the head's text; where it is, once all is in.
  text_span keep(beast_view text);
  // `size` more bytes at the end of the head's text, to be written.
  char* grow(std::size_t size);
  std::string_view view(text_span span) const { return {text_.data() + span.at, span.size}; }

  void on_request_impl(http::verb method, beast_view method_string, beast_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int status, beast_view reason, int version, error_code& ec) override;
  void on_field_impl(http::field name, beast_view name_string, beast_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code& ec) override {
    ec = {};
  }
  std::size_t on_body_impl(beast_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, beast_view, error_code& ec) override { ec = {}; }
  std::size_t on_chunk_body_impl(std::uint64_t, beast_view body, error_code& ec) override;
  void on_finish_impl(error_code& ec) override { ec = {}; }

  head_type head_;
  // The start line's text (method and target, or reason) until the head is in.
  text_span first_, second_;
  // The text of the head: the start line's parts and every field line,
  // inline for the usual API request or response. (The request's parser
  // lives in its connection's coroutine frame, idle or not: the inline room
  // is paid per connection.)
  boost::container::small_vector<char, 256> text_;
  std::string_view piece_;
};

using request_parser = head_parser<true>;
using response_parser = head_parser<false>;

extern template class head_parser<true>;
extern template class head_parser<false>;

}  // namespace bulwark::http
