#include "core/gradient2_limit.h"

#include <algorithm>

namespace bulwark::core {
namespace {

gradient2_config normalized(gradient2_config config) {
  config.min_limit = std::max<std::size_t>(1, config.min_limit);
  config.max_limit = std::max(config.max_limit, config.min_limit);
  config.initial_limit = std::clamp(config.initial_limit, config.min_limit, config.max_limit);
  config.smoothing = std::clamp(config.smoothing, 0.0, 1.0);
  config.rtt_tolerance = std::max(1.0, config.rtt_tolerance);
  return config;
}

}  // namespace

gradient2_limit::gradient2_limit(const gradient2_config& config)
    : adaptive_limit(normalized(config).initial_limit),
      config_(normalized(config)),
      estimate_(static_cast<double>(config_.initial_limit)) {}

double gradient2_limit::update_long_rtt(double rtt) {
  if (samples_ < warmup_samples) {
    ++samples_;
    warmup_sum_ += rtt;
    long_rtt_ = warmup_sum_ / static_cast<double>(samples_);
  } else {
    const double factor = 2.0 / (static_cast<double>(config_.long_window) + 1.0);
    long_rtt_ = long_rtt_ * (1.0 - factor) + rtt * factor;
  }
  return long_rtt_;
}

void gradient2_limit::on_sample(time_point, duration rtt, std::size_t inflight, bool) {
  // A zero round trip (coarse timer) would divide by zero below.
  const double short_rtt = static_cast<double>(std::max(rtt.count(), std::int64_t{1}));

  std::lock_guard lock(mutex_);
  const double long_rtt = update_long_rtt(short_rtt);
  if (long_rtt / short_rtt > 2.0) long_rtt_ *= 0.95;

  if (static_cast<double>(inflight) < estimate_ / 2.0) return;

  const double gradient = std::clamp(config_.rtt_tolerance * long_rtt / short_rtt, 0.5, 1.0);
  const double target = estimate_ * gradient + static_cast<double>(config_.queue_size);
  const double smoothed = estimate_ * (1.0 - config_.smoothing) + target * config_.smoothing;
  estimate_ = std::clamp(smoothed, static_cast<double>(config_.min_limit),
                         static_cast<double>(config_.max_limit));
  limit_.store(static_cast<std::size_t>(estimate_), std::memory_order_relaxed);
}

double gradient2_limit::long_rtt() const {
  std::lock_guard lock(mutex_);
  return long_rtt_;
}

}  // namespace bulwark::core
