// `bulwark keys` without the binary: run_keys_command with string streams, and
// the JSON shapes the CLI and the admin API share.
#include "store/keys_cli.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

#include "store/api_key_cache.h"
#include "store/keys_json.h"
#include "unit/store/store_test_util.h"

namespace bulwark::store {
namespace {

using std::chrono::hours;
using test::t0;

struct run_result {
  int code;
  std::string out;
  std::string err;
  std::string first_line() const { return out.substr(0, out.find('\n')); }
};

class KeysCli : public ::testing::Test {
 protected:
  test::temp_dir dir_;
  std::string db_ = dir_.file("state/keys.db");

  run_result run(keys_cli_options options, wall_time now = t0) {
    if (options.db_path.empty()) options.db_path = db_;
    std::ostringstream out;
    std::ostringstream err;
    const int code = run_keys_command(options, out, err, now);
    return {code, out.str(), err.str()};
  }
  keys_cli_options create_options(const std::string& name) {
    keys_cli_options options;
    options.action = keys_action::create;
    options.name = name;
    return options;
  }
  std::shared_ptr<api_key_cache> loaded_cache() {
    auto cache = std::make_shared<api_key_cache>(*sqlite_key_store::open(db_).value);
    EXPECT_TRUE(cache->refresh().ok());
    return cache;
  }
};

TEST_F(KeysCli, CreatePrintsTheKeyAloneOnTheFirstLine) {
  auto options = create_options("ci");
  options.scopes = "read,write";
  options.rate = "100/s";
  options.expires = "90d";
  const auto result = run(options);
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, result.first_line() + "\n");  // the key and nothing else on stdout
  const auto key = result.first_line();
  ASSERT_TRUE(parse_key(key).has_value()) << key;
  EXPECT_NE(result.err.find(std::string(parse_key(key)->id)), std::string::npos);
  EXPECT_NE(result.err.find("2026-08-26T20:26:40Z"), std::string::npos) << result.err;  // t0 + 90d
  EXPECT_EQ(result.err.find(parse_key(key)->secret), std::string::npos);

  const auto verified = loaded_cache()->verify(key, t0);
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified.identity->scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(verified.identity->rate_text, "100/s");
}

TEST_F(KeysCli, CreateJson) {
  auto options = create_options("ci");
  options.scopes = "read";
  options.json = true;
  const auto result = run(options);
  ASSERT_EQ(result.code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.first_line());
  EXPECT_TRUE(parse_key(json.at("key").get<std::string>()).has_value());
  EXPECT_EQ(json.at("id"), std::string(parse_key(json.at("key").get<std::string>())->id));
  EXPECT_EQ(json.at("name"), "ci");
  EXPECT_EQ(json.at("scopes"), nlohmann::json::array({"read"}));
  EXPECT_TRUE(json.at("expires").is_null());
}

TEST_F(KeysCli, ListShowsStatesButNeverSecrets) {
  const auto a = run(create_options("alpha")).first_line();
  const auto b = run(create_options("beta"), t0 + std::chrono::seconds(1)).first_line();  // listed second
  keys_cli_options revoke;
  revoke.action = keys_action::revoke;
  revoke.id = std::string(parse_key(b)->id);
  ASSERT_EQ(run(revoke).code, 0);

  keys_cli_options list;
  list.action = keys_action::list;
  const auto table = run(list, t0 + hours(1));
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("ID ", 0), 0u) << table.out;
  for (const auto& column : {"NAME", "SCOPES", "CREATED", "LAST_USED", "EXPIRES", "STATE"}) {
    EXPECT_NE(table.out.find(column), std::string::npos) << column;
  }
  EXPECT_NE(table.out.find("alpha"), std::string::npos);
  EXPECT_NE(table.out.find("active"), std::string::npos);
  EXPECT_NE(table.out.find("revoked"), std::string::npos);
  for (const auto& key : {a, b}) {
    EXPECT_EQ(table.out.find(parse_key(key)->secret), std::string::npos);
    EXPECT_NE(table.out.find(parse_key(key)->id), std::string::npos);
  }

  list.json = true;
  const auto json_result = run(list, t0 + hours(1));
  ASSERT_EQ(json_result.code, 0);
  const auto json = nlohmann::json::parse(json_result.out);
  ASSERT_EQ(json.at("keys").size(), 2u);
  EXPECT_EQ(json["keys"][0]["name"], "alpha");
  EXPECT_EQ(json["keys"][0]["state"], "active");
  EXPECT_EQ(json["keys"][1]["state"], "revoked");
  EXPECT_EQ(json["keys"][0]["created"], "2026-05-28T20:26:40Z");
  EXPECT_EQ(json_result.out.find(parse_key(a)->secret), std::string::npos);
  EXPECT_FALSE(json["keys"][0].contains("key"));
  EXPECT_FALSE(json["keys"][0].contains("hash"));
}

