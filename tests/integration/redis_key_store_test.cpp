// The Redis key store (src/cluster/redis_key_store.h) against a real
// redis-server, without the gateway: the data model (hash per key, the secret
// never stored, no TTL), the version counter each change moves, atomic
// rotation, pruning after the retention, last-use writes, AUTH and SELECT; and
// the faults: refused, paused (SIGSTOP) and restarted empty, with the watcher
// keeping the cache's snapshot through each (no lockout).
//
// Wall-clock times are fixed (the store takes `now` as an argument); the only
// timed assertions are generous upper bounds on calls bounded by the timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cluster/redis_key_store.h"
#include "integration/harness.h"
#include "integration/redis_server.h"
#include "store/api_key_cache.h"
#include "store/api_key_watcher.h"

namespace bulwark::test {
namespace {

using cluster::redis_key_store;
using cluster::redis_key_store_options;
using store::store_errc;
namespace names = cluster::redis_key_names;

// 2026-05-28T20:26:40Z: the stores' "now", never the clock.
const store::wall_time key_t0 = store::from_unix_ms(1'780'000'000'000);

redis_key_store_options store_options_for(const redis_server& redis) {
  redis_key_store_options options;
  options.host = redis.host();
  options.port = redis.port();
  options.password = redis.password();
  options.timeout = std::chrono::milliseconds(200);
  return options;
}

std::string redis_text(const redis_server& redis, const std::vector<std::string>& argv) {
  return redis.call(argv).text;
}

long long redis_integer(const redis_server& redis, const std::vector<std::string>& argv) {
  return redis.call(argv).integer;
}

std::string stored_version(const redis_server& redis) {
  return redis_text(redis, {"GET", std::string(names::version)});
}

core::time_point steady(int seconds) { return core::time_point(std::chrono::seconds(seconds)); }

class RedisKeyStore : public ::testing::Test {
 protected:
  redis_server redis_;
  std::shared_ptr<redis_key_store> store_ = std::make_shared<redis_key_store>(store_options_for(redis_));

  store::issued_key create(const std::string& name, store::wall_time now = key_t0) {
    store::new_key_request request;
    request.name = name;
    request.scopes = {"read", "write"};
    request.rate = "100/s";
    request.expires_in = std::chrono::hours(24 * 90);
    auto issued = store_->create(request, now);
    if (!issued.ok()) throw std::runtime_error(issued.error.message);
    return std::move(*issued.value);
  }
};

TEST_F(RedisKeyStore, KeepsEachKeyInAHashWithoutItsSecretOrATtl) {
  const auto issued = create("ci pipeline");
  const auto& id = issued.record.id;
  const auto secret = issued.key.substr(17);
  const auto record = redis_.call({"HGETALL", names::record(id)});
  ASSERT_EQ(record.type, cluster::redis_reply::kind::array);
  std::map<std::string, std::string> fields;
  for (std::size_t i = 0; i + 1 < record.elements.size(); i += 2) {
    fields[record.elements[i].text] = record.elements[i + 1].text;
  }
  EXPECT_EQ(fields["name"], "ci pipeline");
  EXPECT_EQ(fields["scopes"], "read,write");
  EXPECT_EQ(fields["rate"], "100/s");
  EXPECT_EQ(fields["created_at"], "1780000000000");
  EXPECT_EQ(fields["expires_at"], std::to_string(1'780'000'000'000LL + 90LL * 24 * 3600 * 1000));
  EXPECT_EQ(fields["hash"].size(), 64u);  // SHA-256, hex
  for (const auto& [field, value] : fields) EXPECT_EQ(value.find(secret), std::string::npos) << field;
  EXPECT_EQ(redis_integer(redis_, {"TTL", names::record(id)}), -1);  // the source of truth: no TTL
  EXPECT_EQ(redis_integer(redis_, {"SISMEMBER", std::string(names::ids), id}), 1);
  EXPECT_EQ(stored_version(redis_), "1");

  const auto fetched = store_->get(id);
  ASSERT_TRUE(fetched.ok()) << fetched.error.message;
  EXPECT_EQ(fetched.value->name, "ci pipeline");
  EXPECT_EQ(fetched.value->scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(fetched.value->created_at, key_t0);
  EXPECT_EQ(store_->get("zzzzzzzzzzzz").error.code, store_errc::not_found);
  EXPECT_EQ(store_->get("not-an-id").error.code, store_errc::invalid_argument);
}

TEST_F(RedisKeyStore, EveryChangeMovesTheVersionAndListsOldestFirst) {
  const auto first = create("first", key_t0);
  const auto second = create("second", key_t0 + std::chrono::seconds(1));
  EXPECT_EQ(stored_version(redis_), "2");
  const auto listed = store_->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed.value->size(), 2u);
  EXPECT_EQ(listed.value->at(0).id, first.record.id);
  EXPECT_EQ(listed.value->at(1).id, second.record.id);

  const auto revoked = store_->revoke(first.record.id, key_t0 + std::chrono::seconds(5));
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked.value->revoked_at, key_t0 + std::chrono::seconds(5));
  EXPECT_EQ(stored_version(redis_), "3");
  // Idempotent: the first revocation's time stays, and nothing changed.
  const auto again = store_->revoke(first.record.id, key_t0 + std::chrono::seconds(9));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value->revoked_at, key_t0 + std::chrono::seconds(5));
  EXPECT_EQ(stored_version(redis_), "3");
  EXPECT_EQ(store_->revoke("zzzzzzzzzzzz", key_t0).error.code, store_errc::not_found);

