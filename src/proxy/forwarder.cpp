#include "proxy/forwarder.h"

#include "core/retry_after.h"
#include "observe/gateway_metrics.h"
#include "observe/log.h"
#include "proxy/endpoint_health.h"
#include "proxy/headers.h"
#include "proxy/relay.h"

namespace bulwark::proxy {
namespace {

bool is_timeout(const error_code& ec) { return ec == beast::error::timeout; }

local_response acquire_failure(const acquire_result& acquired, const request_context& ctx) {
  switch (acquired.error) {
    case acquire_error::pool_full:
    case acquire_error::no_healthy_endpoint:
      return problem_retry_after(503, acquired.detail, ctx.request_id, 1);
    case acquire_error::timeout:
      return problem(504, acquired.detail, ctx.request_id);
    case acquire_error::connect_failed:
    case acquire_error::none:
      break;
  }
  return problem(502, acquired.detail, ctx.request_id);
}

// What the client is shown while the upstream cannot be used: the route's
// fallback when it has one, else 503 problem+json; both with Retry-After.
local_response unavailable(const request_context& ctx, std::string_view detail,
                           core::duration retry_in) {
  const unsigned seconds = retry_after_seconds(retry_in);
  if (!ctx.route->fallback) return problem_retry_after(503, detail, ctx.request_id, seconds);
  const auto& fallback = *ctx.route->fallback;
  local_response made{.status = fallback.status,
                      .request_id = std::string(ctx.request_id),
                      .content_type = fallback.content_type,
                      .body = fallback.body};
  made.headers.emplace_back("Retry-After", std::to_string(seconds));
  return made;
}

// Where one try stands after sending the request and reading the response header.
struct exchange_result {
  std::optional<local_response> answer;
  bool retry_fresh = false;  // a reused connection was stale; nothing was processed
  std::optional<observe::upstream_outcome> outcome;  // unset: the upstream was not tried
  try_result result;                                 // for retries, the breaker and health
  uint64_t body_bytes = 0;                           // request body bytes sent
  std::optional<std::size_t> endpoint;               // tried (connected or failed to connect)
};

observe::upstream_outcome outcome_of(const error_code& ec) {
  if (ec == beast::error::timeout) return observe::upstream_outcome::timeout;
  if (ec == net::error::connection_reset || ec == net::error::eof ||
      ec == http::error::end_of_stream || ec == net::error::broken_pipe) {
    return observe::upstream_outcome::reset;
  }
  return observe::upstream_outcome::failure;
}

try_result::kind kind_of(const error_code& ec) {
  return ec == beast::error::timeout ? try_result::kind::timeout : try_result::kind::reset;
}

// A reused keep-alive connection may have been closed by the upstream just as
// we took it. When nothing of the request body was consumed from the client
// yet and nothing came back, the request can safely go again on a new one.
bool stale_reused(const upstream_connection& connection, bool body_consumed,
                  const error_code& ec) {
  return connection.reused && !body_consumed &&
         (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
          ec == net::error::eof || ec == net::error::broken_pipe);
}

// The request body: streamed from the client during the first try, or read
// into memory first when a retry may need to send it again.
struct request_body {
  bool present = false;          // the request has a body (not yet read when streamed)
  std::optional<std::string> kept;  // the whole body, when replayable
  bool expects_continue = false;  // the client waits for 100 Continue before sending it
  bool continue_sent = false;    // 100 Continue already answered

