// What the daemon calls of the peer-to-peer engine, and how it finds it: the swarm and libtorrent
// (whose load runs OpenSSL's initialisation: some 4 MiB of an idle daemon's memory) live in a
// module, opendo-peer.so, that the daemon loads when a file first has metainfo or a magnet
// (issue 6, case 6: footprint). swarm.hpp has the libtorrent implementation.
//
// libtorrent runs its own threads; the swarm is used from the daemon's one thread, and `wake`
// (called from libtorrent's thread when alerts wait) makes the daemon's loop come round.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.hpp"
#include "jobs/origin_share.hpp"
#include "transfer/peer/metainfo.hpp"

namespace opendo::transfer::peer {

struct swarm_settings {
  // Where peers connect: libtorrent's syntax, "ADDRESS:PORT" (several joined by ',').
  std::string listen_interfaces = "0.0.0.0:7680";
  bool local_discovery = true;            // BEP 14 local service discovery (multicast)
  std::vector<std::string> static_peers;  // "ADDRESS:PORT", connected to for every content
  std::uint64_t upload_rate_limit = 0;    // bytes/s to peers outside the LAN; 0: none
  jobs::origin_share_policy origin_policy;
  // Bytes of consecutive pieces one origin request asks for (at least one piece).
  std::uint64_t origin_request_bytes = std::uint64_t{1} << 20;
  // Group download mode: every content is shared as its group_metainfo for this group id
  // (transfer/peer/metainfo.hpp), a swarm only the group's hosts can find or join, and no v1
  // twin is seeded. Empty: the LAN swarm of the metainfo as given.
  std::string group_id;
};

// A run of whole pieces fetched from the origin in one request.
struct piece_span {
  std::uint32_t group = 0;
  std::uint32_t first_piece = 0;
  std::uint32_t pieces = 0;
  std::uint64_t offset = 0;  // byte offset in the file
  std::uint64_t length = 0;
};

struct content_progress {
  std::uint64_t size = 0;
  std::uint64_t verified = 0;    // bytes of the pieces that are here and verified
  std::uint64_t from_peers = 0;  // payload received from peers since the content was added
  std::uint64_t to_peers = 0;    // payload sent to peers since the content was added
  std::uint32_t peers = 0;
  bool checking = false;  // libtorrent is checking what the cache holds
  // Every piece is verified and written to the content's file: what a copy of the file needs.
  // libtorrent reports a content finished while blocks that passed their checks still wait in
  // its disk thread's buffers; complete waits until libtorrent says they are flushed (a copy made
  // before had a 16 KiB run of zeros where a block belonged, once in 90 runs of
  // Peers.ALyingPeerChangesNoByteOfAFileGivenByItsMagnet run three at a time).
  bool complete = false;
};

struct swarm_event {
  // bad_piece: a piece the origin's bytes made failed its check (the origin serves another
  // file); bad_peer_piece: one from peers did, whose senders libtorrent bans. legacy_*: the
  // content's v1 twin (share_v1_twin) is seeded now, or cannot be; either way only news, the
  // content itself is not affected. inconsistent: libtorrent stopped the content because its v1
  // (SHA-1) and v2 (merkle) hashes disagreed about a piece ("v1 and v2 hashes do not describe
  // the same data"); the content is paused for good and the file must come another way. For a
  // content added by its magnet, the first such stop is answered by a recheck from the disk
  // (reported as rechecked): libtorrent 2.0.8 also raises it when nothing disagrees.
  enum class kind {
    // Every piece verified and written to the file (content_progress::complete is true now).
    completed,
    bad_piece,
    bad_peer_piece,
    peer_banned,
    failed,
    legacy_shared,
    legacy_failed,
    // The content is checked again from the disk: pieces libtorrent left unchecked, or a
    // magnet's content libtorrent stopped as inconsistent for the first time.
    rechecked,
    inconsistent,
    // A peer found (by local discovery), connected or gone, and why: news for the debug log,
    // which is how a test that found no peer, or a host in the field, shows what happened.
    connection
  };
  kind what = kind::failed;
  std::string key;  // the content's v2 info hash (hex); empty for a session-wide event
  std::string message;
};

struct peer_view {
  std::string key;        // content
  std::string address;    // "ADDRESS:PORT"
  std::string client;     // what the peer calls itself
  bool opendo = false;    // an opendo host (it shares the origin's work)
  std::string host_name;  // its name among them (empty for other clients)
  bool seed = false;
  std::uint64_t bytes_down = 0;  // payload from it
  std::uint64_t bytes_up = 0;    // payload to it
  std::uint64_t rate_down = 0;   // bytes/s
  std::uint64_t rate_up = 0;
};

class swarm_api {
 public:
  virtual ~swarm_api() = default;

