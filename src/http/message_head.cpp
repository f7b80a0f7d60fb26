#include "http/message_head.h"

#include <algorithm>

#include "http/strings.h"

namespace bulwark::http {

head_fields::const_iterator head_fields::find(http::field name) const {
  return std::find_if(begin(), end(),
                      [name](const field_line& line) { return line.name() == name; });
}

head_fields::const_iterator head_fields::find(std::string_view name) const {
  return std::find_if(begin(), end(),
                      [name](const field_line& line) { return iequals(line.name_string(), name); });
}

std::size_t head_fields::count(http::field name) const {
  return static_cast<std::size_t>(std::count_if(
      begin(), end(), [name](const field_line& line) { return line.name() == name; }));
}

std::string_view head_fields::operator[](http::field name) const {
  const auto line = find(name);
  return line == end() ? std::string_view{} : line->value();
}

head_fields::const_iterator head_fields::erase(const_iterator line) {
  const auto index = line - begin();
  lines_.erase(lines_.begin() + index);
  return begin() + index;
}

template <bool isRequest>
char* head_parser<isRequest>::grow(std::size_t size) {
  const auto at = text_.size();
  text_.resize(at + size, boost::container::default_init);
  return text_.data() + at;
}

template <bool isRequest>
typename head_parser<isRequest>::text_span head_parser<isRequest>::keep(beast_view text) {
  const text_span span{static_cast<std::uint32_t>(text_.size()),
                       static_cast<std::uint32_t>(text.size())};
  std::copy(text.begin(), text.end(), grow(text.size()));
  return span;
}

template <bool isRequest>
void head_parser<isRequest>::on_request_impl([[maybe_unused]] http::verb method,
                                             [[maybe_unused]] beast_view method_string,
                                             [[maybe_unused]] beast_view target,
                                             [[maybe_unused]] int version, error_code& ec) {
  if constexpr (isRequest) {
    head_.method_ = method;
    head_.version_ = static_cast<unsigned>(version);
    first_ = keep(method_string);
    second_ = keep(target);
  }
  ec = {};
}

template <bool isRequest>
void head_parser<isRequest>::on_response_impl([[maybe_unused]] int status,
                                              [[maybe_unused]] beast_view reason,
                                              [[maybe_unused]] int version, error_code& ec) {
  if constexpr (!isRequest) {
    head_.status_ = static_cast<unsigned>(status);
    head_.version_ = static_cast<unsigned>(version);
    second_ = keep(reason);
  }
  ec = {};
}

template <bool isRequest>
void head_parser<isRequest>::on_field_impl(http::field name, beast_view name_string,
                                           beast_view value, error_code& ec) {
  auto& line = head_.lines_.emplace_back();
  line.name_ = name;
  line.name_at_ = static_cast<std::uint32_t>(text_.size());
  line.name_size_ = static_cast<std::uint32_t>(name_string.size());
  line.value_size_ = static_cast<std::uint32_t>(value.size());
  // Laid out as field_line::line() shows it.
  char* out = std::copy(name_string.begin(), name_string.end(),
                        grow(line.name_size_ + line.value_size_ + 4));
  *out++ = ':';
  *out++ = ' ';
  out = std::copy(value.begin(), value.end(), out);
  *out++ = '\r';
  *out = '\n';
  ec = {};
}

// All the text is in: it moves no more, so the views can be made.
template <bool isRequest>
void head_parser<isRequest>::on_header_impl(error_code& ec) {
  for (auto& line : head_.lines_) line.text_ = text_.data();
  if constexpr (isRequest) {
    head_.method_string_ = view(first_);
    head_.target_ = view(second_);
  } else {
    head_.reason_ = view(second_);
  }
  ec = {};
}

template <bool isRequest>
std::size_t head_parser<isRequest>::on_body_impl(beast_view body, error_code& ec) {
  piece_ = {body.data(), body.size()};
  ec = {};
  return body.size();
}

template <bool isRequest>
std::size_t head_parser<isRequest>::on_chunk_body_impl(std::uint64_t, beast_view body,
                                                       error_code& ec) {
  return on_body_impl(body, ec);
}

template class head_parser<true>;
template class head_parser<false>;

}  // namespace bulwark::http
