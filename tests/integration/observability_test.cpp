// Observability and operations (issue 4) against the real binary: the
// Prometheus metrics after a known mix of traffic (checked by promtool too),
// the JSON access log (to a file, to stdout, off, reopened on SIGUSR1) and the
// admin bearer token.
//
// Counters are read back exactly: every test sends a counted set of requests
// and compares the series with that count. The gateway counts a request after
// its response is written, so each test first polls until the total shows up,
// then compares every series at once.
#include "integration/harness.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace bulwark::test {
namespace {

using label_set = std::map<std::string, std::string>;
using namespace std::string_view_literals;

// Polls `done` every 20 ms until it holds or `timeout` passes.
template <typename Predicate>
bool eventually(Predicate done, milliseconds timeout = 2s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// --- the Prometheus text format ---------------------------------------------------

// The samples of a Prometheus text exposition (`name{a="x",b="y"} value`),
// read line by line; comment lines are skipped. A sample line that does not
// read is kept in malformed() so the test can fail on it.
class metrics_text {
 public:
  explicit metrics_text(std::string_view text) {
    while (!text.empty()) {
      const auto end = text.find('\n');
      const auto line = text.substr(0, end);
      text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
      if (line.empty() || line.front() == '#') continue;
      if (!parse_sample(line)) malformed_.emplace_back(line);
    }
  }

  // The series with exactly these labels; nullopt when it is not exposed.
  std::optional<double> value(std::string_view name, const label_set& labels) const {
    for (const auto& sample : samples_) {
      if (sample.name == name && sample.labels == labels) return sample.value;
    }
    return std::nullopt;
  }

  // The sum of the series of `name` whose labels include `subset`.
  double sum(std::string_view name, const label_set& subset) const {
    double total = 0;
    for (const auto& sample : samples_) {
      if (sample.name != name) continue;
      const bool matches = std::all_of(subset.begin(), subset.end(), [&](const auto& label) {
        const auto found = sample.labels.find(label.first);
        return found != sample.labels.end() && found->second == label.second;
      });
      if (matches) total += sample.value;
    }
    return total;
  }

  // The histogram buckets of one series, in exposition order (le ascending).
  std::vector<double> buckets(std::string_view histogram, const label_set& labels) const {
    std::vector<double> counts;
    const std::string name = std::string(histogram) + "_bucket";
    for (const auto& sample : samples_) {
      auto without_le = sample.labels;
      if (sample.name == name && without_le.erase("le") == 1 && without_le == labels) {
        counts.push_back(sample.value);
      }
    }
    return counts;
  }

  const std::vector<std::string>& malformed() const { return malformed_; }

 private:
  struct sample {
    std::string name;
    label_set labels;
    double value = 0;
  };

  bool parse_sample(std::string_view line) {
    sample parsed;
    std::size_t i = line.find_first_of("{ ");
    if (i == std::string_view::npos || i == 0) return false;
    parsed.name = line.substr(0, i);
    if (line[i] == '{' && !parse_labels(line, ++i, parsed.labels)) return false;
    if (i >= line.size() || line[i] != ' ') return false;
    // strtod reads "+Inf" and "NaN" too; an optional timestamp may follow.
    const std::string rest(line.substr(i + 1));
    char* end = nullptr;
    parsed.value = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str()) return false;
    samples_.push_back(std::move(parsed));
    return true;
  }

  // Reads `a="x",b="y"}` from line[i]; leaves i after the closing brace.
  static bool parse_labels(std::string_view line, std::size_t& i, label_set& labels) {
    while (i < line.size() && line[i] != '}') {
      const auto equals = line.find("=\"", i);
      if (equals == std::string_view::npos) return false;
      const std::string name(line.substr(i, equals - i));
      std::string value;
      for (i = equals + 2; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
      }
      if (i >= line.size()) return false;
      labels.emplace(name, std::move(value));
      ++i;  // the closing quote
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // the closing brace
    return true;
  }

  std::vector<sample> samples_;
  std::vector<std::string> malformed_;
};

struct promtool_result {
  int exit_code = -1;
  std::string output;
};

// `promtool check metrics` with `text` on its standard input: it checks the
// syntax and lints names, types and help texts.
promtool_result promtool_check(std::string_view text) {
  temp_dir dir;
  const auto input = dir.file("metrics.txt");
  write_file(input, text);
  const std::string command = "promtool check metrics < '" + input + "' 2>&1";
  promtool_result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char chunk[4096];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) result.output.append(chunk, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::optional<http_response> send_one(std::uint16_t port, std::string_view raw) {
  http_connection connection(port);
  if (!connection.send(raw)) return std::nullopt;
  return connection.read_response();
}

std::string upstream_block(const std::string& name, std::uint16_t port) {
  return "  - name: " + name + "\n    endpoints: [127.0.0.1:" + std::to_string(port) + "]\n";
}

std::string admin_section() { return "admin:\n  address: 127.0.0.1:0\n"; }

// A port nothing listens on: a demo-upstream's, once it has exited.
std::uint16_t dead_port() {
  auto doomed = start_demo_upstream();
  return doomed.port;
}

// --- metrics ------------------------------------------------------------------------

class Metrics : public ::testing::Test {
 protected:
  void start(const std::string& yaml) { gateway_.emplace(start_bulwark(yaml + admin_section())); }

  // One listener, one route sending everything to demo-upstream.
  void start_simple(const std::string& limits = "") {
    start("workers: 2\n"
          "listeners:\n"
          "  - name: public\n"
          "    address: 127.0.0.1:0\n" +
          (limits.empty() ? "" : "    limits:\n" + limits) +
          "upstreams:\n" + upstream_block("demo", upstream_.port) +
          "routes:\n"
          "  - name: all\n"
          "    upstream: demo\n");
  }

  std::uint16_t port() const { return gateway_->port("public"); }

  std::string scrape_text() {
    auto response = http_get(gateway_->admin_port, "/metrics");
    if (!response || response->status != 200) {
      ADD_FAILURE() << "GET /metrics failed";
      return {};
    }
    return response->body;
  }
  metrics_text scrape() { return metrics_text(scrape_text()); }

  double requests_total(const label_set& labels = {{"listener", "public"}}) {
    return scrape().sum("bulwark_http_requests_total", labels);
  }
  std::optional<double> active_connections() {
    return scrape().value("bulwark_connections_active", {{"listener", "public"}});
  }

  // A connection that has had one request answered, so the gateway has
  // certainly accepted and counted it.
  http_connection answered_connection() {
    http_connection connection(port());
    EXPECT_TRUE(connection.send(format_request("GET", "/", port())));
    auto response = connection.read_response();
    EXPECT_TRUE(response && response->status == 200) << connection.error();
    return connection;
  }

  demo_upstream upstream_ = start_demo_upstream({"--name", "demo"});
  std::optional<bulwark_instance> gateway_;
};

// 7 × 200, 3 × 503 from the upstream, 2 × no route, 1 malformed, 1 upstream
// down and 1 per-try timeout, over two workers: every series adds up, and the
// whole exposition passes promtool.
TEST_F(Metrics, CountsKnownTrafficExactlyAndPassesPromtool) {
  start("workers: 2\n"
        "listeners:\n"
        "  - name: public\n"
        "    address: 127.0.0.1:0\n"
        "upstreams:\n" +
        upstream_block("demo", upstream_.port) + upstream_block("down", dead_port()) +
        "routes:\n"
        "  - name: slow\n"
        "    match: {path_prefix: /delay}\n"
        "    upstream: demo\n"
        "    retry: {per_try_timeout: 200ms}\n"
        "  - name: broken\n"
        "    match: {path_prefix: /down}\n"
        "    upstream: down\n"
        "  - name: reads\n"
        "    match: {path_prefix: /, methods: [GET]}\n"
        "    upstream: demo\n");

  for (int i = 0; i < 7; ++i) {
    auto response = http_get(port(), "/");
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200);
  }
  http_connection kept(port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(kept.send(format_request("GET", "/status/503", port())));
    auto response = kept.read_response();
    ASSERT_TRUE(response) << kept.error();
    ASSERT_EQ(response->status, 503);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept.send(format_request("DELETE", "/", port())));
    auto response = kept.read_response();
    ASSERT_TRUE(response) << kept.error();
    ASSERT_EQ(response->status, 404);
  }
  auto malformed = send_one(port(), "GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n");
  ASSERT_TRUE(malformed);
  ASSERT_EQ(malformed->status, 400);
  auto down = http_get(port(), "/down");
  ASSERT_TRUE(down);
  ASSERT_EQ(down->status, 502);
  auto slow = http_get(port(), "/delay/2000");
  ASSERT_TRUE(slow);
  ASSERT_EQ(slow->status, 504);

  ASSERT_TRUE(eventually([&] { return requests_total() == 15; })) << scrape_text();
  const auto text = scrape_text();
  const metrics_text m(text);
  EXPECT_TRUE(m.malformed().empty()) << m.malformed().front();

  auto requests = [&](const std::string& route, const std::string& code) {
    return m.value("bulwark_http_requests_total",
                   {{"listener", "public"}, {"route", route}, {"code", code}});
  };
  EXPECT_EQ(requests("reads", "200"), 7);
  EXPECT_EQ(requests("reads", "503"), 3);
  EXPECT_EQ(requests("", "404"), 2);  // no route: the empty route label
  EXPECT_EQ(requests("", "400"), 1);
  EXPECT_EQ(requests("broken", "502"), 1);
  EXPECT_EQ(requests("slow", "504"), 1);

  const std::string duration = "bulwark_http_request_duration_seconds";
  for (const auto& [route, count] : std::map<std::string, double>{
           {"reads", 10}, {"", 3}, {"broken", 1}, {"slow", 1}}) {
    SCOPED_TRACE("route=" + route);
    EXPECT_EQ(m.value(duration + "_count", {{"route", route}}), count);
    EXPECT_EQ(m.value(duration + "_bucket", {{"route", route}, {"le", "+Inf"}}), count);
    const auto buckets = m.buckets(duration, {{"route", route}});
    EXPECT_EQ(buckets.size(), 16u);  // 15 bounds from 0.5 ms to 30 s, then +Inf
    EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
    EXPECT_GT(m.value(duration + "_sum", {{"route", route}}).value_or(0), 0);
  }
  // The timed-out request took at least its 200 ms per-try timeout.
  EXPECT_EQ(m.value(duration + "_bucket", {{"route", "slow"}, {"le", "0.1"}}), 0);
  EXPECT_GE(m.value(duration + "_sum", {{"route", "slow"}}).value_or(0), 0.2);

  auto upstream = [&](const std::string& name, const std::string& outcome) {
    return m.value("bulwark_upstream_requests_total", {{"upstream", name}, {"outcome", outcome}});
  };
  EXPECT_EQ(upstream("demo", "success"), 7);
  EXPECT_EQ(upstream("demo", "failure"), 3);  // a 5xx answer is a failure
  EXPECT_EQ(upstream("demo", "timeout"), 1);
  EXPECT_EQ(upstream("demo", "reset"), 0);
  EXPECT_EQ(upstream("down", "failure"), 1);  // connection refused
  EXPECT_EQ(upstream("down", "success"), 0);

  EXPECT_EQ(m.value("bulwark_config_reloads_total", {{"result", "success"}}), 0);
  EXPECT_EQ(m.value("bulwark_config_reloads_total", {{"result", "failure"}}), 0);
  EXPECT_EQ(m.sum("bulwark_build_info", {}), 1);

  const auto checked = promtool_check(text);
  EXPECT_EQ(checked.exit_code, 0) << checked.output << "\n--- exposition:\n" << text;
}

TEST_F(Metrics, ConnectionsActiveFollowsTheOpenClientConnections) {
  start_simple();
  EXPECT_EQ(active_connections(), 0);
  std::vector<http_connection> held;
  for (int i = 0; i < 3; ++i) held.push_back(answered_connection());
  EXPECT_TRUE(eventually([&] { return active_connections() == 3; })) << scrape_text();
  held.pop_back();
  EXPECT_TRUE(eventually([&] { return active_connections() == 2; })) << scrape_text();
  held.clear();
  EXPECT_TRUE(eventually([&] { return active_connections() == 0; })) << scrape_text();
}

TEST_F(Metrics, ConnectionsOverMaxConnectionsAreCountedAsRejected) {
  start_simple("      max_connections: 2\n      shed_at: 1.0\n");
  auto rejected = [&](const std::string& reason) {
    return scrape().value("bulwark_connections_rejected_total",
                          {{"listener", "public"}, {"reason", reason}});
  };
  EXPECT_EQ(rejected("max"), 0);
  auto first = answered_connection();
  auto second = answered_connection();
  for (int i = 0; i < 3; ++i) {
    http_connection refused(port());
    EXPECT_TRUE(refused.closed_by_peer(3s));
  }
  EXPECT_TRUE(eventually([&] { return rejected("max") == 3; })) << scrape_text();
  EXPECT_EQ(rejected("per_ip"), 0);
  EXPECT_EQ(rejected("shed"), 0);
  EXPECT_EQ(active_connections(), 2);  // the refused ones never counted as open
}

TEST_F(Metrics, ConfigReloadsAreCountedBySuccessAndFailure) {
  start_simple();
  auto reloads = [&](const std::string& result) {
    return scrape().value("bulwark_config_reloads_total", {{"result", result}});
  };
  auto reload = [&] {
    http_connection admin(gateway_->admin_port);
    EXPECT_TRUE(admin.send(format_request("POST", "/admin/reload", gateway_->admin_port)));
    auto response = admin.read_response();
    return response ? response->status : 0;
  };
  const auto good = read_file(gateway_->config_path);
  EXPECT_EQ(reload(), 200);
  EXPECT_EQ(reload(), 200);
  write_file(gateway_->config_path, good + "routez: []\n");
  EXPECT_EQ(reload(), 400);
  EXPECT_EQ(reloads("success"), 2);
  EXPECT_EQ(reloads("failure"), 1);

  write_file(gateway_->config_path, good);
  gateway_->proc.signal(SIGHUP);
  ASSERT_TRUE(gateway_->proc.wait_for_line(output::err, "configuration reloaded", 5s));
  EXPECT_TRUE(eventually([&] { return reloads("success") == 3; }));
  EXPECT_EQ(reloads("failure"), 1);
}

// --- access log ---------------------------------------------------------------------

std::size_t count_lines(const std::string& path) {
  const auto text = read_file(path);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Every line of `text` as JSON; a line that does not parse (nlohmann refuses
// invalid UTF-8 too) is a test failure showing the raw line.
std::vector<nlohmann::json> parse_every_line(std::string_view text) {
  std::vector<nlohmann::json> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    try {
      lines.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << "not a JSON line: " << e.what() << "\n" << line;
    }
  }
  return lines;
}

// `2026-11-21T22:42:45.123Z` back to a time point; nullopt when the text has
// another shape (this is stricter than RFC 3339 on purpose: UTC and exactly
// three decimals are what the docs promise).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339_millis(const std::string& text) {
  int year, month, day, hour, minute, second, millis;
  int consumed = 0;
  if (text.size() != 24 ||
      std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &year, &month, &day, &hour,
                  &minute, &second, &millis, &consumed) != 7 ||
      consumed != 24) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const sys_days date = year_month_day{std::chrono::year(year), std::chrono::month(unsigned(month)),
                                       std::chrono::day(unsigned(day))};
  return date + hours(hour) + minutes(minute) + seconds(second) + milliseconds(millis);
}

