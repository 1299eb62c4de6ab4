// The parts of metainfo.hpp that need no libtorrent: content ids and group ids, which the daemon
// checks on every request without loading the peer module (daemon/modules.hpp).
#include <string>
#include <string_view>

#include "transfer/peer/metainfo.hpp"

namespace opendo::transfer::peer {
namespace {

constexpr std::string_view kContentIdPrefix = "urn:btmh:1220";

}  // namespace

std::string content_id(std::string_view info_hash_v2) {
  return std::string(kContentIdPrefix) + std::string(info_hash_v2);
}

std::string content_key(std::string_view content_id) {
  if (content_id.substr(0, kContentIdPrefix.size()) != kContentIdPrefix) return {};
  return std::string(content_id.substr(kContentIdPrefix.size()));
}

std::string content_id(const content_metadata& meta) {
  return content_id(meta.info_hash_v2);
}

std::optional<std::string> group_id_problem(std::string_view group_id) {
  if (group_id.empty()) return "the group id is empty";
  if (group_id.size() > max_group_id_bytes) {
    return "the group id is " + std::to_string(group_id.size()) + " bytes; at most " +
           std::to_string(max_group_id_bytes) + " are accepted";
  }
  for (const char c : group_id) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return "the group id holds a control character";
  }
  return std::nullopt;
}

}  // namespace opendo::transfer::peer
