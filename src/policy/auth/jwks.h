// The keys that JWTs are verified with: a JWKS document (RFC 7517) parsed
// once into OpenSSL key objects, and a file that holds one and is re-read
// when it changes.
//
// Supported keys, one per JOSE algorithm bulwark verifies (RFC 7518):
//   kty oct  (k)         HS256
//   kty RSA  (n, e)      RS256, modulus at least 2048 bits
//   kty EC   (crv P-256, x, y)  ES256
// A key's kty fixes its algorithm family; verification never uses a key for a
// token whose alg belongs to another family (the algorithm-confusion defence
// lives in jwt.cpp and relies on `jwk::type`).
//
// Errors and skipped keys. A key that claims a supported type but is broken
// (bad base64url, missing member, point not on the curve, alg contradicting
// kty) is an error, and a document with any error is refused whole: the
// caller keeps its previous keys. A key of a kind bulwark does not verify
// (kty OKP, crv P-384, alg PS256, use enc) is skipped with a note instead,
// because identity providers publish such keys next to the ones we need, and
// refusing them would break every token at the provider's next rotation.
// A document must keep at least one usable key.
#pragma once

#include <openssl/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace bulwark::policy::auth {

struct evp_pkey_deleter {
  void operator()(EVP_PKEY* key) const noexcept;
};
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, evp_pkey_deleter>;

// Secret bytes (an HS256 key) that are wiped when released.
class secret_bytes {
 public:
  secret_bytes() = default;
  explicit secret_bytes(std::string bytes) : bytes_(std::move(bytes)) {}
  secret_bytes(secret_bytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.wipe(); }
  secret_bytes& operator=(secret_bytes&& other) noexcept;
  secret_bytes(const secret_bytes&) = delete;
  secret_bytes& operator=(const secret_bytes&) = delete;
  ~secret_bytes() { wipe(); }

  std::string_view view() const noexcept { return bytes_; }

 private:
  void wipe() noexcept;
  std::string bytes_;
};

enum class key_type { oct, rsa, ec_p256 };

// The algorithm family a key type serves: oct -> HS256, RSA -> RS256, EC -> ES256.
config::jwt_algorithm algorithm_for(key_type type) noexcept;
std::string_view algorithm_name(config::jwt_algorithm alg) noexcept;  // "RS256"
std::optional<config::jwt_algorithm> algorithm_from_name(std::string_view name) noexcept;

struct jwk {
  key_type type = key_type::oct;
  std::string kid;                 // empty: the key has no kid
  std::size_t index = 0;           // position in the document's `keys`, for messages
  secret_bytes secret;             // oct only
  evp_pkey_ptr public_key;         // RSA and EC only; built once, shared read-only by all threads
};

class key_set {
 public:
  explicit key_set(std::vector<jwk> keys) : keys_(std::move(keys)) {}
  const std::vector<jwk>& keys() const noexcept { return keys_; }

 private:
  std::vector<jwk> keys_;
};

struct jwks_parse_result {
  std::shared_ptr<const key_set> keys;  // null exactly when errors is not empty
  std::vector<std::string> errors;      // "keys[2]: EC key must be on P-256 (crv)"
  std::vector<std::string> notes;       // keys skipped, with the reason
  bool ok() const noexcept { return keys != nullptr; }
};

jwks_parse_result parse_jwks(std::string_view json);

// A JWKS file. current() is wait-free for readers in practice (an atomic
// shared_ptr load); reloads run on one thread at a time (the main thread's
// timer or the reload signal) and swap the set in whole, so a verification
// that started on the old set finishes on it.
class jwks_file {
 public:
  static constexpr std::uintmax_t max_file_bytes = 1024 * 1024;

  struct open_result {
    std::unique_ptr<jwks_file> file;  // null when errors is not empty
    std::vector<std::string> errors;  // each prefixed with the path
    std::vector<std::string> notes;
  };
  static open_result open(std::string path);

  enum class reload_status { unchanged, reloaded, failed };
  struct reload_result {
    reload_status status = reload_status::unchanged;
    std::vector<std::string> errors;  // when failed: the old keys stay in use
    std::vector<std::string> notes;
  };
  // Re-reads the file when its identity (device, inode, size, mtime, ctime)
  // differs from the last read, successful or not, so that a file that stays
  // broken is reported once, not on every poll.
  reload_result reload_if_changed();
  // Re-reads the file whatever its identity (configuration reload, SIGHUP).
  reload_result reload();

  std::shared_ptr<const key_set> current() const noexcept { return keys_.load(std::memory_order_acquire); }
  const std::string& path() const noexcept { return path_; }

  struct file_identity {
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    friend bool operator==(const file_identity&, const file_identity&) = default;
  };

 private:
  explicit jwks_file(std::string path) : path_(std::move(path)) {}
  reload_result read_locked(bool forced);

  std::string path_;
  std::mutex reload_mutex_;  // serialises reloads; never taken by current()
  std::optional<file_identity> last_read_;
  std::atomic<std::shared_ptr<const key_set>> keys_;
};

}  // namespace bulwark::policy::auth
