// endpoint_health: the active check's state machine (optimistic start, the
// unhealthy_after / healthy_after runs), outlier ejection through the same
// object, how the two combine in usable(), and the status JSON. Time comes from
// a manual clock; nothing sleeps.
#include "proxy/endpoint_health.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace bulwark::proxy {
namespace {

using namespace std::chrono_literals;

config::health_check_settings active(std::uint32_t unhealthy_after, std::uint32_t healthy_after) {
  config::health_check_settings s;
  s.unhealthy_after = unhealthy_after;
  s.healthy_after = healthy_after;
  return s;
}

config::outlier_detection_settings outliers(std::uint32_t failures, core::duration eject_for,
                                            double max_ejected) {
  config::outlier_detection_settings s;
  s.consecutive_failures = failures;
  s.eject_for = eject_for;
  s.max_ejected = max_ejected;
  return s;
}

TEST(EndpointHealth, NothingConfiguredEverythingUsable) {
  core::manual_clock clock;
  endpoint_health health(3, std::nullopt, std::nullopt);
  EXPECT_EQ(health.size(), 3u);
  for (int i = 0; i < 10; ++i) health.record(0, true, clock.now());
  EXPECT_EQ(health.record_probe(1, false), probe_transition::none);
  EXPECT_EQ(health.usable_count(clock.now()), 3u);
  EXPECT_TRUE(health.usable(0, clock.now()));
  EXPECT_TRUE(health.usable(1, clock.now()));
  EXPECT_EQ(health.ejections_total(), 0u);
  EXPECT_FALSE(health.has_active_checks());
  EXPECT_FALSE(health.has_outlier_detection());
}

TEST(EndpointHealth, ActiveStartsHealthy) {
  core::manual_clock clock;
  endpoint_health health(2, active(3, 2), std::nullopt);
  EXPECT_TRUE(health.usable(0, clock.now()));
  EXPECT_TRUE(health.usable(1, clock.now()));
}

TEST(EndpointHealth, UnhealthyAfterConsecutiveFailedProbes) {
  core::manual_clock clock;
  endpoint_health health(2, active(3, 2), std::nullopt);
  EXPECT_EQ(health.record_probe(0, false), probe_transition::none);
  EXPECT_EQ(health.record_probe(0, false), probe_transition::none);
  EXPECT_TRUE(health.usable(0, clock.now()));
  EXPECT_EQ(health.record_probe(0, false), probe_transition::became_unhealthy);
  EXPECT_FALSE(health.usable(0, clock.now()));
  EXPECT_FALSE(health.healthy(0));
  EXPECT_TRUE(health.usable(1, clock.now()));
  EXPECT_EQ(health.usable_count(clock.now()), 1u);
  // Further failures change nothing.
  EXPECT_EQ(health.record_probe(0, false), probe_transition::none);
  EXPECT_FALSE(health.usable(0, clock.now()));
}

TEST(EndpointHealth, PassedProbeBreaksTheFailedRun) {
  endpoint_health health(1, active(3, 2), std::nullopt);
  health.record_probe(0, false);
  health.record_probe(0, false);
  health.record_probe(0, true);  // the run of failures starts over
  health.record_probe(0, false);
  health.record_probe(0, false);
  EXPECT_TRUE(health.healthy(0));
  EXPECT_EQ(health.record_probe(0, false), probe_transition::became_unhealthy);
}

TEST(EndpointHealth, HealthyAgainAfterConsecutivePassedProbes) {
  endpoint_health health(1, active(1, 3), std::nullopt);
  ASSERT_EQ(health.record_probe(0, false), probe_transition::became_unhealthy);
  health.record_probe(0, true);
  health.record_probe(0, true);
  health.record_probe(0, false);  // breaks the run of passes
  health.record_probe(0, true);
  health.record_probe(0, true);
  EXPECT_FALSE(health.healthy(0));
  EXPECT_EQ(health.record_probe(0, true), probe_transition::became_healthy);
  EXPECT_TRUE(health.healthy(0));
  // And the way down starts from a fresh run.
  EXPECT_EQ(health.record_probe(0, false), probe_transition::became_unhealthy);
}

TEST(EndpointHealth, ZeroThresholdsActAsOne) {
  endpoint_health health(1, active(0, 0), std::nullopt);
  EXPECT_EQ(health.record_probe(0, false), probe_transition::became_unhealthy);
  EXPECT_EQ(health.record_probe(0, true), probe_transition::became_healthy);
}

TEST(EndpointHealth, OutlierEjectionMakesUnusableForEjectFor) {
  core::manual_clock clock;
  endpoint_health health(2, std::nullopt, outliers(2, 30s, 0.5));
  health.record(1, true, clock.now());
  EXPECT_EQ(health.record(1, true, clock.now()), core::outlier_event::ejected);
  EXPECT_FALSE(health.usable(1, clock.now()));
  EXPECT_TRUE(health.healthy(1));  // ejection is not the active verdict
  EXPECT_TRUE(health.ejected(1, clock.now()));
  EXPECT_EQ(health.usable_count(clock.now()), 1u);
  EXPECT_EQ(health.ejections_total(), 1u);
  clock.advance(30s);
  EXPECT_TRUE(health.usable(1, clock.now()));
}

TEST(EndpointHealth, BothMustAgree) {
  core::manual_clock clock;
  endpoint_health health(2, active(1, 1), outliers(1, 10s, 1.0));
  health.record(0, true, clock.now());  // ejected
  health.record_probe(1, false);        // unhealthy
  EXPECT_EQ(health.usable_count(clock.now()), 0u);  // no panic mode: nothing usable
  EXPECT_FALSE(health.usable(0, clock.now()));
  EXPECT_FALSE(health.usable(1, clock.now()));
  health.record_probe(0, true);  // healthy by probe, but still ejected
  EXPECT_FALSE(health.usable(0, clock.now()));
  clock.advance(10s);
  EXPECT_TRUE(health.usable(0, clock.now()));
  EXPECT_FALSE(health.usable(1, clock.now()));  // ejection's end does not heal the probe verdict
}

TEST(EndpointHealth, StatusReportsEachEndpoint) {
  core::manual_clock clock;
  endpoint_health health(3, active(1, 1), outliers(2, 30s, 0.5));
  health.record(0, true, clock.now());
  health.record(0, true, clock.now());  // ejected
  health.record(2, true, clock.now());  // one failure so far
  health.record_probe(1, false);        // unhealthy
  clock.advance(10s + 500us);
  const auto status = health.status(clock.now());
  ASSERT_TRUE(status.is_array());
  ASSERT_EQ(status.size(), 3u);
  EXPECT_EQ(status[0]["healthy"], true);
  EXPECT_EQ(status[0]["ejected"], true);
  EXPECT_EQ(status[0]["ejected_for_ms"], 20000);  // 19999.5 ms, rounded up
  EXPECT_EQ(status[0]["consecutive_failures"], 0);
  EXPECT_EQ(status[1]["healthy"], false);
  EXPECT_EQ(status[1]["ejected"], false);
  EXPECT_EQ(status[1]["ejected_for_ms"], 0);
  EXPECT_EQ(status[2]["consecutive_failures"], 1);
  EXPECT_EQ(status[2]["ejected"], false);
}

TEST(EndpointHealth, OutOfRangeIndexIsNotUsable) {
  core::manual_clock clock;
  endpoint_health health(1, active(1, 1), std::nullopt);
  EXPECT_FALSE(health.usable(5, clock.now()));
  EXPECT_EQ(health.record_probe(5, false), probe_transition::none);
  EXPECT_TRUE(health.usable(0, clock.now()));
}

}  // namespace
}  // namespace bulwark::proxy
