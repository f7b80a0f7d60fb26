#include "proxy/health_checker.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/empty_body.hpp>

#include <algorithm>
#include <atomic>
#include <future>

#include "observe/log.h"
#include "proxy/deadline_stream.h"

namespace bulwark::proxy {

namespace {

// A health endpoint answers with a short header; more is not a health answer.
constexpr std::uint32_t probe_header_limit = 16 * 1024;
// Invalid settings (zero) must not turn a probe loop into a busy loop.
constexpr core::duration min_interval = std::chrono::milliseconds(1);

std::chrono::steady_clock::time_point to_steady(core::time_point t) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch()));
}

}  // namespace

struct health_checker::shared {
  std::atomic<std::uint64_t> loops_started{0};
  std::atomic<std::uint64_t> probes{0};
};

// A target's probe loops share it. `stopped` is set (on the checker thread)
// when update() drops the target; each loop checks it after every await.
struct health_checker::target_state {
  health_target spec;
  std::vector<std::unique_ptr<steady_timer>> timers;  // one per endpoint's loop
  bool stopped = false;
};

awaitable<bool> probe_endpoint(tcp::endpoint endpoint, config::health_check_settings settings) {
  auto executor = co_await net::this_coro::executor;
  tcp_stream stream(executor);
  // One deadline for the whole probe: beast's tcp_stream applies it to every
  // operation started until it is changed.
  stream.expires_after(std::max(settings.timeout, min_interval));
  auto [connect_ec] = co_await stream.async_connect(endpoint, use_nothrow);
  if (connect_ec) co_return false;

  http::request<http::empty_body> request{http::verb::get, settings.path.empty() ? "/" : settings.path, 11};
  request.set(http::field::host, settings.host.empty() ? endpoint_text(endpoint) : settings.host);
  request.set(http::field::connection, "close");
  request.set(http::field::user_agent, "bulwark-health-check");
  auto [write_ec, written] = co_await http::async_write(stream, request, use_nothrow);
  if (write_ec) co_return false;

  beast::flat_buffer buffer;
  beast::http::response_parser<http::empty_body> parser;
  parser.header_limit(probe_header_limit);
  auto [read_ec, read] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
  error_code ignored;
  stream.socket().shutdown(tcp_socket::shutdown_both, ignored);
  stream.socket().close(ignored);
  if (read_ec) co_return false;
  const unsigned status = parser.get().result_int();
  co_return status >= 200 && status < 300;
}

health_checker::health_checker() : shared_(std::make_shared<shared>()) {}

health_checker::~health_checker() { stop(); }

void health_checker::update(std::vector<health_target> targets) {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  if (!thread_) {
    context_ = std::make_unique<net::io_context>(1);
    thread_.emplace([context = context_.get()] {
      auto guard = net::make_work_guard(*context);
      context->run();
    });
  }
  std::promise<void> applied;
  auto done = applied.get_future();
  net::post(*context_, [this, &targets, &applied] {
    apply(std::move(targets));
    applied.set_value();
  });
  done.wait();
}

void health_checker::apply(std::vector<health_target> targets) {
  std::erase_if(targets, [](const health_target& t) { return !t.health || t.endpoints.empty(); });
  std::vector<std::shared_ptr<target_state>> next;
  std::vector<bool> taken(targets.size(), false);
  for (auto& running : running_) {
    bool kept = false;
    for (std::size_t i = 0; i < targets.size() && !kept; ++i) {
      if (taken[i]) continue;
      const auto& t = targets[i];
      if (t.health == running->spec.health && t.endpoints == running->spec.endpoints &&
          t.settings == running->spec.settings) {
        taken[i] = true;
        kept = true;
        running->spec.upstream = t.upstream;  // a renamed upstream keeps its loops
        next.push_back(running);
      }
    }
    if (!kept) {
      running->stopped = true;
      for (auto& timer : running->timers) timer->cancel();
    }
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (taken[i]) continue;
    auto state = std::make_shared<target_state>();
    state->spec = std::move(targets[i]);
    for (std::size_t e = 0; e < state->spec.endpoints.size(); ++e) {
      state->timers.push_back(std::make_unique<steady_timer>(*context_));
    }
    for (std::size_t e = 0; e < state->spec.endpoints.size(); ++e) {
      net::co_spawn(*context_, run_loop(state, e), net::detached);
    }
    next.push_back(std::move(state));
  }
  running_ = std::move(next);
}

awaitable<void> health_checker::run_loop(std::shared_ptr<target_state> target, std::size_t endpoint) {
  shared_->loops_started.fetch_add(1, std::memory_order_relaxed);
  const auto& spec = target->spec;
  const auto interval = std::max(spec.settings.interval, min_interval);
  auto& timer = *target->timers[endpoint];
  while (!target->stopped) {
    const auto started = steady_now();
    const bool passed = co_await probe_endpoint(spec.endpoints[endpoint], spec.settings);
    if (target->stopped) break;
    const auto change = spec.health->record_probe(endpoint, passed);
    shared_->probes.fetch_add(1, std::memory_order_relaxed);
    if (change == probe_transition::became_unhealthy) {
      observe::log(observe::log_level::warn, "endpoint unhealthy",
                   {{"upstream", spec.upstream},
                    {"endpoint", endpoint_text(spec.endpoints[endpoint])},
                    {"failed_probes", spec.settings.unhealthy_after}});
    } else if (change == probe_transition::became_healthy) {
      observe::log(observe::log_level::info, "endpoint healthy",
                   {{"upstream", spec.upstream},
                    {"endpoint", endpoint_text(spec.endpoints[endpoint])},
                    {"passed_probes", spec.settings.healthy_after}});
    }
    timer.expires_at(to_steady(started + interval));
    auto [ec] = co_await timer.async_wait(use_nothrow);
    (void)ec;  // cancelled: `stopped` says whether to go on
  }
}

void health_checker::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  if (!thread_) return;
  context_->stop();
  thread_->join();
  thread_.reset();
  // The loops' frames (and the timers they hold) die with the io_context;
  // our references to the timers must go first, while its services live.
  running_.clear();
  context_.reset();
}

std::uint64_t health_checker::loops_started_for_test() const {
  return shared_->loops_started.load(std::memory_order_relaxed);
}

std::uint64_t health_checker::probes_for_test() const {
  return shared_->probes.load(std::memory_order_relaxed);
}

}  // namespace bulwark::proxy