  // Starts sharing the content of `metainfo` (trusted, see transfer/peer/metainfo.hpp), stored
  // in cache_dir/KEY; what that directory already holds is checked and kept. Returns the content's
  // key (its v2 info hash in hex, whatever the group: the cache holds the same bytes for every
  // group). Adding a content that is here already only returns its key. Throws
  // std::runtime_error when libtorrent refuses it. A new content starts serving or not as
  // `serving` says (set_serving); one already here keeps its state.
  // `upload_only`: libtorrent downloads nothing for it (its upload mode): a content whose file
  // was put in the cache from elsewhere (an HTTP download, import_file's path) is checked and
  // served, and whatever its check finds missing is never asked of peers.
  virtual std::string add(std::string_view metainfo, const std::filesystem::path& dir,
                          jobs::mono_time now, bool serving = true, bool upload_only = false) = 0;
  // Starts fetching the content a magnet names (trusted: the owner gave it; read_magnet accepts
  // it) before its metadata is here: libtorrent asks peers for the info dictionary (ut_metadata,
  // at most max_metadata_bytes) and accepts it only if it hashes to the magnet's v2 info hash, then
  // asks peers for the piece hashes (BEP 52 hash requests) as it needs them. The magnet's
  // trackers, peers and web seeds are ignored, as for read_magnet. Until has_metadata says so, the
  // content has no size and no pieces, and origin_work gives nothing. Not in group mode (the
  // group's info hash needs the info dictionary): throws std::runtime_error there, and when
  // libtorrent refuses the magnet. Returns the key; a content that is here already keeps its state.
  virtual std::string add_magnet(std::string_view magnet, const std::filesystem::path& cache_dir,
                                 jobs::mono_time now, bool serving = true) = 0;
  // Whether the content's metadata (its info dictionary) is here: always for one added with a
  // metainfo; for a magnet, once a peer sent it (the content's size and pieces are known from
  // then on).
  virtual bool has_metadata(const std::string& key) = 0;
  // The full metainfo of a complete content (its info dictionary as the info hash names it, and
  // the piece layer of its file, which for a magnet libtorrent got from peers and verified against
  // the file's merkle root), bencoded: what read_metainfo accepts and the content cache keeps.
  // Throws std::runtime_error when the content is not complete or a piece layer is missing.
  virtual std::string full_metainfo(const std::string& key) const = 0;
  // Stops sharing; the files stay.
  virtual void remove(const std::string& key) = 0;
  virtual bool has(const std::string& key) const = 0;
  // The complete file of a content (valid once progress says complete).
  virtual std::filesystem::path file_path(const std::string& key) const = 0;
  // The first read that finds a content finished asks libtorrent to flush it to its file (and
  // again every kFlushAgainAfter without an answer); complete is true once it did.
  virtual content_progress progress(const std::string& key) const = 0;

  // Once a content is complete: also seeds its v1 twin (transfer/peer/metainfo.hpp, docs/peers.md
  // "Legacy clients"), a v1-only torrent of the same file for BitTorrent clients that cannot read
  // hybrid metainfo, with `web_seed` (the file's URL) in its url-list. Its SHA-1 pieces are
  // hashed on a worker thread; take_events adds the torrent once they are done and reports
  // legacy_shared (or legacy_failed). Does nothing for an incomplete content or one whose twin was
  // started already, and in group mode (a legacy client cannot know the group's swarm, and the
  // twin's would let any client in). Its uploads count in the content's progress like any other.
  virtual void share_v1_twin(const std::string& key, const std::string& web_seed) = 0;
  // Whether a twin is being hashed (the daemon's loop should come round to add it).
  virtual bool hashing_twins() const = 0;

  // Whether the content (and its v1 twin) may send bytes to peers: a job's peer caching flags
  // and the network's cost decide (docs/peers.md). A content starts serving. While it does not,
  // its peers' requests go unanswered and each peer is choked again within a second: libtorrent's
  // choker has no "never" (an upload limit or unchoke slots of 0 mean unlimited), so a plugin of
  // the content's does it. Fetching from peers goes on either way.
  virtual void set_serving(const std::string& key, bool serving) = 0;
  virtual bool serving(const std::string& key) const = 0;

  // The spans this host should fetch from the origin now, at most `max` (jobs/origin_share.hpp);
  // each is in flight until origin_done or origin_failed.
  virtual std::vector<piece_span> origin_work(const std::string& key, jobs::mono_time now,
                                              std::size_t max) = 0;
  // The span's bytes arrived: each piece not yet here is handed to libtorrent, which verifies it
  // (a bad one comes back as a bad_piece event and is fetched again).
  virtual void origin_done(const std::string& key, const piece_span& span, std::string_view bytes,
                           std::chrono::milliseconds took) = 0;
  virtual void origin_failed(const std::string& key, const piece_span& span) = 0;
  // When origin_work may give more with nothing else changing.
  virtual std::optional<jobs::mono_time> next_decision() const = 0;

  // What happened since the last call (libtorrent's alerts, translated).
  virtual std::vector<swarm_event> take_events() = 0;
  virtual std::vector<peer_view> peers() const = 0;
  virtual std::vector<std::string> keys() const = 0;
  // How many peers (opendo hosts by name) delivered blocks of the content since it was added; the
  // origin's pieces (add_piece) count none.
  virtual std::uint32_t senders(const std::string& key) const = 0;
  // The port peers connect to (the one the system chose when the settings said 0).
  virtual std::uint16_t listen_port() const = 0;
  virtual const std::string& host_name() const = 0;
};

// The module's entry: a table of its functions, found by dlsym(kModuleEntry). The version
// changes with any change of this header (see transfer/http/engine_api.hpp).
struct module_entry {
  std::uint32_t version = 0;
  std::unique_ptr<swarm_api> (*make_swarm)(swarm_settings settings,
                                           std::function<void()> wake) = nullptr;
  // metainfo.hpp's and swarm.hpp's functions of the same names; they throw content_error or
  // std::runtime_error as those do.
  content_metadata (*read_metainfo)(std::string_view bencoded) = nullptr;
  content_metadata (*read_magnet)(std::string_view uri) = nullptr;
  std::filesystem::path (*content_file)(std::string_view metainfo,
                                        const std::filesystem::path& cache_dir) = nullptr;
  std::optional<std::uint64_t> (*content_size)(std::string_view metainfo) = nullptr;
};
inline constexpr std::uint32_t kModuleVersion = 1;
inline constexpr const char* kModuleEntry = "opendo_peer_module";
inline constexpr const char* kModuleFile = "opendo-peer.so";

}  // namespace opendo::transfer::peer
