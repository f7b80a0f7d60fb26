#include "policy/auth/jwks.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <system_error>

#include "policy/auth/base64url.h"

namespace bulwark::policy::auth {

void evp_pkey_deleter::operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }

secret_bytes& secret_bytes::operator=(secret_bytes&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.wipe();
  }
  return *this;
}

void secret_bytes::wipe() noexcept {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

config::jwt_algorithm algorithm_for(key_type type) noexcept {
  switch (type) {
    case key_type::oct: return config::jwt_algorithm::hs256;
    case key_type::rsa: return config::jwt_algorithm::rs256;
    case key_type::ec_p256: return config::jwt_algorithm::es256;
  }
  return config::jwt_algorithm::rs256;
}

std::string_view algorithm_name(config::jwt_algorithm alg) noexcept {
  switch (alg) {
    case config::jwt_algorithm::hs256: return "HS256";
    case config::jwt_algorithm::rs256: return "RS256";
    case config::jwt_algorithm::es256: return "ES256";
  }
  return "?";
}

std::optional<config::jwt_algorithm> algorithm_from_name(std::string_view name) noexcept {
  // Case-sensitive, as JOSE names are (RFC 7518 §3.1).
  if (name == "HS256") return config::jwt_algorithm::hs256;
  if (name == "RS256") return config::jwt_algorithm::rs256;
  if (name == "ES256") return config::jwt_algorithm::es256;
  return std::nullopt;
}

namespace {

using json = nlohmann::json;

constexpr std::size_t min_hmac_secret_bytes = 32;  // RFC 7518 §3.2: at least the hash size
constexpr int min_rsa_bits = 2048;
constexpr std::size_t p256_coordinate_bytes = 32;

struct param_bld_deleter {
  void operator()(OSSL_PARAM_BLD* b) const noexcept { OSSL_PARAM_BLD_free(b); }
};
struct param_deleter {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct bignum_deleter {
  void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
struct pkey_ctx_deleter {
  void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, param_bld_deleter>;
using param_ptr = std::unique_ptr<OSSL_PARAM, param_deleter>;
using bignum_ptr = std::unique_ptr<BIGNUM, bignum_deleter>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter>;

// A value from the file, fit for one line of a message: short and printable.
std::string shown(std::string_view value) {
  constexpr std::size_t max_shown = 40;
  std::string out;
  for (char c : value.substr(0, max_shown)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (value.size() > max_shown) out += "...";
  return out;
}

// One key's reading: a key, an error, or a reason to skip it.
struct key_reading {
  std::optional<jwk> key;
  std::string error;
  std::string skipped;
};

key_reading fail(std::string message) { return key_reading{std::nullopt, std::move(message), {}}; }
key_reading skip(std::string reason) { return key_reading{std::nullopt, {}, std::move(reason)}; }

// The decoded bytes of a required base64url member, or an error message.
struct member_bytes {
  std::optional<std::string> bytes;
  std::string error;
};

member_bytes decode_member(const json& key, const char* name, std::string_view kty) {
  auto it = key.find(name);
  if (it == key.end() || !it->is_string()) {
    std::string message(kty);
    message += " key needs ";
    message += name;
    message += " (a base64url string)";
    return {std::nullopt, std::move(message)};
  }
  auto bytes = decode_base64url(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) {
    std::string message(name);
    message += " is not base64url (RFC 7515 §2: url alphabet, no padding)";
    return {std::nullopt, std::move(message)};
  }
  return {std::move(bytes), {}};
}

// Builds a public key from OSSL_PARAMs and runs OpenSSL's public-key check
// (RSA: n odd, e odd and > 1; EC: the point is on the curve and not infinity).
evp_pkey_ptr public_key_from_params(const char* type, OSSL_PARAM_BLD* builder) {
  param_ptr params(OSSL_PARAM_BLD_to_param(builder));
  if (!params) return nullptr;
  pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
  evp_pkey_ptr key(raw);
  pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key;
}

key_reading read_oct(const json& key) {
  auto k = decode_member(key, "k", "oct");
  if (!k.bytes) return fail(std::move(k.error));
  if (k.bytes->size() < min_hmac_secret_bytes) {
    std::string message = "HS256 secret k must be at least 32 bytes (RFC 7518 §3.2), got ";
    message += std::to_string(k.bytes->size());
    OPENSSL_cleanse(k.bytes->data(), k.bytes->size());
    return fail(std::move(message));
  }
  jwk out;
  out.type = key_type::oct;
  out.secret = secret_bytes(std::move(*k.bytes));
  return key_reading{std::move(out), {}, {}};
}

key_reading read_rsa(const json& key) {
  auto n = decode_member(key, "n", "RSA");
  if (!n.bytes) return fail(std::move(n.error));
  auto e = decode_member(key, "e", "RSA");
  if (!e.bytes) return fail(std::move(e.error));
  auto to_bn = [](const std::string& bytes) {
    return bignum_ptr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()), nullptr));
  };
  bignum_ptr modulus = to_bn(*n.bytes);
  bignum_ptr exponent = to_bn(*e.bytes);
  param_bld_ptr builder(OSSL_PARAM_BLD_new());
  if (!modulus || !exponent || !builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
    return fail("RSA key could not be built (out of memory)");
  }
  // Checked before the key is built: OpenSSL's public check would otherwise
  // report a short modulus only as "invalid".
  int bits = BN_num_bits(modulus.get());
  if (bits < min_rsa_bits) {
    std::string message = "RSA modulus n must be at least 2048 bits, got ";
    message += std::to_string(bits);
    return fail(std::move(message));
  }
  evp_pkey_ptr public_key = public_key_from_params("RSA", builder.get());
  if (!public_key) return fail("RSA key is not a valid public key (n, e)");
  jwk out;
  out.type = key_type::rsa;
  out.public_key = std::move(public_key);
  return key_reading{std::move(out), {}, {}};
}

key_reading read_ec(const json& key) {
  auto crv = key.find("crv");
  if (crv == key.end() || !crv->is_string()) return fail("EC key needs crv (a string)");
  const auto& curve = crv->get_ref<const std::string&>();
  if (curve == "P-384" || curve == "P-521" || curve == "secp256k1") {
    return skip("EC curve " + curve + " is not supported (ES256 needs P-256)");
  }
  if (curve != "P-256") return fail("EC key must be on P-256 (crv), got " + shown(curve));
  auto x = decode_member(key, "x", "EC");
  if (!x.bytes) return fail(std::move(x.error));
  auto y = decode_member(key, "y", "EC");
  if (!y.bytes) return fail(std::move(y.error));
  // RFC 7518 §6.2.1.2: the coordinates are full length, leading zeros kept.
  if (x.bytes->size() != p256_coordinate_bytes || y.bytes->size() != p256_coordinate_bytes) {
    return fail("EC P-256 coordinates x and y must be 32 bytes each");
  }
  std::string point(1, '\x04');  // SEC 1 uncompressed point
  point += *x.bytes;
  point += *y.bytes;
  param_bld_ptr builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return fail("EC key could not be built (out of memory)");
  }
  evp_pkey_ptr public_key = public_key_from_params("EC", builder.get());
  if (!public_key) return fail("EC key is not a point on P-256 (x, y)");
  jwk out;
  out.type = key_type::ec_p256;
  out.public_key = std::move(public_key);
  return key_reading{std::move(out), {}, {}};
}

// An optional string member: absent, a string, or an error when of another type.
struct optional_string {
  const std::string* value = nullptr;
  bool wrong_type = false;
};

optional_string string_member(const json& key, const char* name) {
  auto it = key.find(name);
  if (it == key.end()) return {};
  if (!it->is_string()) return {nullptr, true};
  return {&it->get_ref<const std::string&>(), false};
}

key_reading read_key(const json& key) {
  if (!key.is_object()) return fail("must be a JSON object");
  auto kty = string_member(key, "kty");
  if (!kty.value) return fail("needs kty (a string)");
  for (const char* name : {"kid", "use", "alg"}) {
    if (string_member(key, name).wrong_type) return fail(std::string(name) + " must be a string");
  }
  auto use = string_member(key, "use");
  if (use.value && *use.value != "sig") return skip("use is " + shown(*use.value) + ", not sig");

  // A key's alg, when given, must be the one its type serves; an alg that
  // bulwark does not verify (RS384, PS256...) means the key is not for us,
  // whatever its material (a 1024-bit RS384 key is skipped, not an error).
  auto alg = string_member(key, "alg");
  std::optional<config::jwt_algorithm> named_alg;
  if (alg.value) {
    named_alg = algorithm_from_name(*alg.value);
    if (!named_alg) return skip("alg " + shown(*alg.value) + " is not supported");
  }

  const std::string& type = *kty.value;
  key_reading reading;
  if (type == "oct") {
    reading = read_oct(key);
  } else if (type == "RSA") {
    reading = read_rsa(key);
  } else if (type == "EC") {
    reading = read_ec(key);
  } else if (type == "OKP") {
    return skip("kty OKP is not supported");
  } else {
    return fail("kty must be oct, RSA or EC, got " + shown(type));
  }
  if (!reading.key) return reading;

  if (named_alg && *named_alg != algorithm_for(reading.key->type)) {
    return fail("alg " + *alg.value + " does not fit kty " + type);
  }
  auto kid = string_member(key, "kid");
  if (kid.value) reading.key->kid = *kid.value;
  return reading;
}

}  // namespace

jwks_parse_result parse_jwks(std::string_view text) {
  jwks_parse_result result;
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    result.errors.push_back("not valid JSON");
    return result;
  }
  auto keys = document.is_object() ? document.find("keys") : document.end();
  if (!document.is_object() || keys == document.end() || !keys->is_array()) {
    result.errors.push_back("must be a JSON object with a keys array (RFC 7517 §5)");
    return result;
  }
  std::vector<jwk> usable;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    key_reading reading = read_key((*keys)[i]);
    std::string where = "keys[" + std::to_string(i) + "]: ";
    if (!reading.error.empty()) {
      result.errors.push_back(where + reading.error);
    } else if (!reading.skipped.empty()) {
      result.notes.push_back(where + "skipped: " + reading.skipped);
    } else {
      reading.key->index = i;
      usable.push_back(std::move(*reading.key));
    }
  }
  if (result.errors.empty() && usable.empty()) {
    result.errors.push_back("no usable key (oct, RSA or EC P-256 with use sig)");
  }
  if (result.errors.empty()) result.keys = std::make_shared<const key_set>(std::move(usable));
  // Keys OpenSSL refused left entries on this thread's error queue; a TLS
  // stream on the same thread would later misread them as its own.
  ERR_clear_error();
  return result;
}

