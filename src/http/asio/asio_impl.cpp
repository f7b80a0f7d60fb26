// The one translation unit that compiles Asio and Beast (separate compilation,
// BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION). Every
// other file includes only their declarations, which keeps a full build short.
#include <boost/asio/impl/src.hpp>
// Of Beast, the core and HTTP parts only: <boost/beast/src.hpp> would also
// compile WebSocket, zlib and the test stream, which bulwark does not use (a
// third of this file's compile time). Something newly used from Beast that is
// missing here fails the link, naming it. The macro is the one beast/src.hpp
// defines: it turns on the explicit instantiations (basic_parser<true/false>).
#define BOOST_BEAST_SOURCE
#include <boost/beast/core/detail/config.hpp>
#include <boost/beast/core/detail/impl/temporary_buffer.ipp>
#include <boost/beast/core/impl/error.ipp>
#include <boost/beast/core/impl/saved_handler.ipp>
#include <boost/beast/core/impl/string.ipp>
#include <boost/beast/http/detail/basic_parser.ipp>
#include <boost/beast/http/detail/rfc7230.ipp>
#include <boost/beast/http/impl/basic_parser.ipp>
#include <boost/beast/http/impl/error.ipp>
#include <boost/beast/http/impl/field.ipp>
#include <boost/beast/http/impl/fields.ipp>
#include <boost/beast/http/impl/rfc7230.ipp>
#include <boost/beast/http/impl/status.ipp>
#include <boost/beast/http/impl/verb.ipp>
