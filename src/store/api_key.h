// API keys: their text form, their hash, and the plain structs that the store,
// the cache, the CLI and the admin API pass around.
//
// A key reads `bwk_<id>_<secret>`:
//   - `bwk_` makes a leaked key recognisable (secret scanners, log greps);
//   - <id>: 12 characters of lowercase base32 (a-z, 2-7), 60 random bits. It is
//     not secret: `bulwark keys list` shows it and revoke/rotate take it;
//   - <secret>: 32 characters of base62, about 190 random bits from OpenSSL's
//     CSPRNG. Only SHA-256(secret) is stored.
// The whole key is 49 characters and contains no character that needs quoting in
// a header, a URL or a shell.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::store {

// Expiry, creation and last use are wall-clock facts (a key "expires on 1 May");
// they arrive as arguments so tests use fixed times.
using wall_time = std::chrono::system_clock::time_point;

inline constexpr std::string_view key_prefix = "bwk_";
inline constexpr std::size_t key_id_length = 12;
inline constexpr std::size_t key_secret_length = 32;
inline constexpr std::size_t key_length = key_prefix.size() + key_id_length + 1 + key_secret_length;

using secret_hash = std::array<unsigned char, 32>;  // SHA-256

// A presented key split into its parts; views into the caller's string.
struct key_parts {
  std::string_view id;
  std::string_view secret;
};

// The parts of a well-formed key, or nullopt. Strict: exact length, prefix,
// alphabets; nothing trimmed.
std::optional<key_parts> parse_key(std::string_view key);

bool is_valid_key_id(std::string_view id);

// SHA-256 of the secret. The secret is ~190 bits from a CSPRNG, so a plain,
// fast hash is the right tool: there is nothing for a slow password hash
// (bcrypt, argon2) or a salt to protect against, since no dictionary or
// precomputed table can cover a 2^190 space, and a fast hash keeps
// verification cheap on the request path.
secret_hash hash_secret(std::string_view secret);

// Constant-time equality (CRYPTO_memcmp): how long it takes says nothing about
// where two hashes differ.
bool hashes_equal(const secret_hash& a, const secret_hash& b);

// Constant-time equality of two texts of equal length (a presented key and a
// remembered one): every byte is compared whatever the others hold. Texts of
// different lengths are unequal at once; a key's length is no secret.
bool texts_equal(std::string_view a, std::string_view b);

// A freshly generated key. Returns nullopt only if the CSPRNG fails.
struct generated_key {
  std::string id;
  std::string secret;
  std::string text() const;  // bwk_<id>_<secret>
};
std::optional<generated_key> generate_key();

enum class key_state { active, revoked, expired, rotating };
std::string_view to_string(key_state state);

// What `list` shows of a key: never the secret, never its hash.
struct key_record {
  std::string id;
  std::string name;
  std::vector<std::string> scopes;
  std::optional<std::string> rate;  // rate override as given (`100/s`), validated
  wall_time created_at{};
  std::optional<wall_time> last_used_at;
  std::optional<wall_time> expires_at;   // nullopt: never
  std::optional<wall_time> revoked_at;   // set: revoked
  std::optional<std::string> replaced_by;  // set by rotate: the successor's id

  // revoked beats expired beats rotating: a revoked key is refused whatever
  // its expiry, and a rotated key in its grace period is still usable.
  key_state state(wall_time now) const;
};

// A key as just issued by create or rotate: the only time its full text exists.
struct issued_key {
  key_record record;
  std::string key;                    // bwk_<id>_<secret>; show once, never log
  std::optional<key_record> replaced;  // rotate: the old key, with its new expiry
};

// What the cache needs to verify a key: the record's verification fields and
// the hash. Read by the cache only.
struct key_entry {
  std::string id;
  secret_hash hash{};
  std::string name;
  std::vector<std::string> scopes;
  std::optional<std::string> rate;
  std::optional<wall_time> expires_at;
  bool revoked = false;
  std::optional<wall_time> last_used_at;
};

// Scopes are written `a,b,c` on the command line and stored that way: each
// 1..64 characters of [A-Za-z0-9_.:/-], no duplicates. Returns an error
// message, empty when `scopes` is valid.
std::string check_scopes(const std::vector<std::string>& scopes);
std::string check_name(std::string_view name);
std::vector<std::string> split_scopes(std::string_view text);  // "" -> {}
std::string join_scopes(const std::vector<std::string>& scopes);

// Unix milliseconds, the unit of every time column in the database.
std::int64_t to_unix_ms(wall_time t);
wall_time from_unix_ms(std::int64_t ms);

// RFC 3339 in UTC, whole seconds: 2026-05-01T12:00:00Z.
std::string format_time(wall_time t);

}  // namespace bulwark::store
