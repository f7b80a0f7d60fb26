// The SQLite file that holds the API keys (`auth.api_keys.db`), the default
// key store (the interface and its contract: key_store.h).
//
// The file is created on first use (parent directories too, mode 0600), in WAL
// mode so readers (gateways) never block the writer (the CLI) and vice versa.
// Schema migrations run inside BEGIN IMMEDIATE and check PRAGMA user_version
// there, so two processes that open a fresh file at once migrate it exactly
// once: the second waits for the first's write lock, then sees the new version.
//
// A sqlite_key_store is one connection; its functions take an internal mutex,
// so it may be shared between threads (the admin thread and the watcher thread).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/key_store.h"

namespace bulwark::store {

// A change of the file that the watcher compares between polls.
struct file_signature {
  std::uint64_t inode = 0;
  std::int64_t size = -1;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const file_signature&, const file_signature&) = default;
};

class sqlite_key_store final : public key_store {
 public:
  // The schema version this build writes; a file with a newer one is refused.
  static constexpr int schema_version = 1;

  static outcome<std::shared_ptr<sqlite_key_store>> open(const std::string& path);

  ~sqlite_key_store() override;

  const std::string& path() const { return path_; }
  std::string_view kind() const override { return "sqlite"; }
  const std::string& location() const override { return path_; }

  outcome<issued_key> create(const new_key_request& request, wall_time now) override;
  outcome<std::vector<key_record>> list() override;
  outcome<key_record> get(std::string_view id) override;
  outcome<key_record> revoke(std::string_view id, wall_time now) override;
  outcome<issued_key> rotate(const rotate_request& request, wall_time now) override;
  outcome<std::vector<key_entry>> load_entries() override;
  outcome<std::size_t> record_last_used(const std::vector<std::pair<std::string, wall_time>>& uses) override;

  // data_version and the file's signature, as one token: a commit by another
  // connection moves the first, a replaced or rewritten file the second.
  outcome<store_version> version() override;
  // Our own commits do not move data_version but do move the signature.
  store_version after_own_write(const store_version& seen) override;

  // PRAGMA data_version: changes when another connection (another process, or
  // another store object) commits to the file; not for this connection's own writes.
  outcome<std::int64_t> data_version();
  file_signature signature() const;  // of the main database file

  int user_version_for_test();

 private:
  struct impl;
  sqlite_key_store(std::string path, std::unique_ptr<impl> impl);

  std::string path_;
  std::mutex mutex_;  // serialises use of the connection
  std::unique_ptr<impl> impl_;
};

}  // namespace bulwark::store
