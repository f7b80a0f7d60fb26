// Sliding-window counter: at most `count` per `per`, estimated from two fixed
// windows as Cloudflare describes it ("How we built rate limiting capable of
// scaling to millions of domains", 2017):
//
//   estimate = prev * (1 - f) + curr,   f = elapsed fraction of the current window
//
// and a request of cost c passes iff estimate + c <= count. `burst` is unused.
//
// Documented error. Let P and C be the cost admitted in the previous and the
// current fixed window and S the exact cost admitted in the sliding window
// (now - per, now]. Then  -P*f <= estimate - S <= P*(1 - f), so:
//   - every fixed window [k*per, (k+1)*per) admits at most `count`;
//   - after an admission S <= count + P*f, hence any interval of length `per`
//     holds less than 2 * count (the worst case: a full previous window that
//     arrived just before its end);
//   - a refusal happens only if S + c > count - P*(1 - f);
//   - the estimate is exact when the previous window's traffic was uniform
//     (Cloudflare measured 0.003% of decisions wrong on real traffic).
//
// Representation: one 64-bit word [epoch | prev | curr]. prev and curr take
// B = bit_width(count) bits each and cannot exceed count; the epoch (window
// number, now / per) keeps its low 64 - 2B bits, hence count < 2^20 and at least
// 24 epoch bits. Epochs are compared modulo 2^(64-2B): a state left untouched for
// exactly a multiple of 2^24 windows (194 days at per = 1s) would be mistaken for
// a recent one, which can only cause refusals during that one window, never
// admissions beyond count. Window arithmetic runs in 128 bits, so any `per`
// below 2^62 ns is safe.
//
// Concurrency: CAS loop on the word (relaxed, as in token_bucket). A thread whose
// `now` is one window behind the stored epoch evaluates against the stored (later)
// window with the previous window fully weighted: conservative.
#pragma once

#include <atomic>

#include "core/rate_limiter.h"

namespace bulwark::core {

class sliding_window final : public rate_limiter {
 public:
  static constexpr std::uint64_t max_count = (std::uint64_t{1} << 20) - 1;

  // Throws std::invalid_argument unless 0 < count <= max_count and 0 < per < 2^62 ns.
  explicit sliding_window(rate_limit_spec spec);

  rate_limit_decision try_acquire(time_point now, std::uint64_t cost = 1) override;
  rate_limit_decision peek(time_point now, std::uint64_t cost = 1) const override;
  // Takes the cost back from the window it was counted in: `curr` while that
  // window is current, `prev` once it is the previous one; later, nothing.
  void refund(time_point at, std::uint64_t cost = 1) override;

  std::uint64_t limit() const override { return spec_.count; }
  const rate_limit_spec& spec() const override { return spec_; }

 private:
  struct counts {
    std::int64_t epoch;  // absolute window number
    std::uint64_t prev;
    std::uint64_t curr;
  };

  counts view_at(std::uint64_t word, std::int64_t now_epoch) const;
  std::uint64_t pack(const counts& c) const;
  bool fits(const counts& c, std::int64_t elapsed, std::uint64_t cost) const;
  rate_limit_decision decide(const counts& c, std::int64_t elapsed, bool allowed,
                             std::uint64_t cost) const;
  duration retry_after(const counts& c, std::int64_t elapsed, std::uint64_t cost) const;

  rate_limit_spec spec_;
  std::int64_t per_;  // ns
  unsigned count_bits_;
  std::uint64_t count_mask_;
  std::uint64_t epoch_mask_;
  std::atomic<std::uint64_t> state_{0};
};

}  // namespace bulwark::core
