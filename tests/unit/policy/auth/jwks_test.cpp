#include "policy/auth/jwks.h"

#include <gtest/gtest.h>

#include "unit/temp_dir.h"
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "policy/auth/jwt.h"
#include "test_keys.h"

namespace bulwark::policy::auth {
namespace {

using namespace test;

jwks_parse_result parse(const json& document) { return parse_jwks(document.dump()); }

// The single error of a document with one bad key.
std::string only_error(const json& key) {
  auto result = parse(jwks_of({key}));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.errors.size(), 1u);
  return result.errors.empty() ? "" : result.errors[0];
}

TEST(Jwks, ParsesOneKeyOfEachType) {
  auto result = parse(jwks_of({rsa_jwk(rsa_key(), "r1"), ec_jwk(ec_key(), "e1"), oct_jwk(hmac_secret())}));
  ASSERT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0]);
  EXPECT_TRUE(result.errors.empty());
  EXPECT_TRUE(result.notes.empty());
  const auto& keys = result.keys->keys();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].type, key_type::rsa);
  EXPECT_EQ(keys[0].kid, "r1");
  EXPECT_NE(keys[0].public_key, nullptr);
  EXPECT_EQ(keys[1].type, key_type::ec_p256);
  EXPECT_EQ(keys[1].kid, "e1");
  EXPECT_EQ(keys[2].type, key_type::oct);
  EXPECT_EQ(keys[2].kid, "");
  EXPECT_EQ(keys[2].secret.view(), hmac_secret());
  EXPECT_EQ(keys[2].index, 2u);
}

TEST(Jwks, AcceptsMatchingAlgAndUseSig) {
  json rsa = rsa_jwk(rsa_key());
  rsa["alg"] = "RS256";
  rsa["use"] = "sig";
  json ec = ec_jwk(ec_key());
  ec["alg"] = "ES256";
  auto result = parse(jwks_of({rsa, ec}));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.keys->keys().size(), 2u);
}

TEST(Jwks, RefusesDocumentsThatAreNotAKeySet) {
  EXPECT_EQ(parse_jwks("{").errors, std::vector<std::string>{"not valid JSON"});
  EXPECT_EQ(parse_jwks("[]").errors,
            std::vector<std::string>{"must be a JSON object with a keys array (RFC 7517 §5)"});
  EXPECT_EQ(parse_jwks(R"({"keys": {}})").errors,
            std::vector<std::string>{"must be a JSON object with a keys array (RFC 7517 §5)"});
  EXPECT_EQ(parse_jwks(R"({"keys": []})").errors,
            std::vector<std::string>{"no usable key (oct, RSA or EC P-256 with use sig)"});
}

TEST(Jwks, NamesTheKeyAndTheProblem) {
  EXPECT_EQ(only_error(json(42)), "keys[0]: must be a JSON object");
  EXPECT_EQ(only_error(json{{"n", "AQAB"}}), "keys[0]: needs kty (a string)");
  EXPECT_EQ(only_error(json{{"kty", "DSA"}}), "keys[0]: kty must be oct, RSA or EC, got DSA");
  json no_n = rsa_jwk(rsa_key());
  no_n.erase("n");
  EXPECT_EQ(only_error(no_n), "keys[0]: RSA key needs n (a base64url string)");
  json padded = rsa_jwk(rsa_key());
  padded["e"] = "AQAB==";
  EXPECT_EQ(only_error(padded), "keys[0]: e is not base64url (RFC 7515 §2: url alphabet, no padding)");
  json kid_number = oct_jwk(hmac_secret());
  kid_number["kid"] = 7;
  EXPECT_EQ(only_error(kid_number), "keys[0]: kid must be a string");
}

