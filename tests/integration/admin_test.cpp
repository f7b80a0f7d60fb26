// The admin API and hot reload (DESIGN.md §5, §7) against the real binary.
#include "integration/harness.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <thread>

namespace bulwark::test {
namespace {

std::string config_routing_to(const std::string& upstream, std::uint16_t port_a,
                              std::uint16_t port_b, const std::string& extra_listener = "") {
  return "workers: 2\n"
         "listeners:\n"
         "  - name: public\n"
         "    address: 127.0.0.1:0\n" +
         extra_listener +
         "upstreams:\n"
         "  - name: a\n"
         "    endpoints: [127.0.0.1:" + std::to_string(port_a) + "]\n"
         "  - name: b\n"
         "    endpoints: [127.0.0.1:" + std::to_string(port_b) + "]\n"
         "routes:\n"
         "  - name: all\n"
         "    match: {path_prefix: /}\n"
         "    upstream: " + upstream + "\n"
         "admin:\n"
         "  address: 127.0.0.1:0\n";
}

std::optional<http_response> admin_request(std::uint16_t port, std::string_view method,
                                           std::string_view target, const header_list& headers = {}) {
  http_connection connection(port);
  if (!connection.send(format_request(method, target, port, headers))) return std::nullopt;
  return connection.read_response();
}

class Admin : public ::testing::Test {
 protected:
  void start(const std::string& upstream = "a") {
    gateway_.emplace(start_bulwark(config_routing_to(upstream, a_.port, b_.port)));
  }
  void rewrite(const std::string& yaml) { write_file(gateway_->config_path, yaml); }
  std::string served_by() {
    auto response = http_get(gateway_->port("public"), "/");
    return response ? response->header("X-Upstream-Name") : "none";
  }
  std::uint16_t admin() const { return gateway_->admin_port; }