const std::vector<std::string> access_fields = {
    "ts",     "request_id", "client_ip", "method",      "path",         "route",
    "status", "bytes_in",   "bytes_out", "duration_ms", "upstream",     "endpoint",
    "upstream_ms", "attempts", "error_source", "ratelimit", "cache", "auth"};

// What a test sent and got, to compare with the line logged for it.
struct sent_request {
  std::string method;
  std::string path;
  int status = 0;
  std::string request_id;
  std::uint64_t bytes_out = 0;
};

class AccessLog : public ::testing::Test {
 protected:
  // GET, HEAD and POST go to demo-upstream; any other method matches no route.
  void start(const std::string& observability, const std::string& upstreams = "") {
    gateway_.emplace(start_bulwark(
        "workers: 2\n"
        "listeners:\n"
        "  - name: public\n"
        "    address: 127.0.0.1:0\n"
        "upstreams:\n" +
        upstream_block("demo", upstream_.port) + upstreams +
        "routes:\n"
        "  - name: down\n"
        "    match: {path_prefix: /down}\n"
        "    upstream: " + (upstreams.empty() ? "demo" : "down") + "\n"
        "  - name: all\n"
        "    match: {path_prefix: /, methods: [GET, HEAD, POST]}\n"
        "    upstream: demo\n" +
        observability + admin_section()));
  }
  void start_to_file() { start("observability:\n  access_log: {path: " + log_path() + "}\n"); }

