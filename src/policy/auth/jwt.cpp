#include "policy/auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "policy/auth/base64url.h"

namespace bulwark::policy::auth {

std::string_view to_string(token_error code) noexcept {
  switch (code) {
    case token_error::too_large: return "too_large";
    case token_error::malformed: return "malformed";
    case token_error::algorithm_refused: return "algorithm_refused";
    case token_error::unsupported_header: return "unsupported_header";
    case token_error::no_matching_key: return "no_matching_key";
    case token_error::bad_signature: return "bad_signature";
    case token_error::expired: return "expired";
    case token_error::not_yet_valid: return "not_yet_valid";
    case token_error::wrong_issuer: return "wrong_issuer";
    case token_error::wrong_audience: return "wrong_audience";
  }
  return "unknown";
}

bool verified_token::has_scope(std::string_view scope) const noexcept {
  return std::find(scopes_.begin(), scopes_.end(), scope) != scopes_.end();
}

std::optional<std::string_view> verified_token::missing_scope(
    const std::vector<std::string>& required) const noexcept {
  for (const auto& scope : required) {
    if (!has_scope(scope)) return std::string_view(scope);
  }
  return std::nullopt;
}

std::optional<std::string_view> verified_token::claim(std::string_view name) const noexcept {
  auto it = std::lower_bound(claims_.begin(), claims_.end(), name,
                             [](const auto& entry, std::string_view n) { return entry.first < n; });
  if (it == claims_.end() || it->first != name) return std::nullopt;
  return std::string_view(it->second);
}

namespace {

using json = nlohmann::json;

constexpr std::size_t hs256_signature_bytes = 32;
constexpr std::size_t es256_half_bytes = 32;

verify_result fail(token_error code, std::string_view message) {
  return verify_result{std::nullopt, verify_error{code, message}};
}

// True when no object or array in `text` nests deeper than `max_depth`. Run
// before parsing so a hostile `[[[[...` costs one pass and no allocation.
bool nesting_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// A base64url part decoded and parsed as a JSON object; nullopt otherwise.
// Duplicate member names: the parser keeps the last, which RFC 7515 §4 allows.
std::optional<json> decode_json_object(std::string_view part, int max_depth) {
  auto bytes = decode_base64url(part);
  if (!bytes || !nesting_within(*bytes, max_depth)) return std::nullopt;
  json value = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) return std::nullopt;  // also the discarded value of a parse error
  return value;
}

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct ecdsa_sig_deleter {
  void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};

bool verify_hs256(const jwk& key, std::string_view input, std::string_view signature) {
  if (signature.size() != hs256_signature_bytes) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  auto secret = key.secret.view();
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_size) == nullptr ||
      mac_size != hs256_signature_bytes) {
    return false;
  }
  bool equal = CRYPTO_memcmp(mac, signature.data(), hs256_signature_bytes) == 0;
  OPENSSL_cleanse(mac, sizeof mac);
  return equal;
}

