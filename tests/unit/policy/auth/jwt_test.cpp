#include "policy/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <atomic>
#include <cctype>
#include <set>
#include <thread>

#include "test_keys.h"

namespace bulwark::policy::auth {
namespace {

using namespace test;
using std::chrono::seconds;
using alg = config::jwt_algorithm;

// Every token is verified at this instant.
const auto verified_at = std::chrono::system_clock::time_point(seconds(1'700'000'000));
constexpr int64_t now_s = 1'700'000'000;

class Jwt : public ::testing::Test {
 protected:
  Jwt() {
    settings_.issuer = "https://issuer.example";
    settings_.audiences = {"api", "admin-api"};
    settings_.algorithms = {alg::hs256, alg::rs256, alg::es256};
    settings_.leeway = seconds(30);
    auto parsed = parse_jwks(
        jwks_of({rsa_jwk(rsa_key(), "rsa-1"), ec_jwk(ec_key(), "ec-1"), oct_jwk(hmac_secret(), "hmac-1")}).dump());
    EXPECT_TRUE(parsed.ok());
    keys_ = parsed.keys;
  }

  static json claims() {
    return {{"iss", "https://issuer.example"},
            {"aud", "api"},
            {"sub", "user-42"},
            {"iat", now_s - 10},
            {"nbf", now_s - 10},
            {"exp", now_s + 300}};
  }
  static json with(json base, const char* name, json value) {
    base[name] = std::move(value);
    return base;
  }
  static json without(json base, const char* name) {
    base.erase(name);
    return base;
  }

  verify_result verify(std::string_view token) const {
    return jwt_verifier(settings_).verify(token, *keys_, verified_at);
  }
  verify_result verify(std::string_view token, const key_set& keys) const {
    return jwt_verifier(settings_).verify(token, keys, verified_at);
  }
  token_error error_of(std::string_view token) const {
    auto result = verify(token);
    EXPECT_FALSE(result.ok());
    return result.error.code;
  }

  config::jwt_settings settings_;
  std::shared_ptr<const key_set> keys_;
};

// Flips one bit of the decoded signature and re-encodes it.
std::string flip_signature_bit(const std::string& token, std::size_t byte = 0) {
  auto dot = token.rfind('.');
  auto signature = *decode_base64url(token.substr(dot + 1));
  signature[byte] = static_cast<char>(signature[byte] ^ 0x01);
  return token.substr(0, dot + 1) + encode_base64url(signature);
}

std::string with_parts(const std::string& header, const std::string& payload, const std::string& signature) {
  std::string out = header;
  out += '.';
  out += payload;
  out += '.';
  out += signature;
  return out;
}

// --- the three algorithms -------------------------------------------------------------

TEST_F(Jwt, VerifiesHs256) {
  auto result = verify(hs256_token(claims(), {{"alg", "HS256"}, {"kid", "hmac-1"}}));
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.token->subject(), "user-42");
  EXPECT_EQ(result.token->algorithm(), alg::hs256);
  EXPECT_EQ(result.token->key_id(), "hmac-1");
}

TEST_F(Jwt, VerifiesRs256) {
  auto result = verify(rs256_token(claims(), {{"alg", "RS256"}, {"kid", "rsa-1"}}));
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.token->subject(), "user-42");
  EXPECT_EQ(result.token->algorithm(), alg::rs256);
}

TEST_F(Jwt, VerifiesEs256) {
  auto result = verify(es256_token(claims(), {{"alg", "ES256"}, {"kid", "ec-1"}}));
  ASSERT_TRUE(result.ok()) << result.error.message;
  EXPECT_EQ(result.token->algorithm(), alg::es256);
  EXPECT_EQ(result.token->expires_at(), verified_at + seconds(300));
}

TEST_F(Jwt, WithoutKidTriesEveryKeyOfTheAlgorithmsType) {
  auto parsed = parse_jwks(jwks_of({rsa_jwk(other_rsa_key(), "a"), rsa_jwk(rsa_key(), "b")}).dump());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(verify(rs256_token(claims()), *parsed.keys).ok());
  // A kid that names another key is passed over, even if that one would verify.
  EXPECT_EQ(verify(rs256_token(claims(), {{"alg", "RS256"}, {"kid", "a"}}), *parsed.keys).error.code,
            token_error::bad_signature);
}

TEST_F(Jwt, KeysWithoutKidStayCandidatesForATokenWithKid) {
  auto parsed = parse_jwks(jwks_of({ec_jwk(ec_key())}).dump());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(verify(es256_token(claims(), {{"alg", "ES256"}, {"kid", "rotated-later"}}), *parsed.keys).ok());
}

// --- time ---------------------------------------------------------------------------

TEST_F(Jwt, ExpiryHonoursTheLeeway) {
  EXPECT_TRUE(verify(rs256_token(with(claims(), "exp", now_s - 29))).ok());
  EXPECT_EQ(error_of(rs256_token(with(claims(), "exp", now_s - 30))), token_error::expired);
  EXPECT_EQ(error_of(rs256_token(with(claims(), "exp", now_s - 3600))), token_error::expired);
  settings_.leeway = seconds(0);
  EXPECT_TRUE(verify(rs256_token(with(claims(), "exp", now_s + 1))).ok());
  EXPECT_EQ(error_of(rs256_token(with(claims(), "exp", now_s))), token_error::expired);  // valid only before exp
  EXPECT_EQ(error_of(rs256_token(with(claims(), "exp", now_s - 0.5))), token_error::expired);
}

TEST_F(Jwt, NotBeforeHonoursTheLeeway) {
  EXPECT_TRUE(verify(es256_token(with(claims(), "nbf", now_s + 30))).ok());
  EXPECT_EQ(error_of(es256_token(with(claims(), "nbf", now_s + 31))), token_error::not_yet_valid);
  settings_.leeway = seconds(0);
  EXPECT_TRUE(verify(es256_token(with(claims(), "nbf", now_s))).ok());  // valid from nbf on
  EXPECT_EQ(error_of(es256_token(with(claims(), "nbf", now_s + 1))), token_error::not_yet_valid);
}

TEST_F(Jwt, ExpIsOptionalButMustBeANumber) {
  auto result = verify(hs256_token(without(claims(), "exp")));
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result.token->expires_at());
  EXPECT_EQ(error_of(hs256_token(with(claims(), "exp", std::to_string(now_s + 300)))), token_error::malformed);
  EXPECT_EQ(error_of(hs256_token(with(claims(), "nbf", "soon"))), token_error::malformed);
}

TEST_F(Jwt, AFarFutureExpSaturates) {
  auto result = verify(hs256_token(with(claims(), "exp", 1e300)));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.token->expires_at(), std::chrono::system_clock::time_point::max());
}

