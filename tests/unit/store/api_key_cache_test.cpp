// The request path's key check and its refresh from the file: verify at fixed
// times, a change made by another process picked up by the watcher, last use
// recorded in memory and flushed.
#include "store/api_key_cache.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "store/api_key_watcher.h"
#include "unit/store/store_test_util.h"

namespace bulwark::store {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test::t0;

const core::time_point steady0{std::chrono::seconds(1'000'000)};

std::shared_ptr<sqlite_key_store> open_or_die(const std::string& path) {
  auto opened = sqlite_key_store::open(path);
  if (!opened.ok()) throw std::runtime_error(opened.error.message);
  return *opened.value;
}

// Another process with its own SQLite connection, standing in for `bulwark keys`.
// It is forked before the test opens the file: SQLite forbids carrying open
// connections (and their lock bookkeeping) across fork(), so the child must
// start from a process that had none on this file. Commands go down one pipe
// ("create NAME", "revoke ID"), one-line answers come back on another.
class other_process {
 public:
  explicit other_process(std::string path) {
    int down[2];
    int up[2];
    if (::pipe(down) != 0 || ::pipe(up) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      serve(path, down[0], up[1]);
      ::_exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
  }
  ~other_process() {
    ::close(to_child_);  // EOF: the child exits
    ::close(from_child_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  other_process(const other_process&) = delete;
  other_process& operator=(const other_process&) = delete;

  std::string ask(const std::string& command) {
    const std::string line = command + "\n";
    if (::write(to_child_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return "";
    std::string answer;
    char c;
    while (::read(from_child_, &c, 1) == 1 && c != '\n') answer.push_back(c);
    return answer;
  }

 private:
  static void serve(const std::string& path, int in, int out) {
    std::string line;
    char c;
    while (::read(in, &c, 1) == 1) {
      if (c != '\n') {
        line.push_back(c);
        continue;
      }
      std::string answer = "error";
      auto opened = sqlite_key_store::open(path);  // a fresh connection per command, as the CLI
      if (opened.ok()) {
        auto& store = **opened.value;
        if (line.rfind("create ", 0) == 0) {
          auto issued = store.create({line.substr(7), {}, std::nullopt, std::nullopt}, t0);
          if (issued.ok()) answer = issued.value->key;
        } else if (line.rfind("revoke ", 0) == 0) {
          if (store.revoke(line.substr(7), t0).ok()) answer = "ok";
        }
      }
      answer.push_back('\n');
      (void)!::write(out, answer.data(), answer.size());
      line.clear();
    }
  }

  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
};

class ApiKeyCache : public ::testing::Test {
 protected:
  test::temp_dir dir_;
  std::string path_ = dir_.file("keys.db");
  std::shared_ptr<sqlite_key_store> store_ = open_or_die(path_);
  std::shared_ptr<api_key_cache> cache_ = std::make_shared<api_key_cache>(store_);

  issued_key create(const std::string& name, std::optional<seconds> expires = std::nullopt) {
    auto issued = store_->create({name, {"read"}, "10/s", expires}, t0);
    if (!issued.ok()) throw std::runtime_error(issued.error.message);
    return *issued.value;
  }
  void refresh() { ASSERT_TRUE(cache_->refresh().ok()); }
};

TEST_F(ApiKeyCache, VerifiesAKeyAndReturnsItsIdentity) {
  const auto issued = create("ci");
  refresh();
  const auto result = cache_->verify(issued.key, t0);
  ASSERT_TRUE(result.ok()) << to_string(result.failure);
  ASSERT_NE(result.identity, nullptr);
  EXPECT_EQ(result.identity->id, issued.record.id);
  EXPECT_EQ(result.identity->name, "ci");
  EXPECT_TRUE(result.identity->has_scope("read"));
  EXPECT_FALSE(result.identity->has_scope("write"));
  EXPECT_EQ(result.identity->rate_text, "10/s");
  ASSERT_TRUE(result.identity->rate.has_value());
  EXPECT_EQ(result.identity->rate->count, 10u);
  EXPECT_EQ(result.identity->rate->per, seconds(1));
}

TEST_F(ApiKeyCache, AChangeIsInvisibleUntilRefresh) {
  const auto issued = create("ci");
  EXPECT_EQ(cache_->verify(issued.key, t0).failure, key_failure::unknown);  // not loaded yet
  refresh();
  EXPECT_TRUE(cache_->verify(issued.key, t0).ok());
  ASSERT_TRUE(store_->revoke(issued.record.id, t0).ok());
  EXPECT_TRUE(cache_->verify(issued.key, t0).ok());  // the snapshot is immutable
  refresh();  // what an admin change in this process does
  EXPECT_EQ(cache_->verify(issued.key, t0).failure, key_failure::revoked);
}

TEST_F(ApiKeyCache, MalformedKeys) {
  const auto issued = create("ci");
  refresh();
  ASSERT_TRUE(cache_->verify(issued.key, t0).ok());
  for (std::string_view key : {"", "Bearer x", "bwk_", "bwk_abcdefgh2345_short",
                               "bwk_abcdefgh2345_0123456789ABCDEFGHIJabcdefghijk!"}) {
    EXPECT_EQ(cache_->verify(key, t0).failure, key_failure::malformed) << key;
    EXPECT_EQ(cache_->verify(key, t0).identity, nullptr);
  }
}

TEST_F(ApiKeyCache, AWrongSecretForAKnownIdLooksLikeAnUnknownKey) {
  const auto issued = create("ci");
  ASSERT_TRUE(store_->revoke(issued.record.id, t0).ok());
  refresh();
  auto wrong = issued.key;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';  // same id, secret differs in its last character
  EXPECT_EQ(cache_->verify(wrong, t0).failure, key_failure::unknown);
  auto wrong_first = issued.key;
  auto& first = wrong_first[key_prefix.size() + key_id_length + 1];
  first = first == 'a' ? 'b' : 'a';
  EXPECT_EQ(cache_->verify(wrong_first, t0).failure, key_failure::unknown);
  // Only the holder of the secret learns that the key is revoked.
  EXPECT_EQ(cache_->verify(issued.key, t0).failure, key_failure::revoked);
  auto other_id = issued.key;
  other_id[4] = other_id[4] == 'a' ? 'b' : 'a';
  EXPECT_EQ(cache_->verify(other_id, t0).failure, key_failure::unknown);
}

TEST_F(ApiKeyCache, ExpiryAtFixedTimes) {
  const auto issued = create("ci", seconds(hours(1)));
  refresh();
  EXPECT_TRUE(cache_->verify(issued.key, t0 + seconds(3599)).ok());
  EXPECT_EQ(cache_->verify(issued.key, t0 + hours(1)).failure, key_failure::expired);
}

TEST_F(ApiKeyCache, BothKeysWorkDuringTheGraceThenOnlyTheNewOne) {
  const auto old = create("ci");
  auto rotated = store_->rotate({old.record.id, hours(24), std::nullopt}, t0 + hours(1));
  ASSERT_TRUE(rotated.ok());
  refresh();
  const auto& fresh = rotated.value->key;
  EXPECT_TRUE(cache_->verify(old.key, t0 + hours(24)).ok());
  EXPECT_TRUE(cache_->verify(fresh, t0 + hours(24)).ok());
  EXPECT_EQ(cache_->verify(old.key, t0 + hours(25)).failure, key_failure::expired);
  EXPECT_TRUE(cache_->verify(fresh, t0 + hours(25)).ok());
  EXPECT_EQ(cache_->verify(fresh, t0).identity->name, "ci");
}

TEST_F(ApiKeyCache, LoadWithoutAStore) {
  api_key_cache cache;
  auto key = generate_key();
  key_entry entry;
  entry.id = key->id;
  entry.hash = hash_secret(key->secret);
  entry.name = "loaded";
  cache.load({entry});
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.verify(key->text(), t0).ok());
  EXPECT_FALSE(cache.refresh().ok());
}

TEST_F(ApiKeyCache, UsesAreRecordedInMemoryAndFlushedByTheWatcher) {
  const auto issued = create("ci");
  refresh();
  ASSERT_TRUE(cache_->verify(issued.key, t0 + hours(2)).ok());
  ASSERT_TRUE(cache_->verify(issued.key, t0 + hours(1)).ok());  // earlier clock reading, later arrival
  EXPECT_FALSE(store_->get(issued.record.id).value->last_used_at.has_value());  // nothing written yet

  auto uses = cache_->unflushed_uses();
  ASSERT_EQ(uses.size(), 1u);
  EXPECT_EQ(uses[0].second, t0 + hours(2));

  api_key_watcher watcher(cache_, watcher_options{milliseconds(500), seconds(5), {}});
  watcher.poll_once(steady0);  // first poll: flushes, then refreshes
  EXPECT_EQ(store_->get(issued.record.id).value->last_used_at, t0 + hours(2));
  EXPECT_TRUE(cache_->unflushed_uses().empty());

  // A use survives a refresh and waits for the flush interval.
  ASSERT_TRUE(cache_->verify(issued.key, t0 + hours(3)).ok());
  refresh();
  watcher.poll_once(steady0 + seconds(4));
  EXPECT_EQ(store_->get(issued.record.id).value->last_used_at, t0 + hours(2));
  watcher.poll_once(steady0 + seconds(5));
  EXPECT_EQ(store_->get(issued.record.id).value->last_used_at, t0 + hours(3));
}

TEST_F(ApiKeyCache, LastUseHasOneSecondResolution) {
  const auto issued = create("ci");
  refresh();
  ASSERT_TRUE(cache_->verify(issued.key, t0).ok());
  ASSERT_TRUE(cache_->verify(issued.key, t0 + milliseconds(999)).ok());
  ASSERT_EQ(cache_->unflushed_uses().size(), 1u);
  EXPECT_EQ(cache_->unflushed_uses()[0].second, t0);
  ASSERT_TRUE(cache_->verify(issued.key, t0 + milliseconds(1000)).ok());
  EXPECT_EQ(cache_->unflushed_uses()[0].second, t0 + milliseconds(1000));
}

TEST_F(ApiKeyCache, StopFlushesPendingUses) {
  const auto issued = create("ci");
  refresh();
  {
    api_key_watcher watcher(cache_, watcher_options{milliseconds(500), hours(1), {}});
    watcher.poll_once(steady0);
    ASSERT_TRUE(cache_->verify(issued.key, t0 + hours(1)).ok());
    watcher.poll_once(steady0 + seconds(1));  // flush not due
    EXPECT_FALSE(store_->get(issued.record.id).value->last_used_at.has_value());
  }  // destructor: stop() flushes
  EXPECT_EQ(store_->get(issued.record.id).value->last_used_at, t0 + hours(1));
}

TEST(ApiKeyCacheProcesses, TheWatcherPicksUpAChangeMadeByAnotherProcess) {
  test::temp_dir dir;
  const auto path = dir.file("keys.db");
  other_process cli(path);  // forked first: see other_process
  auto store = open_or_die(path);
  ASSERT_TRUE(store->create({"before", {}, std::nullopt, std::nullopt}, t0).ok());
  auto cache = std::make_shared<api_key_cache>(store);
  api_key_watcher watcher(cache);
  EXPECT_TRUE(watcher.poll_once(steady0));  // the first poll loads
  EXPECT_FALSE(watcher.poll_once(steady0 + milliseconds(500)));  // nothing changed
  EXPECT_EQ(cache->size(), 1u);

  const auto key = cli.ask("create from child");
  ASSERT_TRUE(parse_key(key).has_value()) << key;
  EXPECT_EQ(cache->verify(key, t0).failure, key_failure::unknown);
  EXPECT_TRUE(watcher.poll_once(steady0 + milliseconds(1000)));
  ASSERT_TRUE(cache->verify(key, t0).ok());
  EXPECT_EQ(cache->verify(key, t0).identity->name, "from child");

  ASSERT_EQ(cli.ask("revoke " + std::string(parse_key(key)->id)), "ok");
  EXPECT_TRUE(watcher.poll_once(steady0 + milliseconds(1500)));
  EXPECT_EQ(cache->verify(key, t0).failure, key_failure::revoked);
  EXPECT_FALSE(watcher.poll_once(steady0 + milliseconds(2000)));
}

TEST_F(ApiKeyCache, TheWatchersOwnFlushDoesNotTriggerARefresh) {
  const auto issued = create("ci");
  std::size_t refreshes = 0;
  api_key_watcher watcher(cache_, watcher_options{milliseconds(500), seconds(1), [&](std::size_t) { ++refreshes; }});
  watcher.poll_once(steady0);
  EXPECT_EQ(refreshes, 1u);
  ASSERT_TRUE(cache_->verify(issued.key, t0).ok());
  EXPECT_FALSE(watcher.poll_once(steady0 + seconds(2)));  // flushed, no refresh
  EXPECT_EQ(store_->get(issued.record.id).value->last_used_at, t0);
  EXPECT_FALSE(watcher.poll_once(steady0 + seconds(3)));
  EXPECT_EQ(refreshes, 1u);
}

TEST_F(ApiKeyCache, TheWatcherThreadRefreshesAndStopJoins) {
  // Waits on an event with a generous deadline; never sleeps for a set time.
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t refreshes = 0;
  std::size_t last_count = 0;
  auto wait_for_refreshes = [&](std::size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, seconds(10), [&] { return refreshes >= n; });
  };
  api_key_watcher watcher(cache_, watcher_options{milliseconds(20), seconds(5), [&](std::size_t keys) {
                                                    std::lock_guard lock(mutex);
                                                    ++refreshes;
                                                    last_count = keys;
                                                    changed.notify_all();
                                                  }});
  watcher.start();
  ASSERT_TRUE(wait_for_refreshes(1));
  auto other = open_or_die(path_);  // another connection, as another process would have
  auto issued = other->create({"late", {}, std::nullopt, std::nullopt}, t0);
  ASSERT_TRUE(issued.ok());
  ASSERT_TRUE(wait_for_refreshes(2));
  EXPECT_TRUE(cache_->verify(issued.value->key, t0).ok());
  watcher.stop();
  watcher.stop();  // idempotent
  std::lock_guard lock(mutex);
  EXPECT_EQ(last_count, 1u);
}

// --- keys remembered per thread (api_key_cache.h, "Verified keys, per thread") ---------

// A store-less cache filled with generated keys; the counters are the calling
// thread's, read before and after.
class RememberedKeys : public ::testing::Test {
 protected:
  struct made_key {
    std::string text;
    key_entry entry;
  };
  static made_key make(std::string name) {
    auto key = generate_key();
    if (!key) throw std::runtime_error("generate_key failed");
    made_key made{key->text(), {}};
    made.entry.id = key->id;
    made.entry.hash = hash_secret(key->secret);
    made.entry.name = std::move(name);
    return made;
  }
  static api_key_cache::remembered_keys_stats stats() { return api_key_cache::remembered_keys_for_test(); }
  // Hits and misses since the test's last call.
  std::pair<std::size_t, std::size_t> counted() {
    const auto now = stats();
    const std::pair<std::size_t, std::size_t> delta{now.hits - seen_.hits, now.misses - seen_.misses};
    seen_ = now;
    return delta;
  }

  api_key_cache cache_;
  made_key ci_ = make("ci");
  api_key_cache::remembered_keys_stats seen_ = stats();
};

using hits_misses = std::pair<std::size_t, std::size_t>;

TEST_F(RememberedKeys, AKeyIsHashedOnceThenComparedWithTheRememberedText) {
  cache_.load({ci_.entry});
  counted();
  const auto first = cache_.verify(ci_.text, t0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(counted(), (hits_misses{0, 1}));
  const auto second = cache_.verify(ci_.text, t0);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(counted(), (hits_misses{1, 0}));
  EXPECT_EQ(second.identity, first.identity);  // the same identity object, from the same snapshot
  EXPECT_EQ(stats().held, 1u);
}

// Each of the 49 bytes takes part in the comparison, whichever 16-byte window
// covers it (byte 32 only in the window that overlaps its neighbour).
TEST_F(RememberedKeys, AHitNeedsEveryByteOfTheKey) {
  cache_.load({ci_.entry});
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());
  counted();
  for (std::size_t at = 0; at < key_length; ++at) {
    auto near = ci_.text;
    near[at] = near[at] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(cache_.verify(near, t0).ok()) << "byte " << at;
    EXPECT_EQ(counted(), (hits_misses{0, 1})) << "byte " << at;
  }
  EXPECT_TRUE(cache_.verify(ci_.text, t0).ok());  // still remembered: refusals replace nothing
  EXPECT_EQ(counted(), (hits_misses{1, 0}));
}

TEST_F(RememberedKeys, RefusedKeysAreNeverRemembered) {
  auto revoked = ci_.entry;
  revoked.revoked = true;
  auto wrong = make("wrong");
  cache_.load({revoked, wrong.entry});
  auto wrong_secret = wrong.text;
  wrong_secret.back() = wrong_secret.back() == 'a' ? 'b' : 'a';
  counted();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(cache_.verify(ci_.text, t0).failure, key_failure::revoked);
    EXPECT_EQ(cache_.verify(wrong_secret, t0).failure, key_failure::unknown);
  }
  EXPECT_EQ(counted(), (hits_misses{0, 4}));
  EXPECT_EQ(stats().held, 0u);
}

TEST_F(RememberedKeys, ExpiryIsCheckedOnEveryHit) {
  auto expiring = ci_.entry;
  expiring.expires_at = t0 + hours(1);
  cache_.load({expiring});
  counted();
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());
  ASSERT_TRUE(cache_.verify(ci_.text, t0 + seconds(3599)).ok());
  EXPECT_EQ(cache_.verify(ci_.text, t0 + hours(1)).failure, key_failure::expired);
  EXPECT_EQ(counted(), (hits_misses{2, 1}));
}

// Any load, even of the same keys, forgets what the thread remembered: the
// next verification hashes against the new snapshot.
TEST_F(RememberedKeys, EveryLoadForgetsTheRememberedKeys) {
  cache_.load({ci_.entry});
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());
  cache_.load({ci_.entry});
  counted();
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());
  EXPECT_EQ(counted(), (hits_misses{0, 1}));

