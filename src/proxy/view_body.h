// A Beast Body that copies nothing: each piece of body the parser finds stays
// where it was read, in the connection's buffer, and the message shows it as
// a view. The relay writes the piece out before it reads again, so a body
// crosses the gateway without a copy in user space. (buffer_body, as in
// Beast's http_relay example, copies every piece into a second buffer first:
// 16 KiB of memcpy per 16 KiB response.)
//
// The view is valid until the buffer is read into again. Beast's parser
// hands the body over one piece per put() (its non-eager mode, the default:
// it returns after each header, chunk header or piece of body), so after a
// put the view is exactly the piece that put found.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

#include <cstdint>
#include <string_view>

namespace bulwark::proxy {

struct view_body {
  struct value_type {
    std::string_view piece;  // the body bytes the last put() found; empty: none
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>&, boost::system::error_code& ec) { ec = {}; }

    template <class ConstBuffers>
    std::size_t put(const ConstBuffers& buffers, boost::system::error_code& ec) {
      ec = {};
      // The parser passes one contiguous piece (basic_parser::on_body_impl).
      const auto first = *boost::asio::buffer_sequence_begin(buffers);
      body_.piece = {static_cast<const char*>(first.data()), first.size()};
      return first.size();
    }

    void finish(boost::system::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

}  // namespace bulwark::proxy