TEST(Jwks, RefusesWeakOrInvalidKeys) {
  EXPECT_EQ(only_error(oct_jwk("sixteen byte key")),
            "keys[0]: HS256 secret k must be at least 32 bytes (RFC 7518 §3.2), got 16");
  evp_pkey_ptr small_rsa(EVP_RSA_gen(1024));
  ASSERT_NE(small_rsa, nullptr);
  EXPECT_EQ(only_error(rsa_jwk(small_rsa.get())), "keys[0]: RSA modulus n must be at least 2048 bits, got 1024");

  json even_exponent = rsa_jwk(rsa_key());
  even_exponent["e"] = encode_base64url(std::string("\x01\x00\x00", 3));  // 65536
  EXPECT_EQ(only_error(even_exponent), "keys[0]: RSA key is not a valid public key (n, e)");

  json bad_curve = ec_jwk(ec_key());
  bad_curve["crv"] = "P-192";
  EXPECT_EQ(only_error(bad_curve), "keys[0]: EC key must be on P-256 (crv), got P-192");

  json short_x = ec_jwk(ec_key());
  short_x["x"] = encode_base64url(std::string(31, '\x01'));
  EXPECT_EQ(only_error(short_x), "keys[0]: EC P-256 coordinates x and y must be 32 bytes each");

  json off_curve = ec_jwk(ec_key());
  auto y = *decode_base64url(off_curve["y"].get<std::string>());
  y[31] = static_cast<char>(y[31] ^ 1);
  off_curve["y"] = encode_base64url(y);
  EXPECT_EQ(only_error(off_curve), "keys[0]: EC key is not a point on P-256 (x, y)");

  json confused = rsa_jwk(rsa_key());
  confused["alg"] = "HS256";
  EXPECT_EQ(only_error(confused), "keys[0]: alg HS256 does not fit kty RSA");
}

TEST(Jwks, ReportsEveryErrorAtOnceAndRefusesTheWholeDocument) {
  json bad_ec = ec_jwk(ec_key());
  bad_ec["crv"] = "P-1";
  auto result = parse(jwks_of({rsa_jwk(rsa_key()), json{{"kty", "oct"}}, bad_ec}));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.keys, nullptr);
  EXPECT_EQ(result.errors, (std::vector<std::string>{"keys[1]: oct key needs k (a base64url string)",
                                                     "keys[2]: EC key must be on P-256 (crv), got P-1"}));
}

TEST(Jwks, SkipsKeysForOtherUsesAndAlgorithmsWithANote) {
  json encryption = rsa_jwk(rsa_key(), "enc");
  encryption["use"] = "enc";
  json p384 = ec_jwk(ec_key());
  p384["crv"] = "P-384";
  json ps256 = rsa_jwk(rsa_key());
  ps256["alg"] = "PS256";
  json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
  auto result = parse(jwks_of({encryption, p384, ps256, okp, ec_jwk(ec_key(), "usable")}));
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.keys->keys().size(), 1u);
  EXPECT_EQ(result.keys->keys()[0].kid, "usable");
  EXPECT_EQ(result.keys->keys()[0].index, 4u);
  EXPECT_EQ(result.notes, (std::vector<std::string>{
                              "keys[0]: skipped: use is enc, not sig",
                              "keys[1]: skipped: EC curve P-384 is not supported (ES256 needs P-256)",
                              "keys[2]: skipped: alg PS256 is not supported",
                              "keys[3]: skipped: kty OKP is not supported",
                          }));
}

TEST(Jwks, AnUnsupportedAlgIsSkippedBeforeItsMaterialIsJudged) {
  evp_pkey_ptr small_rsa(EVP_RSA_gen(1024));
  ASSERT_NE(small_rsa, nullptr);
  json legacy = rsa_jwk(small_rsa.get(), "legacy");
  legacy["alg"] = "RS384";
  auto result = parse(jwks_of({legacy, rsa_jwk(rsa_key(), "current")}));
  ASSERT_TRUE(result.ok()) << result.errors[0];
  EXPECT_EQ(result.notes, std::vector<std::string>{"keys[0]: skipped: alg RS384 is not supported"});
  ASSERT_EQ(result.keys->keys().size(), 1u);
  EXPECT_EQ(result.keys->keys()[0].kid, "current");
}

TEST(Jwks, ADocumentWithOnlySkippedKeysIsRefused) {
  json encryption = rsa_jwk(rsa_key());
  encryption["use"] = "enc";
  auto result = parse(jwks_of({encryption}));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.errors, std::vector<std::string>{"no usable key (oct, RSA or EC P-256 with use sig)"});
  EXPECT_EQ(result.notes.size(), 1u);
}

TEST(Jwks, ShownValuesAreShortAndPrintable) {
  auto message = only_error(json{{"kty", std::string("X\x01Y") + std::string(100, 'z')}});
  EXPECT_EQ(message, "keys[0]: kty must be oct, RSA or EC, got X?Yzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...");
}

