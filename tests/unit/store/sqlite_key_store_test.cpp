// The SQLite store on real files in a temporary directory, at fixed times.
#include "store/sqlite_key_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <latch>
#include <thread>

#include "unit/store/store_test_util.h"

namespace bulwark::store {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using test::open_store;
using test::t0;

constexpr auto day = hours(24);

// A value straight from the file, through a connection of its own.
std::string raw_query(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    out = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

void raw_exec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

class KeyStore : public ::testing::Test {
 protected:
  test::temp_dir dir_;
  std::string path_ = dir_.file("data/keys/keys.db");
  std::shared_ptr<sqlite_key_store> store_ = open_store(path_);

  issued_key create(const std::string& name, std::optional<seconds> expires = std::nullopt,
                    wall_time now = t0) {
    new_key_request request{name, {"read", "write"}, "100/s", expires};
    auto issued = store_->create(request, now);
    if (!issued.ok()) throw std::runtime_error(issued.error.message);
    return *issued.value;
  }
};

TEST_F(KeyStore, OpenCreatesTheDirectoryAndAPrivateWalFile) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(raw_query(path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw_query(path_, "PRAGMA user_version"), std::to_string(sqlite_key_store::schema_version));
}

TEST_F(KeyStore, ReopeningIsIdempotent) {
  create("first");
  store_.reset();
  auto again = open_store(path_);
  EXPECT_EQ(again->user_version_for_test(), sqlite_key_store::schema_version);
  auto records = again->list();
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records.value->size(), 1u);
}

TEST_F(KeyStore, RefusesASchemaNewerThanItKnows) {
  store_.reset();
  raw_exec(path_, "PRAGMA user_version = 99");
  auto opened = sqlite_key_store::open(path_);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error.message.find("schema version 99"), std::string::npos) << opened.error.message;
}

TEST_F(KeyStore, OpenReportsAnUnusablePath) {
  test::temp_dir dir;
  const std::string blocker = dir.file("file");
  { std::ofstream(blocker) << "x"; }
  auto opened = sqlite_key_store::open(blocker + "/keys.db");  // parent is a regular file
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error.code, store_errc::database);
  EXPECT_NE(opened.error.message.find("cannot"), std::string::npos) << opened.error.message;
}

TEST_F(KeyStore, CreateReturnsTheKeyOnceAndListShowsTheRecord) {
  const auto issued = create("ci", seconds(90 * day));
  EXPECT_TRUE(parse_key(issued.key).has_value());
  EXPECT_EQ(parse_key(issued.key)->id, issued.record.id);
  EXPECT_EQ(issued.record.name, "ci");
  EXPECT_EQ(issued.record.scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(issued.record.rate, "100/s");
  EXPECT_EQ(issued.record.created_at, t0);
  EXPECT_EQ(issued.record.expires_at, t0 + 90 * day);

  auto records = store_->list();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records.value->size(), 1u);
  const auto& record = records.value->front();
  EXPECT_EQ(record.id, issued.record.id);
  EXPECT_EQ(record.name, "ci");
  EXPECT_EQ(record.scopes, issued.record.scopes);
  EXPECT_EQ(record.rate, "100/s");
  EXPECT_EQ(record.created_at, t0);
  EXPECT_EQ(record.expires_at, t0 + 90 * day);
  EXPECT_FALSE(record.last_used_at.has_value());
  EXPECT_EQ(record.state(t0 + 89 * day), key_state::active);
  EXPECT_EQ(record.state(t0 + 90 * day), key_state::expired);
}

TEST_F(KeyStore, ListIsOldestFirst) {
  const auto a = create("a", std::nullopt, t0);
  const auto b = create("b", std::nullopt, t0 + seconds(1));
  const auto c = create("c", std::nullopt, t0 + seconds(2));
  auto records = store_->list();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records.value->size(), 3u);
  EXPECT_EQ((*records.value)[0].id, a.record.id);
  EXPECT_EQ((*records.value)[1].id, b.record.id);
  EXPECT_EQ((*records.value)[2].id, c.record.id);
}

TEST_F(KeyStore, CreateRefusesBadRequests) {
  struct bad {
    new_key_request request;
    std::string mentions;
  };
  const bad cases[] = {
      {{"", {}, std::nullopt, std::nullopt}, "name"},
      {{"x", {"no spaces"}, std::nullopt, std::nullopt}, "scope"},
      {{"x", {}, "100/m", std::nullopt}, "rate"},
      {{"x", {}, "fast", std::nullopt}, "rate"},
      {{"x", {}, std::nullopt, seconds(0)}, "expires"},
  };
  for (const auto& c : cases) {
    auto issued = store_->create(c.request, t0);
    ASSERT_FALSE(issued.ok()) << c.mentions;
    EXPECT_EQ(issued.error.code, store_errc::invalid_argument);
    EXPECT_NE(issued.error.message.find(c.mentions), std::string::npos) << issued.error.message;
  }
  EXPECT_TRUE(store_->list().value->empty());
}