  auto revoked = ci_.entry;
  revoked.revoked = true;
  cache_.load({revoked});
  EXPECT_EQ(cache_.verify(ci_.text, t0).failure, key_failure::revoked);
  cache_.load({});
  EXPECT_EQ(cache_.verify(ci_.text, t0).failure, key_failure::unknown);
  EXPECT_EQ(stats().held, 0u);
}

TEST_F(RememberedKeys, KeysVerifiedForOneCacheAreUnknownToAnother) {
  cache_.load({ci_.entry});
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());
  api_key_cache other;
  other.load({make("other").entry});
  EXPECT_EQ(other.verify(ci_.text, t0).failure, key_failure::unknown);
  counted();
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());  // the thread switched caches: hashed again
  EXPECT_EQ(counted(), (hits_misses{0, 1}));
}

TEST_F(RememberedKeys, AThreadHoldsABoundedNumberOfKeys) {
  std::vector<made_key> keys;
  std::vector<key_entry> entries;
  for (std::size_t i = 0; i < 4 * api_key_cache::remembered_keys_per_thread; ++i) {
    keys.push_back(make(std::to_string(i)));
    entries.push_back(keys.back().entry);
  }
  cache_.load(entries);
  for (const auto& key : keys) ASSERT_TRUE(cache_.verify(key.text, t0).ok());
  EXPECT_LE(stats().held, api_key_cache::remembered_keys_per_thread);
  EXPECT_GT(stats().held, 0u);
  // A key whose slot another key took is hashed again, and verifies all the same.
  for (const auto& key : keys) ASSERT_TRUE(cache_.verify(key.text, t0).ok());
}

