// The gateway process: binds the listeners, runs the workers, and handles
// signals (DESIGN.md §5): SIGTERM / SIGINT drain (stop accepting, finish
// in-flight requests up to the drain timeout, exit 0).
#pragma once

#include <memory>

#include "config/config.h"

namespace bulwark::proxy {

struct server_options {
  core::duration drain_timeout = std::chrono::seconds(30);
};

// Runs until a signal ends it; returns the process exit code.
int run_server(std::shared_ptr<const config::gateway_config> config, const server_options& options);

}  // namespace bulwark::proxy
