#include "store/sqlite_key_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/units.h"
#include "store/sqlite.h"

namespace bulwark::store {
namespace {

// Migration i takes the schema from user_version i to i + 1. Append only: a
// released migration is never edited, since files in the field already ran it.
constexpr const char* migrations[] = {
    // 0 -> 1: the keys. Times are Unix milliseconds (UTC); NULL means "never"
    // (expires_at), "not revoked" (revoked_at), "not used yet" (last_used_at).
    // scopes is comma-separated (a scope cannot contain a comma). replaced_by is
    // the id of the key that rotation issued in this one's place.
    "CREATE TABLE IF NOT EXISTS api_keys ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  secret_sha256 BLOB NOT NULL,"
    "  name TEXT NOT NULL,"
    "  scopes TEXT NOT NULL DEFAULT '',"
    "  rate TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER,"
    "  revoked_at INTEGER,"
    "  last_used_at INTEGER,"
    "  replaced_by TEXT"
    ");",
};
static_assert(std::size(migrations) == sqlite_key_store::schema_version);

constexpr int busy_timeout_ms = 10'000;

constexpr const char* record_columns =
    "id, name, scopes, rate, created_at, last_used_at, expires_at, revoked_at, replaced_by";

bool is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

key_record read_record(const sqlite::statement& row) {
  key_record record;
  record.id = row.text(0);
  record.name = row.text(1);
  record.scopes = split_scopes(row.text(2));
  record.rate = row.optional_text(3);
  record.created_at = from_unix_ms(row.integer(4));
  if (auto v = row.optional_integer(5)) record.last_used_at = from_unix_ms(*v);
  if (auto v = row.optional_integer(6)) record.expires_at = from_unix_ms(*v);
  if (auto v = row.optional_integer(7)) record.revoked_at = from_unix_ms(*v);
  record.replaced_by = row.optional_text(8);
  return record;
}

std::optional<std::int64_t> optional_ms(const std::optional<wall_time>& t) {
  if (!t) return std::nullopt;
  return to_unix_ms(*t);
}

std::string signature_text(const file_signature& s) {
  return std::to_string(s.inode) + "/" + std::to_string(s.size) + "/" + std::to_string(s.mtime_ns);
}

}  // namespace


struct sqlite_key_store::impl {
  sqlite::connection db;

  store_error db_error(std::string_view what) const {
    std::string message(what);
    message.append(": ").append(db.error());
    return store_error{store_errc::database, std::move(message)};
  }

  // BEGIN IMMEDIATE takes the write lock up front, so a read-then-write in the
  // transaction cannot be overtaken by another writer (no SQLITE_BUSY_SNAPSHOT
  // half-way). The guard rolls back unless commit() succeeded.
  class transaction {
   public:
    explicit transaction(sqlite::connection& db) : db_(db), begun_(db.exec("BEGIN IMMEDIATE")) {}
    ~transaction() {
      if (begun_ && !committed_) db_.exec("ROLLBACK");
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    bool begun() const { return begun_; }
    bool commit() { return committed_ = db_.exec("COMMIT"); }

   private:
    sqlite::connection& db_;
    bool begun_;
    bool committed_ = false;
  };

  std::optional<key_record> find(std::string_view id) {
    std::string sql = "SELECT ";
    sql.append(record_columns).append(" FROM api_keys WHERE id = ?1");
    sqlite::statement select(db, sql.c_str());
    if (!select.ok()) return std::nullopt;
    select.bind(1, id);
    if (select.step() != SQLITE_ROW) return std::nullopt;
    return read_record(select);
  }

