#include "http/strings.h"

namespace bulwark::http {

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> items;
  for_each_list_item(value, [&items](std::string_view item) { items.push_back(item); });
  return items;
}

}  // namespace bulwark::http
