#include "store/api_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>

namespace bulwark::store {
namespace {

constexpr std::string_view id_alphabet = "abcdefghijklmnopqrstuvwxyz234567";  // RFC 4648 base32, lowercase
constexpr std::string_view secret_alphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Which alphabets each byte belongs to, one bit per alphabet: a lookup per
// character on the request path instead of a search of the alphabet.
enum alphabet_bit : unsigned char { id_bit = 1, secret_bit = 2 };

constexpr std::array<unsigned char, 256> alphabet_table() {
  std::array<unsigned char, 256> table{};
  for (const char c : id_alphabet) table[static_cast<unsigned char>(c)] |= id_bit;
  for (const char c : secret_alphabet) table[static_cast<unsigned char>(c)] |= secret_bit;
  return table;
}
constexpr std::array<unsigned char, 256> alphabets = alphabet_table();

bool in_alphabet(std::string_view text, alphabet_bit alphabet) {
  return std::all_of(text.begin(), text.end(),
                     [&](char c) { return (alphabets[static_cast<unsigned char>(c)] & alphabet) != 0; });
}

// `length` characters drawn uniformly from `alphabet`. Bytes at or above the
// largest multiple of the alphabet's size are dropped (rejection sampling), so
// `byte % size` carries no bias; for base62 that is 8 in 256 bytes.
std::optional<std::string> random_string(std::size_t length, std::string_view alphabet) {
  const unsigned limit = 256 - 256 % alphabet.size();
  std::string out;
  out.reserve(length);
  std::array<unsigned char, 64> bytes{};
  while (out.size() < length) {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return std::nullopt;
    for (unsigned char byte : bytes) {
      if (byte >= limit) continue;
      out.push_back(alphabet[byte % alphabet.size()]);
      if (out.size() == length) break;
    }
  }
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return out;
}

bool is_scope_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '/' || c == '-';
}

}  // namespace

std::optional<key_parts> parse_key(std::string_view key) {
  if (key.size() != key_length || key.substr(0, key_prefix.size()) != key_prefix) return std::nullopt;
  const auto id = key.substr(key_prefix.size(), key_id_length);
  if (key[key_prefix.size() + key_id_length] != '_') return std::nullopt;
  const auto secret = key.substr(key_prefix.size() + key_id_length + 1);
  if (!in_alphabet(id, id_bit) || !in_alphabet(secret, secret_bit)) return std::nullopt;
  return key_parts{id, secret};
}

bool is_valid_key_id(std::string_view id) {
  return id.size() == key_id_length && in_alphabet(id, id_bit);
}

secret_hash hash_secret(std::string_view secret) {
  // OpenSSL 3 looks an algorithm up (under a lock) on every implicit use of
  // EVP_sha256(); fetch it once, and keep one digest context per thread, so a
  // verification on the request path neither locks nor allocates.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct context_deleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, context_deleter> ctx(EVP_MD_CTX_new());
  secret_hash out{};
  unsigned int size = 0;
  // With a built-in algorithm these fail only when memory is exhausted; the
  // all-zero result then matches no stored hash, so the key is refused.
  if (sha256 == nullptr || !ctx || EVP_DigestInit_ex2(ctx.get(), sha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), secret.data(), secret.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &size) != 1 || size != out.size()) {
    out.fill(0);
  }
  return out;
}

bool hashes_equal(const secret_hash& a, const secret_hash& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// In 16-byte windows, the last one overlapping its neighbour so that every
// byte is covered: OpenSSL's x86-64 CRYPTO_memcmp compares exactly 16 bytes
// as two words and any other length a byte at a time (about 6 instructions a
// byte). The differences are OR-ed, never branched on, so the time depends on
// the length alone.
bool texts_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  constexpr std::size_t window = 16;
  if (a.size() < window) return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
  int differ = 0;
  for (std::size_t at = 0;; at += window) {
    at = std::min(at, a.size() - window);
    differ |= CRYPTO_memcmp(a.data() + at, b.data() + at, window);
    if (at + window == a.size()) break;
  }
  return differ == 0;
}

std::string generated_key::text() const {
  std::string out;
  out.reserve(key_length);
  out.append(key_prefix).append(id).append("_").append(secret);
  return out;
}

std::optional<generated_key> generate_key() {
  auto id = random_string(key_id_length, id_alphabet);
  auto secret = random_string(key_secret_length, secret_alphabet);
  if (!id || !secret) return std::nullopt;
  return generated_key{std::move(*id), std::move(*secret)};
}

std::string_view to_string(key_state state) {
  switch (state) {
    case key_state::active: return "active";
    case key_state::revoked: return "revoked";
    case key_state::expired: return "expired";
    case key_state::rotating: return "rotating";
  }
  return "unknown";
}

key_state key_record::state(wall_time now) const {
  if (revoked_at) return key_state::revoked;
  if (expires_at && *expires_at <= now) return key_state::expired;
  if (replaced_by) return key_state::rotating;
  return key_state::active;
}

std::string check_scopes(const std::vector<std::string>& scopes) {
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    const auto& scope = scopes[i];
    if (scope.empty() || scope.size() > 64) {
      return "each scope must be 1 to 64 characters";
    }
    if (!std::all_of(scope.begin(), scope.end(), is_scope_char)) {
      return "a scope may contain only letters, digits and _ . : / - (got \"" + scope + "\")";
    }
    if (std::find(scopes.begin(), scopes.begin() + static_cast<std::ptrdiff_t>(i), scope) !=
        scopes.begin() + static_cast<std::ptrdiff_t>(i)) {
      return "scope \"" + scope + "\" is given twice";
    }
  }
  return {};
}

std::string check_name(std::string_view name) {
  if (name.empty()) return "the name must not be empty";
  if (name.size() > 128) return "the name must be at most 128 characters";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "the name must not contain control characters";
  }
  return {};
}

std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    auto scope = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // `a, b` is what people type; the spaces are not part of the scope.
    while (!scope.empty() && scope.front() == ' ') scope.remove_prefix(1);
    while (!scope.empty() && scope.back() == ' ') scope.remove_suffix(1);
    out.emplace_back(scope);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string join_scopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& scope : scopes) {
    if (!out.empty()) out.push_back(',');
    out.append(scope);
  }
  return out;
}

std::int64_t to_unix_ms(wall_time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

wall_time from_unix_ms(std::int64_t ms) {
  return wall_time(std::chrono::duration_cast<wall_time::duration>(std::chrono::milliseconds(ms)));
}

std::string format_time(wall_time t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buffer, n);
}

}  // namespace bulwark::store