  // Inserts a new key; retries on the (2^-60-unlikely) id collision.
  outcome<issued_key> insert(const std::string& name, const std::vector<std::string>& scopes,
                             const std::optional<std::string>& rate, std::optional<wall_time> expires_at,
                             wall_time now) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto generated = generate_key();
      if (!generated) return outcome<issued_key>::failure(store_errc::database, "the random generator failed");
      const auto hash = hash_secret(generated->secret);
      if (std::all_of(hash.begin(), hash.end(), [](unsigned char b) { return b == 0; })) {
        return outcome<issued_key>::failure(store_errc::database, "hashing the key failed");
      }
      sqlite::statement insert(db,
                               "INSERT INTO api_keys (id, secret_sha256, name, scopes, rate, created_at, expires_at)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
      if (!insert.ok()) return outcome<issued_key>::failure(db_error("preparing insert"));
      insert.bind(1, std::string_view(generated->id));
      insert.bind_blob(2, hash.data(), hash.size());
      insert.bind(3, std::string_view(name));
      insert.bind(4, std::string_view(join_scopes(scopes)));
      insert.bind(5, rate);
      insert.bind(6, to_unix_ms(now));
      insert.bind(7, optional_ms(expires_at));
      const int rc = insert.step();
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) continue;
      if (rc != SQLITE_DONE) return outcome<issued_key>::failure(db_error("inserting the key"));
      key_record record;
      record.id = generated->id;
      record.name = name;
      record.scopes = scopes;
      record.rate = rate;
      record.created_at = from_unix_ms(to_unix_ms(now));  // as stored: whole milliseconds
      record.expires_at = expires_at ? std::optional(from_unix_ms(to_unix_ms(*expires_at))) : std::nullopt;
      return outcome<issued_key>::success(issued_key{std::move(record), generated->text(), std::nullopt});
    }
    return outcome<issued_key>::failure(store_errc::database, "could not find a free key id");
  }
};

sqlite_key_store::sqlite_key_store(std::string path, std::unique_ptr<impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}

sqlite_key_store::~sqlite_key_store() = default;

outcome<std::shared_ptr<sqlite_key_store>> sqlite_key_store::open(const std::string& path) {
  using result = outcome<std::shared_ptr<sqlite_key_store>>;
  if (path.empty()) return result::failure(store_errc::invalid_argument, "the database path is empty");
  const std::filesystem::path file(path);
  if (file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      return result::failure(store_errc::database,
                             "cannot create directory " + file.parent_path().string() + ": " + ec.message());
    }
  }
  // Create the file ourselves so that it is private (0600): it holds no secret,
  // but names, scopes and hashes are nobody else's business. SQLite gives the
  // -wal and -shm files the main file's permissions.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return result::failure(store_errc::database, "cannot open " + path + ": " + std::strerror(errno));
  }
  ::close(fd);

  auto state = std::make_unique<impl>();
  auto& db = state->db;
  if (!db.open(path)) return result::failure(store_errc::database, "cannot open " + path + ": " + db.error());
  sqlite3_busy_timeout(db.handle(), busy_timeout_ms);

  // Switching a fresh file to WAL needs an exclusive lock; when another process
  // holds it the pragma may report busy without waiting, so retry for as long
  // as the busy timeout would have waited.
  std::string mode;
  for (int attempt = 0; attempt < busy_timeout_ms / 10; ++attempt) {
    sqlite::statement wal(db, "PRAGMA journal_mode=WAL");
    if (!wal.ok()) return result::failure(state->db_error("cannot open " + path));
    const int rc = wal.step();
    if (rc == SQLITE_ROW) {
      mode = wal.text(0);
      break;
    }
    if (!is_busy(rc)) return result::failure(state->db_error("cannot set WAL mode on " + path));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (mode != "wal") {
    return result::failure(store_errc::database,
                           "cannot set WAL mode on " + path + (mode.empty() ? " (busy)" : " (got " + mode + ")"));
  }

  // Migrate under the write lock: the check of user_version and the schema
  // change are one transaction, so of two processes starting at once the
  // second sees the first's result and does nothing.
  {
    impl::transaction tx(db);
    if (!tx.begun()) return result::failure(state->db_error("cannot lock " + path + " to migrate it"));
    int version = 0;
    {
      sqlite::statement pragma(db, "PRAGMA user_version");
      if (!pragma.ok() || pragma.step() != SQLITE_ROW) return result::failure(state->db_error("reading the schema version"));
      version = static_cast<int>(pragma.integer(0));
    }
    if (version > schema_version) {
      return result::failure(store_errc::database,
                             path + " has schema version " + std::to_string(version) +
                                 ", newer than this bulwark understands (" + std::to_string(schema_version) + ")");
    }
    if (version < schema_version) {
      for (int v = version; v < schema_version; ++v) {
        if (!db.exec(migrations[v])) {
          return result::failure(state->db_error("migrating " + path + " to version " + std::to_string(v + 1)));
        }
      }
      const std::string set_version = "PRAGMA user_version = " + std::to_string(schema_version);
      if (!db.exec(set_version.c_str())) return result::failure(state->db_error("recording the schema version"));
    }
    if (!tx.commit()) return result::failure(state->db_error("committing the migration of " + path));
  }
  return result::success(std::shared_ptr<sqlite_key_store>(new sqlite_key_store(path, std::move(state))));
}