// --- jwks_file ----------------------------------------------------------------------

class JwksFile : public ::testing::Test {
 protected:

  // Replaced the way deployments do it (write aside, rename over), so the
  // inode changes even when the size and the coarse mtime do not.
  void replace(const std::string& contents) {
    auto aside = dir_ / "jwks.json.new";
    std::ofstream(aside, std::ios::binary | std::ios::trunc) << contents;
    std::filesystem::rename(aside, path_);
  }
  // Rewritten in place: same inode; the mtime is set explicitly so the test
  // does not depend on the file system's timestamp granularity.
  void rewrite_in_place(const std::string& contents) {
    auto before = std::filesystem::last_write_time(path_);
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << contents;
    std::filesystem::last_write_time(path_, before + std::chrono::seconds(1));
  }

  bulwark::test::temp_dir scratch_;
  std::filesystem::path dir_ = scratch_.path();
  std::string path_ = scratch_.file("jwks.json");
};

TEST_F(JwksFile, OpensAndServesTheKeys) {
  replace(jwks_of({rsa_jwk(rsa_key(), "r1")}).dump());
  auto opened = jwks_file::open(path_);
  ASSERT_NE(opened.file, nullptr);
  EXPECT_TRUE(opened.errors.empty());
  auto keys = opened.file->current();
  ASSERT_NE(keys, nullptr);
  ASSERT_EQ(keys->keys().size(), 1u);
  EXPECT_EQ(keys->keys()[0].kid, "r1");
  EXPECT_EQ(opened.file->path(), path_);
}

TEST_F(JwksFile, OpenReportsAMissingOrInvalidFileWithItsPath) {
  auto missing = jwks_file::open(path_);
  EXPECT_EQ(missing.file, nullptr);
  EXPECT_EQ(missing.errors, std::vector<std::string>{path_ + ": cannot open: No such file or directory"});

  replace(R"({"keys": [{"kty": "oct"}]})");
  auto invalid = jwks_file::open(path_);
  EXPECT_EQ(invalid.file, nullptr);
  EXPECT_EQ(invalid.errors, std::vector<std::string>{path_ + ": keys[0]: oct key needs k (a base64url string)"});

  auto directory = jwks_file::open(dir_.string());
  EXPECT_EQ(directory.errors, std::vector<std::string>{dir_.string() + ": is not a regular file"});
}

TEST_F(JwksFile, RefusesAnOversizedFile) {
  replace(std::string(jwks_file::max_file_bytes + 1, ' '));
  EXPECT_EQ(jwks_file::open(path_).errors, std::vector<std::string>{path_ + ": is larger than 1 MiB"});
}

TEST_F(JwksFile, ReloadsOnlyWhenTheFileChanged) {
  replace(jwks_of({rsa_jwk(rsa_key(), "old")}).dump());
  auto file = std::move(jwks_file::open(path_).file);
  ASSERT_NE(file, nullptr);
  auto first = file->current();

  EXPECT_EQ(file->reload_if_changed().status, jwks_file::reload_status::unchanged);
  EXPECT_EQ(file->current(), first);  // the very same snapshot

  // Same size (another key of the same length, same kid length): the inode tells.
  replace(jwks_of({rsa_jwk(other_rsa_key(), "new")}).dump());
  auto reloaded = file->reload_if_changed();
  EXPECT_EQ(reloaded.status, jwks_file::reload_status::reloaded);
  EXPECT_TRUE(reloaded.errors.empty());
  ASSERT_NE(file->current(), first);
  EXPECT_EQ(file->current()->keys()[0].kid, "new");
  // A reader that took the old snapshot keeps a usable set.
  EXPECT_EQ(first->keys()[0].kid, "old");
  EXPECT_NE(first->keys()[0].public_key, nullptr);

  rewrite_in_place(jwks_of({ec_jwk(ec_key(), "in-place")}).dump());
  EXPECT_EQ(file->reload_if_changed().status, jwks_file::reload_status::reloaded);
  EXPECT_EQ(file->current()->keys()[0].kid, "in-place");
}

