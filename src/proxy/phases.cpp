#include "proxy/phases.h"

#include "http/strings.h"
#include "observe/request_id.h"

namespace bulwark::proxy {

// One pass over the fields: the id is used only when it was sent once.
phase_result request_id_phase::on_request(request_context& ctx) {
  const field_line* sent = nullptr;
  std::size_t copies = 0;
  for (const auto& field : ctx.request) {
    if (!iequals(field.name_string(), header_)) continue;
    sent = &field;
    ++copies;
  }
  // A view of the request's text, which stays while the request lives, even
  // if a later phase removes the field line.
  if (copies == 1 && observe::is_acceptable_request_id(sent->value())) {
    ctx.request_id = sent->value();
  } else {
    ctx.request_id = make_request_id(ctx.texts);
    ctx.upstream_headers.push_back({header_, ctx.request_id});
  }
  ctx.response_headers.push_back({header_, ctx.request_id});
  return phase_result::proceed;
}

phase_result route_phase::on_request(request_context& ctx) {
  const auto& request = ctx.request;
  const auto host = request.find(http::field::host);
  request_view view{
      .method = request.method_string(),
      .path = target_path(request.target()),
      .host = host == request.end() ? std::string_view{} : std::string_view{host->value()},
      .header = [&request](std::string_view name) -> std::optional<std::string_view> {
        const auto field = request.find(name);
        if (field == request.end()) return std::nullopt;
        return std::string_view{field->value()};
      }};
  ctx.route = router_.match(view);
  if (ctx.route == nullptr) {
    ctx.answer = problem(404, "no route matches this request", ctx.request_id);
    return phase_result::respond;
  }
  ctx.deadline = ctx.start + ctx.route->timeout;
  return phase_result::proceed;
}

}  // namespace bulwark::proxy
