// Rendering of a registry snapshot as Prometheus text (see prometheus.h).
#include "observe/prometheus.h"

#include <charconv>
#include <cmath>

namespace bulwark::observe {

namespace {

std::string_view type_name(metric_type type) {
  switch (type) {
    case metric_type::counter:
      return "counter";
    case metric_type::gauge:
      return "gauge";
    case metric_type::histogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and newline (a quote needs no escape there).
void append_help_escaped(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}`, plus `le` for histogram buckets; nothing when there are no labels.
void append_labels(std::string& out, const family_snapshot& family, const series_snapshot& series,
                   std::string_view le = {}) {
  if (family.label_names.empty() && le.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < family.label_names.size(); ++i) {
    if (i > 0) out += ',';
    out += family.label_names[i];
    out += "=\"";
    append_label_value_escaped(out, series.label_values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!family.label_names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, const family_snapshot& family, const series_snapshot& series,
                   std::string_view suffix, std::string_view value, std::string_view le = {}) {
  out += family.name;
  out += suffix;
  append_labels(out, family, series, le);
  out += ' ';
  out += value;
  out += '\n';
}

void append_histogram(std::string& out, const family_snapshot& family,
                      const series_snapshot& series) {
  std::uint64_t cumulative = 0;
  for (std::size_t bucket = 0; bucket < series.buckets.size(); ++bucket) {
    cumulative += series.buckets[bucket];
    const std::string le =
        bucket < family.bounds.size() ? format_sample_value(family.bounds[bucket]) : "+Inf";
    append_sample(out, family, series, "_bucket", std::to_string(cumulative), le);
  }
  append_sample(out, family, series, "_sum", format_sample_value(series.sum));
  append_sample(out, family, series, "_count", std::to_string(cumulative));
}

void append_family(std::string& out, const family_snapshot& family) {
  out += "# HELP ";
  out += family.name;
  out += ' ';
  append_help_escaped(out, family.help);
  out += "\n# TYPE ";
  out += family.name;
  out += ' ';
  out += type_name(family.type);
  out += '\n';
  for (const auto& series : family.series) {
    if (family.type == metric_type::histogram) {
      append_histogram(out, family, series);
    } else {
      append_sample(out, family, series, "", std::to_string(series.value));
    }
  }
}

}  // namespace

void append_label_value_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string format_sample_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general);
  return std::string(buffer, result.ptr);
}

std::string render_prometheus(const std::vector<family_snapshot>& families) {
  std::string out;
  for (const auto& family : families) append_family(out, family);
  return out;
}

}  // namespace bulwark::observe
