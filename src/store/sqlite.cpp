#include "store/sqlite.h"

#include <utility>

namespace bulwark::store::sqlite {

connection::~connection() {
  // sqlite3_close_v2 defers the close while statements remain, so a leaked
  // statement cannot make this fail; every statement here is RAII anyway.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

connection::connection(connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), error_(std::move(other.error_)) {}

connection& connection::operator=(connection&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    error_ = std::move(other.error_);
  }
  return *this;
}

bool connection::open(const std::string& path) {
  // NOMUTEX: every connection is used under the owning key_store's mutex, so
  // SQLite's own per-connection mutex would only be taken twice.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    error_ = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db != nullptr) sqlite3_close_v2(db);
    return false;
  }
  sqlite3_extended_result_codes(db, 1);
  db_ = db;
  return true;
}

bool connection::exec(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return true;
  error_ = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return false;
}

std::string connection::error() const { return error_; }

statement::statement(connection& db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr) != SQLITE_OK) {
    db_.set_error(sqlite3_errmsg(db.handle()));
    stmt_ = nullptr;
  }
}

statement::~statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

void statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void statement::bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void statement::bind_blob(int index, const void* data, std::size_t size) {
  sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size), SQLITE_TRANSIENT);
}

void statement::bind_null(int index) { sqlite3_bind_null(stmt_, index); }

void statement::bind(int index, const std::optional<std::int64_t>& value) {
  if (value) {
    bind(index, *value);
  } else {
    bind_null(index);
  }
}

void statement::bind(int index, const std::optional<std::string>& value) {
  if (value) {
    bind(index, std::string_view(*value));
  } else {
    bind_null(index);
  }
}

int statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) db_.set_error(sqlite3_errmsg(db_.handle()));
  return rc;
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string statement::text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return data != nullptr ? std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size))
                         : std::string();
}

std::int64_t statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<std::int64_t> statement::optional_integer(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return integer(column);
}

std::optional<std::string> statement::optional_text(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return text(column);
}

std::string statement::blob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return data != nullptr ? std::string(static_cast<const char*>(data), static_cast<std::size_t>(size))
                         : std::string();
}

}  // namespace bulwark::store::sqlite