// --- issuer and audience ----------------------------------------------------------------

TEST_F(Jwt, IssuerMustMatchWhenConfigured) {
  EXPECT_EQ(error_of(rs256_token(with(claims(), "iss", "https://evil.example"))), token_error::wrong_issuer);
  EXPECT_EQ(error_of(rs256_token(with(claims(), "iss", "https://issuer.example/"))), token_error::wrong_issuer);
  EXPECT_EQ(error_of(rs256_token(without(claims(), "iss"))), token_error::wrong_issuer);
  EXPECT_EQ(error_of(rs256_token(with(claims(), "iss", json::array({"https://issuer.example"})))),
            token_error::wrong_issuer);
  settings_.issuer.clear();
  EXPECT_TRUE(verify(rs256_token(with(claims(), "iss", "https://anyone.example"))).ok());
}

TEST_F(Jwt, AudienceMustNameAConfiguredOne) {
  EXPECT_TRUE(verify(es256_token(with(claims(), "aud", "admin-api"))).ok());
  EXPECT_TRUE(verify(es256_token(with(claims(), "aud", json::array({"other", "api"})))).ok());
  EXPECT_EQ(error_of(es256_token(with(claims(), "aud", "other"))), token_error::wrong_audience);
  EXPECT_EQ(error_of(es256_token(with(claims(), "aud", json::array({"other", 7})))), token_error::wrong_audience);
  EXPECT_EQ(error_of(es256_token(with(claims(), "aud", json::array()))), token_error::wrong_audience);
  EXPECT_EQ(error_of(es256_token(without(claims(), "aud"))), token_error::wrong_audience);
  settings_.audiences.clear();
  EXPECT_TRUE(verify(es256_token(with(claims(), "aud", "other"))).ok());
  EXPECT_TRUE(verify(es256_token(without(claims(), "aud"))).ok());
}

