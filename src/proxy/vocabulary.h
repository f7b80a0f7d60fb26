// The names the data path speaks in, from src/http (Asio and Beast, the parsed
// heads, problem responses), used unqualified in src/proxy as they were when
// they lived here. Only src/proxy includes this; src/phase and src/policy
// write http:: in full. (bulwark::http brings Beast's HTTP names with it, so
// an unqualified Beast name would also resolve here; src/proxy writes them
// http::field, http::verb.)
#pragma once

#include "http/gateway_field.h"
#include "http/net.h"
#include "http/problem.h"
#include "http/strings.h"

namespace bulwark::proxy {

using namespace bulwark::http;

}  // namespace bulwark::proxy
