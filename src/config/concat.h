// Message building for the config errors. Joining pieces through one append
// loop, rather than chains of `"literal" + std::string`, also keeps clear of
// g++ 12's false -Wrestrict on those chains (GCC bug 105329) under -Werror.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace bulwark::config {

inline std::string concat(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (std::string_view part : parts) text += part;
  return text;
}

}  // namespace bulwark::config
