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
#include "cluster/key_store_factory.h"
#include "config/loader.h"
#include "core/units.h"
#include "observe/log.h"
#include "proxy/gateway.h"
#include "store/keys_cli.h"

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

// `bulwark keys ...`: the store comes from --db (a SQLite file), or from the
// config file's auth.api_keys: the file auth.api_keys.db (which the loader
// resolves against the file's directory, so `keys -c` and `run -c` open the
// same file from any working directory), or with store: redis the cluster's
// Redis, which every instance reads (a change applies everywhere within ~1 s).
int keys(store::keys_cli_options options, const std::string& keys_config) {
  const auto verb = store::to_string(options.action);
  if (!options.db_path.empty() && !keys_config.empty()) {
    std::cerr << "bulwark keys " << verb << ": give --db or -c, not both\n";
    return 2;
  }
  if (!keys_config.empty()) {
    const auto loaded = config::load_file(keys_config);
    if (!loaded.ok()) {
      print_errors(loaded.errors, std::cerr);
      return 1;
    }
    if (!loaded.config->auth.api_keys) {
      std::cerr << "bulwark keys " << verb << ": " << keys_config
                << " has no auth.api_keys section; add one or pass --db\n";
      return 2;
    }
    const auto config = loaded.config;
    return store::run_keys_command(
        options, [config] { return cluster::open_key_store(*config); }, std::cout, std::cerr,
        std::chrono::system_clock::now());
  }
  return store::run_keys_command(options, std::cout, std::cerr, std::chrono::system_clock::now());
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

  store::keys_cli_options keys_options;
  std::string keys_config;
  auto* keys_cmd = app.add_subcommand("keys", "manage API keys (create, list, revoke, rotate)");
  keys_cmd->require_subcommand(1);
  auto keys_verb = [&](const char* name, const char* description) {
    auto* cmd = keys_cmd->add_subcommand(name, description);
    cmd->add_option("--db", keys_options.db_path, "the key database (SQLite file)");
    cmd->add_option("-c,--config", keys_config, "configuration file: use its auth.api_keys.db");
    cmd->add_flag("--json", keys_options.json, "print JSON");
    return cmd;
  };
  auto* keys_create = keys_verb("create", "issue a new key; prints it once");
  keys_create->add_option("--name", keys_options.name, "who or what the key is for")->required();
  keys_create->add_option("--scopes", keys_options.scopes, "comma-separated scopes, e.g. read,write");
  keys_create->add_option("--rate", keys_options.rate, "rate-limit override, e.g. 100/s");
  keys_create->add_option("--expires", keys_options.expires, "lifetime, e.g. 90d (default: never)");
  auto* keys_list = keys_verb("list", "list keys (never their secrets)");
  auto* keys_revoke = keys_verb("revoke", "revoke a key at once");
  keys_revoke->add_option("ID", keys_options.id, "the key's id, as list shows it")->required();
  auto* keys_rotate = keys_verb("rotate", "issue a replacement; the old key stays valid for --grace");
  keys_rotate->add_option("ID", keys_options.id, "the key's id, as list shows it")->required();
  keys_rotate->add_option("--grace", keys_options.grace, "how long the old key stays valid (default 24h)");
  keys_rotate->add_option("--expires", keys_options.expires,
                          "the new key's lifetime (default: the old key's lifetime)");
  // `bulwark -c FILE` is `bulwark run -c FILE`.
  app.add_option("-c,--config", config_path, "configuration file (same as `run -c`)");
  app.add_option("--drain-timeout", drain_timeout, "see `run --drain-timeout`");

  CLI11_PARSE(app, argc, argv);

  if (app.got_subcommand("version")) {
    std::cout << "bulwark " << BULWARK_VERSION << '\n';
    return 0;
  }
  if (app.got_subcommand(check_cmd)) return check(config_path);
  if (app.got_subcommand(keys_cmd)) {
    if (keys_create->parsed()) keys_options.action = store::keys_action::create;
    if (keys_list->parsed()) keys_options.action = store::keys_action::list;
    if (keys_revoke->parsed()) keys_options.action = store::keys_action::revoke;
    if (keys_rotate->parsed()) keys_options.action = store::keys_action::rotate;
    return keys(keys_options, keys_config);
  }
  if (app.got_subcommand(run_cmd) || !config_path.empty()) return run(config_path, drain_timeout);
  std::cout << app.help();
  return 2;
}
