// The admin API: /health/live, /health/ready, /metrics, /admin/status,
// /admin/reload, /admin/keys (keys_api.h).
// When `admin.token_env` names a set environment variable, every /admin/*
// call needs `Authorization: Bearer <token>` (compared in constant time);
// /health/* stay open.
#pragma once

#include <functional>
#include <string>

#include "http/net.h"
#include "proxy/gateway.h"

namespace bulwark::admin {

namespace net = http::net;
using http::tcp;

// A response of the admin API.
struct admin_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class admin_server {
 public:
  // `token` empty: no authentication.
  admin_server(net::io_context& io, proxy::gateway& gateway, std::string token);

  // Binds and starts serving; logs `admin listening` with the bound address.
  bool start(const config::address& bind);

  // The routing of one request, without I/O (used by the tests of the API).
  admin_response handle(std::string_view method, std::string_view target,
                        std::string_view authorization, std::string_view body = {});

 private:
  http::awaitable<void> accept_loop();
  http::awaitable<void> serve(http::tcp_socket socket);
  bool authorized(std::string_view authorization) const;

  net::io_context& io_;
  proxy::gateway& gateway_;
  std::string token_;
  http::tcp_acceptor acceptor_;
};

}  // namespace bulwark::admin
