#include "http/problem.h"

#include <algorithm>

#include "observe/json.h"

namespace bulwark::http {
namespace {

std::string_view title_of(unsigned status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

}  // namespace

local_response problem(unsigned status, std::string_view detail, std::string_view request_id) {
  using observe::json_quote;
  local_response response;
  response.status = status;
  response.request_id = request_id;
  response.content_type = "application/problem+json";
  response.body = "{\"type\":\"about:blank\",\"title\":" + json_quote(title_of(status)) +
                  ",\"status\":" + std::to_string(status) + ",\"detail\":" + json_quote(detail) +
                  ",\"request_id\":" + json_quote(request_id) + "}";
  return response;
}

local_response problem_retry_after(unsigned status, std::string_view detail,
                                   std::string_view request_id, unsigned retry_after_seconds) {
  auto response = problem(status, detail, request_id);
  response.headers.emplace_back("Retry-After", std::to_string(std::max(1u, retry_after_seconds)));
  return response;
}

}  // namespace bulwark::http
