#include "proxy/deadline_stream.h"

namespace bulwark::proxy {

deadline_stream::deadline_stream(executor io_executor)
    : state_(std::make_shared<state>(tcp_socket(std::move(io_executor)))) {}

deadline_stream::deadline_stream(tcp_socket socket)
    : state_(std::make_shared<state>(std::move(socket))) {}

// The watchdog's pending wait holds the state: cancel it so the state goes
// now rather than when the wait would have ended.
deadline_stream::~deadline_stream() {
  error_code ignored;
  state_->watchdog.cancel();
  state_->socket.close(ignored);
}

void deadline_stream::state::start_operation(const std::shared_ptr<state>& self) {
  ++pending;
  if (deadline < armed_for) arm(self);  // a later deadline is left to on_watchdog
}

void deadline_stream::state::finish_operation(error_code& ec) {
  --pending;
  if (timed_out && ec) ec = beast::error::timeout;
}

void deadline_stream::state::arm(const std::shared_ptr<state>& self) {
  armed_for = deadline;
  const uint64_t armed_generation = ++generation;
  watchdog.expires_at(deadline);  // cancels a wait armed for later, which is then stale
  watchdog.async_wait([self, armed_generation](const error_code& ec) {
    // Cancelled: re-armed since, or the stream is gone.
    if (ec != net::error::operation_aborted) self->on_watchdog(self, armed_generation);
  });
}

void deadline_stream::state::on_watchdog(const std::shared_ptr<state>& self,
                                         uint64_t armed_generation) {
  if (armed_generation != generation) return;  // fired, but re-armed before this ran
  armed_for = time_point::max();
  if (pending == 0) return;  // nothing to time out; the next operation arms it again
  if (std::chrono::steady_clock::now() < deadline) {
    arm(self);  // the deadline moved later since this wait was armed
    return;
  }
  timed_out = true;
  error_code ignored;
  socket.close(ignored);  // the pending operations complete with an error, reported as a timeout
}

}  // namespace bulwark::proxy