  std::uint16_t port() const { return gateway_->port("public"); }
  std::string log_path() const { return dir_.file("access.log"); }

  // Sends one request on a fresh connection; remembers what the log should say.
  sent_request send(std::string_view method, std::string_view path, std::string_view body = {}) {
    sent_request sent{std::string(method), std::string(path)};
    auto response = send_one(port(), format_request(method, path, port(), {}, body));
    EXPECT_TRUE(response) << method << " " << path;
    if (response) {
      sent.status = response->status;
      sent.request_id = response->header("X-Request-Id");
      sent.bytes_out = response->body_size;
    }
    return sent;
  }

  // Waits (up to 2 s) until `path` holds `count` lines, then parses them all.
  std::vector<nlohmann::json> wait_for_lines(const std::string& path, std::size_t count) {
    EXPECT_TRUE(eventually([&] { return count_lines(path) >= count; }))
        << count_lines(path) << " of " << count << " lines in " << path;
    const auto text = read_file(path);
    auto lines = parse_every_line(text);
    EXPECT_EQ(lines.size(), count) << text;
    return lines;
  }

  temp_dir dir_;
  demo_upstream upstream_ = start_demo_upstream({"--name", "demo"});
  std::optional<bulwark_instance> gateway_;
};

std::map<std::string, nlohmann::json> by_request_id(const std::vector<nlohmann::json>& lines) {
  std::map<std::string, nlohmann::json> found;
  for (const auto& line : lines) {
    const auto id = line.value("request_id", std::string{});
    EXPECT_TRUE(found.emplace(id, line).second) << "request id logged twice: " << id;
  }
  return found;
}