  const auto version = store_->version();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version.value->token, redis_.run_id() + "/3");
  EXPECT_FALSE(version.value->lost);
}

TEST_F(RedisKeyStore, RotatesInOneStepAndRefusesWhatCannotBeRotated) {
  const auto old = create("svc");
  const auto now = key_t0 + std::chrono::hours(1);
  store::rotate_request request;
  request.id = old.record.id;
  request.grace = std::chrono::hours(2);
  const auto rotated = store_->rotate(request, now);
  ASSERT_TRUE(rotated.ok()) << rotated.error.message;
  EXPECT_NE(rotated.value->record.id, old.record.id);
  EXPECT_EQ(rotated.value->record.name, "svc");
  EXPECT_EQ(rotated.value->record.rate, "100/s");
  // The old key's own lifetime (90 days) carries over; its expiry is now + grace.
  EXPECT_EQ(rotated.value->record.expires_at, now + std::chrono::hours(24 * 90));
  ASSERT_TRUE(rotated.value->replaced);
  EXPECT_EQ(rotated.value->replaced->expires_at, now + std::chrono::hours(2));
  EXPECT_EQ(rotated.value->replaced->replaced_by, rotated.value->record.id);
  EXPECT_EQ(stored_version(redis_), "2");  // the create, then the rotation as one change
  const auto stored_old = store_->get(old.record.id);
  EXPECT_EQ(stored_old.value->replaced_by, rotated.value->record.id);
  EXPECT_EQ(stored_old.value->expires_at, now + std::chrono::hours(2));

  EXPECT_EQ(store_->rotate(request, now).error.code, store_errc::conflict);  // already rotated
  ASSERT_TRUE(store_->revoke(rotated.value->record.id, now).ok());
  request.id = rotated.value->record.id;
  const auto refused = store_->rotate(request, now);
  EXPECT_EQ(refused.error.code, store_errc::conflict);
  EXPECT_NE(refused.error.message.find("revoked"), std::string::npos);
  request.id = "zzzzzzzzzzzz";
  EXPECT_EQ(store_->rotate(request, now).error.code, store_errc::not_found);
}

