// Which key store a configuration names, opened: the one place that knows both
// implementations. `auth.api_keys.store: sqlite` opens the file
// `auth.api_keys.db` (store/sqlite_key_store.h); `store: redis` the cluster's
// Redis (`cluster.redis`: address, db, timeout, and the password read from the
// environment variable password_env names; redis_key_store.h).
//
// It lives here because src/store must not depend on cluster mode, and this
// folder sees both. Called where a store is opened: the pipeline's auth phase
// (through policy/auth/credentials.h's opener), the admin API, `bulwark keys -c`.
#pragma once

#include <memory>

#include "config/config.h"
#include "store/key_store.h"

namespace bulwark::cluster {

// Opening a Redis store sends nothing (it connects on first use); opening
// SQLite creates the file if need be. Fails when the configuration has no
// auth.api_keys, when store redis has no cluster section, or when the
// password's variable is unset or empty.
store::outcome<std::shared_ptr<store::key_store>> open_key_store(const config::gateway_config& config);

}  // namespace bulwark::cluster
