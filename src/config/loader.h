// Loading and validating a configuration file (DESIGN.md §4, STYLE.md
// "Config is validated completely"). Startup, `bulwark check` and reload all
// call these functions, so they report exactly the same errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace bulwark::config {

// One problem in a config file. to_string() is the form `bulwark check` prints:
//   bulwark.yaml:14:12: upstreams[0].pool.max_idle: must be at most pool.max_connections (got 300)
struct error {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string path;     // field path, e.g. "routes[2].match.path_prefix"
  std::string message;  // what was expected
  std::string value;    // the offending value as written ("" when none)
  std::string to_string() const;
};

struct load_result {
  std::shared_ptr<const gateway_config> config;  // null when errors is not empty
  std::vector<error> errors;                     // every error, in file order
  bool ok() const { return errors.empty(); }
};

load_result load_file(const std::string& path);
load_result load_string(std::string_view yaml, const std::string& file_name = "<string>");

}  // namespace bulwark::config
