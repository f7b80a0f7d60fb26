// `bulwark keys` (DESIGN.md §5) run as the real binary against a real SQLite
// file: create / list / revoke / rotate, with --db and with -c CONFIG, text and
// --json output, and bad arguments refused with a clear message.
#include "integration/harness.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace bulwark::test {
namespace {

struct cli_result {
  int code = -1;
  std::string out;
  std::string err;
  std::string first_line() const { return out.substr(0, out.find('\n')); }
  nlohmann::json json() const { return nlohmann::json::parse(first_line()); }
};

cli_result bulwark_keys(std::vector<std::string> args) {
  std::vector<std::string> argv{binary_path("bulwark"), "keys"};
  argv.insert(argv.end(), args.begin(), args.end());
  process proc(std::move(argv));
  auto code = proc.wait_exit(10s);
  if (!code) throw std::runtime_error("bulwark keys did not exit:\n" + proc.describe());
  return {*code, proc.stdout_text(), proc.stderr_text()};
}

// The parts of bwk_<id>_<secret>.
std::string key_id(const std::string& key) { return key.substr(4, 12); }
std::string key_secret(const std::string& key) { return key.substr(17); }

bool looks_like_key(const std::string& key) {
  if (key.size() != 49 || key.rfind("bwk_", 0) != 0 || key[16] != '_') return false;
  return key_secret(key).find_first_not_of(
             "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == std::string::npos;
}

class KeysCli : public ::testing::Test {
 protected:
  temp_dir dir_;
  std::string db_ = dir_.file("data/keys.db");  // the directory does not exist yet
};

TEST_F(KeysCli, CreateListRevokeRotateWithDb) {
  const auto created = bulwark_keys(
      {"create", "--name", "ci pipeline", "--scopes", "read,write", "--rate", "100/s", "--expires", "90d", "--db", db_});
  ASSERT_EQ(created.code, 0) << created.err;
  const auto key = created.first_line();
  ASSERT_TRUE(looks_like_key(key)) << created.out;
  EXPECT_EQ(created.out, key + "\n");  // the key alone: KEY=$(bulwark keys create ...) works
  EXPECT_TRUE(std::filesystem::exists(db_));
  const auto id = key_id(key);

  const auto listed = bulwark_keys({"list", "--db", db_});
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_EQ(listed.out.rfind("ID", 0), 0u) << listed.out;
  EXPECT_NE(listed.out.find(id), std::string::npos);
  EXPECT_NE(listed.out.find("ci pipeline"), std::string::npos);
  EXPECT_NE(listed.out.find("read,write"), std::string::npos);
  EXPECT_NE(listed.out.find("active"), std::string::npos);
  EXPECT_EQ(listed.out.find(key_secret(key)), std::string::npos);

  const auto revoked = bulwark_keys({"revoke", id, "--db", db_});
  ASSERT_EQ(revoked.code, 0) << revoked.err;
  EXPECT_EQ(revoked.out, "revoked " + id + "\n");

  const auto after = bulwark_keys({"list", "--db", db_, "--json"});
  ASSERT_EQ(after.code, 0) << after.err;
  const auto keys = after.json().at("keys");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].at("id"), id);
  EXPECT_EQ(keys[0].at("state"), "revoked");
  EXPECT_EQ(keys[0].at("rate"), "100/s");
  EXPECT_EQ(after.out.find(key_secret(key)), std::string::npos);

  // A revoked key cannot be rotated; the message says why and the exit is 1.
  const auto refused = bulwark_keys({"rotate", id, "--grace", "1h", "--db", db_});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("revoked"), std::string::npos) << refused.err;
}