outcome<issued_key> sqlite_key_store::create(const new_key_request& request, wall_time now) {
  if (auto error = check_request(request); !error.empty()) {
    return outcome<issued_key>::failure(store_errc::invalid_argument, std::move(error));
  }
  std::lock_guard lock(mutex_);
  std::optional<wall_time> expires_at;
  if (request.expires_in) expires_at = now + *request.expires_in;
  return impl_->insert(request.name, request.scopes, request.rate, expires_at, now);
}

outcome<std::vector<key_record>> sqlite_key_store::list() {
  using result = outcome<std::vector<key_record>>;
  std::lock_guard lock(mutex_);
  std::string sql = "SELECT ";
  sql.append(record_columns).append(" FROM api_keys ORDER BY created_at, id");
  sqlite::statement select(impl_->db, sql.c_str());
  if (!select.ok()) return result::failure(impl_->db_error("listing keys"));
  std::vector<key_record> records;
  int rc;
  while ((rc = select.step()) == SQLITE_ROW) records.push_back(read_record(select));
  if (rc != SQLITE_DONE) return result::failure(impl_->db_error("listing keys"));
  return result::success(std::move(records));
}

outcome<key_record> sqlite_key_store::get(std::string_view id) {
  if (!is_valid_key_id(id)) return outcome<key_record>::failure(store_errc::invalid_argument, id_error());
  std::lock_guard lock(mutex_);
  auto record = impl_->find(id);
  if (!record) {
    return outcome<key_record>::failure(store_errc::not_found, "no key with id " + std::string(id));
  }
  return outcome<key_record>::success(std::move(*record));
}

outcome<key_record> sqlite_key_store::revoke(std::string_view id, wall_time now) {
  using result = outcome<key_record>;
  if (!is_valid_key_id(id)) return result::failure(store_errc::invalid_argument, id_error());
  std::lock_guard lock(mutex_);
  impl::transaction tx(impl_->db);
  if (!tx.begun()) return result::failure(impl_->db_error("revoking a key"));
  {
    sqlite::statement update(impl_->db,
                             "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL");
    if (!update.ok()) return result::failure(impl_->db_error("revoking a key"));
    update.bind(1, to_unix_ms(now));
    update.bind(2, id);
    if (update.step() != SQLITE_DONE) return result::failure(impl_->db_error("revoking a key"));
  }
  auto record = impl_->find(id);
  if (!record) return result::failure(store_errc::not_found, "no key with id " + std::string(id));
  if (!tx.commit()) return result::failure(impl_->db_error("revoking a key"));
  return result::success(std::move(*record));
}

outcome<issued_key> sqlite_key_store::rotate(const rotate_request& request, wall_time now) {
  using result = outcome<issued_key>;
  if (auto error = check_rotate_request(request); !error.message.empty()) return result::failure(std::move(error));
  std::lock_guard lock(mutex_);
  impl::transaction tx(impl_->db);
  if (!tx.begun()) return result::failure(impl_->db_error("rotating a key"));
  auto old = impl_->find(request.id);
  if (!old) return result::failure(store_errc::not_found, "no key with id " + request.id);
  const auto plan = plan_rotation(*old, request, now);
  if (!plan.ok()) return result::failure(plan.error);
  const auto new_expiry = plan.value->new_expiry;
  auto issued = impl_->insert(old->name, old->scopes, old->rate, new_expiry, now);
  if (!issued.ok()) return issued;

  const wall_time old_expiry = plan.value->old_expiry;
  {
    sqlite::statement update(impl_->db, "UPDATE api_keys SET expires_at = ?1, replaced_by = ?2 WHERE id = ?3");
    if (!update.ok()) return result::failure(impl_->db_error("rotating a key"));
    update.bind(1, to_unix_ms(old_expiry));
    update.bind(2, std::string_view(issued.value->record.id));
    update.bind(3, std::string_view(request.id));
    if (update.step() != SQLITE_DONE) return result::failure(impl_->db_error("rotating a key"));
  }
  issued.value->replaced = impl_->find(request.id);
  if (!tx.commit()) return result::failure(impl_->db_error("rotating a key"));
  return issued;
}

