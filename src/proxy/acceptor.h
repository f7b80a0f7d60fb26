// Opening a listening socket: the one place that binds, for the workers'
// listeners and the admin server alike.
#pragma once

#include <optional>

#include "proxy/vocabulary.h"

namespace bulwark::proxy {

enum class port_sharing { exclusive, reuse_port };

// Opens, binds (SO_REUSEADDR, and SO_REUSEPORT when asked) and listens;
// nullopt with `ec` set on failure.
std::optional<tcp_acceptor> bind_acceptor(net::io_context& io, const tcp::endpoint& endpoint,
                                          port_sharing sharing, error_code& ec);

}  // namespace bulwark::proxy
