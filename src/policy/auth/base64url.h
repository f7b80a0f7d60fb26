// base64url (RFC 4648 §5) as JOSE uses it (RFC 7515 §2): no padding, no
// whitespace, and canonical only. Decoding refuses anything else, so one byte
// string has exactly one accepted spelling: a token altered in its unused low
// bits, or padded, is not "the same token" to us.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bulwark::policy::auth {

// The bytes, or nullopt when `text` is not canonical unpadded base64url.
std::optional<std::string> decode_base64url(std::string_view text);

std::string encode_base64url(std::string_view bytes);

}  // namespace bulwark::policy::auth