bool verify_digest(EVP_PKEY* key, std::string_view input, const unsigned char* signature,
                   std::size_t signature_size) {
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature, signature_size,
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

// JWS carries R||S (RFC 7518 §3.4); OpenSSL verifies the DER SEQUENCE of two
// INTEGERs, so the raw form is re-encoded. Any other length is refused, DER
// included, so one signature has one accepted form.
bool verify_es256(const jwk& key, std::string_view input, std::string_view signature) {
  if (signature.size() != 2 * es256_half_bytes) return false;
  const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig(ECDSA_SIG_new());
  if (!sig) return false;
  BIGNUM* r = BN_bin2bn(raw, es256_half_bytes, nullptr);
  BIGNUM* s = BN_bin2bn(raw + es256_half_bytes, es256_half_bytes, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {  // set0 owns r and s only on success
    BN_free(r);
    BN_free(s);
    return false;
  }
  int der_size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (der_size <= 0) return false;
  std::string der(static_cast<std::size_t>(der_size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != der_size) return false;
  return verify_digest(key.public_key.get(), input,
                       reinterpret_cast<const unsigned char*>(der.data()), der.size());
}

bool verify_signature(const jwk& key, std::string_view input, std::string_view signature) {
  switch (key.type) {
    case key_type::oct: return verify_hs256(key, input, signature);
    case key_type::rsa:
      return verify_digest(key.public_key.get(), input,
                           reinterpret_cast<const unsigned char*>(signature.data()), signature.size());
    case key_type::ec_p256: return verify_es256(key, input, signature);
  }
  return false;
}

// Adds the scopes of one claim: a space-separated string or an array of
// strings; anything else grants nothing.
void add_scopes(const json& claim, std::vector<std::string>& scopes) {
  auto add = [&scopes](std::string_view scope) {
    if (!scope.empty() && std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
      scopes.emplace_back(scope);
    }
  };
  auto add_list = [&add](std::string_view list) {
    std::size_t start = 0;
    while (start <= list.size()) {
      std::size_t end = list.find(' ', start);
      if (end == std::string_view::npos) end = list.size();
      add(list.substr(start, end - start));
      start = end + 1;
    }
  };
  if (claim.is_string()) {
    add_list(claim.get_ref<const std::string&>());
  } else if (claim.is_array()) {
    for (const auto& item : claim) {
      if (item.is_string()) add(item.get_ref<const std::string&>());
    }
  }
}

std::optional<std::string> claim_text(const json& value) {
  switch (value.type()) {
    case json::value_t::string: return value.get_ref<const std::string&>();
    case json::value_t::number_integer: return std::to_string(value.get<int64_t>());
    case json::value_t::number_unsigned: return std::to_string(value.get<uint64_t>());
    case json::value_t::number_float: return value.dump();
    case json::value_t::boolean: return std::string(value.get<bool>() ? "true" : "false");
    default: return std::nullopt;
  }
}

double seconds_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// exp as a time point, saturated: a far-future exp (1e300) must not overflow
// the clock's 64-bit count.
std::chrono::system_clock::time_point time_point_from_seconds(double seconds) {
  using clock = std::chrono::system_clock;
  const double max_s = std::chrono::duration<double>(clock::duration::max()).count();
  const double min_s = std::chrono::duration<double>(clock::duration::min()).count();
  if (seconds >= max_s) return clock::time_point::max();
  if (seconds <= min_s) return clock::time_point::min();
  return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds)));
}

}  // namespace

jwt_verifier::jwt_verifier(config::jwt_settings settings) : settings_(std::move(settings)) {}