// --- jwks_file ----------------------------------------------------------------------

namespace {

jwks_file::file_identity identity_of(const struct stat& st) {
  jwks_file::file_identity id;
  id.device = static_cast<uint64_t>(st.st_dev);
  id.inode = static_cast<uint64_t>(st.st_ino);
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return id;
}

std::string errno_text(int error) { return std::system_category().message(error); }

class unique_fd {
 public:
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

struct file_read {
  std::optional<jwks_file::file_identity> identity;  // set when the file could be opened
  std::string contents;
  std::string error;
};

// Reads the whole file, with the identity of what was read (fstat on the open
// descriptor, so a rename between stat and open cannot mismatch them).
file_read read_file(const std::string& path) {
  file_read out;
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    out.error = "cannot open: " + errno_text(errno);
    return out;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    out.error = "cannot stat: " + errno_text(errno);
    return out;
  }
  out.identity = identity_of(st);
  if (!S_ISREG(st.st_mode)) {
    out.error = "is not a regular file";
    return out;
  }
  char buffer[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      out.error = "cannot read: " + errno_text(errno);
      return out;
    }
    if (n == 0) break;
    out.contents.append(buffer, static_cast<std::size_t>(n));
    if (out.contents.size() > jwks_file::max_file_bytes) {
      out.error = "is larger than 1 MiB";
      return out;
    }
  }
  return out;
}

}  // namespace