TEST_F(JwksFile, KeepsTheOldKeysWhenTheNewFileIsInvalidAndReportsItOnce) {
  replace(jwks_of({ec_jwk(ec_key(), "good")}).dump());
  auto file = std::move(jwks_file::open(path_).file);
  ASSERT_NE(file, nullptr);
  auto good = file->current();

  replace(R"({"keys": [)");
  auto failed = file->reload_if_changed();
  EXPECT_EQ(failed.status, jwks_file::reload_status::failed);
  EXPECT_EQ(failed.errors, std::vector<std::string>{path_ + ": not valid JSON"});
  EXPECT_EQ(file->current(), good);

  // Still broken, not touched: no new report on the next poll...
  EXPECT_EQ(file->reload_if_changed().status, jwks_file::reload_status::unchanged);
  // ...but an explicit reload reports it again.
  EXPECT_EQ(file->reload().status, jwks_file::reload_status::failed);
  EXPECT_EQ(file->current(), good);

  replace(jwks_of({ec_jwk(ec_key(), "fixed")}).dump());
  EXPECT_EQ(file->reload_if_changed().status, jwks_file::reload_status::reloaded);
  EXPECT_EQ(file->current()->keys()[0].kid, "fixed");
}

TEST_F(JwksFile, SurvivesTheFileDisappearingForAWhile) {
  replace(jwks_of({ec_jwk(ec_key(), "good")}).dump());
  auto file = std::move(jwks_file::open(path_).file);
  ASSERT_NE(file, nullptr);
  auto good = file->current();

  std::filesystem::remove(path_);
  auto gone = file->reload_if_changed();
  EXPECT_EQ(gone.status, jwks_file::reload_status::failed);
  EXPECT_EQ(gone.errors, std::vector<std::string>{path_ + ": cannot open: No such file or directory"});
  EXPECT_EQ(file->reload_if_changed().status, jwks_file::reload_status::unchanged);
  EXPECT_EQ(file->current(), good);

  replace(jwks_of({ec_jwk(ec_key(), "back")}).dump());
  EXPECT_EQ(file->reload_if_changed().status, jwks_file::reload_status::reloaded);
  EXPECT_EQ(file->current()->keys()[0].kid, "back");
}

TEST_F(JwksFile, ForcedReloadRereadsAnUnchangedFile) {
  replace(jwks_of({oct_jwk(hmac_secret(), "h")}).dump());
  auto file = std::move(jwks_file::open(path_).file);
  ASSERT_NE(file, nullptr);
  auto before = file->current();
  auto again = file->reload();
  EXPECT_EQ(again.status, jwks_file::reload_status::reloaded);
  EXPECT_NE(file->current(), before);
}

TEST_F(JwksFile, NotesOfSkippedKeysCarryThePath) {
  json encryption = rsa_jwk(rsa_key());
  encryption["use"] = "enc";
  replace(jwks_of({encryption, ec_jwk(ec_key())}).dump());
  auto opened = jwks_file::open(path_);
  ASSERT_NE(opened.file, nullptr);
  EXPECT_EQ(opened.notes, std::vector<std::string>{path_ + ": keys[0]: skipped: use is enc, not sig"});
}

TEST_F(JwksFile, ARotatedKeyTakesEffectForVerification) {
  replace(jwks_of({ec_jwk(ec_key(), "k")}).dump());
  auto file = std::move(jwks_file::open(path_).file);
  ASSERT_NE(file, nullptr);
  config::jwt_settings settings;
  settings.algorithms = {config::jwt_algorithm::es256, config::jwt_algorithm::rs256};
  jwt_verifier verifier(settings);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  auto ec_token = es256_token({{"sub", "a"}}, {{"alg", "ES256"}, {"kid", "k"}});
  auto rsa_token = rs256_token({{"sub", "a"}}, {{"alg", "RS256"}, {"kid", "k"}});
  EXPECT_TRUE(verifier.verify(ec_token, *file->current(), now).ok());
  EXPECT_FALSE(verifier.verify(rsa_token, *file->current(), now).ok());

  replace(jwks_of({rsa_jwk(rsa_key(), "k")}).dump());
  ASSERT_EQ(file->reload_if_changed().status, jwks_file::reload_status::reloaded);
  EXPECT_FALSE(verifier.verify(ec_token, *file->current(), now).ok());
  EXPECT_TRUE(verifier.verify(rsa_token, *file->current(), now).ok());
}

}  // namespace
}  // namespace bulwark::policy::auth