TEST_F(RememberedKeys, EachThreadRemembersItsOwn) {
  cache_.load({ci_.entry});
  ASSERT_TRUE(cache_.verify(ci_.text, t0).ok());
  hits_misses elsewhere;
  std::thread other([&] {
    const auto before = stats();
    (void)cache_.verify(ci_.text, t0);
    (void)cache_.verify(ci_.text, t0);
    const auto after = stats();
    elsewhere = {after.hits - before.hits, after.misses - before.misses};
  });
  other.join();
  EXPECT_EQ(elsewhere, (hits_misses{1, 1}));
}

// Through the store, as the admin API and the watcher change it: a
// revocation or a rotation applies to a key this thread remembers.
TEST_F(ApiKeyCache, RevocationAndRotationApplyToRememberedKeys) {
  const auto revoked = create("revoked");
  const auto rotated = create("rotated");
  refresh();
  for (int i = 0; i < 2; ++i) {  // the second time from the remembered keys
    ASSERT_TRUE(cache_->verify(revoked.key, t0).ok());
    ASSERT_TRUE(cache_->verify(rotated.key, t0).ok());
  }
  ASSERT_TRUE(store_->revoke(revoked.record.id, t0).ok());
  auto successor = store_->rotate({rotated.record.id, hours(1), std::nullopt}, t0);
  ASSERT_TRUE(successor.ok());
  refresh();
  EXPECT_EQ(cache_->verify(revoked.key, t0).failure, key_failure::revoked);
  EXPECT_TRUE(cache_->verify(rotated.key, t0 + seconds(3599)).ok());  // its grace period
  EXPECT_EQ(cache_->verify(rotated.key, t0 + hours(1)).failure, key_failure::expired);
  EXPECT_TRUE(cache_->verify(successor.value->key, t0 + hours(1)).ok());
}

}  // namespace
}  // namespace bulwark::store