void expect_common_fields(const nlohmann::json& line, const sent_request& sent,
                          std::chrono::system_clock::time_point not_before) {
  SCOPED_TRACE(line.dump());
  for (const auto& field : access_fields) EXPECT_TRUE(line.contains(field)) << field;
  EXPECT_EQ(line.size(), access_fields.size());
  const auto ts = parse_rfc3339_millis(line.value("ts", std::string{}));
  ASSERT_TRUE(ts) << "ts is not RFC 3339 UTC with milliseconds";
  EXPECT_GE(*ts, std::chrono::floor<milliseconds>(not_before));
  EXPECT_LE(*ts, std::chrono::system_clock::now());
  EXPECT_EQ(line["client_ip"], "127.0.0.1");
  EXPECT_EQ(line["status"], sent.status);
  EXPECT_EQ(line["bytes_out"], sent.bytes_out);  // the body the client received
  ASSERT_TRUE(line["duration_ms"].is_number());
  EXPECT_GE(line["duration_ms"].get<double>(), 0);
  EXPECT_TRUE(line["ratelimit"].is_null());
  EXPECT_TRUE(line["cache"].is_null());
  EXPECT_TRUE(line["auth"].is_null());
}

void expect_proxied(const nlohmann::json& line, const sent_request& sent, std::uint16_t upstream_port) {
  SCOPED_TRACE(line.dump());
  EXPECT_EQ(line["method"], sent.method);
  EXPECT_EQ(line["path"], sent.path);
  EXPECT_EQ(line["route"], "all");
  EXPECT_EQ(line["upstream"], "demo");
  EXPECT_EQ(line["endpoint"], "127.0.0.1:" + std::to_string(upstream_port));
  EXPECT_EQ(line["attempts"], 1);
  ASSERT_TRUE(line["upstream_ms"].is_number());
  EXPECT_GE(line["upstream_ms"].get<double>(), 0);
  EXPECT_LE(line["upstream_ms"].get<double>(), line["duration_ms"].get<double>());
  EXPECT_TRUE(line["error_source"].is_null());  // a relayed answer, 5xx included, is no gateway error
}

