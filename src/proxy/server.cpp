#include "proxy/server.h"

#include <boost/asio/signal_set.hpp>

#include "observe/log.h"
#include "proxy/net.h"
#include "proxy/worker.h"

namespace bulwark::proxy {
namespace {

using observe::log;
using observe::log_level;

std::optional<std::vector<tcp::endpoint>> resolve(const std::vector<config::address>& addresses) {
  net::io_context io;
  tcp::resolver resolver(io);
  std::vector<tcp::endpoint> endpoints;
  for (const auto& address : addresses) {
    error_code ec;
    const auto results = resolver.resolve(address.host, std::to_string(address.port),
                                          tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      log(log_level::error, "cannot resolve upstream endpoint",
          {{"endpoint", address.text()}, {"error", ec.message()}});
      return std::nullopt;
    }
    endpoints.push_back(results.begin()->endpoint());
  }
  return endpoints;
}

std::optional<tcp::acceptor> bind_acceptor(net::io_context& io, const tcp::endpoint& endpoint,
                                           const std::string& name) {
  tcp::acceptor acceptor(io);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) {
    const int on = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    log(log_level::error, "cannot bind listener",
        {{"listener", name}, {"address", endpoint.address().to_string() + ":" +
                                             std::to_string(endpoint.port())},
         {"error", ec.message()}});
    return std::nullopt;
  }
  return acceptor;
}

// Every worker gets its own SO_REUSEPORT acceptor for each listener; the
// first one fixes the port (which the OS chooses when the config says 0).
bool bind_listeners(const config::gateway_config& config,
                    std::vector<std::unique_ptr<listener_state>>& states,
                    std::vector<std::unique_ptr<worker>>& workers) {
  for (const auto& listener : config.listeners) {
    error_code ec;
    const auto address = net::ip::make_address(listener.bind.host, ec);
    if (ec) {
      log(log_level::error, "listener address is not an IP address",
          {{"listener", listener.name}, {"address", listener.bind.host}});
      return false;
    }
    tcp::endpoint endpoint(address, listener.bind.port);
    auto& state = *states.emplace_back(std::make_unique<listener_state>(listener));
    for (auto& w : workers) {
      auto acceptor = bind_acceptor(w->io(), endpoint, listener.name);
      if (!acceptor) return false;
      endpoint.port(acceptor->local_endpoint().port());
      w->add_acceptor(std::move(*acceptor), state);
    }
    log(log_level::info, "listening",
        {{"listener", listener.name},
         {"address", endpoint.address().to_string() + ":" + std::to_string(endpoint.port())}});
  }
  return true;
}

void drain(std::vector<std::unique_ptr<worker>>& workers, core::duration timeout) {
  for (auto& w : workers) w->drain();
  const auto until = steady_now() + timeout;
  const auto busy = [&] {
    for (auto& w : workers) {
      if (w->active_sessions() > 0) return true;
    }
    return false;
  };
  while (busy() && steady_now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (busy()) log(log_level::warn, "drain timeout passed; closing the remaining connections");
}

}  // namespace

int run_server(std::shared_ptr<const config::gateway_config> config, const server_options& options) {
  std::vector<std::vector<tcp::endpoint>> upstream_endpoints;
  for (const auto& upstream : config->upstreams) {
    auto endpoints = resolve(upstream.endpoints);
    if (!endpoints) return 1;
    upstream_endpoints.push_back(std::move(*endpoints));
  }
  const auto phases = std::make_shared<const pipeline>(config);
  const std::size_t worker_count =
      config->workers != 0 ? config->workers : std::max(1u, std::thread::hardware_concurrency());

  // Signals are blocked in every thread but the one that waits for them.
  net::io_context signals_io;
  net::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);

  std::vector<std::unique_ptr<listener_state>> states;
  std::vector<std::unique_ptr<worker>> workers;
  for (std::size_t i = 0; i < worker_count; ++i) {
    workers.push_back(std::make_unique<worker>(i, phases, upstream_endpoints));
  }
  if (!bind_listeners(*config, states, workers)) return 1;
  for (auto& w : workers) w->start();
  log(log_level::info, "ready", {{"workers", worker_count}});

  bool stopping = false;
  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      log(log_level::warn, "SIGHUP: configuration reload is not supported yet; ignoring");
      signals.async_wait(on_signal);
      return;
    }
    stopping = true;
    log(log_level::info, "draining", {{"signal", signal}});
  };
  signals.async_wait(on_signal);
  while (!stopping) signals_io.run_one();

  drain(workers, options.drain_timeout);
  workers.clear();
  log(log_level::info, "stopped");
  return 0;
}

}  // namespace bulwark::proxy
