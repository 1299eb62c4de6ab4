#include "jobs/digest.hpp"

#include <cctype>

#include "common/text.hpp"

namespace opendo::jobs {

std::optional<digest_spec> parse_digest(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  digest_spec out;
  out.algorithm = text::lower(text.substr(0, colon));
  const std::size_t digits = out.algorithm == "sha256" ? 64 : out.algorithm == "sha512" ? 128 : 0;
  const std::string_view hex = text.substr(colon + 1);
  if (digits == 0 || hex.size() != digits) return std::nullopt;
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    out.hex.push_back(text::lower(c));
  }
  return out;
}

}  // namespace opendo::jobs