TEST_F(AccessLog, FileGetsOneLinePerRequestWithEveryField) {
  const auto refusing_port = dead_port();
  start("observability:\n  access_log: {path: " + log_path() + "}\n",
        upstream_block("down", refusing_port));
  const auto before = std::chrono::system_clock::now();
  const auto ok = send("GET", "/");
  const auto bytes = send("GET", "/bytes/1000");
  const auto upstream_error = send("GET", "/status/503");
  const auto echoed = send("POST", "/echo", "hello");
  const auto no_route = send("DELETE", "/nothing");
  const auto down = send("GET", "/down");
  const auto malformed = send_one(port(), "GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n");
  ASSERT_TRUE(malformed);
  ASSERT_EQ(ok.status, 200);
  ASSERT_EQ(bytes.bytes_out, 1000u);
  ASSERT_EQ(upstream_error.status, 503);
  ASSERT_EQ(echoed.bytes_out, 5u);
  ASSERT_EQ(no_route.status, 404);
  ASSERT_EQ(down.status, 502);
  ASSERT_EQ(malformed->status, 400);

  const auto logged = by_request_id(wait_for_lines(log_path(), 7));
  ASSERT_EQ(logged.size(), 7u);
  for (const auto* sent : {&ok, &bytes, &upstream_error, &echoed, &no_route, &down}) {
    ASSERT_TRUE(logged.contains(sent->request_id)) << sent->method << " " << sent->path;
    expect_common_fields(logged.at(sent->request_id), *sent, before);
  }
  for (const auto* sent : {&ok, &bytes, &upstream_error, &echoed}) {
    expect_proxied(logged.at(sent->request_id), *sent, upstream_.port);
  }
  EXPECT_EQ(logged.at(ok.request_id)["bytes_in"], 0);
  EXPECT_EQ(logged.at(echoed.request_id)["bytes_in"], 5);

  const auto& unrouted = logged.at(no_route.request_id);
  EXPECT_EQ(unrouted["method"], "DELETE");
  EXPECT_EQ(unrouted["path"], "/nothing");
  for (const auto* field : {"route", "upstream", "endpoint", "upstream_ms", "attempts"}) {
    EXPECT_TRUE(unrouted[field].is_null()) << field << ": " << unrouted.dump();
  }

  const auto& refused = logged.at(down.request_id);
  EXPECT_EQ(refused["route"], "down");
  EXPECT_EQ(refused["upstream"], "down");
  EXPECT_EQ(refused["attempts"], 1);
  EXPECT_EQ(refused["error_source"], "upstream");
  // The endpoint that refused the connection is the one an operator needs.
  EXPECT_EQ(refused["endpoint"], "127.0.0.1:" + std::to_string(refusing_port)) << refused.dump();

  const sent_request bad{"", "", 400, malformed->header("X-Request-Id"), malformed->body_size};
  ASSERT_TRUE(logged.contains(bad.request_id)) << "the 400's request id " << bad.request_id;
  const auto& client_error = logged.at(bad.request_id);
  expect_common_fields(client_error, bad, before);
  EXPECT_EQ(client_error["error_source"], "client");
  EXPECT_TRUE(client_error["route"].is_null());
  EXPECT_TRUE(client_error["upstream"].is_null());
}

