// The one translation unit that compiles Asio and Beast (separate compilation,
// BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION). Every
// other file includes only their declarations, which keeps a full build short.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
