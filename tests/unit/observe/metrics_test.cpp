// metrics: per-thread slots summed at scrape (also under concurrent writers and
// a concurrent scraper), series identity across "reloads", status codes as a
// dynamic label, inclusive histogram bounds (exact cases and a property against
// a naive reference), registration errors, escaping, the exact exposition text
// of a small registry, and promtool's verdict on the gateway's real families.
#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "observe/gateway_metrics.h"
#include "observe/prometheus.h"

namespace bulwark::observe {
namespace {

const family_snapshot& family_named(const std::vector<family_snapshot>& families,
                                    std::string_view name) {
  for (const auto& family : families) {
    if (family.name == name) return family;
  }
  throw std::out_of_range(std::string(name));
}

TEST(metrics, counter_sums_the_slots_of_every_thread) {
  metrics_registry registry(3);
  ASSERT_EQ(registry.threads(), 5u);
  ASSERT_EQ(registry.main_thread(), 3u);
  ASSERT_EQ(registry.background_thread(), 4u);
  const counter c = registry.add_counter("jobs_total", "Jobs.", {"kind"}).with({"a"});
  c.inc(0);
  c.inc(1, 10);
  c.inc(2, 100);
  c.inc(registry.main_thread(), 1000);
  EXPECT_EQ(c.value(), 1111u);
}

TEST(metrics, gauge_sum_is_right_when_a_thread_only_decrements) {
  metrics_registry registry(2);
  const gauge g = registry.add_gauge("open", "Open things.", {"listener"}).with({"public"});
  g.add(0, 1);  // opened on worker 0 ...
  g.add(0, 1);
  g.add(1, -1);  // ... closed on worker 1
  EXPECT_EQ(g.value(), 1);
  g.add(1, -1);
  g.add(1, -1);
  EXPECT_EQ(g.value(), -1);
}

TEST(metrics, same_label_values_give_the_same_series) {
  metrics_registry registry(1);
  const auto family = registry.add_counter("hits_total", "Hits.", {"route", "code"});
  family.with({"api", "200"}).inc(0, 5);
  const std::string route = "api";  // a different string with the same value, as after a reload
  EXPECT_EQ(family.with({route, "200"}).value(), 5u);
  EXPECT_EQ(family.with({"api", "404"}).value(), 0u);
  EXPECT_EQ(family_named(registry.snapshot(), "hits_total").series.size(), 2u);
}

TEST(metrics, route_counters_survive_a_reload) {
  metrics_registry registry(2);
  gateway_metrics metrics(registry, "0.1.0");
  {
    const route_metrics before = metrics.for_route("public", "api");
    before.record(0, 200, 0.002);
    before.record(1, 200, 0.004);
  }
  const route_metrics after = metrics.for_route("public", "api");  // rebuilt from the new config
  after.record(0, 200, 0.001);
  EXPECT_EQ(after.requests.value(200), 3u);
  EXPECT_EQ(after.duration.count(), 3u);
  EXPECT_DOUBLE_EQ(after.duration.sum(), 0.007);
}

TEST(metrics, status_counter_labels_each_code_exactly) {
  metrics_registry registry(2);
  const auto family = registry.add_counter("req_total", "Requests.", {"route", "code"});
  const status_counter requests(family, {"api"});
  requests.inc(0, 200);
  requests.inc(1, 200);
  requests.inc(0, 429);
  requests.inc(1, 599);
  requests.inc(0, 600);  // outside the cached range: the slow path, same result
  requests.inc(0, 600);
  requests.inc(1, 99);
  EXPECT_EQ(family.with({"api", "200"}).value(), 2u);
  EXPECT_EQ(family.with({"api", "429"}).value(), 1u);
  EXPECT_EQ(family.with({"api", "599"}).value(), 1u);
  EXPECT_EQ(family.with({"api", "600"}).value(), 2u);
  EXPECT_EQ(family.with({"api", "99"}).value(), 1u);
  std::vector<std::string> codes;
  const auto snapshot = registry.snapshot();
  for (const auto& s : family_named(snapshot, "req_total").series) {
    codes.push_back(s.label_values[1]);
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"200", "429", "599", "600", "99"}));
}

TEST(metrics, status_counter_needs_every_label_but_the_last) {
  metrics_registry registry(1);
  const auto family = registry.add_counter("req_total", "Requests.", {"route", "code"});
  EXPECT_THROW(status_counter(family, {}), std::invalid_argument);
  EXPECT_THROW(status_counter(family, {"api", "200"}), std::invalid_argument);
}

