// A thin RAII layer over the SQLite C API, for this folder only: a connection
// and a prepared statement that finalize themselves, and errors returned as
// strings (never thrown), so the store's functions read top to bottom.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark::store::sqlite {

class connection {
 public:
  connection() = default;
  ~connection();
  connection(connection&& other) noexcept;
  connection& operator=(connection&& other) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Opens (creating when absent) the database file. On failure returns false
  // and error() says why.
  bool open(const std::string& path);
  bool is_open() const { return db_ != nullptr; }
  sqlite3* handle() const { return db_; }

  // Runs SQL that returns no rows we need (schema, BEGIN/COMMIT, pragmas).
  bool exec(const char* sql);
  std::string error() const;  // the last error, with the SQL that caused it when known

  // Remembers a failure that happened outside exec (a statement's).
  void set_error(std::string message) { error_ = std::move(message); }

 private:
  sqlite3* db_ = nullptr;
  std::string error_;
};

class statement {
 public:
  statement(connection& db, const char* sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }

  // Parameters are 1-based as in SQLite.
  void bind(int index, std::string_view text);
  void bind(int index, std::int64_t value);
  void bind_blob(int index, const void* data, std::size_t size);
  void bind_null(int index);
  void bind(int index, const std::optional<std::int64_t>& value);
  void bind(int index, const std::optional<std::string>& value);

  // SQLITE_ROW: a row is ready; SQLITE_DONE: finished; anything else: an
  // error recorded on the connection.
  int step();
  // Ready to step again with new bindings.
  void reset();

  std::string text(int column) const;
  std::int64_t integer(int column) const;
  std::optional<std::int64_t> optional_integer(int column) const;
  std::optional<std::string> optional_text(int column) const;
  std::string blob(int column) const;

 private:
  connection& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace bulwark::store::sqlite
