// AIMD concurrency limit: additive increase, multiplicative decrease, as
// Netflix's AIMDLimit. On each sample:
//   dropped, or rtt > timeout        limit = floor(limit * backoff_ratio)
//   else if inflight * 2 >= limit    limit = limit + 1
//   else                             unchanged (the limit is not what bounds
//                                    the load, so a success says nothing)
// and the result is clamped to [min_limit, max_limit].
//
// Lock-free: the whole state is the limit itself, so on_sample is a CAS loop on
// it. Two samples racing apply one after the other, as under Netflix's lock.
#pragma once

#include <chrono>

#include "core/adaptive_limit.h"

namespace bulwark::core {

// Netflix's defaults.
struct aimd_config {
  std::size_t initial_limit = 20;
  std::size_t min_limit = 20;
  std::size_t max_limit = 200;
  double backoff_ratio = 0.9;  // in [0.5, 1)
  duration timeout = std::chrono::seconds{5};
  friend bool operator==(const aimd_config&, const aimd_config&) = default;
};

class aimd_limit final : public adaptive_limit {
 public:
  // min_limit is raised to at least 1 and max_limit to at least min_limit; the
  // initial limit is clamped into [min_limit, max_limit], backoff_ratio into
  // [0, 1] (config validation asks for [0.5, 1), as Netflix does).
  explicit aimd_limit(const aimd_config& config);

  void on_sample(time_point start, duration rtt, std::size_t inflight, bool dropped) override;

 private:
  std::size_t next_limit(std::size_t current, duration rtt, std::size_t inflight,
                         bool dropped) const;

  aimd_config config_;
};

}  // namespace bulwark::core