std::vector<std::uint64_t> buckets_of(const metrics_registry& registry, std::string_view name) {
  return family_named(registry.snapshot(), name).series.at(0).buckets;
}

TEST(metrics, histogram_bounds_are_inclusive) {
  metrics_registry registry(1);
  const histogram h =
      registry.add_histogram("latency_seconds", "Latency.", {}, {0.1, 1, 10}).with({});
  h.observe(0, 0.1);                       // on a bound: that bucket
  h.observe(0, std::nextafter(0.1, 1.0));  // just above: the next one
  h.observe(0, 1);
  h.observe(0, 10);
  h.observe(0, std::nextafter(10.0, 11.0));
  h.observe(0, -5);  // below everything: the first bucket
  h.observe(0, std::numeric_limits<double>::infinity());
  h.observe(0, std::numeric_limits<double>::quiet_NaN());  // ignored
  EXPECT_EQ(buckets_of(registry, "latency_seconds"), (std::vector<std::uint64_t>{2, 2, 1, 2}));
  EXPECT_EQ(h.count(), 7u);
}

TEST(metrics, histogram_matches_a_naive_count_over_random_values) {
  const std::vector<double> bounds(duration_buckets_seconds.begin(),
                                   duration_buckets_seconds.end());
  metrics_registry registry(3);
  const histogram h = registry.add_histogram("d_seconds", "D.", {"route"}, bounds).with({"r"});
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::size_t> pick_bound(0, bounds.size() - 1);
  std::uniform_int_distribution<std::size_t> pick_thread(0, registry.threads() - 1);
  std::exponential_distribution<double> latency(20.0);
  std::vector<std::uint64_t> expected(bounds.size() + 1, 0);
  double expected_sum = 0;
  for (int i = 0; i < 20'000; ++i) {
    // Half the values sit exactly on a bound, where off-by-one errors show.
    const double value = i % 2 == 0 ? bounds[pick_bound(random)] : latency(random);
    std::size_t bucket = 0;
    while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;
    ++expected[bucket];
    expected_sum += value;
    h.observe(pick_thread(random), value);
  }
  EXPECT_EQ(buckets_of(registry, "d_seconds"), expected);
  EXPECT_NEAR(h.sum(), expected_sum, 1e-9 * expected_sum);
}

