// Expected digests of files ("sha256:HEX", "sha512:HEX"): parsing and normal form. Pure logic;
// the daemon computes digests with OpenSSL's EVP.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace opendo::jobs {

struct digest_spec {
  std::string algorithm;  // "sha256" or "sha512", OpenSSL's names
  std::string hex;        // lower case, 64 or 128 digits
  std::string text() const { return algorithm + ":" + hex; }
};

// nullopt unless `text` is "sha256:" + 64 hex digits or "sha512:" + 128 (either case; the
// algorithm name is case-insensitive too).
std::optional<digest_spec> parse_digest(std::string_view text);

}  // namespace opendo::jobs
