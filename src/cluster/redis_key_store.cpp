// The Redis key store (redis_key_store.h has the contract, the data model and
// why the calls are synchronous).
#include "cluster/redis_key_store.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "cluster/redis_client.h"

namespace bulwark::cluster {

using store::outcome;
using store::store_errc;
using store::store_error;
using store::wall_time;

namespace {

// An EXEC aborted by a concurrent change of a watched record is retried this
// often before the caller is told to try again; keys change rarely, so this is
// never reached but under a deliberate storm.
constexpr int transaction_attempts = 8;
// Keys per last-use script call, so that one call stays short on the server.
constexpr std::size_t last_use_batch = 256;

// Raises last_used_at; never creates a record (a key pruned meanwhile stays
// gone). Not a change of the keys: the version is not moved.
constexpr const char* last_use_script = R"lua(
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local at = tonumber(ARGV[i])
    local seen = tonumber(redis.call('HGET', key, 'last_used_at') or '0')
    if at > seen then redis.call('HSET', key, 'last_used_at', ARGV[i]) end
    n = n + 1
  end
end
return n
)lua";

struct reply_deleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

timeval to_timeval(core::duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
  return tv;
}

std::string_view text_of(const redisReply& reply) { return {reply.str, reply.len}; }

std::optional<std::int64_t> to_integer(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string ms_text(wall_time t) { return std::to_string(store::to_unix_ms(t)); }

std::string hex(const store::secret_hash& hash) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(hash.size() * 2);
  for (unsigned char b : hash) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::optional<store::secret_hash> from_hex(std::string_view text) {
  store::secret_hash hash{};
  if (text.size() != hash.size() * 2) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < hash.size(); ++i) {
    const int hi = nibble(text[2 * i]);
    const int lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    hash[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return hash;
}

// A record as HGETALL returned it (field, value, field, value...), with the
// hash apart: a key_record never carries it.
struct stored_key {
  store::key_record record;
  std::optional<store::secret_hash> hash;
};

// nullopt for an empty reply (no such record) or one without the fields every
// record has (not written by us: never matches, so it is skipped).
std::optional<stored_key> parse_record(std::string_view id, const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 2) return std::nullopt;
  stored_key out;
  out.record.id = std::string(id);
  bool has_created = false;
  for (std::size_t i = 0; i + 1 < reply.elements; i += 2) {
    const redisReply* field = reply.element[i];
    const redisReply* value = reply.element[i + 1];
    if (field == nullptr || value == nullptr || field->type != REDIS_REPLY_STRING ||
        value->type != REDIS_REPLY_STRING) {
      continue;
    }
    const auto name = text_of(*field);
    const auto text = text_of(*value);
    const auto time = [&]() -> std::optional<wall_time> {
      if (auto ms = to_integer(text)) return store::from_unix_ms(*ms);
      return std::nullopt;
    };
    if (name == "name") {
      out.record.name = std::string(text);
    } else if (name == "hash") {
      out.hash = from_hex(text);
    } else if (name == "scopes") {
      out.record.scopes = store::split_scopes(text);
    } else if (name == "rate") {
      out.record.rate = std::string(text);
    } else if (name == "created_at") {
      if (auto t = time()) {
        out.record.created_at = *t;
        has_created = true;
      }
    } else if (name == "expires_at") {
      out.record.expires_at = time();
    } else if (name == "revoked_at") {
      out.record.revoked_at = time();
    } else if (name == "last_used_at") {
      out.record.last_used_at = time();
    } else if (name == "replaced_by") {
      out.record.replaced_by = std::string(text);
    }
  }
  if (!has_created || !out.hash) return std::nullopt;
  return out;
}

// HSET arguments for a new record.
std::vector<std::string> new_record_command(const store::key_record& record, const store::secret_hash& hash) {
  std::vector<std::string> argv{"HSET",
                                redis_key_names::record(record.id),
                                "name",
                                record.name,
                                "hash",
                                hex(hash),
                                "scopes",
                                store::join_scopes(record.scopes),
                                "created_at",
                                ms_text(record.created_at)};
  if (record.rate) {
    argv.emplace_back("rate");
    argv.push_back(*record.rate);
  }
  if (record.expires_at) {
    argv.emplace_back("expires_at");
    argv.push_back(ms_text(*record.expires_at));
  }
  return argv;
}

}  // namespace

namespace redis_key_names {
std::string record(std::string_view id) {
  std::string key = "bulwark:{keys}:key:";
  key += id;
  return key;
}
}  // namespace redis_key_names

// One synchronous hiredis connection. Every failure to reach Redis (connect,
// I/O, timeout) is `unavailable` and drops the connection, so the next call
// starts afresh; an error reply is `database` with Redis's text.
struct redis_key_store::connection {
  struct context_deleter {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  std::unique_ptr<redisContext, context_deleter> context;
  // The server's run_id (INFO server, read at connect): part of the version
  // token, so that a server restarted empty and written again before a
  // watcher polled is not taken for the one it read before (its counter
  // starts again from 1).
  std::string run_id;
  // Whether the current connection has answered a command since it was made:
  // a reused connection that fails at its first command of an operation may
  // just have been reset by a restarted server, and is retried once fresh.
  bool reused = false;
};

// The calls of one operation, under the store's mutex.
class redis_call {
 public:
  redis_call(const redis_key_store_options& options, const std::string& location,
             std::unique_ptr<redis_key_store::connection>& conn)
      : options_(options), location_(location), conn_(conn) {}