// --- signatures ---------------------------------------------------------------------

TEST_F(Jwt, OneFlippedBitBreaksEachSignature) {
  for (const auto& token : {hs256_token(claims()), rs256_token(claims()), es256_token(claims())}) {
    ASSERT_TRUE(verify(token).ok());
    EXPECT_EQ(error_of(flip_signature_bit(token)), token_error::bad_signature) << token;
    EXPECT_EQ(error_of(flip_signature_bit(token, 31)), token_error::bad_signature) << token;
  }
}

TEST_F(Jwt, AChangedPayloadBreaksTheSignature) {
  auto token = rs256_token(claims());
  auto first_dot = token.find('.');
  auto second_dot = token.find('.', first_dot + 1);
  auto forged = with_parts(token.substr(0, first_dot), encode_part(with(claims(), "sub", "admin")),
                           token.substr(second_dot + 1));
  EXPECT_EQ(error_of(forged), token_error::bad_signature);
}

TEST_F(Jwt, Es256AcceptsOnlyTheRawSignature) {
  std::string header = encode_part({{"alg", "ES256"}});
  std::string payload = encode_part(claims());
  std::string input = header + "." + payload;
  std::string der = digest_sign(ec_key(), input);
  EXPECT_EQ(error_of(with_parts(header, payload, encode_base64url(der))), token_error::bad_signature);
  std::string raw = der_to_raw_es256(der);
  EXPECT_TRUE(verify(with_parts(header, payload, encode_base64url(raw))).ok());
  EXPECT_EQ(error_of(with_parts(header, payload, encode_base64url(raw.substr(0, 63)))), token_error::bad_signature);
  EXPECT_EQ(error_of(with_parts(header, payload, encode_base64url(raw + '\0'))), token_error::bad_signature);
}

TEST_F(Jwt, ATruncatedHmacIsRefused) {
  std::string header = encode_part({{"alg", "HS256"}});
  std::string payload = encode_part(claims());
  std::string mac = sign_hs256(hmac_secret(), header + "." + payload);
  EXPECT_TRUE(verify(with_parts(header, payload, encode_base64url(mac))).ok());
  EXPECT_EQ(error_of(with_parts(header, payload, encode_base64url(mac.substr(0, 16)))), token_error::bad_signature);
}

// --- algorithm attacks --------------------------------------------------------------

TEST_F(Jwt, AlgNoneIsAlwaysRefused) {
  std::string payload = encode_part(claims());
  for (const char* name : {"none", "None", "NONE", "nOnE"}) {
    std::string header = encode_part({{"alg", name}});
    EXPECT_EQ(error_of(with_parts(header, payload, "")), token_error::malformed) << name;  // no signature part
    EXPECT_EQ(error_of(with_parts(header, payload, "c2ln")), token_error::algorithm_refused) << name;
  }
  auto result = verify(with_parts(encode_part({{"alg", "none"}}), payload, "c2ln"));
  EXPECT_EQ(result.error.message, "unsigned tokens (alg none) are not accepted");
}