// Control bytes, quotes, backslashes and invalid UTF-8 in what the client
// sends: whether the parser accepts the request or answers 400, its line is
// valid JSON, and an accepted path reads back with invalid bytes as U+FFFD.
TEST_F(AccessLog, HostileBytesStillGiveOneValidJsonLineEach) {
  start_to_file();
  const std::vector<std::string> raw_requests = {
      "GET /a%00b\x01\xff HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /caf\xc3\xa9/\xff\xfe/\xc0\xaf/\xed\xa0\x80 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /q?x=\"quoted\"&y=back\\slash HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /tab\there HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string("GET /nul\0byte HTTP/1.1\r\nHost: x\r\n\r\n"sv),
      "G\xc3\x89T / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: \"\\\x01\xff\r\n\r\n",
  };
  std::map<std::string, int> statuses;  // by request id
  for (const auto& raw : raw_requests) {
    auto response = send_one(port(), raw);
    ASSERT_TRUE(response) << raw;
    EXPECT_TRUE(statuses.emplace(response->header("X-Request-Id"), response->status).second);
  }
  const auto logged = by_request_id(wait_for_lines(log_path(), raw_requests.size()));
  for (const auto& [id, status] : statuses) {
    ASSERT_TRUE(logged.contains(id)) << id;
    EXPECT_EQ(logged.at(id)["status"], status);
  }
  // These two pass the parser and reach the upstream; the others are 400s.
  std::set<std::string> paths;
  for (const auto& [id, line] : logged) paths.insert(line.value("path", std::string{}));
  EXPECT_TRUE(paths.contains("/caf\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd/\xef\xbf\xbd\xef\xbf\xbd/"
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
  EXPECT_TRUE(paths.contains("/q?x=\"quoted\"&y=back\\slash"));
}

// logrotate's convention: rename, then SIGUSR1. Lines already written stay in
// the renamed file; requests after the reopen go to the new file.
TEST_F(AccessLog, Sigusr1ReopensTheFileAfterARename) {
  start_to_file();
  std::set<std::string> first_ids, second_ids;
  for (int i = 0; i < 5; ++i) first_ids.insert(send("GET", "/").request_id);
  ASSERT_TRUE(eventually([&] { return count_lines(log_path()) == 5; }));
  const auto rotated = log_path() + ".1";
  std::filesystem::rename(log_path(), rotated);
  gateway_->proc.signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(log_path()); }))
      << "SIGUSR1 did not recreate the file";
  for (int i = 0; i < 4; ++i) second_ids.insert(send("GET", "/").request_id);

  auto ids_in = [&](const std::string& path, std::size_t count) {
    std::set<std::string> ids;
    for (const auto& [id, line] : by_request_id(wait_for_lines(path, count))) ids.insert(id);
    return ids;
  };
  EXPECT_EQ(ids_in(log_path(), 4), second_ids);
  EXPECT_EQ(ids_in(rotated, 5), first_ids);
}