  // A reply (possibly an error reply), or `unavailable`.
  outcome<reply_ptr> command(const std::vector<std::string>& argv) {
    const bool first = first_;
    first_ = false;
    auto result = send(argv);
    // Only an operation's first command is resent: every operation starts
    // with a read or a WATCH, so resending it on a fresh connection cannot
    // apply anything twice.
    if (!result.ok() && first && was_reused_) result = send(argv);
    return result;
  }

  // A reply that must not be an error reply.
  outcome<reply_ptr> expect(const std::vector<std::string>& argv) {
    auto reply = command(argv);
    if (!reply.ok()) return reply;
    if ((*reply.value)->type == REDIS_REPLY_ERROR) {
      return outcome<reply_ptr>::failure(store_errc::database,
                                         "redis " + location_ + ": " + argv.front() + ": " +
                                             std::string(text_of(**reply.value)));
    }
    return reply;
  }

  // Pipelined: every command written, then every reply read, in order.
  outcome<std::vector<reply_ptr>> pipeline(const std::vector<std::vector<std::string>>& commands) {
    using result = outcome<std::vector<reply_ptr>>;
    std::vector<reply_ptr> replies;
    if (commands.empty()) return result::success(std::move(replies));
    // Never on a new connection mid-operation: a MULTI there would have lost
    // the WATCH of the connection that failed.
    if (!first_ && !conn_) {
      return result::failure(store_errc::unavailable, "redis " + location_ + " unreachable: connection lost");
    }
    first_ = false;
    if (auto ready = connect(); !ready.message.empty()) return result::failure(std::move(ready));
    for (const auto& argv : commands) append(argv);
    for (std::size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(conn_->context.get(), &raw) != REDIS_OK || raw == nullptr) {
        return result::failure(io_failure());
      }
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    conn_->reused = true;
    return result::success(std::move(replies));
  }

 private:
  outcome<reply_ptr> send(const std::vector<std::string>& argv) {
    if (auto ready = connect(); !ready.message.empty()) return outcome<reply_ptr>::failure(std::move(ready));
    was_reused_ = conn_->reused;
    append(argv);
    void* raw = nullptr;
    if (redisGetReply(conn_->context.get(), &raw) != REDIS_OK || raw == nullptr) {
      return outcome<reply_ptr>::failure(io_failure());
    }
    conn_->reused = true;
    return outcome<reply_ptr>::success(reply_ptr(static_cast<redisReply*>(raw)));
  }

  // In the wire format by the same function as the asynchronous client.
  void append(const std::vector<std::string>& argv) {
    const std::string wire = format_command(argv);
    redisAppendFormattedCommand(conn_->context.get(), wire.data(), wire.size());
  }

