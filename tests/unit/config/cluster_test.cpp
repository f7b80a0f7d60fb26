// The top-level cluster section, and what needs it: rate limits with
// `scope: cluster` and `auth.api_keys.store: redis`. Defaults, every field,
// the bounds, and each refusal exactly as `bulwark check` prints it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_configs.h"

namespace bulwark::config {
namespace {

using namespace std::chrono_literals;
using test::errors_with_section;
using test::load_with_section;
using test::route_errors;
using testing::ElementsAre;

// --- the cluster section ------------------------------------------------------------

// Set field by field: g++ 12 wrongly warns (maybe-uninitialized) about the
// strings of a nested aggregate initialiser of cluster_settings.
cluster_settings expected_cluster(address endpoint, std::string password_env, uint32_t db,
                                  duration timeout, redis_down_policy on_redis_down,
                                  duration sync_interval, duration heartbeat_interval) {
  cluster_settings cluster;
  cluster.redis.endpoint = std::move(endpoint);
  cluster.redis.password_env = std::move(password_env);
  cluster.redis.db = db;
  cluster.redis.timeout = timeout;
  cluster.on_redis_down = on_redis_down;
  cluster.sync_interval = sync_interval;
  cluster.heartbeat_interval = heartbeat_interval;
  return cluster;
}

TEST(cluster_config, no_cluster_mode_unless_written) {
  const auto config = load_with_section("");
  ASSERT_TRUE(config);
  EXPECT_FALSE(config->cluster);
}

TEST(cluster_config, an_empty_section_is_the_local_redis_with_every_default) {
  // The defaults as docs/configuration.md states them.
  const cluster_settings documented =
      expected_cluster(address{"127.0.0.1", 6379}, "", 0, 50ms, redis_down_policy::local, 20ms, 1s);
  EXPECT_EQ(cluster_settings{}, documented);
  for (const std::string tail :
       {"cluster: {}\n", "cluster:\n", "cluster: {redis: {}}\n", "cluster:\n  redis:\n"}) {
    const auto config = load_with_section(tail);
    ASSERT_TRUE(config) << tail;
    ASSERT_TRUE(config->cluster) << tail;
    EXPECT_EQ(*config->cluster, documented) << tail;
  }
}

TEST(cluster_config, full_example) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  ASSERT_TRUE(result.config->cluster);
  EXPECT_EQ(*result.config->cluster,
            expected_cluster(address{"redis.internal", 6380}, "REDIS_PASSWORD", 3, 200ms,
                             redis_down_policy::deny, 50ms, 5s));
}

TEST(cluster_config, the_design_example_loads) {
  const auto config = load_with_section(R"(cluster:
  redis: {address: 127.0.0.1:6379, password_env: REDIS_PASSWORD, db: 0, timeout: 50ms}
  on_redis_down: local         # local (limit / live instances) | allow | deny
)");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->cluster->redis.password_env, "REDIS_PASSWORD");
}

TEST(cluster_config, every_on_redis_down_policy) {
  const std::vector<std::pair<std::string, redis_down_policy>> policies = {
      {"local", redis_down_policy::local},
      {"allow", redis_down_policy::allow},
      {"deny", redis_down_policy::deny}};
  for (const auto& [text, policy] : policies) {
    const auto config = load_with_section("cluster: {on_redis_down: " + text + "}\n");
    ASSERT_TRUE(config) << text;
    EXPECT_EQ(config->cluster->on_redis_down, policy) << text;
  }
}

TEST(cluster_config, addresses_like_upstream_endpoints) {
  EXPECT_EQ(load_with_section("cluster: {redis: {address: redis-1.cache.internal:6379}}\n")
                ->cluster->redis.endpoint,
            (address{"redis-1.cache.internal", 6379}));
  EXPECT_EQ(
      load_with_section("cluster: {redis: {address: \"[::1]:7000\"}}\n")->cluster->redis.endpoint,
      (address{"::1", 7000}));
  EXPECT_EQ(
      load_with_section("cluster: {redis: {address: 10.0.0.5:65535}}\n")->cluster->redis.endpoint,
      (address{"10.0.0.5", 65535}));
}

TEST(cluster_config, bounds_are_inclusive) {
  const std::vector<std::pair<std::string, cluster_settings>> bounds = {
      {"cluster: {redis: {db: 0, timeout: 1ms}, sync_interval: 5ms, heartbeat_interval: 100ms}\n",
       expected_cluster(address{"127.0.0.1", 6379}, "", 0, 1ms, redis_down_policy::local, 5ms,
                        100ms)},
      {"cluster: {redis: {db: 2147483647, timeout: 10s}, sync_interval: 1s, "
       "heartbeat_interval: 1m}\n",
       expected_cluster(address{"127.0.0.1", 6379}, "", 2147483647, 10s, redis_down_policy::local,
                        1s, 60s)},
  };
  for (const auto& [yaml, expected] : bounds) {
    const auto config = load_with_section(yaml);
    ASSERT_TRUE(config) << yaml;
    EXPECT_EQ(*config->cluster, expected) << yaml;
  }
}

TEST(cluster_config, field_errors) {
  EXPECT_THAT(
      errors_with_section(R"(cluster:
  redis: {address: "redis:0", password_env: 1PASS, db: 2147483648, timeout: 0}
  on_redis_down: fail_open
  sync_interval: 4ms
  heartbeat_interval: 61s
  leases: {}
)"),
      ElementsAre(
          "test.yaml:11:20: cluster.redis.address: expected a port from 1 to 65535 after the "
          "host (got redis:0)",
          "test.yaml:11:45: cluster.redis.password_env: expected an environment variable name: "
          "letters, digits and _, not starting with a digit, like REDIS_PASSWORD (got 1PASS)",
          "test.yaml:11:56: cluster.redis.db: must be from 0 to 2147483647 (got 2147483648)",
          "test.yaml:11:77: cluster.redis.timeout: must be from 1ms to 10s (got 0)",
          "test.yaml:12:18: cluster.on_redis_down: expected local, allow or deny (got fail_open)",
          "test.yaml:13:18: cluster.sync_interval: must be from 5ms to 1s (got 4ms)",
          "test.yaml:14:23: cluster.heartbeat_interval: must be from 100ms to 1m (got 61s)",
          "test.yaml:15:3: cluster.leases: unknown field; expected redis, on_redis_down, "
          "sync_interval or heartbeat_interval"));
  EXPECT_THAT(
      errors_with_section(R"(cluster:
  redis: {timeout: 11s, db: -1, password_env: "", pasword: x}
  on_redis_dwn: allow
  sync_interval: 2s
  heartbeat_interval: 99ms
)"),
      ElementsAre(
          "test.yaml:11:20: cluster.redis.timeout: must be from 1ms to 10s (got 11s)",
          "test.yaml:11:29: cluster.redis.db: must be from 0 to 2147483647 (got -1)",
          "test.yaml:11:47: cluster.redis.password_env: expected an environment variable name: "
          "letters, digits and _, not starting with a digit, like REDIS_PASSWORD",
          "test.yaml:11:51: cluster.redis.pasword: unknown field; expected address, password_env, "
          "db or "
          "timeout",
          "test.yaml:12:3: cluster.on_redis_dwn: unknown field; did you mean `on_redis_down`?",
          "test.yaml:13:18: cluster.sync_interval: must be from 5ms to 1s (got 2s)",
          "test.yaml:14:23: cluster.heartbeat_interval: must be from 100ms to 1m (got 99ms)"));
}

TEST(cluster_config, shape_errors) {
  EXPECT_THAT(errors_with_section("cluster: redis\n"),
              ElementsAre("test.yaml:10:10: cluster: expected a map of fields (got redis)"));
  EXPECT_THAT(errors_with_section("cluster: {redis: 127.0.0.1:6379, on_redis_down: [local]}\n"),
              ElementsAre("test.yaml:10:18: cluster.redis: expected a map of fields (got "
                          "127.0.0.1:6379)",
                          "test.yaml:10:49: cluster.on_redis_down: expected local, allow or deny "
                          "(got a list)"));
  EXPECT_THAT(errors_with_section("cluster: {redis: {address: localhost}}\n"),
              ElementsAre("test.yaml:10:28: cluster.redis.address: expected host:port, like "
                          "127.0.0.1:8080 (got localhost)"));
}

TEST(cluster_config, heartbeat_is_at_least_two_sync_rounds) {
  // Exactly twice is enough.
  const auto config =
      load_with_section("cluster: {sync_interval: 500ms, heartbeat_interval: 1s}\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->cluster->sync_interval, duration(500ms));
  // Both written: the heartbeat is the one to lengthen.
  EXPECT_THAT(errors_with_section("cluster: {sync_interval: 600ms, heartbeat_interval: 1s}\n"),
              ElementsAre("test.yaml:10:53: cluster.heartbeat_interval: must be at least twice "
                          "sync_interval (600ms) (got 1s)"));
  // Only the sync written: it is the one reported, against the default beat.
  EXPECT_THAT(errors_with_section("cluster:\n  sync_interval: 501ms\n"),
              ElementsAre("test.yaml:11:18: cluster.sync_interval: must be at most half of "
                          "heartbeat_interval (1s by default) (got 501ms)"));
  // A value refused on its own is not compared again.
  EXPECT_THAT(errors_with_section("cluster: {sync_interval: 2s, heartbeat_interval: 200ms}\n"),
              ElementsAre("test.yaml:10:26: cluster.sync_interval: must be from 5ms to 1s (got "
                          "2s)"));
}

// --- rate limits with scope: cluster ------------------------------------------------

TEST(cluster_config, cluster_scope_with_every_algorithm) {
  const auto result = load_string(test::with_route(R"(    rate_limits:
      - {name: a, rate: 100/s, scope: cluster}
      - {name: b, rate: 100/s, algorithm: gcra, scope: cluster}
      - {name: c, rate: 100/s, algorithm: sliding_window, scope: cluster}
      - {name: d, rate: 100/s, scope: local}
cluster: {}
)"));
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const auto& limits = result.config->routes[0].rate_limits;
  ASSERT_EQ(limits.size(), 4u);
  EXPECT_EQ(limits[0].scope, limit_scope::cluster);
  EXPECT_EQ(limits[0].algorithm, limit_algorithm::token_bucket);
  EXPECT_EQ(limits[1].scope, limit_scope::cluster);
  EXPECT_EQ(limits[1].algorithm, limit_algorithm::gcra);
  EXPECT_EQ(limits[2].scope, limit_scope::cluster);
  EXPECT_EQ(limits[2].algorithm, limit_algorithm::sliding_window);
  EXPECT_EQ(limits[3].scope, limit_scope::local);
}

TEST(cluster_config, cluster_scope_needs_the_section) {
  EXPECT_THAT(route_errors(R"(    rate_limits:
      - {name: a, rate: 1/s, scope: cluster}
      - {name: b, rate: 1/s}
  - name: s
    upstream: api
    rate_limits: [{name: a, rate: 1/s, algorithm: gcra, scope: cluster}]
)"),
              ElementsAre("test.yaml:7:37: routes[0].rate_limits[0].scope: scope cluster needs a "
                          "cluster: section (Redis) (got cluster)",
                          "test.yaml:11:64: routes[1].rate_limits[0].scope: scope cluster needs "
                          "a cluster: section (Redis) (got cluster)"));
  // A cluster section that is itself wrong still counts as written: one error, not two.
  EXPECT_THAT(route_errors("    rate_limits: [{name: a, rate: 1/s, scope: cluster}]\n"
                           "cluster: {sync_interval: 0}\n"),
              ElementsAre("test.yaml:7:26: cluster.sync_interval: must be from 5ms to 1s (got "
                          "0)"));
}

// --- auth.api_keys.store --------------------------------------------------------------

TEST(cluster_config, key_store_is_sqlite_by_default) {
  const auto config = load_with_section("auth: {api_keys: {}}\ncluster: {}\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->auth.api_keys->store, key_store_kind::sqlite);
  const auto written = load_with_section("auth: {api_keys: {store: sqlite, db: keys.db}}\n");
  ASSERT_TRUE(written);
  EXPECT_EQ(written->auth.api_keys->store, key_store_kind::sqlite);
  EXPECT_EQ(written->auth.api_keys->db, "keys.db");
}

TEST(cluster_config, key_store_in_the_cluster_redis) {
  const auto config = load_with_section("auth: {api_keys: {store: redis, header: X-Key}}\ncluster: {}\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->auth.api_keys->store, key_store_kind::redis);
  EXPECT_EQ(config->auth.api_keys->header, "X-Key");
  ASSERT_TRUE(config->cluster);
}

TEST(cluster_config, key_store_errors) {
  EXPECT_THAT(errors_with_section("auth: {api_keys: {store: postgres}}\n"),
              ElementsAre("test.yaml:10:26: auth.api_keys.store: expected sqlite or redis (got "
                          "postgres)"));
  EXPECT_THAT(errors_with_section("auth: {api_keys: {store: redis}}\n"),
              ElementsAre("test.yaml:10:26: auth.api_keys.store: store redis needs a cluster: "
                          "section (Redis) (got redis)"));
  EXPECT_THAT(
      errors_with_section("auth:\n  api_keys: {store: redis, db: ./data/keys.db}\ncluster: {}\n"),
      ElementsAre("test.yaml:11:32: auth.api_keys.db: db is the SQLite file; store: redis "
                  "keeps keys in the cluster's Redis (got ./data/keys.db)"));
  // Without a cluster section both are wrong; a db refused on its own is not reported twice.
  EXPECT_THAT(errors_with_section("auth:\n  api_keys: {db: keys.db, store: redis}\n"),
              ElementsAre("test.yaml:11:18: auth.api_keys.db: db is the SQLite file; store: redis "
                          "keeps keys in the cluster's Redis (got keys.db)",
                          "test.yaml:11:34: auth.api_keys.store: store redis needs a cluster: "
                          "section (Redis) (got redis)"));
  EXPECT_THAT(errors_with_section("auth: {api_keys: {store: redis, db: \"\"}}\ncluster: {}\n"),
              ElementsAre("test.yaml:10:37: auth.api_keys.db: must not be empty"));
}

}  // namespace
}  // namespace bulwark::config