// Two rotations while four clients send requests: every request is logged
// exactly once across the three files.
TEST_F(AccessLog, ReopensUnderLoadLoseAndDuplicateNothing) {
  start_to_file();
  std::atomic<bool> stop{false};
  std::mutex ids_mutex;
  std::vector<std::string> sent_ids;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      http_connection connection(port());
      while (!stop) {
        if (!connection.send(format_request("GET", "/", port()))) return;
        auto response = connection.read_response(5s);
        if (!response) return;
        std::lock_guard lock(ids_mutex);
        sent_ids.push_back(response->header("X-Request-Id"));
      }
    });
  }
  for (int rotation = 1; rotation <= 2; ++rotation) {
    std::this_thread::sleep_for(300ms);
    std::filesystem::rename(log_path(), log_path() + "." + std::to_string(rotation));
    gateway_->proc.signal(SIGUSR1);
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(log_path()); }));
  }
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& client : clients) client.join();
  ASSERT_GT(sent_ids.size(), 50u);

  const std::vector<std::string> files = {log_path() + ".1", log_path() + ".2", log_path()};
  auto total_lines = [&] {
    std::size_t total = 0;
    for (const auto& file : files) total += count_lines(file);
    return total;
  };
  EXPECT_TRUE(eventually([&] { return total_lines() >= sent_ids.size(); }));
  std::multiset<std::string> logged;
  for (const auto& file : files) {
    const auto lines = parse_every_line(read_file(file));
    EXPECT_FALSE(lines.empty()) << file << " got no line";
    for (const auto& line : lines) logged.insert(line.value("request_id", std::string{}));
  }
  EXPECT_EQ(logged, std::multiset<std::string>(sent_ids.begin(), sent_ids.end()));
}

TEST_F(AccessLog, DefaultDestinationIsStdout) {
  start("");
  const auto before = std::chrono::system_clock::now();
  std::vector<sent_request> sent;
  for (int i = 0; i < 3; ++i) sent.push_back(send("GET", "/"));
  sent.push_back(send("DELETE", "/"));
  for (const auto& request : sent) {
    auto line = gateway_->proc.wait_for_json_line(
        output::out, [&](const nlohmann::json& j) { return j.value("request_id", "") == request.request_id; },
        2s);
    ASSERT_TRUE(line) << "no stdout line for " << request.request_id << "\n" << gateway_->proc.describe();
    expect_common_fields(*line, request, before);
  }
  EXPECT_EQ(parse_every_line(gateway_->proc.stdout_text()).size(), sent.size());
}

TEST_F(AccessLog, OffWritesNoLine) {
  start("observability:\n  access_log: off\n");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(send("GET", "/").status, 200);
  ASSERT_EQ(send("DELETE", "/").status, 404);
  // The writer flushes every 100 ms; wait several intervals for a line that must not come.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(gateway_->proc.stdout_text(), "");
  for (const auto& line : json_lines(gateway_->proc.stderr_text())) {
    EXPECT_FALSE(line.contains("request_id")) << line.dump();
  }
}

// --- admin token --------------------------------------------------------------------

constexpr const char* token_variable = "BULWARK_TEST_ADMIN_TOKEN";
constexpr const char* token = "s3cret-Token_42";