TEST_F(KeysCli, RotatePrintsTheNewKeyAndKeepsTheOldOneForTheGrace) {
  const auto old = run(create_options("ci")).first_line();
  keys_cli_options rotate;
  rotate.action = keys_action::rotate;
  rotate.id = std::string(parse_key(old)->id);
  rotate.grace = "2h";
  const auto result = run(rotate, t0 + hours(1));
  ASSERT_EQ(result.code, 0) << result.err;
  const auto fresh = result.first_line();
  ASSERT_TRUE(parse_key(fresh).has_value());
  EXPECT_NE(result.err.find("2026-05-28T23:26:40Z"), std::string::npos) << result.err;  // t0 + 3h

  auto cache = loaded_cache();
  EXPECT_TRUE(cache->verify(old, t0 + hours(2)).ok());
  EXPECT_TRUE(cache->verify(fresh, t0 + hours(2)).ok());
  EXPECT_EQ(cache->verify(old, t0 + hours(3)).failure, key_failure::expired);

  rotate.json = true;
  rotate.id = std::string(parse_key(fresh)->id);
  const auto json_result = run(rotate, t0 + hours(2));
  ASSERT_EQ(json_result.code, 0) << json_result.err;
  const auto json = nlohmann::json::parse(json_result.first_line());
  EXPECT_EQ(json.at("replaces").at("id"), std::string(parse_key(fresh)->id));
  EXPECT_EQ(json.at("replaces").at("expires"), "2026-05-29T00:26:40Z");  // t0 + 2h + 2h
}

TEST_F(KeysCli, BadArgumentsExitTwoAndCreateNoFile) {
  struct bad {
    keys_cli_options options;
    std::string mentions;
  };
  auto with = [&](auto change) {
    auto options = create_options("ci");
    change(options);
    return options;
  };
  const bad cases[] = {
      {with([](auto& o) { o.rate = "100/m"; }), "--rate"},
      {with([](auto& o) { o.expires = "forever"; }), "--expires"},
      {with([](auto& o) { o.expires = "0"; }), "--expires"},
      {with([](auto& o) { o.scopes = "read,,write"; }), "--scopes"},
      {with([](auto& o) { o.name = ""; }), "--name"},
      {with([](auto& o) {
         o.action = keys_action::rotate;
         o.id = "abcdefgh2345";
         o.grace = "a day";
       }),
       "--grace"},
      {with([](auto& o) {
         o.action = keys_action::revoke;
         o.id = "bwk_abcdefgh2345_0123456789ABCDEFGHIJabcdefghijkl";
       }),
       "key id"},
  };
  for (const auto& c : cases) {
    const auto result = run(c.options);
    EXPECT_EQ(result.code, 2) << c.mentions;
    EXPECT_TRUE(result.out.empty());
    EXPECT_NE(result.err.find(c.mentions), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("0123456789ABCDEFGHIJ"), std::string::npos) << "echoed a secret: " << result.err;
  }
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(KeysCli, UnknownIdsExitOne) {
  keys_cli_options revoke;
  revoke.action = keys_action::revoke;
  revoke.id = "aaaaaaaaaaaa";
  const auto result = run(revoke);
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(result.err, "bulwark keys revoke: no key with id aaaaaaaaaaaa\n");
}

TEST(KeysJson, RequestsFromTheAdminApi) {
  auto request = new_key_request_from_json(
      nlohmann::json{{"name", "ci"}, {"scopes", {"a", "b"}}, {"rate", "5/min"}, {"expires", "30d"}});
  ASSERT_TRUE(request.ok()) << request.error.message;
  EXPECT_EQ(request.value->name, "ci");
  EXPECT_EQ(request.value->scopes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(request.value->rate, "5/min");
  EXPECT_EQ(request.value->expires_in, std::chrono::hours(24 * 30));

  EXPECT_EQ(new_key_request_from_json(nlohmann::json{{"name", "x"}, {"scopes", "a,b"}}).value->scopes.size(), 2u);
  EXPECT_FALSE(new_key_request_from_json(nlohmann::json::array()).ok());
  EXPECT_FALSE(new_key_request_from_json(nlohmann::json{{"scopes", "a"}}).ok());  // no name
  EXPECT_FALSE(new_key_request_from_json(nlohmann::json{{"name", 5}}).ok());
  EXPECT_FALSE(new_key_request_from_json(nlohmann::json{{"name", "x"}, {"rate", "fast"}}).ok());
  auto unknown = new_key_request_from_json(nlohmann::json{{"name", "x"}, {"scope", "a"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error.message.find("scope"), std::string::npos);
  EXPECT_EQ(unknown.error.code, store_errc::invalid_argument);

  auto rotate = rotate_request_from_json("abcdefgh2345", nlohmann::json{{"grace", "1h"}});
  ASSERT_TRUE(rotate.ok());
  EXPECT_EQ(rotate.value->grace, std::chrono::hours(1));
  EXPECT_EQ(rotate_request_from_json("abcdefgh2345", nullptr).value->grace, std::chrono::hours(24));
  EXPECT_FALSE(rotate_request_from_json("abcdefgh2345", nlohmann::json{{"grace", "250ms"}}).ok());
}

TEST(KeysJson, ErrorShape) {
  const auto json = error_to_json({store_errc::not_found, "no key with id x"});
  EXPECT_EQ(json, (nlohmann::json{{"error", "no key with id x"}, {"code", "not_found"}}));
}

}  // namespace
}  // namespace bulwark::store
