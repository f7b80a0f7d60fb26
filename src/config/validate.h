// The checks that relate several fields of a configuration (names unique,
// routes naming an existing upstream, per_try_timeout within timeout...),
// run after every field was read and checked on its own. Errors go to the
// same reader, so they carry the position and the value as written; a field
// that already failed is not checked again.
#pragma once

#include "config/config.h"
#include "config/yaml_reader.h"

namespace bulwark::config {

// Also completes the config: sets route::upstream_index, gives defaults that
// depend on another field their value (pool.max_idle, an adaptive limit's
// initial, a breaker's slow_call_rate), and resolves relative file paths
// (auth.api_keys.db, auth.jwt.jwks_file) against the config file's directory.
void validate(gateway_config& config, yaml_reader& in);

}  // namespace bulwark::config
