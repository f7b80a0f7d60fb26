// Test-only key generation, JWK export and token signing, written with
// OpenSSL directly so that the code under test never signs its own tokens.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "policy/auth/base64url.h"
#include "policy/auth/jwks.h"

namespace bulwark::policy::auth::test {

using json = nlohmann::json;

inline void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test key setup failed: ") + what);
}

// RSA 2048 takes a noticeable moment to generate: one per process.
inline EVP_PKEY* rsa_key() {
  static evp_pkey_ptr key(EVP_RSA_gen(2048));
  check(key != nullptr, "EVP_RSA_gen");
  return key.get();
}

inline EVP_PKEY* other_rsa_key() {
  static evp_pkey_ptr key(EVP_RSA_gen(2048));
  check(key != nullptr, "EVP_RSA_gen");
  return key.get();
}

inline EVP_PKEY* ec_key() {
  static evp_pkey_ptr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key.get();
}

inline const std::string& hmac_secret() {
  static const std::string secret = "0123456789abcdef0123456789abcdef-test-secret";
  return secret;
}

inline std::string bn_bytes(const BIGNUM* bn, int pad_to = 0) {
  int size = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(size), '\0');
  int written = pad_to > 0 ? BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size)
                           : BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  check(written == size, "BN_bn2bin");
  return out;
}

inline std::string bn_param(EVP_PKEY* key, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  check(EVP_PKEY_get_bn_param(key, name, &bn) == 1, name);
  std::string out = bn_bytes(bn, pad_to);
  BN_free(bn);
  return out;
}

inline json rsa_jwk(EVP_PKEY* key, const std::string& kid = "") {
  json jwk = {{"kty", "RSA"},
              {"n", encode_base64url(bn_param(key, OSSL_PKEY_PARAM_RSA_N))},
              {"e", encode_base64url(bn_param(key, OSSL_PKEY_PARAM_RSA_E))}};
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

inline json ec_jwk(EVP_PKEY* key, const std::string& kid = "") {
  json jwk = {{"kty", "EC"},
              {"crv", "P-256"},
              {"x", encode_base64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
              {"y", encode_base64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

inline json oct_jwk(const std::string& secret, const std::string& kid = "") {
  json jwk = {{"kty", "oct"}, {"k", encode_base64url(secret)}};
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

inline json jwks_of(std::initializer_list<json> keys) { return json{{"keys", json::array_t(keys)}}; }

inline std::string sign_hs256(const std::string& secret, const std::string& input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  check(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size) != nullptr,
        "HMAC");
  return std::string(reinterpret_cast<char*>(mac), size);
}

// EVP_DigestSign with SHA-256: PKCS#1 v1.5 for RSA, DER ECDSA for EC.
inline std::string digest_sign(EVP_PKEY* key, const std::string& input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  check(ctx && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1, "DigestSignInit");
  std::size_t size = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  check(EVP_DigestSign(ctx.get(), nullptr, &size, data, input.size()) == 1, "DigestSign size");
  std::string out(size, '\0');
  check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &size, data, input.size()) == 1,
        "DigestSign");
  out.resize(size);
  return out;
}

inline std::string sign_rs256(EVP_PKEY* key, const std::string& input) { return digest_sign(key, input); }

// JWS wants R||S, 32 bytes each (RFC 7518 §3.4), not DER.
inline std::string der_to_raw_es256(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  check(sig != nullptr, "d2i_ECDSA_SIG");
  std::string out = bn_bytes(ECDSA_SIG_get0_r(sig), 32) + bn_bytes(ECDSA_SIG_get0_s(sig), 32);
  ECDSA_SIG_free(sig);
  return out;
}

inline std::string sign_es256(EVP_PKEY* key, const std::string& input) {
  return der_to_raw_es256(digest_sign(key, input));
}

inline std::string encode_part(const json& value) { return encode_base64url(value.dump()); }

// header.payload.signature, with `signature` computed over the first two parts.
template <class Signer>
std::string make_token(const json& header, const json& payload, Signer sign) {
  std::string input = encode_part(header) + "." + encode_part(payload);
  return input + "." + encode_base64url(sign(input));
}

inline std::string hs256_token(const json& payload, json header = {{"alg", "HS256"}, {"typ", "JWT"}},
                               const std::string& secret = hmac_secret()) {
  return make_token(header, payload, [&](const std::string& in) { return sign_hs256(secret, in); });
}

inline std::string rs256_token(const json& payload, json header = {{"alg", "RS256"}, {"typ", "JWT"}},
                               EVP_PKEY* key = rsa_key()) {
  return make_token(header, payload, [&](const std::string& in) { return sign_rs256(key, in); });
}

inline std::string es256_token(const json& payload, json header = {{"alg", "ES256"}, {"typ", "JWT"}},
                               EVP_PKEY* key = ec_key()) {
  return make_token(header, payload, [&](const std::string& in) { return sign_es256(key, in); });
}

}  // namespace bulwark::policy::auth::test