  // Whether a later try can send the body again after `sent` bytes went out.
  bool replayable(bool send_started) const { return !present || kept || !send_started; }
};

awaitable<void> answer_continue(client_side& client) {
  static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
  client.stream.expires_after(client.idle_timeout);
  co_await write_all(client.stream, net::buffer(continue_line));
}

bool expects_continue(const request_head& request) {
  return beast::iequals(request[http::field::expect], "100-continue");
}

// A retry may replay the body only if it was kept. Kept: bodies with a
// Content-Length up to retry.max_replay_body on routes that may retry this
// method. Chunked and larger bodies stream (and are then not retried).
bool keep_for_replay(const config::route& route, client_side& client) {
  const auto& retry = route.retry;
  const auto& request = client.parser.get();
  if (retry.attempts < 2 || client.parser.is_done() || client.parser.chunked()) return false;
  const auto length = client.parser.content_length();
  if (!length || *length > retry.max_replay_body) return false;
  const auto method = request.method_string();
  return std::find(retry.methods.begin(), retry.methods.end(), method) != retry.methods.end();
}

// The answer when reading the request body from the client failed.
local_response body_read_failure(request_context& ctx, const error_code& ec) {
  ctx.error = error_source::client;
  if (ec == http::error::body_limit) {
    return problem(413, "request body exceeds max_body_bytes", ctx.request_id);
  }
  return is_timeout(ec) ? problem(408, "timed out reading the request body", ctx.request_id)
                        : problem(400, "malformed or incomplete request body", ctx.request_id);
}

// Reads the whole (small) body from the client; an answer when that failed.
awaitable<std::optional<local_response>> read_body(request_context& ctx, client_side& client,
                                                  request_body& body) {
  if (body.expects_continue) {
    co_await answer_continue(client);
    body.continue_sent = true;
  }
  body.kept.emplace();
  while (!client.parser.is_done()) {
    client.parser.clear_piece();
    client.stream.expires_at(to_asio(std::min(steady_now() + client.idle_timeout, ctx.deadline)));
    const auto ec = co_await read_some(client.stream, client.buffer, client.parser);
    if (ec) co_return body_read_failure(ctx, ec);
    body.kept->append(client.parser.piece());
  }
  co_return std::nullopt;
}

// What became of sending the request: sent, a stale pooled connection to
// replace, or the answer for a failure.
exchange_result after_send(request_context& ctx, const upstream_connection& upstream,
                           const error_code& ec, bool body_consumed, uint64_t body_bytes) {
  if (!ec) return exchange_result{.body_bytes = body_bytes};
  if (stale_reused(upstream, body_consumed, ec)) return exchange_result{.retry_fresh = true};
  ctx.error = error_source::upstream;
  return exchange_result{
      .answer = is_timeout(ec) ? problem(504, "upstream timed out receiving the request", ctx.request_id)
                               : problem(502, "upstream failed while receiving the request", ctx.request_id),
      .outcome = outcome_of(ec),
      .result = {kind_of(ec)},
      .body_bytes = body_bytes};
}

// The request header section (in client.head) and the kept body, if any.
std::array<net::const_buffer, 2> whole_request(const client_side& client, const request_body& body) {
  return {net::buffer(client.head), body.kept ? net::buffer(*body.kept) : net::const_buffer{}};
}

// Writes the request header section upstream into client.head.
void write_request_head(const request_context& ctx, client_side& client) {
  client.head.clear();
  write_upstream_head(client.parser.get(),
                      {.client_ip = ctx.client_ip,
                       .chunked = client.parser.chunked(),
                       .gateway_fields = ctx.upstream_headers},
                      client.head);
}

// Sends a request with nothing more to read from the client (no body, or a
// kept one): straight to the socket, and only what the socket does not take
// at once in a coroutine. Returns the result when done, nullopt when the
// rest must be sent by send_rest from `written` on.
std::optional<exchange_result> send_now(request_context& ctx, client_side& client,
                                        upstream_connection& upstream, const request_body& body,
                                        std::size_t& written) {
  const auto ec = write_now(upstream.stream, whole_request(client, body), written);
  if (ec == net::error::would_block) return std::nullopt;
  return after_send(ctx, upstream, ec, false, body.kept && !ec ? body.kept->size() : 0);
}

awaitable<exchange_result> send_rest(request_context& ctx, client_side& client,
                                     upstream_connection& upstream, const request_body& body,
                                     std::size_t written, core::time_point try_deadline) {
  upstream.stream.expires_at(to_asio(try_deadline));
  const auto ec = co_await write_rest(upstream.stream, whole_request(client, body), written);
  co_return after_send(ctx, upstream, ec, false, body.kept && !ec ? body.kept->size() : 0);
}

// Streams the request body from the client while sending it upstream.
awaitable<exchange_result> stream_request(request_context& ctx, client_side& client,
                                          upstream_connection& upstream,
                                          core::time_point try_deadline) {
  auto relayed = co_await relay_message<true>(
      client.stream, client.buffer, client.parser,
      {upstream.stream, client.head, client.parser.chunked()},
      {client.idle_timeout, no_idle_limit, try_deadline});
  if (relayed.read_error) co_return exchange_result{body_read_failure(ctx, relayed.read_error)};
  co_return after_send(ctx, upstream, relayed.write_error, true, relayed.body_bytes);
}

// The part of sending that waits: the rest of a whole request, or the
// streamed one. Not a coroutine itself, so no frame of its own.
awaitable<exchange_result> send_later(request_context& ctx, client_side& client,
                                      upstream_connection& upstream, const request_body& body,
                                      std::size_t written, core::time_point try_deadline) {
  if (body.present && !body.kept) return stream_request(ctx, client, upstream, try_deadline);
  return send_rest(ctx, client, upstream, body, written, try_deadline);
}

// Reads the final response header, skipping interim 1xx responses (RFC 9110
// §15.2): the client's 100-continue was answered by the gateway itself.
awaitable<exchange_result> read_response_header(request_context& ctx, upstream_connection& upstream,
                                                std::optional<response_parser>& parser,
                                                bool head_request, bool body_consumed,
                                                core::time_point try_deadline) {
  for (;;) {
    parser.emplace();
    parser->body_limit(boost::none);
    if (head_request) parser->skip(true);
    upstream.stream.expires_at(to_asio(try_deadline));
    const auto ec = co_await read_header(upstream.stream, upstream.buffer, *parser);
    if (ec) {
      if (stale_reused(upstream, body_consumed, ec)) co_return exchange_result{.retry_fresh = true};
      ctx.error = error_source::upstream;
      co_return exchange_result{
          .answer = is_timeout(ec)
                        ? problem(504, "upstream did not answer in time", ctx.request_id)
                        : problem(502, "upstream closed or sent an invalid response: " + ec.message(),
                                  ctx.request_id),
          .outcome = outcome_of(ec),
          .result = {kind_of(ec)}};
    }
    const unsigned status = parser->get().status();
    if (status >= 200 || status == 101) {
      co_return exchange_result{.result = {try_result::kind::response, status}};
    }
  }
}

// How the response body is delimited towards the client.
enum class client_framing { as_sent, chunked, by_close };

client_framing frame_client_response(const response_parser& parser, bool head_request,
                                     unsigned client_version) {
  const unsigned status = parser.get().status();
  const bool bodyless = head_request || status == 204 || status == 304 || status < 200;
  if (bodyless || parser.content_length()) return client_framing::as_sent;  // Content-Length stays
  // Chunked or close-delimited upstream bodies go out chunked, but an
  // HTTP/1.0 client knows no chunked: its body ends with the connection.
  return client_version < 11 ? client_framing::by_close : client_framing::chunked;
}

exchange_result failed_acquire(request_context& ctx, const acquire_result& acquired) {
  exchange_result failed{acquire_failure(acquired, ctx)};
  switch (acquired.error) {
    case acquire_error::pool_full:
    case acquire_error::no_healthy_endpoint:
      ctx.error = error_source::gateway;
      break;  // not sent: says nothing about the upstream
    case acquire_error::timeout:
      ctx.error = error_source::upstream;
      // A connect timeout is a connect failure; running out of time while
      // waiting for a pooled connection never reached the upstream.
      if (acquired.endpoint) {
        failed.outcome = observe::upstream_outcome::timeout;
        failed.result = {try_result::kind::connect_failure};
      }
      break;
    case acquire_error::connect_failed:
    case acquire_error::none:
      ctx.error = error_source::upstream;
      failed.outcome = observe::upstream_outcome::failure;
      failed.result = {try_result::kind::connect_failure};
      break;
  }
  return failed;
}

// One try: a pooled connection, the request sent, the response header read.
// A stale pooled connection is replaced once, when that is safe.
struct try_target {
  upstream_pool& pool;
  std::optional<std::size_t> avoid;  // the endpoint of the previous try
  const endpoint_health* health;
  core::time_point started;  // when the try began
};

awaitable<exchange_result> exchange(request_context& ctx, client_side& client, try_target target,
                                    const request_body& body, pooled_connection& upstream,
                                    std::optional<response_parser>& parser,
                                    core::time_point try_deadline, forward_result& result) {
  const bool head_request = client.parser.get().method() == http::verb::head;
  const bool streams_body = body.present && !body.kept;
  for (int replays = 0;; ++replays) {
    const auto started = replays == 0 ? target.started : steady_now();
    // A connection: an idle one at once, or opened (or waited for) in a coroutine.
    auto taken = target.pool.acquire_now(target.avoid, target.health);
    if (const auto* endpoint = std::get_if<std::size_t>(&taken)) {
      auto waited = co_await target.pool.acquire(*endpoint, try_deadline, target.avoid, target.health);
      taken = std::move(waited);
    }
    auto& acquired = std::get<acquire_result>(taken);
    if (acquired.endpoint) result.endpoint = target.pool.endpoint_name(*acquired.endpoint);
    if (!acquired.connection) {
      auto failed = failed_acquire(ctx, acquired);
      failed.endpoint = acquired.endpoint;  // set for connect failures and connect timeouts
      co_return failed;
    }
    upstream = std::move(acquired.connection);
    if (replays > 0) upstream->reused = false;  // one replay, then errors are real
    result.endpoint = target.pool.endpoint_name(upstream->endpoint);
    if (streams_body && !body.continue_sent && body.expects_continue) {
      co_await answer_continue(client);
    }
    // The request: straight to the socket when it takes it all, else in a coroutine.
    write_request_head(ctx, client);
    std::size_t written = 0;
    std::optional<exchange_result> sent;
    if (!streams_body) sent = send_now(ctx, client, *upstream, body, written);
    if (!sent) {
      auto waited = co_await send_later(ctx, client, *upstream, body, written, try_deadline);
      sent = std::move(waited);
    }
    result.bytes_in = sent->body_bytes;
    if (sent->retry_fresh) continue;
    sent->endpoint = upstream->endpoint;
    if (sent->answer) co_return std::move(*sent);
    auto received = co_await read_response_header(ctx, *upstream, parser, head_request,
                                                  streams_body, try_deadline);
    if (received.retry_fresh) continue;
    received.endpoint = upstream->endpoint;
    result.upstream_ms = std::chrono::duration<double, std::milli>(steady_now() - started).count();
    if (!received.answer) {
      received.outcome = parser->get().status() >= 500 ? observe::upstream_outcome::failure
                                                       : observe::upstream_outcome::success;
    }
    co_return received;
  }
}

// The permits one try needs: the breaker's and the concurrency limit's.
struct try_permits {
  core::breaker_permit breaker;
  std::optional<concurrency_limit::permit> concurrency;
  std::optional<local_response> refusal;
};

try_permits admit_try(request_context& ctx, const upstream_resilience& upstream,
                      core::time_point now) {
  try_permits permits;
  if (upstream.breaker) {
    permits.breaker = upstream.breaker->try_admit(now);
    if (!permits.breaker) {
      ctx.error = error_source::gateway;
      permits.refusal = unavailable(ctx, "circuit breaker is open for upstream " + upstream.settings->name,
                                    permits.breaker.retry_after());
      return permits;
    }
  }
  if (upstream.concurrency) {
    permits.concurrency = upstream.concurrency->try_acquire(now);
    if (!permits.concurrency) {
      ctx.error = error_source::gateway;
      permits.refusal = unavailable(
          ctx, "upstream " + upstream.settings->name + " is at its concurrency limit", {});
    }
  }
  return permits;
}

// Tells the breaker, the concurrency limit, endpoint health and the metrics
// what became of a try.
void record_try(request_context& ctx, const pipeline& phases, const upstream_resilience& shared,
                try_permits& permits, const exchange_result& tried, std::optional<std::size_t> endpoint,
                core::time_point started, core::time_point now) {
  const auto& result = tried.result;
  if (tried.outcome) {
    if (const auto* metrics = phases.upstream_metrics(ctx.route->upstream_index)) {
      metrics->record(ctx.thread, *tried.outcome);
    }
  }
  if (permits.concurrency) permits.concurrency->complete(result, now);
  if (result.what == try_result::kind::not_sent) return;  // permits dropped: ignored
  if (shared.breaker) {
    const bool failure = result.matches(shared.settings->circuit_breaker->failure_on);
    permits.breaker.record(failure ? core::call_outcome::failure : core::call_outcome::success,
                           now - started, now);
  }
  if (shared.health && endpoint) {
    const bool failure = result.what != try_result::kind::response || result.status >= 500;
    if (shared.health->record(*endpoint, failure, now) == core::outlier_event::ejected) {
      if (const auto* metrics = phases.upstream_metrics(ctx.route->upstream_index)) {
        metrics->ejections.inc(ctx.thread);
      }
      observe::log(observe::log_level::warn, "endpoint ejected",
                   {{"upstream", shared.settings->name},
                    {"endpoint", shared.settings->endpoints[*endpoint].text()}});
    }
  }
}

// Whether the try got as far as sending (a streamed body is then used up).
bool send_started(const try_result& result) {
  return result.what != try_result::kind::connect_failure &&
         result.what != try_result::kind::not_sent;
}

void count_retry(request_context& ctx, const pipeline& phases, const try_result& result) {
  const auto* metrics = phases.upstream_metrics(ctx.route->upstream_index);
  if (metrics == nullptr) return;
  switch (result.what) {
    case try_result::kind::connect_failure:
      metrics->count_retry(ctx.thread, observe::retry_reason::connect_failure);
      break;
    case try_result::kind::reset:
      metrics->count_retry(ctx.thread, observe::retry_reason::reset);
      break;
    case try_result::kind::timeout:
      metrics->count_retry(ctx.thread, observe::retry_reason::timeout);
      break;
    case try_result::kind::response:
      metrics->retried_statuses.inc(ctx.thread, static_cast<int>(result.status));
      break;
    case try_result::kind::not_sent:
      break;
  }
}

std::optional<core::duration> upstream_retry_after(const std::optional<response_parser>& parser,
                                                   const try_result& result) {
  if (result.what != try_result::kind::response || !parser) return std::nullopt;
  const auto& response = parser->get();
  const auto field = response.find(http::field::retry_after);
  if (field == response.end()) return std::nullopt;
  return core::parse_retry_after(field->value(), std::chrono::system_clock::now());
}

awaitable<void> wait_for(core::duration delay) {
  steady_timer timer(co_await net::this_coro::executor);
  timer.expires_after(delay);
  co_await timer.async_wait(use_nothrow);
}

// The tries of one request: each admitted by the breaker and the concurrency
// limit, each recorded, retried while the route's retry policy allows. Leaves
// either an answer in `tried` or a response header in `parser` with its
// connection in `upstream`.
awaitable<exchange_result> try_upstream(request_context& ctx, client_side& client,
                                        upstream_pool& pool, const pipeline& phases,
                                        const request_body& body, pooled_connection& upstream,
                                        std::optional<response_parser>& parser,
                                        forward_result& result) {
  const auto& route = *ctx.route;
  const auto& shared = phases.upstream_policies(route.upstream_index);
  const auto& retries = phases.route_policies(static_cast<std::size_t>(&route - ctx.config.routes.data()));
  if (retries.budget) retries.budget->record_request(steady_now());
  std::optional<std::size_t> previous_endpoint;
  core::duration previous_delay{};
  for (unsigned tries = 1;; ++tries) {
    const auto started = steady_now();
    auto permits = admit_try(ctx, shared, started);
    if (permits.refusal) co_return exchange_result{std::move(permits.refusal)};
    const auto try_deadline = route.retry.per_try_timeout
                                  ? std::min(ctx.deadline, started + *route.retry.per_try_timeout)
                                  : ctx.deadline;
    auto tried = co_await exchange(ctx, client, {pool, previous_endpoint, shared.health.get(), started},
                                   body, upstream, parser, try_deadline, result);
    if (tried.outcome) ++result.attempts;
    const auto finished = steady_now();
    record_try(ctx, phases, shared, permits, tried, tried.endpoint, started, finished);
    const auto delay = retry_delay({.route = route,
                                    .shared = retries,
                                    .result = tried.result,
                                    .method = client.parser.get().method_string(),
                                    .tries_made = tries,
                                    .body_replayable = body.replayable(send_started(tried.result)),
                                    .retry_after = route.retry.attempts > 1
                                                       ? upstream_retry_after(parser, tried.result)
                                                       : std::nullopt,
                                    .previous_delay = previous_delay,
                                    .now = finished,
                                    .deadline = ctx.deadline});
    if (!delay) co_return tried;
    count_retry(ctx, phases, tried.result);
    // This try's response (a 503, say) is dropped with its connection.
    upstream = pooled_connection{};
    parser.reset();
    ctx.error.reset();
    previous_endpoint = tried.endpoint;
    previous_delay = *delay;
    if (delay->count() > 0) co_await wait_for(*delay);
  }
}

}  // namespace

awaitable<forward_result> forward(request_context& ctx, client_side& client,
                                  upstream_pool& pool, const pipeline& phases) {
  forward_result result;
  result.upstream = ctx.route->upstream;
  const auto& request = client.parser.get();
  // The gateway answers Expect: 100-continue itself (write_upstream_head drops it).
  request_body body{.present = !client.parser.is_done(),
                    .expects_continue = expects_continue(request)};
  if (keep_for_replay(*ctx.route, client)) {
    if (auto failed = co_await read_body(ctx, client, body)) {
      result.answer = std::move(failed);
      co_return result;
    }
  }

  std::optional<response_parser> received_parser;
  pooled_connection upstream;
  auto tried = co_await try_upstream(ctx, client, pool, phases, body, upstream, received_parser,
                                     result);
  if (tried.answer) {
    result.answer = std::move(tried.answer);
    // The request was read to its end unless sending it failed.
    result.client_reusable = client.parser.is_done();
    co_return result;
  }

  auto& parser = *received_parser;
  const bool head_request = request.method() == http::verb::head;
  const bool upstream_keep_alive = parser.keep_alive();
  auto& response = parser.get();
  phases.run_response_phases(ctx, response);
  const auto framing = frame_client_response(parser, head_request, request.version());
  const bool keep_alive = client.keep_alive && framing != client_framing::by_close;
  const client_head how{.chunked = framing == client_framing::chunked,
                        .keep_alive = keep_alive,
                        .gateway_fields = ctx.response_headers};
  client.head.clear();
  write_client_head(response, how, client.head);

  auto relayed = co_await relay_message<false>(
      upstream->stream, upstream->buffer, parser, {client.stream, client.head, how.chunked},
      {no_idle_limit, client.idle_timeout, ctx.deadline});
  if (relayed.read_error) ctx.error = error_source::upstream;
  if (relayed.write_error) ctx.error = error_source::client;
  upstream.keep_alive(upstream_keep_alive && relayed.ok());
  result.client_reusable = keep_alive && relayed.ok();
  result.status = response.status();
  result.bytes_out = relayed.body_bytes;
  co_return result;
}

}  // namespace bulwark::proxy
