#include "cluster/key_store_factory.h"

#include <cstdlib>

#include "cluster/redis_key_store.h"
#include "store/sqlite_key_store.h"

namespace bulwark::cluster {

store::outcome<std::shared_ptr<store::key_store>> open_key_store(const config::gateway_config& config) {
  using result = store::outcome<std::shared_ptr<store::key_store>>;
  const auto& keys = config.auth.api_keys;
  if (!keys) return result::failure(store::store_errc::invalid_argument, "the configuration has no auth.api_keys");
  if (keys->store == config::key_store_kind::sqlite) {
    auto opened = store::sqlite_key_store::open(keys->db);
    if (!opened.ok()) return result::failure(opened.error);
    return result::success(std::move(*opened.value));
  }
  if (!config.cluster) {
    return result::failure(store::store_errc::invalid_argument,
                           "auth.api_keys.store: redis needs a cluster: section (Redis)");
  }
  const auto& redis = config.cluster->redis;
  redis_key_store_options options;
  options.host = redis.endpoint.host;
  options.port = redis.endpoint.port;
  options.db = redis.db;
  options.timeout = redis.timeout;
  if (!redis.password_env.empty()) {
    const char* password = std::getenv(redis.password_env.c_str());
    if (password == nullptr || *password == '\0') {
      return result::failure(store::store_errc::invalid_argument,
                             "cluster.redis.password_env: the variable " + redis.password_env +
                                 " is unset or empty");
    }
    options.password = password;
  }
  return result::success(std::make_shared<redis_key_store>(std::move(options)));
}

}  // namespace bulwark::cluster
