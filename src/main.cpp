// The bulwark command line (DESIGN.md §5). The only code the tests do not
// link: everything it calls lives in the libraries.
#include <CLI/CLI.hpp>

#include <iostream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin/admin_server.h"
#include "config/loader.h"
#include "core/units.h"
#include "observe/log.h"
#include "proxy/gateway.h"

namespace {

using namespace bulwark;
namespace net = boost::asio;

void print_errors(const std::vector<config::error>& errors, std::ostream& out) {
  for (const auto& error : errors) out << error.to_string() << '\n';
}

int check(const std::string& path) {
  const auto loaded = config::load_file(path);
  if (!loaded.ok()) {
    print_errors(loaded.errors, std::cout);
    std::cout << path << ": " << loaded.errors.size() << " error"
              << (loaded.errors.size() == 1 ? "" : "s") << '\n';
    return 1;
  }
  std::cout << path << ": ok\n";
  return 0;
}

// The admin bearer token from the environment variable the config names
// (empty: /admin/* needs no token).
std::string admin_token(const config::gateway_config& config) {
  const auto& name = config.admin_server.token_env;
  if (name.empty()) return {};
  const char* token = std::getenv(name.c_str());
  if (token == nullptr || *token == '\0') {
    observe::log(observe::log_level::warn,
                 "admin.token_env names an unset or empty variable; /admin/* is open",
                 {{"variable", name}});
    return {};
  }
  return token;
}

// Polls until in-flight requests are done or the drain timeout passes; the
// admin API keeps answering meanwhile (readiness says "draining").
net::awaitable<void> wait_for_drain(proxy::gateway& gateway, net::io_context& main_io) {
  const auto until = std::chrono::steady_clock::now() + gateway.drain_timeout();
  net::steady_timer timer(main_io);
  while (!gateway.drained() && std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
  main_io.stop();
}

// Serves until SIGTERM/SIGINT; SIGHUP reloads the configuration file.
int serve(proxy::gateway& gateway, net::io_context& main_io) {
  net::signal_set signals(main_io, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP || signal == SIGUSR1) {
          if (signal == SIGHUP) gateway.reload();
          if (signal == SIGUSR1) gateway.reopen_access_log();
          signals.async_wait(on_signal);
          return;
        }
        observe::log(observe::log_level::info, "draining", {{"signal", signal}});
        gateway.begin_drain();
        net::co_spawn(main_io, wait_for_drain(gateway, main_io), net::detached);
      };
  signals.async_wait(on_signal);
  main_io.run();
  gateway.stop();
  observe::log(observe::log_level::info, "stopped");
  return 0;
}

int run(const std::string& path, const std::string& drain_timeout) {
  const auto drain = core::parse_duration(drain_timeout);
  if (!drain.ok()) {
    std::cerr << "--drain-timeout: " << drain.error << " (got " << drain_timeout << ")\n";
    return 2;
  }
  const auto loaded = proxy::load_config(path);
  if (!loaded.result.ok()) {
    print_errors(loaded.result.errors, std::cerr);
    observe::log(observe::log_level::error, "invalid configuration",
                 {{"file", path}, {"errors", loaded.result.errors.size()}});
    return 1;
  }
  // The main thread serves the admin API and handles signals; the workers
  // serve traffic (DESIGN.md §3).
  net::io_context main_io;
  proxy::gateway gateway(path, *drain.value);
  if (!gateway.start(loaded)) return 1;
  admin::admin_server admin(main_io, gateway, admin_token(*loaded.result.config));
  if (!admin.start(loaded.result.config->admin_server.bind)) return 1;
  observe::log(observe::log_level::info, "ready",
               {{"workers", gateway.worker_count()}, {"config_hash", loaded.hash}});
  return serve(gateway, main_io);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bulwark: a resilience gateway for HTTP services"};
  app.require_subcommand(0, 1);
  std::string config_path;
  std::string drain_timeout = "30s";

  auto* run_cmd = app.add_subcommand("run", "run the gateway");
  run_cmd->add_option("-c,--config", config_path, "configuration file")->required();
  run_cmd->add_option("--drain-timeout", drain_timeout,
                      "on SIGTERM/SIGINT, how long in-flight requests may take to finish");
  auto* check_cmd = app.add_subcommand("check", "validate a configuration file");
  check_cmd->add_option("-c,--config", config_path, "configuration file")->required();
  app.add_subcommand("version", "print the version");
  // `bulwark -c FILE` is `bulwark run -c FILE`.
  app.add_option("-c,--config", config_path, "configuration file (same as `run -c`)");
  app.add_option("--drain-timeout", drain_timeout, "see `run --drain-timeout`");

  CLI11_PARSE(app, argc, argv);

  if (app.got_subcommand("version")) {
    std::cout << "bulwark " << BULWARK_VERSION << '\n';
    return 0;
  }
  if (app.got_subcommand(check_cmd)) return check(config_path);
  if (app.got_subcommand(run_cmd) || !config_path.empty()) return run(config_path, drain_timeout);
  std::cout << app.help();
  return 2;
}