verify_result jwt_verifier::verify(std::string_view token, const key_set& keys,
                                   std::chrono::system_clock::time_point now) const {
  if (token.size() > max_token_bytes) return fail(token_error::too_large, "token is too large");
  std::size_t first_dot = token.find('.');
  std::size_t second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos ||
      first_dot == 0 || second_dot == first_dot + 1 || second_dot + 1 == token.size()) {
    return fail(token_error::malformed, "token is not a compact JWS (header.payload.signature)");
  }
  std::string_view header_part = token.substr(0, first_dot);
  std::string_view payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
  std::string_view signature_part = token.substr(second_dot + 1);
  std::string_view signing_input = token.substr(0, second_dot);

  // --- header: which algorithm and which key -----------------------------------------
  auto header = decode_json_object(header_part, max_json_depth);
  if (!header) return fail(token_error::malformed, "token header is not a base64url JSON object");
  auto alg_member = header->find("alg");
  if (alg_member == header->end() || !alg_member->is_string()) {
    return fail(token_error::malformed, "token header has no alg");
  }
  const auto& alg_name = alg_member->get_ref<const std::string&>();
  auto alg = algorithm_from_name(alg_name);
  if (!alg) {
    return fail(token_error::algorithm_refused,
                alg_name == "none" ? "unsigned tokens (alg none) are not accepted" : "token alg is not supported");
  }
  if (std::find(settings_.algorithms.begin(), settings_.algorithms.end(), *alg) == settings_.algorithms.end()) {
    return fail(token_error::algorithm_refused, "token alg is not accepted");
  }
  if (auto crit = header->find("crit"); crit != header->end() && !(crit->is_array() && crit->empty())) {
    return fail(token_error::unsupported_header, "token header crit is not supported");
  }
  std::string kid;
  if (auto kid_member = header->find("kid"); kid_member != header->end()) {
    if (!kid_member->is_string()) return fail(token_error::malformed, "token kid is not a string");
    kid = kid_member->get_ref<const std::string&>();
  }

  // --- signature ---------------------------------------------------------------------
  auto signature = decode_base64url(signature_part);
  if (!signature) return fail(token_error::malformed, "token signature is not base64url");
  bool any_candidate = false;
  bool verified = false;
  for (const jwk& key : keys.keys()) {
    // The algorithm-confusion defence: the key's type, not the token, decides
    // how a key is used; an HS256 token never reaches an RSA or EC key.
    if (algorithm_for(key.type) != *alg) continue;
    if (!kid.empty() && !key.kid.empty() && key.kid != kid) continue;
    any_candidate = true;
    if (verify_signature(key, signing_input, *signature)) {
      verified = true;
      break;
    }
  }
  // A failed verification leaves entries on this thread's OpenSSL error queue,
  // which a TLS stream on the same thread would later misread as its own.
  ERR_clear_error();
  if (!any_candidate) return fail(token_error::no_matching_key, "no key matches the token alg and kid");
  if (!verified) return fail(token_error::bad_signature, "token signature does not verify");

  // --- claims, read only once the signature holds --------------------------------------
  auto payload = decode_json_object(payload_part, max_json_depth);
  if (!payload) return fail(token_error::malformed, "token payload is not a base64url JSON object");
  const double now_s = seconds_since_epoch(now);
  const double leeway_s = std::chrono::duration<double>(settings_.leeway).count();

  verified_token out;
  if (auto exp = payload->find("exp"); exp != payload->end()) {
    if (!exp->is_number()) return fail(token_error::malformed, "token exp is not a number");
    double exp_s = exp->get<double>();
    // RFC 7519 §4.1.4: valid only before exp.
    if (now_s >= exp_s + leeway_s) return fail(token_error::expired, "token has expired");
    out.expires_at_ = time_point_from_seconds(exp_s);
  }
  if (auto nbf = payload->find("nbf"); nbf != payload->end()) {
    if (!nbf->is_number()) return fail(token_error::malformed, "token nbf is not a number");
    // RFC 7519 §4.1.5: valid from nbf on.
    if (now_s + leeway_s < nbf->get<double>()) return fail(token_error::not_yet_valid, "token is not valid yet");
  }
  if (!settings_.issuer.empty()) {
    auto iss = payload->find("iss");
    if (iss == payload->end() || !iss->is_string() || iss->get_ref<const std::string&>() != settings_.issuer) {
      return fail(token_error::wrong_issuer, "token issuer is not accepted");
    }
  }
  if (!settings_.audiences.empty()) {
    auto accepted = [this](const json& value) {
      return value.is_string() && std::find(settings_.audiences.begin(), settings_.audiences.end(),
                                            value.get_ref<const std::string&>()) != settings_.audiences.end();
    };
    auto aud = payload->find("aud");
    bool match = false;
    if (aud != payload->end()) {
      if (aud->is_array()) {
        match = std::any_of(aud->begin(), aud->end(), accepted);
      } else {
        match = accepted(*aud);
      }
    }
    if (!match) return fail(token_error::wrong_audience, "token audience is not accepted");
  }
  if (auto sub = payload->find("sub"); sub != payload->end()) {
    if (!sub->is_string()) return fail(token_error::malformed, "token sub is not a string");
    out.subject_ = sub->get_ref<const std::string&>();
  }

  out.algorithm_ = *alg;
  out.key_id_ = std::move(kid);
  for (const char* name : {"scope", "scp", "scopes"}) {
    if (auto it = payload->find(name); it != payload->end()) add_scopes(*it, out.scopes_);
  }
  // nlohmann's object is a std::map: items come sorted by name, as claim() needs.
  for (const auto& [name, value] : payload->items()) {
    if (auto text = claim_text(value)) out.claims_.emplace_back(name, std::move(*text));
  }
  return verify_result{std::move(out), {}};
}

std::string invalid_token_challenge(const verify_error& error) {
  std::string out = "Bearer error=\"invalid_token\", error_description=\"";
  out += error.message;
  out += '"';
  return out;
}

std::string insufficient_scope_challenge(const std::vector<std::string>& required) {
  std::string out = "Bearer error=\"insufficient_scope\", scope=\"";
  bool first = true;
  for (const auto& scope : required) {
    if (!first) out += ' ';
    first = false;
    for (char c : scope) {
      // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
      if (c >= 0x21 && c <= 0x7e && c != '"' && c != '\\') out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace bulwark::policy::auth