  demo_upstream a_ = start_demo_upstream({"--name", "a"});
  demo_upstream b_ = start_demo_upstream({"--name", "b"});
  std::optional<bulwark_instance> gateway_;
};

TEST_F(Admin, HealthAndStatus) {
  start();
  ASSERT_NE(admin(), 0);
  auto live = admin_request(admin(), "GET", "/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  auto ready = admin_request(admin(), "GET", "/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto status = admin_request(admin(), "GET", "/admin/status");
  ASSERT_TRUE(status);
  ASSERT_EQ(status->status, 200);
  const auto body = nlohmann::json::parse(status->body);
  EXPECT_EQ(body["config_hash"].get<std::string>().size(), 16u);
  EXPECT_EQ(body["workers"], 2);
  EXPECT_EQ(body["listeners"][0]["name"], "public");
  EXPECT_EQ(body["listeners"][0]["address"],
            "127.0.0.1:" + std::to_string(gateway_->port("public")));
  EXPECT_EQ(body["upstreams"].size(), 2u);
  EXPECT_TRUE(body.contains("uptime_seconds"));
  auto missing = admin_request(admin(), "GET", "/admin/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->header("Content-Type"), "application/problem+json");
}

TEST_F(Admin, ReloadSwitchesRoutesAndRejectsABadFileKeepingTheOldOne) {
  start("a");
  EXPECT_EQ(served_by(), "a");
  rewrite(config_routing_to("b", a_.port, b_.port));
  auto reloaded = admin_request(admin(), "POST", "/admin/reload");
  ASSERT_TRUE(reloaded);
  ASSERT_EQ(reloaded->status, 200) << reloaded->body;
  EXPECT_EQ(served_by(), "b");

  rewrite(config_routing_to("b", a_.port, b_.port) + "routez: []\n");
  auto rejected = admin_request(admin(), "POST", "/admin/reload");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->status, 400);
  const auto body = nlohmann::json::parse(rejected->body);
  ASSERT_EQ(body["errors"].size(), 1u);
  EXPECT_NE(body["errors"][0].get<std::string>().find(gateway_->config_path + ":"),
            std::string::npos);
  EXPECT_NE(body["errors"][0].get<std::string>().find("did you mean"), std::string::npos);
  EXPECT_EQ(body["config_hash"], nlohmann::json::parse(reloaded->body)["config_hash"]);
  EXPECT_EQ(served_by(), "b");  // the running configuration stayed
}

TEST_F(Admin, SighupReloads) {
  start("a");
  rewrite(config_routing_to("b", a_.port, b_.port));
  gateway_->proc.signal(SIGHUP);
  ASSERT_TRUE(gateway_->proc.wait_for_line(output::err, "configuration reloaded", 5s));
  EXPECT_EQ(served_by(), "b");
}

TEST_F(Admin, ReloadOpensAndClosesListeners) {
  start("a");
  rewrite(config_routing_to("a", a_.port, b_.port,
                            "  - name: second\n    address: 127.0.0.1:0\n"));
  auto reloaded = admin_request(admin(), "POST", "/admin/reload");
  ASSERT_TRUE(reloaded);
  ASSERT_EQ(reloaded->status, 200) << reloaded->body;
  const auto opened =
      gateway_->proc.wait_for_line(output::err, R"("msg":"listening","listener":"second")", 5s);
  ASSERT_TRUE(opened);
  const auto address = nlohmann::json::parse(*opened)["address"].get<std::string>();
  const auto second_port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  auto through_second = http_get(second_port, "/");
  ASSERT_TRUE(through_second);
  EXPECT_EQ(through_second->status, 200);

  rewrite(config_routing_to("a", a_.port, b_.port));
  ASSERT_EQ(admin_request(admin(), "POST", "/admin/reload")->status, 200);
  ASSERT_TRUE(gateway_->proc.wait_for_line(output::err, R"("listener closed","listener":"second")", 5s));
  std::this_thread::sleep_for(100ms);
  http_connection closed;
  EXPECT_FALSE(closed.connect(second_port));
  EXPECT_EQ(served_by(), "a");
}

// Issue 4 §4: 20 s of continuous load on 4 keep-alive connections while the
// configuration is reloaded 20 times, switching the route between upstreams
// and moving upstream b's endpoint: no request fails, and each reload's
// routing applies to the requests sent after it returns.
TEST_F(Admin, ReloadsUnderLoadLoseNothing) {
  start("a");
  auto c = start_demo_upstream({"--name", "c"});
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      http_connection connection(gateway_->port("public"));
      while (!stop) {
        if (!connection.send(format_request("GET", "/", gateway_->port("public")))) {
          ++failed;
          return;
        }
        auto response = connection.read_response(5s);
        if (response && response->status == 200) {
          ++ok;
        } else {
          ++failed;
          return;
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    // Even reloads route to b, whose endpoint alternates between the
    // upstreams named "b" and "c"; odd ones route back to a.
    const bool to_b = i % 2 == 0;
    const auto b_port = i % 4 == 0 ? b_.port : c.port;
    rewrite(config_routing_to(to_b ? "b" : "a", a_.port, b_port));
    auto reloaded = admin_request(admin(), "POST", "/admin/reload");
    ASSERT_TRUE(reloaded);
    ASSERT_EQ(reloaded->status, 200) << reloaded->body;
    EXPECT_EQ(served_by(), to_b ? (b_port == b_.port ? "b" : "c") : "a") << "reload " << i;
    std::this_thread::sleep_for(1s);
  }
  stop = true;
  for (auto& client : clients) client.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 1000);
}

TEST_F(Admin, ReadinessIs503WhileDraining) {
  start("a");
  std::thread slow([&] { http_get(gateway_->port("public"), "/delay/1500"); });
  std::this_thread::sleep_for(200ms);
  gateway_->proc.signal(SIGTERM);
  std::this_thread::sleep_for(200ms);
  auto ready = admin_request(admin(), "GET", "/health/ready");
  slow.join();
  // The admin server may already be gone when the drain finished quickly.
  if (ready) {
    EXPECT_EQ(ready->status, 503);
    EXPECT_NE(ready->body.find("draining"), std::string::npos);
  }
  EXPECT_EQ(gateway_->proc.wait_exit(5s), 0);
}

}  // namespace
}  // namespace bulwark::test