TEST_F(RedisKeyStore, PrunesRevokedAndExpiredRecordsAfterTheRetention) {
  const auto revoked = create("revoked");
  const auto active = create("active");
  store::new_key_request brief;
  brief.name = "brief";
  brief.expires_in = std::chrono::seconds(60);
  const auto expired = store_->create(brief, key_t0);
  ASSERT_TRUE(expired.ok());
  ASSERT_TRUE(store_->revoke(revoked.record.id, key_t0).ok());
  // Within the retention (30 days) every record stays, for `keys list` to show.
  create("later", key_t0 + std::chrono::hours(24 * 29));
  EXPECT_EQ(store_->list().value->size(), 4u);
  // A write after it prunes what has been dead that long.
  create("much later", key_t0 + std::chrono::hours(24 * 31));
  const auto listed = store_->list();
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> ids;
  for (const auto& record : *listed.value) ids.push_back(record.id);
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_NE(std::find(ids.begin(), ids.end(), active.record.id), ids.end());
  EXPECT_EQ(std::find(ids.begin(), ids.end(), revoked.record.id), ids.end());
  EXPECT_EQ(std::find(ids.begin(), ids.end(), expired.value->record.id), ids.end());
  EXPECT_EQ(redis_integer(redis_, {"EXISTS", names::record(revoked.record.id)}), 0);
  EXPECT_EQ(redis_integer(redis_, {"SCARD", std::string(names::ids)}), 3);
}

// A server restarted empty and written once has version 1 again: the token
// still differs (it carries the server's run_id), so no watcher mistakes it
// for the store it read before.
TEST_F(RedisKeyStore, TheVersionTokenChangesWithARestartedServer) {
  create("before");
  const auto before = store_->version();
  ASSERT_TRUE(before.ok());
  redis_.restart();
  create("after");
  const auto after = store_->version();
  ASSERT_TRUE(after.ok()) << after.error.message;
  EXPECT_EQ(stored_version(redis_), "1");
  EXPECT_NE(after.value->token, before.value->token);
}

TEST_F(RedisKeyStore, LastUseOnlyMovesForwardAndIsNotAChange) {
  const auto issued = create("used");
  const auto id = issued.record.id;
  const auto later = key_t0 + std::chrono::minutes(5);
  auto written = store_->record_last_used({{id, later}, {"zzzzzzzzzzzz", later}});
  ASSERT_TRUE(written.ok()) << written.error.message;
  EXPECT_EQ(*written.value, 1u);
  EXPECT_EQ(redis_integer(redis_, {"EXISTS", names::record("zzzzzzzzzzzz")}), 0);  // never created
  ASSERT_TRUE(store_->record_last_used({{id, key_t0}}).ok());                       // earlier: ignored
  EXPECT_EQ(store_->get(id).value->last_used_at, later);
  EXPECT_EQ(stored_version(redis_), "1");  // the watchers reload nothing for it
}

TEST_F(RedisKeyStore, TheCacheVerifiesKeysLoadedFromRedis) {
  const auto good = create("good");
  const auto bad = create("bad");
  ASSERT_TRUE(store_->revoke(bad.record.id, key_t0).ok());
  store::api_key_cache cache(store_);
  const auto loaded = cache.refresh();
  ASSERT_TRUE(loaded.ok()) << loaded.error.message;
  EXPECT_EQ(*loaded.value, 2u);
  const auto verified = cache.verify(good.key, key_t0);
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified.identity->name, "good");
  EXPECT_EQ(verified.identity->rate_text, "100/s");
  EXPECT_EQ(cache.verify(bad.key, key_t0).failure, store::key_failure::revoked);
  std::string forged = good.key;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(cache.verify(forged, key_t0).failure, store::key_failure::unknown);
}

TEST(RedisKeyStoreAuth, AuthenticatesAndSelectsTheDatabaseAndNeverEchoesThePassword) {
  redis_server redis(redis_server_options{.password = "s3cret-keys"});
  auto options = store_options_for(redis);
  options.db = 3;
  redis_key_store keys(options);
  store::new_key_request request;
  request.name = "in db 3";
  ASSERT_TRUE(keys.create(request, key_t0).ok());
  EXPECT_EQ(redis.call({"DBSIZE"}).integer, 0);  // db 0 is empty
  // redis_server::call opens a fresh connection per call: db 3 is read in one script.
  EXPECT_EQ(redis.call({"EVAL", "redis.call('SELECT', 3) return redis.call('SCARD', KEYS[1])", "1",
                        std::string(names::ids)})
                .integer,
            1);

  options.password = "wrong-password";
  redis_key_store wrong(options);
  const auto refused = wrong.list();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error.code, store_errc::unavailable);
  EXPECT_EQ(refused.error.message.find("wrong-password"), std::string::npos) << refused.error.message;
}