TEST(metrics, registration_rejects_what_prometheus_would) {
  metrics_registry registry(1);
  EXPECT_THROW(registry.add_counter("requests", "no _total", {}), std::invalid_argument);
  EXPECT_THROW(registry.add_gauge("9lives", "bad first char", {}), std::invalid_argument);
  EXPECT_THROW(registry.add_gauge("a-b", "bad char", {}), std::invalid_argument);
  EXPECT_THROW(registry.add_gauge("g", "reserved label", {"__name"}), std::invalid_argument);
  EXPECT_THROW(registry.add_gauge("g", "colon in label", {"a:b"}), std::invalid_argument);
  EXPECT_THROW(registry.add_gauge("g", "duplicate label", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.add_histogram("h", "le is taken", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(registry.add_histogram("h", "not increasing", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.add_histogram("h", "infinite", {}, {1, INFINITY}), std::invalid_argument);
  registry.add_gauge("ns:g", "colons are fine in metric names", {"a"});
  EXPECT_THROW(registry.add_counter("ns:g", "registered twice", {}), std::invalid_argument);
  const auto family = registry.add_counter("c_total", "C.", {"a", "b"});
  EXPECT_THROW(family.with({"x"}), std::invalid_argument);
}

TEST(metrics, label_values_and_help_are_escaped) {
  std::string out;
  append_label_value_escaped(out, "a\\b\"c\nd\te");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd\te");

  metrics_registry registry(1);
  registry.add_counter("odd_total", "Back\\slash, \"quotes\"\nand a newline.", {"path"})
      .with({"/x\"y\\z\n"})
      .inc(0);
  EXPECT_EQ(registry.prometheus_text(),
            "# HELP odd_total Back\\\\slash, \"quotes\"\\nand a newline.\n"
            "# TYPE odd_total counter\n"
            "odd_total{path=\"/x\\\"y\\\\z\\n\"} 1\n");
}

TEST(metrics, sample_values_are_shortest_round_trip_text) {
  EXPECT_EQ(format_sample_value(0.0005), "0.0005");
  EXPECT_EQ(format_sample_value(30), "30");
  EXPECT_EQ(format_sample_value(2.5), "2.5");
  EXPECT_EQ(format_sample_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_sample_value(1e-7), "1e-07");
  EXPECT_EQ(format_sample_value(INFINITY), "+Inf");
  EXPECT_EQ(format_sample_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_sample_value(NAN), "NaN");
}

TEST(metrics, exposition_text_of_a_small_registry) {
  metrics_registry registry(2);
  // Registered out of order: the output sorts families by name, series by labels.
  const auto reloads = registry.add_counter("z_reloads_total", "Reloads.", {});
  const auto requests = registry.add_counter("a_requests_total", "Requests.", {"route", "code"});
  const auto open = registry.add_gauge("m_open", "Open.", {"listener"});
  const auto latency = registry.add_histogram("b_latency_seconds", "Latency.", {"route"}, {0.5, 1});
  requests.with({"web", "200"}).inc(0, 2);
  requests.with({"api", "503"}).inc(1);
  requests.with({"api", "200"}).inc(2, 7);
  open.with({"public"}).add(1, 3);
  latency.with({"api"}).observe(0, 0.25);
  latency.with({"api"}).observe(1, 1);
  latency.with({"api"}).observe(2, 4);
  reloads.with({}).inc(registry.main_thread());

  EXPECT_EQ(registry.prometheus_text(),
            "# HELP a_requests_total Requests.\n"
            "# TYPE a_requests_total counter\n"
            "a_requests_total{route=\"api\",code=\"200\"} 7\n"
            "a_requests_total{route=\"api\",code=\"503\"} 1\n"
            "a_requests_total{route=\"web\",code=\"200\"} 2\n"
            "# HELP b_latency_seconds Latency.\n"
            "# TYPE b_latency_seconds histogram\n"
            "b_latency_seconds_bucket{route=\"api\",le=\"0.5\"} 1\n"
            "b_latency_seconds_bucket{route=\"api\",le=\"1\"} 2\n"
            "b_latency_seconds_bucket{route=\"api\",le=\"+Inf\"} 3\n"
            "b_latency_seconds_sum{route=\"api\"} 5.25\n"
            "b_latency_seconds_count{route=\"api\"} 3\n"
            "# HELP m_open Open.\n"
            "# TYPE m_open gauge\n"
            "m_open{listener=\"public\"} 3\n"
            "# HELP z_reloads_total Reloads.\n"
            "# TYPE z_reloads_total counter\n"
            "z_reloads_total 1\n");
}

TEST(metrics, gateway_families_have_the_design_names) {
  metrics_registry registry(1);
  gateway_metrics metrics(registry, "1.2.3");
  metrics.for_listener("public").reject(0, rejection_reason::per_ip);
  metrics.for_upstream("users").record(0, upstream_outcome::timeout);
  metrics.count_reload(reload_result::failure);
  const std::string text = registry.prometheus_text();
  for (const char* line : {
           "bulwark_build_info{version=\"1.2.3\"} 1\n",
           "bulwark_config_reloads_total{result=\"failure\"} 1\n",
           "bulwark_config_reloads_total{result=\"success\"} 0\n",
           "bulwark_connections_active{listener=\"public\"} 0\n",
           "bulwark_connections_rejected_total{listener=\"public\",reason=\"max\"} 0\n",
           "bulwark_connections_rejected_total{listener=\"public\",reason=\"per_ip\"} 1\n",
           "bulwark_connections_rejected_total{listener=\"public\",reason=\"shed\"} 0\n",
           "bulwark_upstream_requests_total{upstream=\"users\",outcome=\"timeout\"} 1\n",
           "# TYPE bulwark_http_requests_total counter\n",
           "# TYPE bulwark_http_request_duration_seconds histogram\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  const auto snapshot = registry.snapshot();
  EXPECT_EQ(family_named(snapshot, "bulwark_http_request_duration_seconds").bounds,
            (std::vector<double>{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5, 5, 10, 30}));
}

// The access log counts its own drops; each scrape brings the counter up to
// that total, and a total seen again adds nothing.
TEST(metrics, access_log_drops_follow_the_logs_total) {
  metrics_registry registry(1);
  gateway_metrics metrics(registry, "test");
  EXPECT_NE(registry.prometheus_text().find("bulwark_access_log_dropped_total 0\n"), std::string::npos);
  metrics.sample_access_log_dropped(7);
  metrics.sample_access_log_dropped(7);
  EXPECT_NE(registry.prometheus_text().find("bulwark_access_log_dropped_total 7\n"), std::string::npos);
  metrics.sample_access_log_dropped(12);
  EXPECT_NE(registry.prometheus_text().find("bulwark_access_log_dropped_total 12\n"), std::string::npos);
}

// 4 writer threads, each on its own slot, race a scraper: every scrape sees
// values that only grow and never exceed the total; the final totals are exact.
TEST(metrics, concurrent_writers_and_scraper_give_exact_totals) {
  constexpr std::size_t writers = 4;
  constexpr std::uint64_t per_writer = 1'000'000;
  metrics_registry registry(writers);
  gateway_metrics metrics(registry, "test");
  const route_metrics route = metrics.for_route("public", "api");
  const listener_metrics listener = metrics.for_listener("public");

  std::atomic<bool> done{false};
  std::uint64_t scrapes = 0;
  std::thread scraper([&] {
    std::uint64_t last = 0;
    while (!done.load(std::memory_order_acquire)) {
      const std::uint64_t seen = route.requests.value(200);
      EXPECT_GE(seen, last);
      EXPECT_LE(seen, writers * per_writer);
      EXPECT_EQ(registry.prometheus_text().find("NaN"), std::string::npos);
      last = seen;
      ++scrapes;
    }
  });
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t i = 0; i < per_writer; ++i) {
        listener.connections_active.add(w, 1);
        route.record(w, 200, 0.001);
        listener.connections_active.add(w, -1);
      }
    });
  }
  for (auto& t : threads) t.join();
  done.store(true, std::memory_order_release);
  scraper.join();

  EXPECT_GT(scrapes, 0u);
  EXPECT_EQ(route.requests.value(200), writers * per_writer);
  EXPECT_EQ(route.duration.count(), writers * per_writer);
  EXPECT_EQ(buckets_of(registry, "bulwark_http_request_duration_seconds").at(1),
            writers * per_writer);  // le="0.001"
  EXPECT_EQ(listener.connections_active.value(), 0);
}

// Runs `promtool check metrics` on `text`; returns its exit status and output.
std::pair<int, std::string> promtool_check(const std::string& text) {
  const auto output = std::filesystem::temp_directory_path() /
                      ("bulwark_promtool_" + std::to_string(::getpid()) + ".txt");
  const std::string command = "promtool check metrics >'" + output.string() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "w");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::fwrite(text.data(), 1, text.size(), pipe);
  const int status = ::pclose(pipe);
  std::stringstream said;
  said << std::ifstream(output).rdbuf();
  std::filesystem::remove(output);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, said.str()};
}