TEST_F(KeyStore, RevokeIsImmediateAndIdempotent) {
  const auto issued = create("ci");
  auto revoked = store_->revoke(issued.record.id, t0 + hours(1));
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked.value->revoked_at, t0 + hours(1));
  EXPECT_EQ(revoked.value->state(t0 + hours(1)), key_state::revoked);

  auto again = store_->revoke(issued.record.id, t0 + hours(2));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value->revoked_at, t0 + hours(1));  // the first revocation time stays
}

TEST_F(KeyStore, RevokeAndRotateReportUnknownAndInvalidIds) {
  auto unknown = store_->revoke("aaaaaaaaaaaa", t0);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error.code, store_errc::not_found);
  EXPECT_NE(unknown.error.message.find("aaaaaaaaaaaa"), std::string::npos);

  auto invalid = store_->revoke("not-an-id", t0);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error.code, store_errc::invalid_argument);

  auto rotated = store_->rotate({"aaaaaaaaaaaa", hours(1), std::nullopt}, t0);
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.error.code, store_errc::not_found);
}

TEST_F(KeyStore, InvalidIdErrorNeverEchoesAWholeKey) {
  const auto issued = create("ci");
  auto revoked = store_->revoke(issued.key, t0);  // the whole key pasted instead of its id
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error.message.find(parse_key(issued.key)->secret), std::string::npos);
}

TEST_F(KeyStore, RotateIssuesASuccessorAndShortensTheOldKeyToTheGrace) {
  const auto old = create("ci");  // never expires
  auto rotated = store_->rotate({old.record.id, hours(24), std::nullopt}, t0 + hours(5));
  ASSERT_TRUE(rotated.ok()) << rotated.error.message;
  const auto& fresh = *rotated.value;
  EXPECT_NE(fresh.record.id, old.record.id);
  EXPECT_NE(fresh.key, old.key);
  EXPECT_EQ(fresh.record.name, "ci");
  EXPECT_EQ(fresh.record.scopes, old.record.scopes);
  EXPECT_EQ(fresh.record.rate, "100/s");
  EXPECT_EQ(fresh.record.created_at, t0 + hours(5));
  EXPECT_FALSE(fresh.record.expires_at.has_value());  // the old key had no expiry either
  ASSERT_TRUE(fresh.replaced.has_value());
  EXPECT_EQ(fresh.replaced->id, old.record.id);
  EXPECT_EQ(fresh.replaced->expires_at, t0 + hours(29));
  EXPECT_EQ(fresh.replaced->replaced_by, fresh.record.id);

  auto stored_old = store_->get(old.record.id);
  ASSERT_TRUE(stored_old.ok());
  EXPECT_EQ(stored_old.value->state(t0 + hours(28)), key_state::rotating);
  EXPECT_EQ(stored_old.value->state(t0 + hours(29)), key_state::expired);

  // A second rotation of the same key would fork the lineage: refused.
  auto twice = store_->rotate({old.record.id, hours(24), std::nullopt}, t0 + hours(6));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error.code, store_errc::conflict);
  EXPECT_NE(twice.error.message.find(fresh.record.id), std::string::npos);
}

TEST_F(KeyStore, RotateNeverExtendsTheOldKeysExpiry) {
  const auto old = create("ci", seconds(hours(2)));  // expires at t0 + 2h
  auto rotated = store_->rotate({old.record.id, hours(24), std::nullopt}, t0 + hours(1));
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated.value->replaced->expires_at, t0 + hours(2));  // min(t0+2h, t0+1h+24h)
}

TEST_F(KeyStore, RotateGivesTheSuccessorTheSameLifetimeUnlessTold) {
  const auto old = create("ci", seconds(90 * day));
  auto rotated = store_->rotate({old.record.id, hours(24), std::nullopt}, t0 + 80 * day);
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated.value->record.expires_at, t0 + 170 * day);

  const auto other = create("other", seconds(90 * day));
  auto told = store_->rotate({other.record.id, hours(1), seconds(7 * day)}, t0 + day);
  ASSERT_TRUE(told.ok());
  EXPECT_EQ(told.value->record.expires_at, t0 + 8 * day);
  EXPECT_EQ(told.value->replaced->expires_at, t0 + day + hours(1));
}

TEST_F(KeyStore, RotateWithZeroGraceEndsTheOldKeyNow) {
  const auto old = create("ci");
  auto rotated = store_->rotate({old.record.id, seconds(0), std::nullopt}, t0 + hours(1));
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated.value->replaced->state(t0 + hours(1)), key_state::expired);
}