TEST(RedisKeyStoreFaults, AnUnreachableRedisIsUnavailableWithinTheTimeout) {
  redis_key_store_options options;
  options.port = free_tcp_port();  // nobody listens
  options.timeout = std::chrono::milliseconds(100);
  redis_key_store keys(options);
  const auto start = std::chrono::steady_clock::now();
  const auto listed = keys.list();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error.code, store_errc::unavailable);
  store::new_key_request request;
  request.name = "nowhere";
  EXPECT_EQ(keys.create(request, key_t0).error.code, store_errc::unavailable);
}

TEST_F(RedisKeyStore, APausedRedisTimesOutAndTheStoreRecoversAfterIt) {
  create("before");
  redis_.pause();
  const auto start = std::chrono::steady_clock::now();
  const auto listed = store_->list();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);  // bounded by the 200 ms timeout
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error.code, store_errc::unavailable);
  redis_.resume();
  const auto after = store_->list();  // a fresh connection
  ASSERT_TRUE(after.ok()) << after.error.message;
  EXPECT_EQ(after.value->size(), 1u);
}

// The watcher against the real store, poll by poll (no thread, no sleep):
// Redis down keeps the snapshot and reports it stale; Redis restarted empty
// keeps it too and reports the store lost; a write to the emptied store is
// loaded as any change.
TEST_F(RedisKeyStore, TheWatcherKeepsItsSnapshotWhileRedisIsDownOrEmptied) {
  const auto kept = create("kept");
  auto cache = std::make_shared<store::api_key_cache>(store_);
  ASSERT_TRUE(cache->refresh().ok());
  store::api_key_watcher watcher(cache, store::watcher_options{.flush_interval = std::chrono::hours(1)});
  EXPECT_TRUE(watcher.poll_once(steady(0), key_t0));  // the first poll takes the baseline
  EXPECT_FALSE(watcher.poll_once(steady(1), key_t0));  // unchanged

  // Another writer (another instance, the CLI): the next poll reloads.
  redis_key_store other(store_options_for(redis_));
  store::new_key_request request;
  request.name = "from elsewhere";
  const auto elsewhere = other.create(request, key_t0);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_TRUE(watcher.poll_once(steady(2), key_t0));
  EXPECT_TRUE(cache->verify(elsewhere.value->key, key_t0).ok());

  // Down: stale since the first failed poll, every key still verifies.
  redis_.kill();
  const auto down_at = key_t0 + std::chrono::seconds(3);
  EXPECT_FALSE(watcher.poll_once(steady(3), down_at));
  EXPECT_FALSE(watcher.poll_once(steady(4), down_at + std::chrono::seconds(1)));
  auto status = watcher.status();
  EXPECT_TRUE(status.stale);
  EXPECT_EQ(status.stale_since, down_at);
  EXPECT_NE(status.error.find("unreachable"), std::string::npos) << status.error;
  EXPECT_TRUE(cache->verify(kept.key, key_t0).ok());
  EXPECT_TRUE(cache->verify(elsewhere.value->key, key_t0).ok());

  // Back, but empty (no persistence): the snapshot stays and the loss is reported.
  redis_.restart();
  EXPECT_FALSE(watcher.poll_once(steady(5), key_t0));
  status = watcher.status();
  EXPECT_FALSE(status.stale);
  EXPECT_TRUE(status.store_lost);
  EXPECT_EQ(cache->size(), 2u);
  EXPECT_TRUE(cache->verify(kept.key, key_t0).ok());

  // Written again (keys restored or created): loaded as any change.
  request.name = "after the wipe";
  const auto fresh = other.create(request, key_t0);
  ASSERT_TRUE(fresh.ok()) << fresh.error.message;
  EXPECT_TRUE(watcher.poll_once(steady(6), key_t0));
  EXPECT_FALSE(watcher.status().store_lost);
  EXPECT_TRUE(cache->verify(fresh.value->key, key_t0).ok());
  EXPECT_EQ(cache->verify(kept.key, key_t0).failure, store::key_failure::unknown);
}

}  // namespace
}  // namespace bulwark::test