bool promtool_available() {
  return std::system("command -v promtool >/dev/null 2>&1") == 0;
}

TEST(metrics, promtool_accepts_the_gateway_metrics) {
  if (!promtool_available())
    GTEST_SKIP() << "promtool not installed (scripts/setup.sh installs it)";
  metrics_registry registry(2);
  gateway_metrics metrics(registry, "0.1.0");
  metrics.for_route("public", "api").record(0, 200, 0.003);
  metrics.for_route("public", "api").record(1, 503, 31);
  metrics.for_route("admin", "we\"ird\\ro\nute").record(2, 404, 0.0005);
  metrics.for_listener("public").connections_active.add(1, 2);
  metrics.for_upstream("users").record(0, upstream_outcome::reset);
  metrics.count_reload(reload_result::success);
  registry.add_counter("bulwark_test_empty_total", "A family with no series yet.", {"x"});

  const auto [status, said] = promtool_check(registry.prometheus_text());
  EXPECT_EQ(status, 0) << said << "\n" << registry.prometheus_text();
  EXPECT_EQ(said, "");
}

TEST(metrics, promtool_check_can_fail) {
  if (!promtool_available())
    GTEST_SKIP() << "promtool not installed (scripts/setup.sh installs it)";
  EXPECT_NE(promtool_check("# TYPE requests counter\nrequests 1\n").first, 0);
  EXPECT_NE(promtool_check("x{a=\"1} 1\n").first, 0);
}

}  // namespace
}  // namespace bulwark::observe
