// The bulwark command line (DESIGN.md §5). The only code the tests do not
// link: everything it calls lives in the libraries.
#include <CLI/CLI.hpp>

#include <iostream>

#include "config/loader.h"
#include "core/units.h"
#include "observe/log.h"
#include "proxy/server.h"

namespace {

using namespace bulwark;

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

int run(const std::string& path, const std::string& drain_timeout) {
  proxy::server_options options;
  const auto drain = core::parse_duration(drain_timeout);
  if (!drain.ok()) {
    std::cerr << "--drain-timeout: " << drain.error << " (got " << drain_timeout << ")\n";
    return 2;
  }
  options.drain_timeout = *drain.value;
  const auto loaded = config::load_file(path);
  if (!loaded.ok()) {
    print_errors(loaded.errors, std::cerr);
    observe::log(observe::log_level::error, "invalid configuration",
                 {{"file", path}, {"errors", loaded.errors.size()}});
    return 1;
  }
  return proxy::run_server(loaded.config, options);
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