jwks_file::open_result jwks_file::open(std::string path) {
  std::unique_ptr<jwks_file> file(new jwks_file(std::move(path)));
  reload_result first = file->reload();
  open_result out;
  out.errors = std::move(first.errors);
  out.notes = std::move(first.notes);
  if (first.status == reload_status::reloaded) out.file = std::move(file);
  return out;
}

jwks_file::reload_result jwks_file::reload_if_changed() {
  std::lock_guard lock(reload_mutex_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && last_read_ && identity_of(st) == *last_read_) {
    return {};
  }
  // A file that cannot be stat'ed now (removed during an atomic replace, say)
  // is read below, which reports the error once and keeps the old keys.
  return read_locked(/*forced=*/false);
}

jwks_file::reload_result jwks_file::reload() {
  std::lock_guard lock(reload_mutex_);
  return read_locked(/*forced=*/true);
}

jwks_file::reload_result jwks_file::read_locked(bool forced) {
  reload_result out;
  file_read read = read_file(path_);
  auto with_path = [this](std::vector<std::string>& messages) {
    for (auto& message : messages) message = path_ + ": " + message;
  };
  if (!read.identity) {
    // Unopenable: forget the identity, so the file is read again as soon as it
    // is back, but do not report the same error on every poll.
    bool already_reported = !forced && last_read_ && *last_read_ == file_identity{};
    last_read_ = file_identity{};
    out.status = already_reported ? reload_status::unchanged : reload_status::failed;
    if (!already_reported) out.errors.push_back(path_ + ": " + read.error);
    return out;
  }
  last_read_ = read.identity;
  if (!read.error.empty()) {
    out.status = reload_status::failed;
    out.errors.push_back(path_ + ": " + read.error);
    return out;
  }
  jwks_parse_result parsed = parse_jwks(read.contents);
  out.notes = std::move(parsed.notes);
  with_path(out.notes);
  if (!parsed.ok()) {
    out.status = reload_status::failed;
    out.errors = std::move(parsed.errors);
    with_path(out.errors);
    return out;
  }
  keys_.store(std::move(parsed.keys), std::memory_order_release);
  out.status = reload_status::reloaded;
  return out;
}

}  // namespace bulwark::policy::auth
