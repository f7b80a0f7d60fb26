// Bulkhead: never more than `limit` permits, from one thread or many, and a
// permit's slot comes back on every path (scope end, exception, move, reset).
#include "core/bulkhead.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

namespace bulwark::core {
namespace {

static_assert(!std::is_copy_constructible_v<bulkhead::permit>);
static_assert(!std::is_copy_assignable_v<bulkhead::permit>);
static_assert(std::is_nothrow_move_constructible_v<bulkhead::permit>);
static_assert(std::is_nothrow_move_assignable_v<bulkhead::permit>);

TEST(bulkhead, hands_out_exactly_limit_permits) {
  bulkhead b{3};
  std::vector<bulkhead::permit> held;
  for (int i = 0; i < 3; ++i) {
    auto p = b.try_acquire();
    ASSERT_TRUE(p);
    held.push_back(std::move(*p));
  }
  EXPECT_EQ(b.inflight(), 3u);
  EXPECT_FALSE(b.try_acquire());
  held.pop_back();
  EXPECT_EQ(b.inflight(), 2u);
  EXPECT_TRUE(b.try_acquire());  // a temporary: released at once
  EXPECT_EQ(b.inflight(), 2u);
}

TEST(bulkhead, zero_limit_refuses_everything) {
  bulkhead b{0};
  EXPECT_FALSE(b.try_acquire());
  EXPECT_EQ(b.inflight(), 0u);
}

TEST(bulkhead, released_on_every_path) {
  bulkhead b{1};
  {
    auto p = b.try_acquire();
    ASSERT_TRUE(p);
  }
  EXPECT_EQ(b.inflight(), 0u);

  try {
    auto p = b.try_acquire();
    ASSERT_TRUE(p);
    throw std::runtime_error("upstream failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(b.inflight(), 0u);

  auto early = [&]() -> bool {
    auto p = b.try_acquire();
    if (p) return true;  // returns while holding
    return false;
  };
  EXPECT_TRUE(early());
  EXPECT_EQ(b.inflight(), 0u);

  auto p = b.try_acquire();
  ASSERT_TRUE(p);
  p->release();
  p->release();  // a second release is a no-op, not a double decrement
  EXPECT_EQ(b.inflight(), 0u);
}

TEST(bulkhead, moves_transfer_the_slot_and_assignment_frees_the_old_one) {
  bulkhead b{2};
  auto first = b.try_acquire();
  auto second = b.try_acquire();
  ASSERT_TRUE(first && second);

  bulkhead::permit moved{std::move(*first)};
  first.reset();  // the moved-from permit owns nothing
  EXPECT_EQ(b.inflight(), 2u);

  moved = std::move(*second);  // releases moved's own slot, takes second's
  EXPECT_EQ(b.inflight(), 1u);
  second.reset();
  EXPECT_EQ(b.inflight(), 1u);
}

TEST(bulkhead, many_threads_hold_exactly_limit_permits) {
  constexpr std::size_t limit = 7;
  constexpr int threads = 8;
  bulkhead b{limit};
  std::vector<std::vector<bulkhead::permit>> held(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        if (auto p = b.try_acquire()) held[t].push_back(std::move(*p));
      }
    });
  }
  for (auto& w : workers) w.join();
  std::size_t total = 0;
  for (const auto& h : held) total += h.size();
  EXPECT_EQ(total, limit);
  EXPECT_EQ(b.inflight(), limit);
  held.clear();
  EXPECT_EQ(b.inflight(), 0u);
}

TEST(bulkhead, concurrent_holders_never_exceed_the_limit) {
  constexpr std::size_t limit = 3;
  constexpr int threads = 6;
  bulkhead b{limit};
  std::atomic<std::size_t> holders{0};
  std::atomic<std::size_t> most{0};
  std::atomic<std::size_t> admitted{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        auto p = b.try_acquire();
        if (!p) continue;
        admitted.fetch_add(1, std::memory_order_relaxed);
        const std::size_t now_holding = holders.fetch_add(1) + 1;
        std::size_t seen = most.load();
        while (now_holding > seen && !most.compare_exchange_weak(seen, now_holding)) {
        }
        holders.fetch_sub(1);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_LE(most.load(), limit);
  EXPECT_GT(admitted.load(), 0u);
  EXPECT_EQ(b.inflight(), 0u);
}

}  // namespace
}  // namespace bulwark::core