class AdminToken : public ::testing::Test {
 protected:
  // The child inherits the environment at start; the variable is removed
  // again at once so no other test sees it.
  void start(std::optional<std::string> token_value) {
    if (token_value) {
      ::setenv(token_variable, token_value->c_str(), 1);
    } else {
      ::unsetenv(token_variable);
    }
    try {
      gateway_.emplace(start_bulwark(
          "listeners:\n"
          "  - name: public\n"
          "    address: 127.0.0.1:0\n"
          "upstreams:\n" +
          upstream_block("demo", upstream_.port) +
          "routes:\n"
          "  - name: all\n"
          "    upstream: demo\n"
          "admin:\n"
          "  address: 127.0.0.1:0\n"
          "  token_env: " + std::string(token_variable) + "\n"));
    } catch (...) {
      ::unsetenv(token_variable);
      throw;
    }
    ::unsetenv(token_variable);
  }

  std::optional<http_response> admin(std::string_view method, std::string_view target,
                                     const header_list& headers = {}) {
    http_connection connection(gateway_->admin_port);
    if (!connection.send(format_request(method, target, gateway_->admin_port, headers))) return std::nullopt;
    return connection.read_response();
  }

  void expect_unauthorized(const std::optional<http_response>& response) {
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);
    EXPECT_EQ(response->header("Content-Type"), "application/problem+json");
    EXPECT_EQ(response->header("WWW-Authenticate").rfind("Bearer", 0), 0u)
        << response->header("WWW-Authenticate");
    const auto body = nlohmann::json::parse(response->body);
    EXPECT_EQ(body["status"], 401);
    EXPECT_EQ(response->body.find(token), std::string::npos);
  }

  demo_upstream upstream_ = start_demo_upstream({"--name", "demo"});
  std::optional<bulwark_instance> gateway_;
};

TEST_F(AdminToken, AdminCallsNeedTheBearerToken) {
  start(token);
  const std::string right = std::string("Bearer ") + token;
  expect_unauthorized(admin("GET", "/admin/status"));
  for (const auto& wrong : {std::string("Bearer wrong"), right + "x", right.substr(0, right.size() - 1),
                            std::string("Basic ") + token, std::string(token), std::string("Bearer ")}) {
    SCOPED_TRACE("Authorization: " + wrong);
    expect_unauthorized(admin("GET", "/admin/status", {{"Authorization", wrong}}));
  }
  auto status = admin("GET", "/admin/status", {{"Authorization", right}});
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(nlohmann::json::parse(status->body)["config_hash"].get<std::string>().size(), 16u);
  // The auth scheme is case-insensitive (RFC 9110 §11.1).
  auto lower = admin("GET", "/admin/status", {{"Authorization", std::string("bearer ") + token}});
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->status, 200);
}

// A refused reload must not have run: the reload counters stay at zero.
TEST_F(AdminToken, UnauthorizedReloadDoesNotReload) {
  start(token);
  expect_unauthorized(admin("POST", "/admin/reload"));
  expect_unauthorized(admin("POST", "/admin/reload", {{"Authorization", "Bearer nope"}}));
  auto metrics = admin("GET", "/metrics");
  ASSERT_TRUE(metrics);
  const metrics_text m(metrics->body);
  EXPECT_EQ(m.value("bulwark_config_reloads_total", {{"result", "success"}}), 0);
  EXPECT_EQ(m.value("bulwark_config_reloads_total", {{"result", "failure"}}), 0);
  auto reloaded = admin("POST", "/admin/reload", {{"Authorization", std::string("Bearer ") + token}});
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->status, 200) << reloaded->body;
}

TEST_F(AdminToken, HealthAndMetricsStayOpen) {
  start(token);
  for (const auto* path : {"/health/live", "/health/ready", "/metrics"}) {
    auto response = admin("GET", path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 200) << path;
  }
}

TEST_F(AdminToken, UnsetVariableLeavesTheAdminApiOpen) {
  start(std::nullopt);
  auto status = admin("GET", "/admin/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  auto with_any_token = admin("GET", "/admin/status", {{"Authorization", "Bearer whatever"}});
  ASSERT_TRUE(with_any_token);
  EXPECT_EQ(with_any_token->status, 200);
}

}  // namespace
}  // namespace bulwark::test
