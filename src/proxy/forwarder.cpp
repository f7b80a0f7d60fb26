#include "proxy/forwarder.h"

#include "observe/gateway_metrics.h"
#include "proxy/headers.h"
#include "proxy/relay.h"

namespace bulwark::proxy {
namespace {

using response_parser = http::response_parser<http::buffer_body>;

bool is_timeout(const error_code& ec) { return ec == beast::error::timeout; }

local_response acquire_failure(const acquire_result& acquired, const request_context& ctx) {
  switch (acquired.error) {
    case acquire_error::pool_full:
      return problem_retry_after(503, acquired.detail, ctx.request_id, 1);
    case acquire_error::timeout:
      return problem(504, acquired.detail, ctx.request_id);
    case acquire_error::connect_failed:
    case acquire_error::none:
      break;
  }
  return problem(502, acquired.detail, ctx.request_id);
}

// Where one try stands after sending the request and reading the response header.
struct exchange_result {
  std::optional<local_response> answer;
  bool retry_fresh = false;  // a reused connection was stale; nothing was processed
  std::optional<observe::upstream_outcome> outcome;  // unset: the upstream was not tried
  uint64_t body_bytes = 0;                           // request body bytes sent
};

observe::upstream_outcome outcome_of(const error_code& ec) {
  if (ec == beast::error::timeout) return observe::upstream_outcome::timeout;
  if (ec == net::error::connection_reset || ec == net::error::eof ||
      ec == http::error::end_of_stream || ec == net::error::broken_pipe) {
    return observe::upstream_outcome::reset;
  }
  return observe::upstream_outcome::failure;
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

awaitable<exchange_result> send_request(request_context& ctx, client_side& client,
                                        upstream_connection& upstream,
                                        bool has_body, core::time_point try_deadline) {
  auto relayed = co_await relay_message<true>(
      client.stream, client.buffer, client.parser, upstream.stream, client.scratch, client.head,
      {client.idle_timeout, try_deadline - steady_now(), try_deadline});
  if (relayed.read_error == http::error::body_limit) {
    ctx.error = error_source::client;
    co_return exchange_result{problem(413, "request body exceeds max_body_bytes", ctx.request_id)};
  }
  if (relayed.read_error) {
    ctx.error = error_source::client;
    co_return exchange_result{is_timeout(relayed.read_error)
                                  ? problem(408, "timed out reading the request body", ctx.request_id)
                                  : problem(400, "malformed or incomplete request body", ctx.request_id)};
  }
  if (relayed.write_error) {
    if (stale_reused(upstream, has_body, relayed.write_error)) {
      co_return exchange_result{.retry_fresh = true};
    }
    ctx.error = error_source::upstream;
    co_return exchange_result{
        .answer = is_timeout(relayed.write_error)
                      ? problem(504, "upstream timed out receiving the request", ctx.request_id)
                      : problem(502, "upstream failed while receiving the request", ctx.request_id),
        .outcome = outcome_of(relayed.write_error),
        .body_bytes = relayed.body_bytes};
  }
  co_return exchange_result{.body_bytes = relayed.body_bytes};
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
    auto [ec, n] = co_await http::async_read_header(upstream.stream, upstream.buffer, *parser,
                                                    use_nothrow);
    if (ec) {
      if (stale_reused(upstream, body_consumed, ec)) co_return exchange_result{.retry_fresh = true};
      ctx.error = error_source::upstream;
      co_return exchange_result{
          .answer = is_timeout(ec)
                        ? problem(504, "upstream did not answer in time", ctx.request_id)
                        : problem(502, "upstream closed or sent an invalid response: " + ec.message(),
                                  ctx.request_id),
          .outcome = outcome_of(ec)};
    }
    const unsigned status = parser->get().result_int();
    if (status >= 200 || status == 101) co_return exchange_result{};
  }
}

// Sets the framing of the response towards the client. Returns false when
// the body can only be delimited by closing the connection.
bool frame_client_response(response_parser& parser, bool head_request, unsigned client_version) {
  auto& response = parser.get();
  const unsigned status = response.result_int();
  const bool bodyless = head_request || status == 204 || status == 304 || status < 200;
  if (bodyless || parser.content_length()) return true;  // Content-Length stays as sent
  if (client_version < 11) return false;  // an HTTP/1.0 client knows no chunked
  response.chunked(true);  // chunked or close-delimited upstream bodies go out chunked
  return true;
}

awaitable<void> answer_continue(client_side& client) {
  static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
  client.stream.expires_after(client.idle_timeout);
  co_await net::async_write(client.stream, net::buffer(continue_line), use_nothrow);
}

// One try: a pooled connection, the request sent, the response header read.
// A stale pooled connection is replaced once, when that is safe.
awaitable<exchange_result> exchange(request_context& ctx, client_side& client, upstream_pool& pool,
                                    pooled_connection& upstream,
                                    std::optional<response_parser>& parser,
                                    core::time_point try_deadline, forward_result& result) {
  auto& request = client.parser.get();
  const bool head_request = request.method() == http::verb::head;
  const bool expects_continue = beast::iequals(request[http::field::expect], "100-continue");
  // Without a body, nothing of the client's is consumed by a try, so a try on a
  // stale pooled connection can be replayed once on a fresh one.
  const bool has_body = !client.parser.is_done();
  prepare_upstream_request(request, ctx.client_ip, client.parser.chunked());
  for (int replays = 0;; ++replays) {
    const auto started = steady_now();
    auto acquired = co_await pool.acquire(try_deadline);
    if (acquired.endpoint) result.endpoint = endpoint_text(pool.endpoint(*acquired.endpoint));
    if (!acquired.connection) {
      const bool full = acquired.error == acquire_error::pool_full;
      ctx.error = full ? error_source::gateway : error_source::upstream;
      exchange_result failed{acquire_failure(acquired, ctx)};
      if (!full) {
        failed.outcome = acquired.error == acquire_error::timeout ? observe::upstream_outcome::timeout
                                                                   : observe::upstream_outcome::failure;
      }
      co_return failed;
    }
    upstream = std::move(acquired.connection);
    if (replays > 0) upstream->reused = false;  // one replay, then errors are real
    result.endpoint = endpoint_text(pool.endpoint(upstream->endpoint));
    if (expects_continue && has_body) co_await answer_continue(client);
    auto sent = co_await send_request(ctx, client, *upstream, has_body, try_deadline);
    result.bytes_in = sent.body_bytes;
    if (sent.retry_fresh) continue;
    if (sent.answer) co_return sent;
    auto received = co_await read_response_header(ctx, *upstream, parser, head_request, has_body,
                                                  try_deadline);
    if (received.retry_fresh) continue;
    result.upstream_ms = std::chrono::duration<double, std::milli>(steady_now() - started).count();
    if (!received.answer) {
      received.outcome = parser->get().result_int() >= 500 ? observe::upstream_outcome::failure
                                                           : observe::upstream_outcome::success;
    }
    co_return received;
  }
}

}  // namespace

awaitable<forward_result> forward(request_context& ctx, client_side& client,
                                  upstream_pool& pool, const pipeline& phases) {
  const auto& route = *ctx.route;
  const core::time_point try_deadline =
      route.retry.per_try_timeout ? std::min(ctx.deadline, ctx.start + *route.retry.per_try_timeout)
                                  : ctx.deadline;
  forward_result result;
  result.upstream = route.upstream;
  const unsigned client_version = client.parser.get().version();  // before it is rewritten
  std::optional<response_parser> received_parser;
  pooled_connection upstream;
  auto tried = co_await exchange(ctx, client, pool, upstream, received_parser, try_deadline, result);
  if (tried.outcome) {
    result.attempts = 1;
    if (const auto* metrics = phases.upstream_metrics(route.upstream_index)) {
      metrics->record(ctx.thread, *tried.outcome);
    }
  }
  if (tried.answer) {
    result.answer = std::move(tried.answer);
    // The request was read to its end unless sending it failed.
    result.client_reusable = client.parser.is_done();
    co_return result;
  }

  auto& parser = *received_parser;
  const bool head_request = client.parser.get().method() == http::verb::head;
  const bool upstream_keep_alive = parser.keep_alive();
  auto& response = parser.get();
  prepare_client_response(response.base());
  phases.run_response_phases(ctx, response.base());
  const bool delimited = frame_client_response(parser, head_request, client_version);
  const bool keep_alive = client.keep_alive && delimited;
  response.keep_alive(keep_alive);

  auto relayed = co_await relay_message<false>(
      upstream->stream, upstream->buffer, parser, client.stream, client.scratch, client.head,
      {ctx.deadline - steady_now(), client.idle_timeout, ctx.deadline});
  if (relayed.read_error) ctx.error = error_source::upstream;
  if (relayed.write_error) ctx.error = error_source::client;
  upstream.keep_alive(upstream_keep_alive && relayed.ok());
  result.client_reusable = keep_alive && relayed.ok();
  result.status = response.result_int();
  result.bytes_out = relayed.body_bytes;
  co_return result;
}

}  // namespace bulwark::proxy