TEST_F(Jwt, AnRsaPublicKeyNeverServesAsAnHmacSecret) {
  // The classic confusion: sign HS256 with the bytes of the public key the
  // verifier holds, in every form an attacker could get them.
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_TRUE(PEM_write_bio_PUBKEY(bio, rsa_key()));
  char* pem_data = nullptr;
  long pem_size = BIO_get_mem_data(bio, &pem_data);
  std::string pem(pem_data, static_cast<std::size_t>(pem_size));
  BIO_free(bio);
  json public_jwk = rsa_jwk(rsa_key(), "rsa-1");
  std::vector<std::string> secrets = {pem, public_jwk.dump(), *decode_base64url(public_jwk["n"].get<std::string>())};

  auto rsa_only = parse_jwks(jwks_of({public_jwk}).dump());
  ASSERT_TRUE(rsa_only.ok());
  for (const auto& secret : secrets) {
    for (const json& header : {json{{"alg", "HS256"}, {"kid", "rsa-1"}}, json{{"alg", "HS256"}}}) {
      auto token = hs256_token(claims(), header, secret);
      auto result = verify(token, *rsa_only.keys);
      EXPECT_FALSE(result.ok());
      EXPECT_EQ(result.error.code, token_error::no_matching_key);
      // With an HMAC key present as well, the token meets only that key.
      EXPECT_EQ(error_of(token), header.contains("kid") ? token_error::no_matching_key : token_error::bad_signature);
    }
  }
}

TEST_F(Jwt, AKidNeverCarriesAKeyAcrossFamilies) {
  // The EC key's kid on an RS256 token, the RSA key's kid on an ES256 token.
  EXPECT_EQ(error_of(rs256_token(claims(), {{"alg", "RS256"}, {"kid", "ec-1"}})), token_error::no_matching_key);
  EXPECT_EQ(error_of(es256_token(claims(), {{"alg", "ES256"}, {"kid", "rsa-1"}})), token_error::no_matching_key);
}

TEST_F(Jwt, UnknownKidFindsNoKey) {
  auto result = verify(rs256_token(claims(), {{"alg", "RS256"}, {"kid", "retired"}}));
  EXPECT_EQ(result.error.code, token_error::no_matching_key);
  EXPECT_EQ(result.error.message, "no key matches the token alg and kid");
}

TEST_F(Jwt, OnlyConfiguredAlgorithmsAreAccepted) {
  settings_.algorithms = {alg::rs256};
  EXPECT_TRUE(verify(rs256_token(claims())).ok());
  EXPECT_EQ(error_of(hs256_token(claims())), token_error::algorithm_refused);
  EXPECT_EQ(error_of(es256_token(claims())), token_error::algorithm_refused);
  EXPECT_EQ(error_of(rs256_token(claims(), {{"alg", "RS512"}})), token_error::algorithm_refused);
  EXPECT_EQ(error_of(rs256_token(claims(), {{"alg", "rs256"}})), token_error::algorithm_refused);
  EXPECT_EQ(error_of(rs256_token(claims(), {{"alg", 256}})), token_error::malformed);
  EXPECT_EQ(error_of(rs256_token(claims(), {{"typ", "JWT"}})), token_error::malformed);
}

TEST_F(Jwt, CriticalHeaderExtensionsAreRefused) {
  EXPECT_EQ(error_of(es256_token(claims(), {{"alg", "ES256"}, {"crit", {"exp"}}})), token_error::unsupported_header);
  EXPECT_EQ(error_of(es256_token(claims(), {{"alg", "ES256"}, {"crit", "b64"}})), token_error::unsupported_header);
  EXPECT_TRUE(verify(es256_token(claims(), {{"alg", "ES256"}, {"crit", json::array()}})).ok());
}

TEST_F(Jwt, KeysEmbeddedInTheHeaderAreIgnored) {
  // A token that brings its own key (jwk header) is still checked against the JWKS only.
  EVP_PKEY* attacker = other_rsa_key();
  json header = {{"alg", "RS256"}, {"jwk", rsa_jwk(attacker)}, {"jku", "https://evil.example/jwks"}};
  EXPECT_EQ(error_of(rs256_token(claims(), header, attacker)), token_error::bad_signature);
}

// --- malformed input ----------------------------------------------------------------