outcome<std::vector<key_entry>> sqlite_key_store::load_entries() {
  using result = outcome<std::vector<key_entry>>;
  std::lock_guard lock(mutex_);
  sqlite::statement select(impl_->db,
                           "SELECT id, secret_sha256, name, scopes, rate, expires_at, revoked_at, last_used_at"
                           " FROM api_keys");
  if (!select.ok()) return result::failure(impl_->db_error("reading keys"));
  std::vector<key_entry> entries;
  int rc;
  while ((rc = select.step()) == SQLITE_ROW) {
    key_entry entry;
    entry.id = select.text(0);
    const auto hash = select.blob(1);
    if (hash.size() != entry.hash.size()) continue;  // not written by us: never matches, so skip it
    std::copy(hash.begin(), hash.end(), entry.hash.begin());
    entry.name = select.text(2);
    entry.scopes = split_scopes(select.text(3));
    entry.rate = select.optional_text(4);
    if (auto v = select.optional_integer(5)) entry.expires_at = from_unix_ms(*v);
    entry.revoked = select.optional_integer(6).has_value();
    if (auto v = select.optional_integer(7)) entry.last_used_at = from_unix_ms(*v);
    entries.push_back(std::move(entry));
  }
  if (rc != SQLITE_DONE) return result::failure(impl_->db_error("reading keys"));
  return result::success(std::move(entries));
}

outcome<std::size_t> sqlite_key_store::record_last_used(const std::vector<std::pair<std::string, wall_time>>& uses) {
  using result = outcome<std::size_t>;
  if (uses.empty()) return result::success(0);
  std::lock_guard lock(mutex_);
  impl::transaction tx(impl_->db);
  if (!tx.begun()) return result::failure(impl_->db_error("recording key use"));
  sqlite::statement update(impl_->db,
                           "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?1) WHERE id = ?2");
  if (!update.ok()) return result::failure(impl_->db_error("recording key use"));
  std::size_t updated = 0;
  for (const auto& [id, when] : uses) {
    update.bind(1, to_unix_ms(when));
    update.bind(2, std::string_view(id));
    if (update.step() != SQLITE_DONE) return result::failure(impl_->db_error("recording key use"));
    updated += static_cast<std::size_t>(sqlite3_changes(impl_->db.handle()));
    update.reset();
  }
  if (!tx.commit()) return result::failure(impl_->db_error("recording key use"));
  return result::success(updated);
}

outcome<std::int64_t> sqlite_key_store::data_version() {
  using result = outcome<std::int64_t>;
  std::lock_guard lock(mutex_);
  sqlite::statement pragma(impl_->db, "PRAGMA data_version");
  if (!pragma.ok() || pragma.step() != SQLITE_ROW) return result::failure(impl_->db_error("reading data_version"));
  return result::success(pragma.integer(0));
}

outcome<store_version> sqlite_key_store::version() {
  const auto data = data_version();
  if (!data.ok()) return outcome<store_version>::failure(data.error);
  store_version seen;
  seen.token = std::to_string(*data.value) + "|" + signature_text(signature());
  return outcome<store_version>::success(std::move(seen));
}

store_version sqlite_key_store::after_own_write(const store_version& seen) {
  store_version next = seen;
  next.token = seen.token.substr(0, seen.token.find('|')) + "|" + signature_text(signature());
  return next;
}

file_signature sqlite_key_store::signature() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return {};
  return file_signature{static_cast<std::uint64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
                        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

int sqlite_key_store::user_version_for_test() {
  std::lock_guard lock(mutex_);
  sqlite::statement pragma(impl_->db, "PRAGMA user_version");
  if (!pragma.ok() || pragma.step() != SQLITE_ROW) return -1;
  return static_cast<int>(pragma.integer(0));
}

}  // namespace bulwark::store
