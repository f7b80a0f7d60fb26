// The watcher's rules against a scripted store (no SQLite, no Redis, no
// thread, no sleep): reload when the version moves, keep the snapshot while
// the store cannot be read (stale, since when, logged once per streak), keep
// it when the store says it lost everything, and load what is written after.
#include "store/api_key_watcher.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "unit/store/store_test_util.h"

namespace bulwark::store::test {
namespace {

// A key store whose version and entries the test sets; `reachable` false makes
// every call fail as an unreachable Redis does.
class scripted_key_store final : public key_store {
 public:
  bool reachable = true;
  store_version current{"1", false};
  std::vector<key_entry> entries;
  int loads = 0;

  std::string_view kind() const override { return "scripted"; }
  const std::string& location() const override { return location_; }
  outcome<issued_key> create(const new_key_request&, wall_time) override { return refuse<issued_key>(); }
  outcome<std::vector<key_record>> list() override { return refuse<std::vector<key_record>>(); }
  outcome<key_record> get(std::string_view) override { return refuse<key_record>(); }
  outcome<key_record> revoke(std::string_view, wall_time) override { return refuse<key_record>(); }
  outcome<issued_key> rotate(const rotate_request&, wall_time) override { return refuse<issued_key>(); }
  outcome<std::vector<key_entry>> load_entries() override {
    if (!reachable) return refuse<std::vector<key_entry>>();
    ++loads;
    return outcome<std::vector<key_entry>>::success(entries);
  }
  outcome<std::size_t> record_last_used(const std::vector<std::pair<std::string, wall_time>>& uses) override {
    if (!reachable) return refuse<std::size_t>();
    return outcome<std::size_t>::success(uses.size());
  }
  outcome<store_version> version() override {
    if (!reachable) return refuse<store_version>();
    return outcome<store_version>::success(current);
  }

 private:
  template <class T>
  static outcome<T> refuse() {
    return outcome<T>::failure(store_errc::unavailable, "scripted store unreachable");
  }
  std::string location_ = "scripted";
};

key_entry scripted_entry(const generated_key& key, std::string name) {
  key_entry entry;
  entry.id = key.id;
  entry.hash = hash_secret(key.secret);
  entry.name = std::move(name);
  return entry;
}

core::time_point watcher_poll(int n) { return core::time_point(std::chrono::milliseconds(500 * n)); }

class WatcherRules : public ::testing::Test {
 protected:
  void SetUp() override {
    store_->entries = {scripted_entry(*first_, "first")};
    ASSERT_TRUE(cache_->refresh().ok());
  }

  std::shared_ptr<scripted_key_store> store_ = std::make_shared<scripted_key_store>();
  std::shared_ptr<api_key_cache> cache_ = std::make_shared<api_key_cache>(store_);
  std::optional<generated_key> first_ = generate_key();
  api_key_watcher watcher_{cache_, watcher_options{std::chrono::milliseconds(500), std::chrono::hours(1), {}}};
};

TEST_F(WatcherRules, ReloadsOnlyWhenTheVersionMoves) {
  EXPECT_TRUE(watcher_.poll_once(watcher_poll(0), t0));  // the baseline
  EXPECT_FALSE(watcher_.poll_once(watcher_poll(1), t0));
  EXPECT_FALSE(watcher_.poll_once(watcher_poll(2), t0));
  const auto second = generate_key();
  store_->entries.push_back(scripted_entry(*second, "second"));
  store_->current.token = "2";
  EXPECT_TRUE(watcher_.poll_once(watcher_poll(3), t0));
  EXPECT_TRUE(cache_->verify(second->text(), t0).ok());
  EXPECT_EQ(watcher_.status().last_refresh, t0);
}

TEST_F(WatcherRules, KeepsTheSnapshotWhileTheStoreIsUnreachable) {
  ASSERT_TRUE(watcher_.poll_once(watcher_poll(0), t0));
  store_->reachable = false;
  const auto down = t0 + std::chrono::seconds(10);
  EXPECT_FALSE(watcher_.poll_once(watcher_poll(1), down));
  EXPECT_FALSE(watcher_.poll_once(watcher_poll(2), down + std::chrono::seconds(1)));
  auto status = watcher_.status();
  EXPECT_TRUE(status.stale);
  EXPECT_EQ(status.stale_since, down);  // the first failure of the streak
  EXPECT_EQ(status.error, "scripted store unreachable");
  EXPECT_TRUE(cache_->verify(first_->text(), t0).ok());  // no lockout

  store_->reachable = true;  // back, unchanged: nothing to reload
  const int loads = store_->loads;
  EXPECT_FALSE(watcher_.poll_once(watcher_poll(3), down + std::chrono::seconds(2)));
  EXPECT_EQ(store_->loads, loads);
  status = watcher_.status();
  EXPECT_FALSE(status.stale);
  EXPECT_FALSE(status.stale_since);
  EXPECT_TRUE(status.error.empty());
}

TEST_F(WatcherRules, AStoreThatLostEverythingDoesNotEmptyTheSnapshot) {
  ASSERT_TRUE(watcher_.poll_once(watcher_poll(0), t0));
  store_->entries.clear();
  store_->current = store_version{"", true};
  EXPECT_FALSE(watcher_.poll_once(watcher_poll(1), t0));
  EXPECT_TRUE(watcher_.status().store_lost);
  EXPECT_EQ(cache_->size(), 1u);
  EXPECT_TRUE(cache_->verify(first_->text(), t0).ok());

  // The first write to the emptied store makes it authoritative again.
  const auto fresh = generate_key();
  store_->entries = {scripted_entry(*fresh, "fresh")};
  store_->current = store_version{"1", false};
  EXPECT_TRUE(watcher_.poll_once(watcher_poll(2), t0));
  EXPECT_FALSE(watcher_.status().store_lost);
  EXPECT_TRUE(cache_->verify(fresh->text(), t0).ok());
  EXPECT_EQ(cache_->verify(first_->text(), t0).failure, key_failure::unknown);
}

TEST(WatcherRulesEmpty, AnEmptySnapshotLoadsAnEmptyStore) {
  auto store = std::make_shared<scripted_key_store>();
  store->current = store_version{"", true};  // a Redis no key was ever written to
  auto cache = std::make_shared<api_key_cache>(store);
  api_key_watcher watcher(cache);
  EXPECT_TRUE(watcher.poll_once(watcher_poll(0), t0));
  EXPECT_FALSE(watcher.status().store_lost);
  EXPECT_EQ(cache->size(), 0u);
}

}  // namespace
}  // namespace bulwark::store::test