  // The connection's error, and the connection dropped.
  store_error io_failure() {
    std::string reason = conn_ && conn_->context && conn_->context->errstr[0] != '\0'
                             ? std::string(conn_->context->errstr)
                             : std::string("no reply");
    conn_.reset();
    return {store_errc::unavailable, "redis " + location_ + " unreachable: " + reason};
  }

  // Empty message: connected (AUTH and SELECT done).
  store_error connect() {
    if (conn_ && conn_->context) return {store_errc::unavailable, {}};
    conn_.reset();
    const timeval tv = to_timeval(options_.timeout);
    auto fresh = std::make_unique<redis_key_store::connection>();
    fresh->context.reset(redisConnectWithTimeout(options_.host.c_str(), options_.port, tv));
    if (!fresh->context || fresh->context->err != 0) {
      std::string reason = fresh->context ? std::string(fresh->context->errstr) : std::string("out of memory");
      return {store_errc::unavailable, "redis " + location_ + " unreachable: " + reason};
    }
    if (redisSetTimeout(fresh->context.get(), tv) != REDIS_OK) {
      return {store_errc::unavailable, "redis " + location_ + ": cannot set the timeout"};
    }
    conn_ = std::move(fresh);
    // The password goes in AUTH only; no message below can contain it (the
    // server's error text does not echo it).
    std::vector<std::vector<std::string>> handshake;
    if (!options_.password.empty()) handshake.push_back({"AUTH", options_.password});
    if (options_.db != 0) handshake.push_back({"SELECT", std::to_string(options_.db)});
    handshake.push_back({"INFO", "server"});
    for (const auto& argv : handshake) {
      append(argv);
      void* raw = nullptr;
      if (redisGetReply(conn_->context.get(), &raw) != REDIS_OK || raw == nullptr) return io_failure();
      reply_ptr reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR) {
        std::string message = "redis " + location_ + ": " + argv.front() + " refused: " +
                              std::string(text_of(*reply));
        conn_.reset();
        return {store_errc::unavailable, std::move(message)};
      }
      if (argv.front() == "INFO") conn_->run_id = parse_run_id(text_of(*reply));
    }
    return {store_errc::unavailable, {}};
  }