TEST_F(Jwt, RefusesAnythingButThreeCanonicalBase64urlParts) {
  auto token = hs256_token(claims());
  auto first_dot = token.find('.');
  auto second_dot = token.find('.', first_dot + 1);
  std::string header = token.substr(0, first_dot);
  std::string payload = token.substr(first_dot + 1, second_dot - first_dot - 1);
  std::string signature = token.substr(second_dot + 1);
  const std::vector<std::string> bad = {
      "",
      "abc",
      header + "." + payload,
      token + ".",
      token + ".x",
      with_parts("", payload, signature),
      header + ".." + signature,
      header + "=." + payload + "." + signature,
      header + "." + payload + "." + signature + "=",
      header + "." + payload + ".+" + signature.substr(1),
      header + " ." + payload + "." + signature,
      std::string("Bearer ") + token,
      encode_base64url("not json") + "." + payload + "." + signature,
      encode_part(json::array({"alg", "HS256"})) + "." + payload + "." + signature,
  };
  for (const auto& candidate : bad) {
    EXPECT_EQ(error_of(candidate), token_error::malformed) << candidate;
  }
}

TEST_F(Jwt, ASignedPayloadThatIsNotAnObjectIsMalformed) {
  auto sign = [](const std::string& in) { return sign_hs256(hmac_secret(), in); };
  std::string header = encode_part({{"alg", "HS256"}});
  for (const std::string& payload_text : {std::string("not json"), std::string("[1,2]"), std::string("\"sub\"")}) {
    std::string input = header + "." + encode_base64url(payload_text);
    EXPECT_EQ(error_of(input + "." + encode_base64url(sign(input))), token_error::malformed) << payload_text;
  }
}

TEST_F(Jwt, BoundsSizeAndNesting) {
  auto big = hs256_token(with(claims(), "pad", std::string(jwt_verifier::max_token_bytes, 'x')));
  EXPECT_EQ(error_of(big), token_error::too_large);

  json deep = "x";
  for (int i = 0; i < jwt_verifier::max_json_depth; ++i) deep = json::array({deep});  // depth 16 + the object
  EXPECT_EQ(error_of(hs256_token(with(claims(), "deep", deep))), token_error::malformed);
  json fits = "x";
  for (int i = 0; i < jwt_verifier::max_json_depth - 1; ++i) fits = json::array({fits});
  EXPECT_TRUE(verify(hs256_token(with(claims(), "deep", fits))).ok());
  // Brackets inside strings do not count.
  EXPECT_TRUE(verify(hs256_token(with(claims(), "text", std::string(100, '[') + "\\\"{"))).ok());
}

TEST_F(Jwt, TypedClaimsAreChecked) {
  EXPECT_EQ(error_of(hs256_token(with(claims(), "sub", 42))), token_error::malformed);
  EXPECT_EQ(error_of(hs256_token(claims(), {{"alg", "HS256"}, {"kid", 1}})), token_error::malformed);
}

// --- claims -------------------------------------------------------------------------

TEST_F(Jwt, CollectsScopesFromScopeScpAndScopes) {
  json payload = claims();
  payload["scope"] = "read write  read";
  payload["scp"] = json::array({"admin", "read", 7});
  payload["scopes"] = "billing";
  auto result = verify(es256_token(payload));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.token->scopes(), (std::vector<std::string>{"read", "write", "admin", "billing"}));
  EXPECT_TRUE(result.token->has_scope("admin"));
  EXPECT_FALSE(result.token->has_scope("delete"));
  EXPECT_EQ(result.token->missing_scope({"read", "billing"}), std::nullopt);
  EXPECT_EQ(result.token->missing_scope({"read", "delete", "root"}), "delete");
}

TEST_F(Jwt, ATokenWithoutScopesHasNone) {
  auto result = verify(es256_token(claims()));
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.token->scopes().empty());
  EXPECT_EQ(result.token->missing_scope({"read"}), "read");
  EXPECT_EQ(result.token->missing_scope({}), std::nullopt);
}

