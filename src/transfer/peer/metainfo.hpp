// Trusted content metadata of a file: BitTorrent v2 (or hybrid) metainfo and magnet URIs, read
// and made with libtorrent. Pure functions; the peer engine trusts only what these accept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>

#include "opendo/types.hpp"

namespace opendo::transfer::peer {

// The largest metainfo accepted (opendo::max_metainfo_size). It travels base64-encoded (4/3 of
// its size) inside one AddFile request, and a Varlink message is at most 1 MiB
// (ipc::max_message_size): 512 KiB becomes 683 KiB, which leaves room for the rest of the
// request. A hybrid metainfo spends 52 bytes per piece (a SHA-1 and a SHA-256), so 512 KiB
// describes about 10,000 pieces: 160 GiB with 16 MiB pieces. publish_file chooses a piece length
// that keeps under it.
inline constexpr std::size_t max_metainfo_bytes = opendo::max_metainfo_size;
// The longest magnet URI accepted.
inline constexpr std::size_t max_magnet_bytes = opendo::max_magnet_size;
// The largest info dictionary accepted from peers for a content added by its magnet
// (libtorrent's max_metadata_size): 4 MiB, eight times what a metainfo given in the API may be,
// so any content a metainfo could describe fits, and a peer cannot make a host buffer more.
inline constexpr int max_metadata_bytes = 4 * 1024 * 1024;
// Piece lengths publish_file accepts: powers of two from 16 KiB (BitTorrent v2's merkle block)
// to 64 MiB.
inline constexpr std::uint32_t min_piece_length = 16 * 1024;
inline constexpr std::uint32_t max_piece_length = 64 * 1024 * 1024;

// Metainfo or a magnet that opendo refuses, or a file it cannot publish; what() says what is
// wrong in words.
class content_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What identifies one file's content. Size and piece fields are 0 for a magnet, which carries
// none of them.
struct content_metadata {
  std::string info_hash_v2;  // 64 lower-case hex digits (SHA-256 of the v2 info dictionary)
  std::string info_hash_v1;  // 40 lower-case hex digits; empty for v2-only content
  std::string name;          // the metainfo's name, or the magnet's dn (may be empty)
  std::uint64_t size = 0;
  std::uint32_t piece_length = 0;
  std::uint32_t piece_count = 0;
  friend bool operator==(const content_metadata&, const content_metadata&) = default;
};

// The file's content id as the API shows it: "urn:btmh:1220" + info_hash_v2 (the multihash of
// a SHA-256, as in a v2 magnet's xt).
std::string content_id(const content_metadata& meta);
// The other way: the info_hash_v2 a content id names (the swarm's key); empty when it names none.
std::string content_key(std::string_view content_id);

// The content id of the v2 info hash `info_hash_v2` (64 hex digits): what content_id(meta) is.
std::string content_id(std::string_view info_hash_v2);

// The longest group id accepted (Delivery Optimization's DOGroupId is a GUID, 36 characters).
inline constexpr std::size_t max_group_id_bytes = 256;

// What is wrong with `group_id` as a group id (empty, too long, a control character), or
// nullopt when it is fine.
std::optional<std::string> group_id_problem(std::string_view group_id);

// The metainfo the hosts of group `group_id` share a content as (Group download mode, docs/
// peers.md): `metainfo` (trusted, read_metainfo accepts it) with one key more in its info
// dictionary, "opendo group", holding HMAC-SHA256(group_id, the v2 info hash). Its file tree,
// merkle roots and piece layers are the same, so the owner's hashes verify every piece; its info
// hashes differ, and only a host that knows the group id can compute them, so hosts of other
// groups (or of none) never join the swarm. Deterministic: every host of the group makes the
// same bytes. Throws content_error when `metainfo` does not parse or the group id is refused.
std::string group_metainfo(std::string_view metainfo, std::string_view group_id);

// A BitTorrent v2 or hybrid metainfo (a .torrent file's bytes) of exactly one non-empty file,
// with its piece layers, not private, at most max_metainfo_bytes. A hybrid's v1 part may add
// tail padding after the file, nothing else. v1-only metainfo is refused: only v2's merkle trees
// verify every 16 KiB block a peer sends. Throws content_error.
content_metadata read_metainfo(std::string_view bencoded);

// A magnet URI ("magnet:?xt=urn:btmh:1220<64 hex>..."), at most max_magnet_bytes, that carries
// a v2 info hash; it may also carry a v1 one (btih). Its trackers (tr), peers (x.pe) and web
// seeds (ws) are ignored: the job's URL is the web seed, and peers come from the daemon's own
// discovery. Throws content_error.
content_metadata read_magnet(std::string_view uri);

// A v1-only torrent of the same file as a hybrid metainfo: its "v1 twin", for BitTorrent clients
// that cannot read hybrid metainfo (docs/peers.md, "Legacy clients"). Its info dictionary is
// fully determined by the file's bytes, its name and the piece length (no creation date, no
// creator, no comment; the web seed lies outside the info dictionary), so that `opendo publish`
// and every opendod that holds the file make the same one and announce the same info hash.
struct v1_twin {
  std::string metainfo;   // bencoded v1-only torrent: name, length, piece length, pieces; url-list
  std::string info_hash;  // 40 lower-case hex digits: SHA-1 of its info dictionary
  std::string magnet;     // btih, dn and ws, as libtorrent makes them
};

// Hashes `file` (SHA-1 per piece) into its v1 twin named `name` with pieces of `piece_length`
// bytes (the hybrid's) and `web_seed_url` (http or https) in url-list. Checks `stop` between
// pieces, so that a daemon that shuts down does not wait for a large file. Throws content_error
// when the file cannot be read or is empty, the name, URL or piece length is refused, or `stop`
// was requested.
v1_twin make_v1_twin(const std::filesystem::path& file, const std::string& name,
                     std::uint32_t piece_length, const std::string& web_seed_url,
                     const std::stop_token& stop = {});

struct published {
  std::string metainfo;  // bencoded, ready to be written as FILE.torrent
  std::string magnet;    // btih, btmh, dn and ws, as libtorrent makes them
  content_metadata meta;
  // The v1 twin of the same file (same name and piece length): what opendod seeds to clients
  // that cannot read the hybrid. Only its magnet is printed; opendod rebuilds its metainfo.
  v1_twin legacy;
};

// Hashes `file` into a hybrid v1+v2 metainfo (so that v1-only clients can fetch it too; see
// docs/architecture.md for the Debian 12 clients that cannot read hybrids, and `legacy` for
// them): one file named as `file`, `web_seed_url` (http or https) in url-list, no trackers, not
// private. piece_length 0 chooses one (libtorrent's choice, raised until the metainfo fits
// max_metainfo_bytes). Makes its v1 twin too (make_v1_twin). Throws content_error when the file
// cannot be read or is empty, the URL or piece length is refused, or the metainfo would be too
// large.
published publish_file(const std::filesystem::path& file, const std::string& web_seed_url,
                       std::uint32_t piece_length = 0);

}  // namespace opendo::transfer::peer