TEST_F(KeyStore, RotateRefusesRevokedAndExpiredKeys) {
  const auto revoked = create("revoked");
  ASSERT_TRUE(store_->revoke(revoked.record.id, t0).ok());
  auto r1 = store_->rotate({revoked.record.id, hours(1), std::nullopt}, t0 + hours(1));
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error.code, store_errc::conflict);
  EXPECT_NE(r1.error.message.find("revoked"), std::string::npos);

  const auto expired = create("expired", seconds(hours(1)));
  auto r2 = store_->rotate({expired.record.id, hours(1), std::nullopt}, t0 + hours(1));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error.code, store_errc::conflict);
  EXPECT_NE(r2.error.message.find("expired"), std::string::npos);

  EXPECT_EQ(store_->list().value->size(), 2u);  // no successor was left behind
}

TEST_F(KeyStore, LastUsedOnlyMovesForward) {
  const auto issued = create("ci");
  ASSERT_TRUE(store_->record_last_used({{issued.record.id, t0 + hours(2)}}).ok());
  ASSERT_TRUE(store_->record_last_used({{issued.record.id, t0 + hours(1)}}).ok());  // a slower gateway
  EXPECT_EQ(store_->get(issued.record.id).value->last_used_at, t0 + hours(2));
  auto unknown = store_->record_last_used({{"aaaaaaaaaaaa", t0}});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(*unknown.value, 0u);
}

TEST_F(KeyStore, DataVersionSeesOtherConnectionsOnly) {
  auto before = store_->data_version();
  ASSERT_TRUE(before.ok());
  create("own write");
  EXPECT_EQ(*store_->data_version().value, *before.value);

  auto other = open_store(path_);
  ASSERT_TRUE(other->create({"other", {}, std::nullopt, std::nullopt}, t0).ok());
  EXPECT_NE(*store_->data_version().value, *before.value);
}

TEST_F(KeyStore, TheSecretIsNeverWrittenToDisk) {
  const auto issued = create("ci");
  const auto secret = std::string(parse_key(issued.key)->secret);
  const auto hash = hash_secret(secret);
  const std::string hash_bytes(hash.begin(), hash.end());
  ASSERT_TRUE(store_->rotate({issued.record.id, hours(1), std::nullopt}, t0).ok());

  auto all_files = [&] {
    return test::read_bytes(path_) + test::read_bytes(path_ + "-wal") + test::read_bytes(path_ + "-shm");
  };
  // While the store is open (the rows are in the WAL) and after it closed
  // (checkpointed into the main file).
  for (int pass = 0; pass < 2; ++pass) {
    const auto bytes = all_files();
    // The reads do see the rows: the id and the hash are there...
    EXPECT_NE(bytes.find(issued.record.id), std::string::npos) << "pass " << pass;
    EXPECT_NE(bytes.find(hash_bytes), std::string::npos) << "pass " << pass;
    // ...and neither the secret nor the key is.
    EXPECT_EQ(bytes.find(secret), std::string::npos) << "pass " << pass;
    EXPECT_EQ(bytes.find(issued.key), std::string::npos) << "pass " << pass;
    store_.reset();
  }
}

TEST(KeyStoreMigration, ThreadsOpeningAFreshFileAtOnceMigrateItOnce) {
  test::temp_dir dir;
  const auto path = dir.file("fresh.db");
  constexpr int threads = 8;
  std::latch start(threads);
  std::vector<std::string> errors(threads);
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&, i] {
      start.arrive_and_wait();
      auto opened = sqlite_key_store::open(path);
      if (!opened.ok()) {
        errors[i] = opened.error.message;
        return;
      }
      auto created = (*opened.value)->create({"t" + std::to_string(i), {}, std::nullopt, std::nullopt}, t0);
      if (!created.ok()) errors[i] = created.error.message;
    });
  }
  for (auto& worker : workers) worker.join();
  for (const auto& error : errors) EXPECT_EQ(error, "");
  auto store = open_store(path);
  EXPECT_EQ(store->user_version_for_test(), sqlite_key_store::schema_version);
  EXPECT_EQ(store->list().value->size(), static_cast<std::size_t>(threads));
}

TEST(KeyStoreMigration, ProcessesOpeningAFreshFileAtOnceMigrateItOnce) {
  test::temp_dir dir;
  const auto path = dir.file("sub/fresh.db");
  constexpr int children = 4;
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < children; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Child: wait until the parent opens the gate, so all start together.
      ::close(gate[1]);
      char byte;
      (void)!::read(gate[0], &byte, 1);
      auto opened = sqlite_key_store::open(path);
      if (!opened.ok()) ::_exit(10);
      auto created = (*opened.value)->create({"p" + std::to_string(i), {}, std::nullopt, std::nullopt}, t0);
      ::_exit(created.ok() ? 0 : 11);
    }
    pids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // EOF: every child's read returns at once
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto store = open_store(path);
  EXPECT_EQ(store->user_version_for_test(), sqlite_key_store::schema_version);
  EXPECT_EQ(store->list().value->size(), static_cast<std::size_t>(children));
}

}  // namespace
}  // namespace bulwark::store