  const redis_key_store_options& options_;
  const std::string& location_;
  std::unique_ptr<redis_key_store::connection>& conn_;
  bool first_ = true;
  bool was_reused_ = false;
};

namespace {

store_error server_error(const std::string& location, std::string_view what, const redisReply& reply) {
  return {store_errc::database, "redis " + location + ": " + std::string(what) + ": " + std::string(text_of(reply))};
}

// HGETALL of one record: nullopt when there is none.
outcome<std::optional<stored_key>> read_record(redis_call& call, std::string_view id) {
  using result = outcome<std::optional<stored_key>>;
  auto reply = call.expect({"HGETALL", redis_key_names::record(id)});
  if (!reply.ok()) return result::failure(reply.error);
  return result::success(parse_record(id, **reply.value));
}

// Every record, in no particular order.
outcome<std::vector<stored_key>> read_all(redis_call& call, const std::string& location) {
  using result = outcome<std::vector<stored_key>>;
  auto ids = call.expect({"SMEMBERS", std::string(redis_key_names::ids)});
  if (!ids.ok()) return result::failure(ids.error);
  const redisReply& members = **ids.value;
  if (members.type != REDIS_REPLY_ARRAY) return result::failure(server_error(location, "SMEMBERS", members));
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> commands;
  for (std::size_t i = 0; i < members.elements; ++i) {
    const redisReply* member = members.element[i];
    if (member == nullptr || member->type != REDIS_REPLY_STRING) continue;
    names.emplace_back(text_of(*member));
    commands.push_back({"HGETALL", redis_key_names::record(names.back())});
  }
  auto replies = call.pipeline(commands);
  if (!replies.ok()) return result::failure(replies.error);
  std::vector<stored_key> records;
  records.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    // A record gone between SMEMBERS and HGETALL (pruned) is simply absent.
    if (auto record = parse_record(names[i], *replies.value->at(i))) records.push_back(std::move(*record));
  }
  return result::success(std::move(records));
}

// MULTI, the commands, INCR version, EXEC. True when applied; false when a
// watched record changed meanwhile (the caller starts again).
outcome<bool> commit(redis_call& call, const std::string& location,
                     std::vector<std::vector<std::string>> commands) {
  using result = outcome<bool>;
  commands.insert(commands.begin(), {"MULTI"});
  commands.push_back({"INCR", std::string(redis_key_names::version)});
  commands.push_back({"EXEC"});
  auto replies = call.pipeline(commands);
  if (!replies.ok()) return result::failure(replies.error);
  const redisReply& exec = *replies.value->back();
  if (exec.type == REDIS_REPLY_NIL) return result::success(false);
  if (exec.type != REDIS_REPLY_ARRAY) return result::failure(server_error(location, "EXEC", exec));
  for (std::size_t i = 0; i < exec.elements; ++i) {
    if (exec.element[i] != nullptr && exec.element[i]->type == REDIS_REPLY_ERROR) {
      return result::failure(server_error(location, "EXEC", *exec.element[i]));
    }
  }
  return result::success(true);
}

struct new_key {
  store::key_record record;
  store::secret_hash hash{};
  std::string text;
};

outcome<new_key> generate(const std::string& name, const std::vector<std::string>& scopes,
                          const std::optional<std::string>& rate, std::optional<wall_time> expires_at,
                          wall_time now) {
  auto generated = store::generate_key();
  if (!generated) return outcome<new_key>::failure(store_errc::database, "the random generator failed");
  new_key key;
  key.hash = store::hash_secret(generated->secret);
  if (std::all_of(key.hash.begin(), key.hash.end(), [](unsigned char b) { return b == 0; })) {
    return outcome<new_key>::failure(store_errc::database, "hashing the key failed");
  }
  key.record.id = generated->id;
  key.record.name = name;
  key.record.scopes = scopes;
  key.record.rate = rate;
  // As stored: whole milliseconds.
  key.record.created_at = store::from_unix_ms(store::to_unix_ms(now));
  if (expires_at) key.record.expires_at = store::from_unix_ms(store::to_unix_ms(*expires_at));
  key.text = generated->text();
  return outcome<new_key>::success(std::move(key));
}

// WATCHes the new record and checks that it is free (a 2^-60 collision).
outcome<bool> claim(redis_call& call, const std::string& id) {
  const auto key = redis_key_names::record(id);
  if (auto watched = call.expect({"WATCH", key}); !watched.ok()) return outcome<bool>::failure(watched.error);
  auto exists = call.expect({"EXISTS", key});
  if (!exists.ok()) return outcome<bool>::failure(exists.error);
  return outcome<bool>::success((*exists.value)->integer == 0);
}

store_error retries_exhausted(std::string_view what) {
  return {store_errc::conflict, std::string(what) + ": the keys kept changing meanwhile; try again"};
}

}  // namespace