TEST_F(Jwt, ClaimsReadAsRateLimitKeys) {
  json payload = claims();
  payload["tenant"] = 42;
  payload["big"] = 18446744073709551615u;
  payload["neg"] = -7;
  payload["ratio"] = 1.5;
  payload["org"] = "acme corp";
  payload["admin"] = true;
  payload["groups"] = json::array({"a"});
  payload["nothing"] = nullptr;
  payload["https://example.com/team"] = "blue";
  auto result = verify(rs256_token(payload));
  ASSERT_TRUE(result.ok());
  const auto& token = *result.token;
  EXPECT_EQ(token.claim("sub"), "user-42");
  EXPECT_EQ(token.claim("tenant"), "42");
  EXPECT_EQ(token.claim("big"), "18446744073709551615");
  EXPECT_EQ(token.claim("neg"), "-7");
  EXPECT_EQ(token.claim("ratio"), "1.5");
  EXPECT_EQ(token.claim("exp"), std::to_string(now_s + 300));
  EXPECT_EQ(token.claim("org"), "acme corp");
  EXPECT_EQ(token.claim("admin"), "true");
  EXPECT_EQ(token.claim("https://example.com/team"), "blue");
  EXPECT_EQ(token.claim("groups"), std::nullopt);
  EXPECT_EQ(token.claim("nothing"), std::nullopt);
  EXPECT_EQ(token.claim("absent"), std::nullopt);
  EXPECT_EQ(token.claim("Sub"), std::nullopt);  // names are case-sensitive
}

TEST_F(Jwt, ATokenWithoutSubHasAnEmptySubject) {
  auto result = verify(hs256_token(without(claims(), "sub")));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.token->subject(), "");
  EXPECT_EQ(result.token->claim("sub"), std::nullopt);
}

// --- what the client is told --------------------------------------------------------

TEST_F(Jwt, ErrorMessagesAreSafeInAQuotedString) {
  auto token = rs256_token(claims());
  const std::vector<std::string> failing = {
      std::string(jwt_verifier::max_token_bytes + 1, 'a'),
      "a.b",
      with_parts(encode_part({{"alg", "none"}}), encode_part(claims()), "c2ln"),
      with_parts(encode_part({{"alg", "HS512"}}), encode_part(claims()), "c2ln"),
      es256_token(claims(), {{"alg", "ES256"}, {"crit", {"x"}}}),
      rs256_token(claims(), {{"alg", "RS256"}, {"kid", "\"quoted\\kid"}}),
      flip_signature_bit(token),
      rs256_token(with(claims(), "exp", now_s - 100)),
      rs256_token(with(claims(), "nbf", now_s + 100)),
      rs256_token(with(claims(), "iss", "\"evil\"")),
      rs256_token(with(claims(), "aud", "\\")),
      rs256_token(with(claims(), "sub", 1)),
  };
  std::set<token_error> codes;
  for (const auto& candidate : failing) {
    auto result = verify(candidate);
    ASSERT_FALSE(result.ok());
    codes.insert(result.error.code);
    ASSERT_FALSE(result.error.message.empty());
    for (char c : result.error.message) {
      bool allowed = std::isalnum(static_cast<unsigned char>(c)) || std::string_view(" _-.,:()").find(c) != std::string_view::npos;
      EXPECT_TRUE(allowed) << "'" << c << "' in: " << result.error.message;
    }
  }
  EXPECT_EQ(codes.size(), 10u);  // every token_error
}

TEST_F(Jwt, ChallengesForTheWwwAuthenticateHeader) {
  auto result = verify(rs256_token(with(claims(), "exp", now_s - 100)));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(invalid_token_challenge(result.error),
            R"(Bearer error="invalid_token", error_description="token has expired")");
  EXPECT_EQ(insufficient_scope_challenge({"read", "wr\"ite\\"}),
            R"(Bearer error="insufficient_scope", scope="read write")");
  EXPECT_EQ(to_string(token_error::bad_signature), "bad_signature");
}

TEST_F(Jwt, IsUsableFromManyThreadsOnOneKeySet) {
  jwt_verifier verifier(settings_);
  const std::vector<std::string> tokens = {hs256_token(claims()), rs256_token(claims()), es256_token(claims())};
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (verifier.verify(tokens[static_cast<std::size_t>(i) % tokens.size()], *keys_, verified_at).ok()) ++verified;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(verified.load(), 80);
}

}  // namespace
}  // namespace bulwark::policy::auth
