// peek() and refund() of the core limiters, which the rate-limit phase uses
// to hold a request to several policies all or nothing. (They live in
// src/core; the tests sit with their one user.)
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "core/gcra.h"
#include "core/sliding_window.h"
#include "core/token_bucket.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

const time_point start{std::chrono::seconds{1000}};

std::unique_ptr<rate_limiter> make(int algorithm, rate_limit_spec spec) {
  switch (algorithm) {
    case 0: return std::make_unique<token_bucket>(spec);
    case 1: return std::make_unique<gcra>(spec);
    default: return std::make_unique<sliding_window>(spec);
  }
}

class LimiterRefundTest : public ::testing::TestWithParam<int> {};

TEST_P(LimiterRefundTest, PeekTakesNothingAndAgreesWithTryAcquire) {
  auto limiter = make(GetParam(), {5, 60s, 5});
  for (int i = 0; i < 5; ++i) {
    const auto peeked = limiter->peek(start);
    const auto peeked_again = limiter->peek(start);
    EXPECT_TRUE(peeked.allowed);
    EXPECT_EQ(peeked.remaining, peeked_again.remaining);
    const auto taken = limiter->try_acquire(start);
    EXPECT_TRUE(taken.allowed);
    EXPECT_EQ(peeked.remaining, taken.remaining) << i;
    EXPECT_EQ(peeked.reset_after, taken.reset_after) << i;
  }
  const auto peeked = limiter->peek(start);
  const auto refused = limiter->try_acquire(start);
  EXPECT_FALSE(peeked.allowed);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(peeked.retry_after, refused.retry_after);
  EXPECT_GT(peeked.retry_after, 0ns);
}

TEST_P(LimiterRefundTest, RefundRestoresExactlyWhatWasTaken) {
  auto limiter = make(GetParam(), {5, 60s, 5});
  ASSERT_TRUE(limiter->try_acquire(start).allowed);
  ASSERT_TRUE(limiter->try_acquire(start).allowed);
  const auto before = limiter->peek(start);
  ASSERT_TRUE(limiter->try_acquire(start).allowed);
  limiter->refund(start);
  const auto after = limiter->peek(start);
  EXPECT_EQ(after.remaining, before.remaining);
  EXPECT_EQ(after.reset_after, before.reset_after);
  // Exactly 3 more pass: the refunded unit and the two never taken.
  int admitted = 0;
  while (limiter->try_acquire(start).allowed) ++admitted;
  EXPECT_EQ(admitted, 3);
}

TEST_P(LimiterRefundTest, RefundNeverRaisesQuotaAboveTheLimit) {
  auto limiter = make(GetParam(), {5, 1s, 5});
  ASSERT_TRUE(limiter->try_acquire(start).allowed);
  // Long after, the limiter is full again; a late refund must not add a sixth unit.
  const time_point later = start + 10s;
  limiter->refund(start);
  int admitted = 0;
  while (limiter->try_acquire(later).allowed) ++admitted;
  EXPECT_EQ(admitted, 5);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, LimiterRefundTest, ::testing::Values(0, 1, 2),
                         [](const auto& info) {
                           return std::string(info.param == 0   ? "token_bucket"
                                              : info.param == 1 ? "gcra"
                                                                : "sliding_window");
                         });

TEST(SlidingWindowRefundTest, RefundAfterTheWindowRollsLandsInThePreviousWindow) {
  sliding_window window({4, 10s, 4});
  const time_point t0{std::chrono::seconds{1000}};  // a window boundary (1000 / 10)
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(window.try_acquire(t0).allowed);
  const time_point next = t0 + 10s;  // next window, previous fully weighted
  EXPECT_FALSE(window.try_acquire(next).allowed);
  window.refund(t0);  // give back one unit of the previous window
  EXPECT_TRUE(window.try_acquire(next).allowed);
  EXPECT_FALSE(window.try_acquire(next).allowed);
  // Two windows later the admission no longer counts: a refund changes nothing.
  const time_point much_later = t0 + 30s;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(window.try_acquire(much_later).allowed);
  window.refund(t0);
  EXPECT_FALSE(window.try_acquire(much_later).allowed);
}

TEST(TokenBucketRefundTest, ConcurrentTakesAndRefundsBalance) {
  token_bucket bucket({1000, 1s, 1000});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        if (bucket.try_acquire(start).allowed) bucket.refund(start);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bucket.tokens(start), 1000u);
}

}  // namespace
}  // namespace bulwark::core
