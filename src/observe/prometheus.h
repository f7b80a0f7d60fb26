// The Prometheus text exposition format, version 0.0.4, for a registry
// snapshot (https://prometheus.io/docs/instrumenting/exposition_formats/):
//
//   # HELP bulwark_http_requests_total HTTP requests answered, by status code.
//   # TYPE bulwark_http_requests_total counter
//   bulwark_http_requests_total{listener="public",route="api",code="200"} 1027
//
// Histograms are written as cumulative `_bucket{le="..."}` series, `_sum` and
// `_count`. Numbers use the shortest text that reads back as the same double,
// in %g style (0.0005, not 5e-04) like the official Go client, so `le` labels
// look the same as in other exporters.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "observe/metrics.h"

namespace bulwark::observe {

// Served with this Content-Type.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const std::vector<family_snapshot>& families);

// A label value as it goes between the quotes: \ " and newline escaped.
void append_label_value_escaped(std::string& out, std::string_view value);

// A sample value: shortest round-trip text, or +Inf, -Inf, NaN.
std::string format_sample_value(double value);

}  // namespace bulwark::observe
