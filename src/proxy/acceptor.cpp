#include "proxy/acceptor.h"

#include <sys/socket.h>

#include <cerrno>

namespace bulwark::proxy {

std::optional<tcp_acceptor> bind_acceptor(net::io_context& io, const tcp::endpoint& endpoint,
                                          port_sharing sharing, error_code& ec) {
  tcp_acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec && sharing == port_sharing::reuse_port) {
    // Every worker binds its own acceptor to the same port; the kernel
    // spreads new connections over them.
    const int on = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return std::nullopt;
  return acceptor;
}

}  // namespace bulwark::proxy