redis_key_store::redis_key_store(redis_key_store_options options) : options_(std::move(options)) {
  const bool v6 = options_.host.find(':') != std::string::npos;
  location_ = (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(options_.port) + "/" +
              std::to_string(options_.db);
}

redis_key_store::~redis_key_store() = default;

outcome<store::issued_key> redis_key_store::create(const store::new_key_request& request, wall_time now) {
  using result = outcome<store::issued_key>;
  if (auto error = store::check_request(request); !error.empty()) {
    return result::failure(store_errc::invalid_argument, std::move(error));
  }
  std::optional<wall_time> expires_at;
  if (request.expires_in) expires_at = now + *request.expires_in;
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  for (int attempt = 0; attempt < transaction_attempts; ++attempt) {
    auto key = generate(request.name, request.scopes, request.rate, expires_at, now);
    if (!key.ok()) return result::failure(key.error);
    auto free = claim(call, key.value->record.id);
    if (!free.ok()) return result::failure(free.error);
    if (!*free.value) {
      call.command({"UNWATCH"});
      continue;
    }
    auto applied = commit(call, location_,
                          {new_record_command(key.value->record, key.value->hash),
                           {"SADD", std::string(redis_key_names::ids), key.value->record.id}});
    if (!applied.ok()) return result::failure(applied.error);
    if (!*applied.value) continue;
    prune_locked(call, now);
    return result::success(store::issued_key{std::move(key.value->record), std::move(key.value->text), std::nullopt});
  }
  return result::failure(retries_exhausted("create"));
}

outcome<std::vector<store::key_record>> redis_key_store::list() {
  using result = outcome<std::vector<store::key_record>>;
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  auto all = read_all(call, location_);
  if (!all.ok()) return result::failure(all.error);
  std::vector<store::key_record> records;
  records.reserve(all.value->size());
  for (auto& stored : *all.value) records.push_back(std::move(stored.record));
  // Oldest first, as the SQLite store lists them.
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return result::success(std::move(records));
}

outcome<store::key_record> redis_key_store::get(std::string_view id) {
  using result = outcome<store::key_record>;
  if (!store::is_valid_key_id(id)) return result::failure(store_errc::invalid_argument, store::id_error());
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  auto found = read_record(call, id);
  if (!found.ok()) return result::failure(found.error);
  if (!*found.value) return result::failure(store_errc::not_found, "no key with id " + std::string(id));
  return result::success(std::move((*found.value)->record));
}

outcome<store::key_record> redis_key_store::revoke(std::string_view id, wall_time now) {
  using result = outcome<store::key_record>;
  if (!store::is_valid_key_id(id)) return result::failure(store_errc::invalid_argument, store::id_error());
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  const auto key = redis_key_names::record(id);
  for (int attempt = 0; attempt < transaction_attempts; ++attempt) {
    if (auto watched = call.expect({"WATCH", key}); !watched.ok()) return result::failure(watched.error);
    auto found = read_record(call, id);
    if (!found.ok()) return result::failure(found.error);
    if (!*found.value || (*found.value)->record.revoked_at) {
      call.command({"UNWATCH"});
      if (!*found.value) return result::failure(store_errc::not_found, "no key with id " + std::string(id));
      return result::success(std::move((*found.value)->record));  // idempotent
    }
    auto applied = commit(call, location_, {{"HSET", key, "revoked_at", ms_text(now)}});
    if (!applied.ok()) return result::failure(applied.error);
    if (!*applied.value) continue;
    auto record = std::move((*found.value)->record);
    record.revoked_at = store::from_unix_ms(store::to_unix_ms(now));
    prune_locked(call, now);
    return result::success(std::move(record));
  }
  return result::failure(retries_exhausted("revoke"));
}

outcome<store::issued_key> redis_key_store::rotate(const store::rotate_request& request, wall_time now) {
  using result = outcome<store::issued_key>;
  if (auto error = store::check_rotate_request(request); !error.message.empty()) {
    return result::failure(std::move(error));
  }
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  const auto old_key = redis_key_names::record(request.id);
  for (int attempt = 0; attempt < transaction_attempts; ++attempt) {
    if (auto watched = call.expect({"WATCH", old_key}); !watched.ok()) return result::failure(watched.error);
    auto found = read_record(call, request.id);
    if (!found.ok()) return result::failure(found.error);
    if (!*found.value) {
      call.command({"UNWATCH"});
      return result::failure(store_errc::not_found, "no key with id " + request.id);
    }
    auto old = std::move((*found.value)->record);
    const auto plan = store::plan_rotation(old, request, now);
    if (!plan.ok()) {
      call.command({"UNWATCH"});
      return result::failure(plan.error);
    }
    auto key = generate(old.name, old.scopes, old.rate, plan.value->new_expiry, now);
    if (!key.ok()) return result::failure(key.error);
    auto free = claim(call, key.value->record.id);  // watches the new record too
    if (!free.ok()) return result::failure(free.error);
    if (!*free.value) {
      call.command({"UNWATCH"});
      continue;
    }
    // One EXEC: the new key exists exactly when the old one's expiry is shortened.
    auto applied = commit(call, location_,
                          {new_record_command(key.value->record, key.value->hash),
                           {"SADD", std::string(redis_key_names::ids), key.value->record.id},
                           {"HSET", old_key, "expires_at", ms_text(plan.value->old_expiry), "replaced_by",
                            key.value->record.id}});
    if (!applied.ok()) return result::failure(applied.error);
    if (!*applied.value) continue;
    old.expires_at = store::from_unix_ms(store::to_unix_ms(plan.value->old_expiry));
    old.replaced_by = key.value->record.id;
    prune_locked(call, now);
    return result::success(
        store::issued_key{std::move(key.value->record), std::move(key.value->text), std::move(old)});
  }
  return result::failure(retries_exhausted("rotate"));
}

outcome<std::vector<store::key_entry>> redis_key_store::load_entries() {
  using result = outcome<std::vector<store::key_entry>>;
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  auto all = read_all(call, location_);
  if (!all.ok()) return result::failure(all.error);
  std::vector<store::key_entry> entries;
  entries.reserve(all.value->size());
  for (auto& stored : *all.value) {
    auto& record = stored.record;
    store::key_entry entry;
    entry.id = std::move(record.id);
    entry.hash = *stored.hash;
    entry.name = std::move(record.name);
    entry.scopes = std::move(record.scopes);
    entry.rate = std::move(record.rate);
    entry.expires_at = record.expires_at;
    entry.revoked = record.revoked_at.has_value();
    entry.last_used_at = record.last_used_at;
    entries.push_back(std::move(entry));
  }
  return result::success(std::move(entries));
}

outcome<std::size_t> redis_key_store::record_last_used(
    const std::vector<std::pair<std::string, wall_time>>& uses) {
  using result = outcome<std::size_t>;
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  std::size_t updated = 0;
  for (std::size_t begin = 0; begin < uses.size(); begin += last_use_batch) {
    const std::size_t end = std::min(uses.size(), begin + last_use_batch);
    // EVAL with the source: a call every few seconds at most, so the cost of
    // sending it is nothing next to handling NOSCRIPT after a restart.
    std::vector<std::string> argv{"EVAL", last_use_script, std::to_string(end - begin)};
    for (std::size_t i = begin; i < end; ++i) argv.push_back(redis_key_names::record(uses[i].first));
    for (std::size_t i = begin; i < end; ++i) argv.push_back(ms_text(uses[i].second));
    auto reply = call.expect(argv);
    if (!reply.ok()) return result::failure(reply.error);
    if ((*reply.value)->type == REDIS_REPLY_INTEGER) updated += static_cast<std::size_t>((*reply.value)->integer);
  }
  return result::success(updated);
}

outcome<store::store_version> redis_key_store::version() {
  using result = outcome<store::store_version>;
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  auto reply = call.expect({"GET", std::string(redis_key_names::version)});
  if (!reply.ok()) return result::failure(reply.error);
  store::store_version seen;
  if ((*reply.value)->type == REDIS_REPLY_NIL) {
    seen.lost = true;  // every write creates it, and nothing deletes it
  } else {
    seen.token = connection_->run_id + "/" + std::string(text_of(**reply.value));
  }
  return result::success(std::move(seen));
}

outcome<std::size_t> redis_key_store::prune(wall_time now) {
  std::lock_guard lock(mutex_);
  redis_call call(options_, location_, connection_);
  return prune_locked(call, now);
}

outcome<std::size_t> redis_key_store::prune_locked(redis_call& call, wall_time now) {
  using result = outcome<std::size_t>;
  auto all = read_all(call, location_);
  if (!all.ok()) return result::failure(all.error);
  const wall_time cutoff = now - options_.retention;
  std::vector<std::string> dead;
  for (const auto& stored : *all.value) {
    const auto& r = stored.record;
    // Revoked, or expired, before the cutoff: refused for `retention` already.
    if ((r.revoked_at && *r.revoked_at < cutoff) || (r.expires_at && *r.expires_at < cutoff)) dead.push_back(r.id);
  }
  if (dead.empty()) return result::success(0);
  // Not watched: a dead record never comes back (revoke keeps it revoked,
  // rotate refuses it), so deleting it races with nothing that matters.
  std::vector<std::vector<std::string>> commands;
  std::vector<std::string> del{"DEL"};
  std::vector<std::string> srem{"SREM", std::string(redis_key_names::ids)};
  for (const auto& id : dead) {
    del.push_back(redis_key_names::record(id));
    srem.push_back(id);
  }
  auto applied = commit(call, location_, {std::move(del), std::move(srem)});
  if (!applied.ok()) return result::failure(applied.error);
  return result::success(dead.size());
}

}  // namespace bulwark::cluster
