#include "proxy/phases.h"

#include "observe/request_id.h"
#include "proxy/strings.h"

namespace bulwark::proxy {

// One pass over the fields, comparing names directly: a lookup by a name
// Beast has no enum for searches its tree with a case-insensitive compare.
phase_result request_id_phase::on_request(request_context& ctx) {
  const http::fields::value_type* sent = nullptr;
  std::size_t copies = 0;
  for (const auto& field : ctx.request) {
    if (!iequals(field.name_string(), header_)) continue;
    sent = &field;
    ++copies;
  }
  // Kept in the context, not viewed in the request: a later phase may erase
  // fields from it.
  if (copies == 1 && observe::is_acceptable_request_id(sent->value())) {
    ctx.request_id = ctx.texts.keep(sent->value());
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