TEST_F(KeysCli, JsonCreateAndRotate) {
  const auto created = bulwark_keys({"create", "--name", "svc", "--scopes", "orders:read", "--json", "--db", db_});
  ASSERT_EQ(created.code, 0) << created.err;
  const auto issued = created.json();
  const auto key = issued.at("key").get<std::string>();
  ASSERT_TRUE(looks_like_key(key));
  EXPECT_EQ(issued.at("id"), key_id(key));
  EXPECT_EQ(issued.at("name"), "svc");
  EXPECT_EQ(issued.at("scopes"), nlohmann::json::array({"orders:read"}));
  EXPECT_TRUE(issued.at("expires").is_null());

  const auto rotated = bulwark_keys({"rotate", key_id(key), "--grace", "24h", "--json", "--db", db_});
  ASSERT_EQ(rotated.code, 0) << rotated.err;
  const auto fresh = rotated.json();
  const auto new_key = fresh.at("key").get<std::string>();
  ASSERT_TRUE(looks_like_key(new_key));
  EXPECT_NE(key_id(new_key), key_id(key));
  EXPECT_EQ(fresh.at("name"), "svc");
  EXPECT_EQ(fresh.at("scopes"), nlohmann::json::array({"orders:read"}));
  EXPECT_EQ(fresh.at("replaces").at("id"), key_id(key));
  EXPECT_TRUE(fresh.at("replaces").at("expires").is_string());

  // Text rotate: the new key alone on the first line, too.
  const auto again = bulwark_keys({"rotate", key_id(new_key), "--grace", "0s", "--db", db_});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(looks_like_key(again.first_line())) << again.out;

  const auto listed = bulwark_keys({"list", "--json", "--db", db_});
  ASSERT_EQ(listed.code, 0) << listed.err;
  std::map<std::string, std::string> states;
  const auto listing = listed.json();  // a named object: the loop must not outlive it
  for (const auto& k : listing.at("keys")) states[k.at("id").get<std::string>()] = k.at("state").get<std::string>();
  EXPECT_EQ(states[key_id(key)], "rotating");      // in its 24h grace
  EXPECT_EQ(states[key_id(new_key)], "expired");   // rotated with no grace
  EXPECT_EQ(states[key_id(again.first_line())], "active");
}

TEST_F(KeysCli, ConfigFileNamesTheDatabase) {
  // A relative db path is resolved against the config file's directory.
  const auto config = dir_.file("bulwark.yaml");
  write_file(config,
             "listeners:\n"
             "  - name: public\n"
             "    address: 127.0.0.1:0\n"
             "upstreams:\n"
             "  - name: api\n"
             "    endpoints: [127.0.0.1:9]\n"
             "routes:\n"
             "  - name: all\n"
             "    match: {path_prefix: /}\n"
             "    upstream: api\n"
             "auth:\n"
             "  api_keys: {db: state/keys.db}\n");
  const auto created = bulwark_keys({"create", "--name", "from config", "-c", config});
  ASSERT_EQ(created.code, 0) << created.err;
  ASSERT_TRUE(looks_like_key(created.first_line()));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("state/keys.db")));

  const auto listed = bulwark_keys({"list", "--db", dir_.file("state/keys.db"), "--json"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_EQ(listed.json().at("keys").at(0).at("name"), "from config");

  write_file(config, "listeners: []\nauth: {}\n");  // no api_keys section
  const auto missing = bulwark_keys({"list", "-c", config});
  EXPECT_NE(missing.code, 0);
  EXPECT_FALSE(missing.err.empty());
}

TEST_F(KeysCli, BadArgumentsExitNonZeroWithAClearMessage) {
  struct bad_case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const bad_case cases[] = {
      {{"create", "--db", db_}, "--name"},                                          // required option
      {{"create", "--name", "x", "--rate", "fast", "--db", db_}, "--rate"},
      {{"create", "--name", "x", "--rate", "100/m", "--db", db_}, "/min"},
      {{"create", "--name", "x", "--expires", "soon", "--db", db_}, "--expires"},
      {{"create", "--name", "x", "--scopes", "a b", "--db", db_}, "--scopes"},
      {{"create", "--name", "x"}, "--db"},                                         // no database at all
      {{"list", "--db", db_, "-c", dir_.file("x.yaml")}, "not both"},
      {{"revoke", "--db", db_}, "ID"},                                             // missing positional
      {{"revoke", "NOT-AN-ID", "--db", db_}, "key id"},
      {{"rotate", "abcdefgh2345", "--grace", "a while", "--db", db_}, "--grace"},
      {{"frobnicate", "--db", db_}, "subcommand"},
  };
  for (const auto& c : cases) {
    const auto result = bulwark_keys(c.args);
    EXPECT_NE(result.code, 0) << c.args[0] << " " << c.mentions;
    EXPECT_NE(result.err.find(c.mentions), std::string::npos)
        << "expected \"" << c.mentions << "\" in:\n" << result.err;
    EXPECT_TRUE(result.out.empty()) << result.out;
  }
  // None of them created the database.
  EXPECT_FALSE(std::filesystem::exists(db_));

  const auto unknown = bulwark_keys({"revoke", "abcdefgh2345", "--db", db_});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("no key with id abcdefgh2345"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace bulwark::test
