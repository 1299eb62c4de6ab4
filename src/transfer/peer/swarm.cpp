#include "transfer/peer/swarm.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/fingerprint.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/operations.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_info.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "transfer/peer/metainfo.hpp"

namespace opendo::transfer::peer {

namespace lt = libtorrent;

namespace {

// What opendo hosts call themselves in the peer id: "-OD0100-", then the host's name among the
// hosts sharing the origin's work (kHostNameLength characters, chosen at random when the daemon
// starts), then libtorrent's random bytes. Names by address would not do: a host's outgoing
// connections may leave from another address than the one it listens on.
constexpr std::string_view kFingerprintPrefix = "-OD";
constexpr std::size_t kClientTagLength = 8;  // "-OD0100-"
constexpr std::size_t kHostNameLength = 8;

std::string random_host_name() {
  static constexpr std::string_view kAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::random_device device;
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::string name;
  for (std::size_t i = 0; i < kHostNameLength; ++i) name += kAlphabet[pick(device)];
  return name;
}

// The host name an opendo peer's id carries; empty for other clients.
std::string host_name_of(const lt::peer_id& pid) {
  const std::string_view id(reinterpret_cast<const char*>(pid.data()), pid.size());
  if (!id.starts_with(kFingerprintPrefix)) return {};
  return std::string(id.substr(kClientTagLength, kHostNameLength));
}

std::string hex_of(const lt::sha256_hash& h) {
  std::ostringstream out;
  out << h;
  return out.str();
}

std::string endpoint_text(const lt::tcp::endpoint& e) {
  std::ostringstream out;
  out << e;
  return out.str();
}

// "ADDRESS:PORT" -> endpoint; "[v6]:PORT" too. nullopt when it is not one.
std::optional<lt::tcp::endpoint> parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  lt::error_code ec;
  const auto address = lt::make_address(host, ec);
  if (ec) return std::nullopt;
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (port <= 0 || port > 65535) return std::nullopt;
  return lt::tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

// Who sent a block: an opendo host by its name (one host may hold two connections, each side
// having dialled the other, and libtorrent draws a new peer id for each), another client by its
// address. nullopt for a block of a piece handed in with add_piece (the origin's bytes), which
// libtorrent reports with no peer.
std::optional<std::string> sender_of(const lt::block_finished_alert& block) {
  if (block.endpoint.port() == 0) return std::nullopt;
  if (std::string name = host_name_of(block.pid); !name.empty()) return "opendo host " + name;
  return endpoint_text(block.endpoint);
}

// A magnet's content with no peer and no metadata starts its peer list afresh this often: a
// peer whose first connection failed (its daemon not yet listening, or just restarted) is tried
// again by libtorrent only after (failures + 1) x min_reconnect_time, 10 s, well past the wait
// for the metadata (3 s), after which the file goes over HTTP only. A fresh entry is tried at
// once.
constexpr std::chrono::seconds kRedialEvery{1};
// How long a piece handed in from the origin may wait for its check's result.
constexpr std::chrono::seconds kCheckTimeout{30};
// After this long, a piece handed in that libtorrent neither holds nor has in its download queue
// was dropped without a word: add_piece ignores blocks the picker still counts as written, as
// those of a piece that just failed its check are until the disk thread has cleared them. Such a
// piece is fetched again at once rather than after kCheckTimeout.
constexpr std::chrono::seconds kDroppedAfter{1};

// After this long, a piece handed in whose blocks are all written but that libtorrent has not
// checked is stuck (stuck_pieces); a check takes milliseconds.
constexpr std::chrono::seconds kStuckAfter{5};
// A recheck of a content is asked for at most this often.
constexpr std::chrono::seconds kRecheckEvery{30};
// How long a content added by its magnet holds the origin's pieces back for its piece layers
// (piece_layers_here).
constexpr std::chrono::seconds kLayersWait{3};
// A flush of a finished content (progress) whose answer did not come (an alert dropped) is
// asked for again after this long.
constexpr std::chrono::seconds kFlushAgainAfter{5};

// The torrent the hosts of group `group_id` share the content of `metainfo` as: the same file
// tree and merkle roots under info hashes derived from the group id (group_metainfo).
std::shared_ptr<lt::torrent_info> group_torrent(std::string_view metainfo,
                                                const std::string& group_id) {
  std::string keyed;
  try {
    keyed = group_metainfo(metainfo, group_id);
  } catch (const content_error& e) {
    throw std::runtime_error(std::string("the group's metainfo cannot be made: ") + e.what());
  }
  lt::error_code ec;
  auto info = std::make_shared<lt::torrent_info>(
      lt::span<const char>(keyed.data(), static_cast<std::ptrdiff_t>(keyed.size())), ec,
      lt::from_span);
  if (ec) throw std::runtime_error("the group's metainfo cannot be read: " + ec.message());
  return info;
}

bool is_checking(const lt::torrent_status& st) {
  return st.state == lt::torrent_status::checking_files ||
         st.state == lt::torrent_status::checking_resume_data;
}

// Whether a content may upload, read on libtorrent's network thread by its plugins.
struct upload_gate {
  std::atomic<bool> open{true};
};

// A closed gate keeps the content's bytes from its peers. A peer libtorrent unchoked (at once for
// a LAN peer, which ignores unchoke slots; or in the choker's rotation) is choked again on its
// next request and on every tick, so its requests are rejected as any choked peer's are (the
// session allows no "allowed fast" pieces, which a choked peer could still ask for). Only if the
// choke did not take is a request swallowed unanswered. Opened again, a choked peer is offered
// an unchoke.
class gated_peer final : public lt::peer_plugin {
 public:
  gated_peer(lt::peer_connection_handle peer, std::shared_ptr<const upload_gate> gate)
      : peer_(std::move(peer)), gate_(std::move(gate)) {}
  lt::string_view type() const override { return "opendo-upload-gate"; }
  bool on_request(const lt::peer_request&) override {
    if (gate_->open.load()) return false;
    if (!peer_.is_choked()) peer_.choke_this_peer();
    return !peer_.is_choked();
  }
  void tick() override {
    const bool open = gate_->open.load();
    if (!open && !peer_.is_choked()) peer_.choke_this_peer();
    if (open && was_closed_ && peer_.is_choked()) peer_.maybe_unchoke_this_peer();
    was_closed_ = !open;
  }

 private:
  lt::peer_connection_handle peer_;
  std::shared_ptr<const upload_gate> gate_;
  bool was_closed_ = false;
};

class gated_torrent final : public lt::torrent_plugin {
 public:
  explicit gated_torrent(std::shared_ptr<const upload_gate> gate) : gate_(std::move(gate)) {}
  std::shared_ptr<lt::peer_plugin> new_connection(const lt::peer_connection_handle& peer) override {
    return std::make_shared<gated_peer>(peer, gate_);
  }

 private:
  std::shared_ptr<const upload_gate> gate_;
};

void add_gate(lt::add_torrent_params& params, const std::shared_ptr<upload_gate>& gate) {
  params.extensions.push_back([gate](const lt::torrent_handle&, lt::client_data_t) {
    return std::make_shared<gated_torrent>(gate);
  });
}

// The connections of one content, shared by its peer plugins on libtorrent's network thread.
struct connection_list {
  std::vector<lt::peer_connection_handle> live;

  void add(const lt::peer_connection_handle& peer) {
    std::erase_if(live, [](const lt::peer_connection_handle& h) { return !h.native_handle(); });
    live.push_back(peer);
  }
  // Our live outgoing connection to `listen`, if there is one.
  std::optional<lt::peer_connection_handle> outgoing_to(const lt::tcp::endpoint& listen) const {
    for (const auto& h : live) {
      if (h.native_handle() && h.is_outgoing() && !h.is_disconnecting() && h.remote() == listen) {
        return h;
      }
    }
    return std::nullopt;
  }
};

// Two opendo hosts that find each other at the same moment (both hear the other's local
// discovery announce) connect to each other at once. libtorrent 2.0.8 then closes both: each
// side, learning from the incoming connection's extension handshake that the peer listens where
// its own outgoing connection goes, drops the incoming one (peer_list::update_peer_port), so
// each side's outgoing connection is the other's dropped incoming, and the pair reconnects only
// after min_reconnect_time: seconds in which both hosts take the origin's work alone (seen in
// LanPeers.GroupHostsFindEachOtherByLocalDiscoveryAndNoOtherGroup under load). This plugin
// settles the pair before libtorrent looks (plugins see the extension handshake first) by
// BitTorrent's own rule for duplicates: the connection the host with the greater peer id (for
// opendo hosts, the greater host name) opened is kept. So the host with the greater name drops
// the incoming connection, and the other drops its outgoing one: the same connection, on both
// sides. Peers that are not opendo hosts are left to libtorrent.
class pair_rule_peer final : public lt::peer_plugin {
 public:
  pair_rule_peer(lt::peer_connection_handle peer, std::shared_ptr<connection_list> connections,
                 std::string host_name)
      : peer_(std::move(peer)),
        connections_(std::move(connections)),
        host_name_(std::move(host_name)) {}
  lt::string_view type() const override { return "opendo-pair-rule"; }
  bool on_extension_handshake(const lt::bdecode_node& handshake) override {
    if (peer_.is_outgoing()) return true;
    const std::int64_t port = handshake.dict_find_int_value("p", 0);
    const std::string theirs = host_name_of(peer_.pid());
    if (port <= 0 || port > 65535 || theirs.empty() || theirs == host_name_) return true;
    const lt::tcp::endpoint listen(peer_.remote().address(), static_cast<std::uint16_t>(port));
    auto ours = connections_->outgoing_to(listen);
    if (!ours) return true;
    if (host_name_ > theirs) {
      peer_.disconnect(lt::errors::duplicate_peer_id, lt::operation_t::bittorrent);
    } else {
      ours->disconnect(lt::errors::duplicate_peer_id, lt::operation_t::bittorrent);
    }
    return true;
  }

 private:
  lt::peer_connection_handle peer_;
  std::shared_ptr<connection_list> connections_;
  std::string host_name_;
};

class pair_rule_torrent final : public lt::torrent_plugin {
 public:
  explicit pair_rule_torrent(std::string host_name) : host_name_(std::move(host_name)) {}
  std::shared_ptr<lt::peer_plugin> new_connection(const lt::peer_connection_handle& peer) override {
    connections_->add(peer);
    return std::make_shared<pair_rule_peer>(peer, connections_, host_name_);
  }

 private:
  std::shared_ptr<connection_list> connections_ = std::make_shared<connection_list>();
  std::string host_name_;
};

void add_pair_rule(lt::add_torrent_params& params, const std::string& host_name) {
  params.extensions.push_back([host_name](const lt::torrent_handle&, lt::client_data_t) {
    return std::make_shared<pair_rule_torrent>(host_name);
  });
}

}  // namespace

struct swarm::session_holder {
  explicit session_holder(lt::session_params params) : session(std::move(params)) {}
  lt::session session;
};

struct swarm::content {
  std::string key;
  lt::torrent_handle handle;
  std::shared_ptr<const lt::torrent_info> info;  // null for a magnet until its metadata is here
  // Added by its magnet: its piece hashes come from peers as it goes, and an origin piece handed
  // in before them waits, written and unchecked, which is not a stuck piece until they are here.
  bool from_magnet = false;
  // For one added by its magnet: since when origin_work waits for its piece layers, and whether
  // that wait is over (they are here, or kLayersWait passed); see piece_layers_here.
  std::optional<jobs::mono_time> layers_wait_since;
  bool layers_settled = false;
  // Whether libtorrent already stopped it once with "v1 and v2 hashes do not describe the same
  // data" and it was checked again from the disk (take_events): a second time, it is refused.
  bool inconsistency_rechecked = false;
  std::filesystem::path dir;
  std::uint64_t size = 0;
  std::uint32_t piece_length = 0;
  std::uint32_t pieces = 0;
  std::uint32_t pieces_per_group = 1;
  std::uint32_t groups = 0;
  jobs::origin_share share;
  std::set<std::uint32_t> fetching;  // groups with an origin request running
  // Pieces handed to libtorrent and not yet verified (or refused), and when: their groups count
  // as in flight, or the next look would see them missing and fetch them again.
  std::map<std::uint32_t, jobs::mono_time> unverified;
  // When a recheck was asked for (stuck_pieces, origin_work); origin copies are not handed in until
  // it has run, since libtorrent takes no piece while it checks.
  std::optional<jobs::mono_time> recheck_asked;
  // The peers that delivered a block of it, by sender_of.
  std::set<std::string> senders;
  // Pieces a peer wrote a block of since their last check: a failed check of one is not the
  // origin's fault, even when the origin's copy was handed in too. Under load the liar's failures
  // and the origin's copies of the same pieces came in one batch of alerts, and more than 8
  // counted against the origin failed the job (about 1 run in 40 of LanPeers'
  // APeerThatSendsCorruptPiecesIsBannedAndChangesNoByte).
  std::set<std::uint32_t> peer_written;
  // Whether libtorrent wrote every verified block of a finished content to its file: asked for
  // (flush_cache) by the first progress that finds it finished, done on its cache_flushed_alert;
  // back to none when it is not finished (a recheck). Mutable: progress() reads it.
  enum class flush_state { none, asked, done };
  mutable flush_state flush = flush_state::none;
  mutable jobs::mono_time flush_asked_at{};
  void ask_flush() const {
    handle.flush_cache();
    flush = flush_state::asked;
    flush_asked_at = jobs::mono_clock::now();
  }
  // For one added by its magnet, before its metadata: the peers it knows (the static ones, and
  // those local discovery found), and when it last started its peer list afresh with them
  // (redial_for_metadata). Mutable: progress() redials.
  mutable std::set<lt::tcp::endpoint> known_peers;
  mutable std::optional<jobs::mono_time> redialed_at;
  // Returns whether it did.
  bool redial_for_metadata(jobs::mono_time now) const {
    if (redialed_at && now - *redialed_at < kRedialEvery) return false;
    const bool first_look = !redialed_at;  // libtorrent is connecting to them already
    redialed_at = now;
    if (first_look || known_peers.empty()) return false;
    lt::torrent_handle h = handle;
    h.clear_peers();
    for (const auto& peer : known_peers) h.connect_peer(peer);
    return true;
  }
  // Whether it (and its twin) may upload: set_serving.
  std::shared_ptr<upload_gate> gate = std::make_shared<upload_gate>();
  // The v1 twin for legacy clients (share_v1_twin): its hashing's result, the worker that hashes
  // (declared after the result, so that it is stopped and joined first), then its torrent.
  bool twin_started = false;
  std::future<v1_twin> twin_hashed;
  std::jthread twin_worker;
  lt::torrent_handle twin;

  content(std::string k, jobs::mono_time now, jobs::origin_share_policy policy)
      : key(k), share(std::move(k), now, policy) {}
  std::uint32_t group_of(std::uint32_t piece) const { return piece / pieces_per_group; }
  // Size, pieces and origin request groups from the content's metadata.
  void set_layout(std::shared_ptr<const lt::torrent_info> metadata, std::uint64_t request_bytes) {
    info = std::move(metadata);
    size = static_cast<std::uint64_t>(info->total_size());
    piece_length = static_cast<std::uint32_t>(info->piece_length());
    pieces = static_cast<std::uint32_t>(info->num_pieces());
    pieces_per_group =
        static_cast<std::uint32_t>(std::max<std::uint64_t>(1, request_bytes / piece_length));
    groups = (pieces + pieces_per_group - 1) / pieces_per_group;
  }
};

namespace {

// libtorrent's download queue (the pieces it is writing or checking), asked for at most once per
// turn and only when a check needs it: each call waits for libtorrent's thread.
class download_queue {
 public:
  explicit download_queue(const lt::torrent_handle& handle) : handle_(handle) {}
  const std::vector<lt::partial_piece_info>& pieces() {
    if (!pieces_) pieces_ = handle_.get_download_queue();
    return *pieces_;
  }

 private:
  const lt::torrent_handle& handle_;
  std::optional<std::vector<lt::partial_piece_info>> pieces_;
};

// Whether a piece was handed in more than `after` ago.
bool any_handed_before(const std::map<std::uint32_t, jobs::mono_time>& unverified,
                       jobs::mono_time now, jobs::mono_time::duration after) {
  return std::any_of(unverified.begin(), unverified.end(),
                     [&](const auto& entry) { return now - entry.second > after; });
}

// Forgets the pieces handed in more than kDroppedAfter ago that libtorrent neither holds nor
// writes or checks (not in its download queue): it dropped them, and no alert will come.
void forget_dropped_pieces(std::map<std::uint32_t, jobs::mono_time>& unverified,
                           download_queue& queue, const lt::torrent_status& st,
                           jobs::mono_time now) {
  if (!any_handed_before(unverified, now, kDroppedAfter)) return;
  std::set<std::uint32_t> queued;
  for (const auto& partial : queue.pieces()) {
    queued.insert(static_cast<std::uint32_t>(static_cast<int>(partial.piece_index)));
  }
  std::erase_if(unverified, [&](const auto& entry) {
    const lt::piece_index_t index(static_cast<int>(entry.first));
    const bool held = st.pieces.size() > static_cast<int>(entry.first) && st.pieces[index];
    return now - entry.second > kDroppedAfter && !held && !queued.contains(entry.first);
  });
}

// Whether the piece layers of a content added by its magnet are here. Its origin pieces are
// handed in only once they are, or once it waited kLayersWait for them (origin_work).
// libtorrent 2.0.8 stops a hybrid content for good with "v1 and v2 hashes do not describe the same
// data" when the piece hashes a peer sends prove right the blocks of a piece that passed its SHA-1
// check but whose blocks the disk thread has not written out yet: torrent::add_hashes takes such a
// piece (hash passed, have_piece() not yet true) for one whose v1 check failed. A piece handed in
// before the hashes came is in that state for the milliseconds its blocks take to be written, and
// an answer to the hash request arriving then (sent when a peer first has a piece; on a busy
// machine, 1 run in about 15 of
// Peers.AHostWithTheMagnetSharesOutTheOriginsWorkWithOneThatHasTheMetainfo) stopped the content.
// With the piece layers here first, libtorrent checks each piece against them as it comes and
// asks for no more hashes. A peer that sent the metadata but has no piece yet is asked for the
// hashes once it has one; one that never sends them only costs kLayersWait (the file then
// completes as before, each piece checked against its SHA-1 and, once the whole tree is known,
// the root; should that stop the content, the manager fetches the file over HTTP).
bool piece_layers_here(const lt::torrent_handle& handle, const lt::torrent_info& info) {
  const auto layers = handle.piece_layers();
  const auto& files = info.files();
  for (const auto f : files.file_range()) {
    // A file of one piece has no layer: its merkle root is its piece's hash.
    if (files.pad_file_at(f) || files.file_size(f) <= info.piece_length()) continue;
    const auto index = static_cast<std::size_t>(static_cast<int>(f));
    if (index >= layers.size() || layers[index].empty() ||
        std::any_of(layers[index].begin(), layers[index].end(),
                    [](const lt::sha256_hash& h) { return h.is_all_zeros(); })) {
      return false;
    }
  }
  return true;
}

// A piece whose blocks are all written and which libtorrent never checks: libtorrent 2.0.8 can
// leave a piece so after a peer's bad copy of it failed its check (seen about 1 run in 30 of
// LanPeers.APeerThatSendsCorruptPiecesIsBannedAndChangesNoByte under load: the piece in the
// download queue, its one block finished, no check ever). add_piece skips written blocks, so no
// copy handed in ends it, and the file would wait for ever. A recheck of the torrent does: it
// rebuilds libtorrent's piece state from the disk, keeping every piece that is good there.
// Returns the stuck pieces found; origin_work asks for the recheck and logs them.
std::vector<std::uint32_t> stuck_pieces(const std::map<std::uint32_t, jobs::mono_time>& unverified,
                                        download_queue& queue, jobs::mono_time now) {
  std::vector<std::uint32_t> stuck;
  if (!any_handed_before(unverified, now, kStuckAfter)) return stuck;
  for (const auto& partial : queue.pieces()) {
    const auto piece = static_cast<std::uint32_t>(static_cast<int>(partial.piece_index));
    const auto handed = unverified.find(piece);
    if (handed == unverified.end() || now - handed->second <= kStuckAfter) continue;
    if (partial.finished == partial.blocks_in_piece) stuck.push_back(piece);
  }
  return stuck;
}

// What a connection alert says, in the log's words; nothing for other alerts.
std::optional<std::string> connection_news(const lt::alert& a) {
  if (const auto* found = lt::alert_cast<lt::lsd_peer_alert>(&a)) {
    return "peer " + endpoint_text(found->endpoint) + " found by local discovery";
  }
  if (const auto* out = lt::alert_cast<lt::peer_connect_alert>(&a)) {
    return "connecting to peer " + endpoint_text(out->endpoint);
  }
  if (const auto* in = lt::alert_cast<lt::incoming_connection_alert>(&a)) {
    return "connection from " + endpoint_text(in->endpoint);
  }
  if (const auto* gone = lt::alert_cast<lt::peer_disconnected_alert>(&a)) {
    return "peer " + endpoint_text(gone->endpoint) + " disconnected (" +
           std::string(lt::operation_name(gone->op)) + ": " + gone->error.message() + ")";
  }
  if (const auto* lsd = lt::alert_cast<lt::lsd_error_alert>(&a)) return lsd->message();
  return std::nullopt;
}

}  // namespace

swarm::swarm(swarm_settings settings, std::function<void()> wake)
    : settings_(std::move(settings)), wake_(std::move(wake)), host_name_(random_host_name()) {
  lt::settings_pack pack;
  pack.set_str(lt::settings_pack::listen_interfaces, settings_.listen_interfaces);
  pack.set_str(lt::settings_pack::peer_fingerprint,
               lt::generate_fingerprint("OD", 0, 1, 0) + host_name_);
  pack.set_str(lt::settings_pack::user_agent, "opendo/0.1");
  pack.set_bool(lt::settings_pack::enable_lsd, settings_.local_discovery);
  // No public DHT, no port mapping on the router: a LAN service, not an Internet client.
  pack.set_bool(lt::settings_pack::enable_dht, false);
  pack.set_bool(lt::settings_pack::enable_upnp, false);
  pack.set_bool(lt::settings_pack::enable_natpmp, false);
  // TCP only: uTP backs off to other traffic (LEDBAT), which a LAN copy does not need.
  pack.set_bool(lt::settings_pack::enable_outgoing_utp, false);
  pack.set_bool(lt::settings_pack::enable_incoming_utp, false);
  // Hosts behind one address (NAT, or tests on loopback, whose connections all leave from
  // 127.0.0.1) are still different hosts: one connection per address would drop all but one.
  pack.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
  // A LAN peer that dropped the connection (a client that pauses once it has the metadata, as
  // Transmission does; a host that restarted) is tried again after 5 s, not the Internet's 60 s
  // (times its failures), and up to 10 failures rather than 3: on loopback a legacy client's
  // pause costs one or two failed attempts, and a LAN host may take a minute to come back.
  // (1 s was tried: a magnet host's refused first connection then came again within its 3 s
  // metadata wait, but Peers.ALegacyBitTorrentClientFetchesFromAnOpendodSeed failed in CI, the
  // Transmission client never getting the twin's metadata in 60 s; not understood, so left.)
  pack.set_int(lt::settings_pack::min_reconnect_time, 5);
  pack.set_int(lt::settings_pack::max_failcount, 10);
  // No "allowed fast" pieces (BEP 6): a choked peer could ask for them, and a content that must
  // not upload (set_serving) chokes its peers. LAN peers are unchoked at once anyway.
  pack.set_int(lt::settings_pack::allowed_fast_set_size, 0);
  // What a content added by its magnet accepts as its info dictionary from peers.
  pack.set_int(lt::settings_pack::max_metadata_size, max_metadata_bytes);
  pack.set_int(lt::settings_pack::upload_rate_limit,
               static_cast<int>(std::min<std::uint64_t>(settings_.upload_rate_limit, INT32_MAX)));
  pack.set_int(
      lt::settings_pack::alert_mask,
      static_cast<int>(static_cast<std::uint32_t>(
          lt::alert_category::error | lt::alert_category::status | lt::alert_category::peer |
          lt::alert_category::connect | lt::alert_category::piece_progress |
          lt::alert_category::block_progress | lt::alert_category::storage)));
  session_ = std::make_unique<session_holder>(lt::session_params(std::move(pack)));
  session_->session.set_alert_notify([this] {
    if (wake_) wake_();
  });
}

swarm::~swarm() {
  // No callback into a half-destroyed object while libtorrent shuts down.
  session_->session.set_alert_notify([] {});
}

std::optional<std::uint64_t> swarm::content_size(std::string_view metainfo) {
  lt::error_code ec;
  const lt::torrent_info info(
      lt::span<const char>(metainfo.data(), static_cast<std::ptrdiff_t>(metainfo.size())), ec,
      lt::from_span);
  if (ec) return std::nullopt;
  return static_cast<std::uint64_t>(info.total_size());
}

std::filesystem::path swarm::content_file(std::string_view metainfo,
                                          const std::filesystem::path& cache_dir) {
  lt::error_code ec;
  const lt::torrent_info info(
      lt::span<const char>(metainfo.data(), static_cast<std::ptrdiff_t>(metainfo.size())), ec,
      lt::from_span);
  if (ec) throw std::runtime_error("the metainfo cannot be read: " + ec.message());
  if (!info.info_hashes().has_v2()) {
    throw std::runtime_error("the metainfo has no BitTorrent v2 hashes");
  }
  const auto& files = info.files();
  for (const auto f : files.file_range()) {
    if (!files.pad_file_at(f))
      return cache_dir / hex_of(info.info_hashes().v2) / files.file_path(f);
  }
  throw std::runtime_error("the content has no file");
}

std::string swarm::add(std::string_view metainfo, const std::filesystem::path& cache_dir,
                       jobs::mono_time now, bool serving, bool upload_only) {
  lt::error_code ec;
  auto info = std::make_shared<lt::torrent_info>(
      lt::span<const char>(metainfo.data(), static_cast<std::ptrdiff_t>(metainfo.size())), ec,
      lt::from_span);
  if (ec) throw std::runtime_error("the metainfo cannot be read: " + ec.message());
  if (!info->info_hashes().has_v2()) {
    throw std::runtime_error("the metainfo has no BitTorrent v2 hashes");
  }
  std::string key = hex_of(info->info_hashes().v2);
  if (contents_.count(key) != 0) return key;
  if (!settings_.group_id.empty()) info = group_torrent(metainfo, settings_.group_id);
  const std::filesystem::path dir = cache_dir / key;
  // The origin is fetched by opendod's HTTP engine, never by libtorrent on its own.
  info->set_web_seeds({});

  auto c = std::make_unique<content>(key, now, settings_.origin_policy);
  c->dir = dir;
  c->set_layout(info, settings_.origin_request_bytes);

  lt::add_torrent_params params;
  params.ti = std::const_pointer_cast<lt::torrent_info>(info);
  params.save_path = dir.string();
  params.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed);
  if (upload_only) params.flags |= lt::torrent_flags::upload_mode;
  for (const auto& text : settings_.static_peers) {
    if (const auto endpoint = parse_endpoint(text)) params.peers.push_back(*endpoint);
  }
  c->gate->open.store(serving);
  add_gate(params, c->gate);
  add_pair_rule(params, host_name_);
  c->handle = session_->session.add_torrent(std::move(params), ec);
  if (ec) throw std::runtime_error("libtorrent refused the content: " + ec.message());
  contents_.emplace(key, std::move(c));
  return key;
}

std::string swarm::add_magnet(std::string_view magnet, const std::filesystem::path& cache_dir,
                              jobs::mono_time now, bool serving) {
  if (!settings_.group_id.empty()) {
    // The group's info hash is derived from the info dictionary, which a magnet does not carry.
    throw std::runtime_error("a magnet cannot be shared in group mode");
  }
  lt::error_code ec;
  lt::add_torrent_params params =
      lt::parse_magnet_uri(lt::string_view(magnet.data(), magnet.size()), ec);
  if (ec) throw std::runtime_error("the magnet cannot be read: " + ec.message());
  if (!params.info_hashes.has_v2()) throw std::runtime_error("the magnet has no v2 info hash");
  std::string key = hex_of(params.info_hashes.v2);
  if (contents_.count(key) != 0) return key;
  // Peers come from the daemon's own discovery, and the origin is fetched by opendod's HTTP
  // engine: nothing the magnet names besides its info hashes is used.
  params.trackers.clear();
  params.tracker_tiers.clear();
  params.url_seeds.clear();
  params.peers.clear();
  params.dht_nodes.clear();
  const std::filesystem::path dir = cache_dir / key;
  auto c = std::make_unique<content>(key, now, settings_.origin_policy);
  c->dir = dir;
  c->from_magnet = true;
  params.save_path = dir.string();
  params.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed);
  for (const auto& text : settings_.static_peers) {
    if (const auto endpoint = parse_endpoint(text)) {
      params.peers.push_back(*endpoint);
      c->known_peers.insert(*endpoint);
    }
  }
  c->gate->open.store(serving);
  add_gate(params, c->gate);
  add_pair_rule(params, host_name_);
  c->handle = session_->session.add_torrent(std::move(params), ec);
  if (ec) throw std::runtime_error("libtorrent refused the magnet: " + ec.message());
  contents_.emplace(key, std::move(c));
  return key;
}

bool swarm::has_metadata(const std::string& key) {
  content& c = *contents_.at(key);
  if (c.info) return true;
  if (!c.handle.status({}).has_metadata) return false;
  // libtorrent accepted the info dictionary only because it hashes to the magnet's v2 info hash:
  // it is the owner's. What opendo shares is one file, as read_metainfo demands of a metainfo.
  auto info = c.handle.torrent_file();
  if (!info) return false;
  int files = 0;
  for (const auto f : info->files().file_range()) {
    if (!info->files().pad_file_at(f)) ++files;
  }
  if (files != 1 || info->total_size() <= 0 || info->priv()) {
    throw std::runtime_error(
        "its metadata does not describe one non-empty file of a public torrent");
  }
  c.set_layout(std::move(info), settings_.origin_request_bytes);
  return true;
}

std::string swarm::full_metainfo(const std::string& key) const {
  const content& c = *contents_.at(key);
  if (!c.handle.status({}).is_seeding) throw std::runtime_error("the content is not complete");
  const auto info = c.handle.torrent_file_with_hashes();
  if (!info) throw std::runtime_error("the content has no metadata");
  // libtorrent's write_torrent_file takes the merkle trees of resume data (save_resume_data's
  // asynchronous answer); the piece layers are here already, and the info dictionary is kept as
  // the bytes its info hash names.
  lt::entry metainfo;
  const auto section = info->info_section();
  metainfo["info"] = lt::entry::preformatted_type(section.begin(), section.end());
  auto& layers = metainfo["piece layers"].dict();
  const auto& files = info->files();
  for (const auto f : files.file_range()) {
    if (files.pad_file_at(f) || files.file_size(f) <= info->piece_length()) continue;
    const auto layer = info->piece_layer(f);
    if (layer.empty()) throw std::runtime_error("a piece layer is missing");
    const auto root = files.root(f);
    layers[std::string(root.data(), root.size())] = std::string(layer.begin(), layer.end());
  }
  std::string out;
  lt::bencode(std::back_inserter(out), metainfo);
  return out;
}

void swarm::remove(const std::string& key) {
  const auto it = contents_.find(key);
  if (it == contents_.end()) return;
  session_->session.remove_torrent(it->second->handle);
  if (it->second->twin.is_valid()) session_->session.remove_torrent(it->second->twin);
  contents_.erase(it);  // a twin still being hashed stops at its next piece
}

void swarm::share_v1_twin(const std::string& key, const std::string& web_seed) {
  const auto it = contents_.find(key);
  if (!settings_.group_id.empty()) return;  // legacy clients cannot know the group's swarm
  if (it == contents_.end() || it->second->twin_started || !it->second->info ||
      !progress(key).complete) {
    return;
  }
  content& c = *it->second;
  c.twin_started = true;
  std::promise<v1_twin> promise;
  c.twin_hashed = promise.get_future();
  // Hashing a large file takes seconds: not on the daemon's thread. The worker touches nothing
  // of the swarm; it hands the twin back through the future, and take_events (on the daemon's
  // thread) adds it.
  c.twin_worker = std::jthread([promise = std::move(promise), file = file_path(key),
                                name = c.info->name(), piece_length = c.piece_length, web_seed,
                                wake = wake_](const std::stop_token& stop) mutable {
    try {
      promise.set_value(make_v1_twin(file, name, piece_length, web_seed, stop));
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
    if (!stop.stop_requested() && wake) wake();
  });
}

void swarm::set_serving(const std::string& key, bool serving) {
  const auto it = contents_.find(key);
  if (it != contents_.end()) it->second->gate->open.store(serving);
}

bool swarm::serving(const std::string& key) const {
  const auto it = contents_.find(key);
  return it != contents_.end() && it->second->gate->open.load();
}

bool swarm::hashing_twins() const {
  return std::any_of(contents_.begin(), contents_.end(),
                     [](const auto& entry) { return entry.second->twin_hashed.valid(); });
}

// Adds the twins whose hashing is done to the session (on the daemon's thread).
void swarm::add_hashed_twins(std::vector<swarm_event>& events) {
  for (auto& [key, c] : contents_) {
    if (!c->twin_hashed.valid() ||
        c->twin_hashed.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      continue;
    }
    v1_twin twin;
    try {
      twin = c->twin_hashed.get();
    } catch (const std::exception& e) {
      events.push_back({swarm_event::kind::legacy_failed, key, e.what()});
      continue;
    }
    lt::error_code ec;
    lt::add_torrent_params params;
    params.ti = std::make_shared<lt::torrent_info>(
        lt::span<const char>(twin.metainfo.data(),
                             static_cast<std::ptrdiff_t>(twin.metainfo.size())),
        ec, lt::from_span);
    if (ec) {
      events.push_back({swarm_event::kind::legacy_failed, key,
                        "its v1 twin cannot be read back: " + ec.message()});
      continue;
    }
    // The same directory as the content: libtorrent reads the very file the v2 hashes verified.
    params.save_path = c->dir.string();
    // seed_mode skips libtorrent's check of the whole file: its SHA-1 pieces were just hashed
    // from these bytes, which had been verified against the trusted v2 merkle hashes, and the
    // cache is the daemon's own directory. libtorrent still hashes each piece before it first
    // serves it, and leaves seed mode to recheck everything should one not match.
    params.flags |= lt::torrent_flags::seed_mode;
    params.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed);
    for (const auto& text : settings_.static_peers) {
      if (const auto endpoint = parse_endpoint(text)) params.peers.push_back(*endpoint);
    }
    add_gate(params, c->gate);
    c->twin = session_->session.add_torrent(std::move(params), ec);
    if (ec) {
      events.push_back({swarm_event::kind::legacy_failed, key,
                        "libtorrent refused its v1 twin: " + ec.message()});
      continue;
    }
    events.push_back({swarm_event::kind::legacy_shared, key,
                      "its v1 twin for legacy clients is seeded: " + twin.magnet});
  }
}

std::filesystem::path swarm::file_path(const std::string& key) const {
  const content& c = *contents_.at(key);
  if (!c.info) throw std::runtime_error("the content's metadata is not here yet");
  const auto& files = c.info->files();
  for (const auto f : files.file_range()) {
    if (!files.pad_file_at(f)) return c.dir / files.file_path(f);
  }
  throw std::runtime_error("the content has no file");
}

content_progress swarm::progress(const std::string& key) const {
  const content& c = *contents_.at(key);
  const lt::torrent_status st = c.handle.status({});
  content_progress p;
  p.size = c.size;
  p.verified = static_cast<std::uint64_t>(std::max<std::int64_t>(0, st.total_wanted_done));
  p.from_peers = static_cast<std::uint64_t>(std::max<std::int64_t>(0, st.total_payload_download));
  p.to_peers = static_cast<std::uint64_t>(std::max<std::int64_t>(0, st.total_payload_upload));
  p.peers = static_cast<std::uint32_t>(std::max(0, st.num_peers));
  p.checking = is_checking(st);
  if (c.from_magnet && !st.has_metadata && st.num_peers == 0 &&
      c.redial_for_metadata(jobs::mono_clock::now())) {
    found_.push_back({swarm_event::kind::connection, key,
                      "no peer and no metadata yet: its " + std::to_string(c.known_peers.size()) +
                          " known peers are tried again"});
  }
  if (!st.is_seeding) {
    c.flush = content::flush_state::none;
  } else if (c.flush == content::flush_state::none ||
             (c.flush == content::flush_state::asked &&
              jobs::mono_clock::now() - c.flush_asked_at > kFlushAgainAfter)) {
    c.ask_flush();
  }
  p.complete = st.is_seeding && c.flush == content::flush_state::done;
  if (c.twin.is_valid()) {
    // The same bytes served to legacy clients: uploads to peers like any other.
    const lt::torrent_status twin = c.twin.status({});
    p.to_peers += static_cast<std::uint64_t>(std::max<std::int64_t>(0, twin.total_payload_upload));
    p.peers += static_cast<std::uint32_t>(std::max(0, twin.num_peers));
  }
  return p;
}

std::vector<piece_span> swarm::origin_work(const std::string& key, jobs::mono_time now,
                                           std::size_t max) {
  content& c = *contents_.at(key);
  if (!c.info) return {};  // a magnet's pieces are not known before its metadata
  const lt::torrent_status st = c.handle.status(lt::torrent_handle::query_pieces);
  if (is_checking(st) || st.is_seeding || max == 0) return {};
  if (c.from_magnet && !c.layers_settled) {
    if (!c.layers_wait_since) c.layers_wait_since = now;
    c.layers_settled =
        piece_layers_here(c.handle, *c.info) || now - *c.layers_wait_since >= kLayersWait;
    if (!c.layers_settled) return {};
  }
  std::vector<lt::peer_info> peers;
  c.handle.get_peer_info(peers);
  // A peer that chokes this host while it wants the peer's pieces gives nothing (a content that
  // does not serve, docs/peers.md): its pieces need the origin, and it takes no share of the
  // origin's work. LAN peers unchoke at once, well within the start grace.
  std::erase_if(peers, [](const lt::peer_info& peer) {
    return (peer.flags & lt::peer_info::remote_choked) && (peer.flags & lt::peer_info::interesting);
  });
  std::vector<bool> held(c.pieces, false);
  for (const auto& peer : peers) {
    const auto& has = peer.pieces;
    for (std::uint32_t p = 0; p < c.pieces && static_cast<int>(p) < has.size(); ++p) {
      if (has[lt::piece_index_t(static_cast<int>(p))]) held[p] = true;
    }
  }

  jobs::share_view view{std::vector<bool>(c.groups, false), std::vector<bool>(c.groups, false),
                        std::vector<bool>(c.groups, false)};
  for (std::uint32_t p = 0; p < c.pieces; ++p) {
    const lt::piece_index_t index(static_cast<int>(p));
    const bool here = st.pieces.size() > static_cast<int>(p) && st.pieces[index];
    if (!here) view.missing[c.group_of(p)] = true;
    if (!here && !held[p]) view.needs_origin[c.group_of(p)] = true;
  }
  for (const auto g : c.fetching) view.in_flight[g] = true;
  // A check whose result never came (libtorrent dropped the piece) must not hold its group in
  // flight for ever: after kCheckTimeout it is fetched again like any missing piece.
  download_queue queue(c.handle);
  // A magnet's origin piece handed in before its piece layers came waits unchecked until they
  // do: only once they are here is such a piece stuck. Before, a magnet's content was never
  // rechecked, and a piece a liar's bad copy left stuck would hold its job for ever (likely what
  // kept Peers.ALyingPeerChangesNoByteOfAFileGivenByItsMagnet waiting 120 s in one CI run, whose
  // daemon log was not kept).
  if (!c.recheck_asked || now - *c.recheck_asked > kRecheckEvery) {
    if (const auto stuck = stuck_pieces(c.unverified, queue, now);
        !stuck.empty() && (!c.from_magnet || piece_layers_here(c.handle, *c.info))) {
      std::string pieces;
      for (const auto p : stuck) pieces += (pieces.empty() ? "" : ", ") + std::to_string(p);
      found_.push_back({swarm_event::kind::rechecked, c.key,
                        "pieces " + pieces +
                            " are written but libtorrent never checked them: the content "
                            "is checked again from the disk"});
      c.handle.force_recheck();
      c.recheck_asked = now;
      c.unverified.clear();
      return {};
    }
  }
  std::erase_if(c.unverified,
                [&](const auto& entry) { return now - entry.second > kCheckTimeout; });
  forget_dropped_pieces(c.unverified, queue, st, now);
  for (const auto& [p, since] : c.unverified) view.in_flight[c.group_of(p)] = true;

  std::vector<std::string> others;
  for (const auto& peer : peers) {
    // A seed fetches nothing more, and a client that is not opendo never asks the origin.
    std::string name = host_name_of(peer.pid);
    if (name.empty() || (peer.flags & lt::peer_info::seed)) continue;
    others.push_back(std::move(name));
  }
  const auto groups = c.share.choose(host_name_, others, view, now, max);

  std::vector<piece_span> spans;
  for (const auto g : groups) {
    piece_span s;
    s.group = g;
    s.first_piece = g * c.pieces_per_group;
    s.pieces = std::min(c.pieces_per_group, c.pieces - s.first_piece);
    s.offset = std::uint64_t{s.first_piece} * c.piece_length;
    s.length =
        std::min(c.size, std::uint64_t{s.first_piece + s.pieces} * c.piece_length) - s.offset;
    c.fetching.insert(g);
    spans.push_back(s);
  }
  return spans;
}

void swarm::origin_done(const std::string& key, const piece_span& span, std::string_view bytes,
                        std::chrono::milliseconds took) {
  const auto it = contents_.find(key);
  if (it == contents_.end()) return;
  content& c = *it->second;
  c.fetching.erase(span.group);
  c.share.request_took(took);
  // libtorrent takes no piece while it checks the content: those bytes are fetched again.
  const bool rechecking = c.recheck_asked && is_checking(c.handle.status({}));
  for (std::uint32_t i = 0; i < span.pieces; ++i) {
    const std::uint32_t piece = span.first_piece + i;
    const std::uint64_t begin = std::uint64_t{i} * c.piece_length;
    if (begin >= bytes.size()) break;
    const std::uint64_t length = std::min<std::uint64_t>(c.piece_length, bytes.size() - begin);
    const lt::piece_index_t index(static_cast<int>(piece));
    if (c.handle.have_piece(index) || rechecking) continue;
    c.handle.add_piece(
        index, std::vector<char>(bytes.begin() + static_cast<std::ptrdiff_t>(begin),
                                 bytes.begin() + static_cast<std::ptrdiff_t>(begin + length)));
    c.unverified.insert_or_assign(piece, jobs::mono_clock::now());
  }
}

void swarm::origin_failed(const std::string& key, const piece_span& span) {
  if (const auto it = contents_.find(key); it != contents_.end()) {
    it->second->fetching.erase(span.group);
  }
}

std::optional<jobs::mono_time> swarm::next_decision() const {
  std::optional<jobs::mono_time> earliest;
  for (const auto& [key, c] : contents_) {
    if (const auto at = c->share.next_decision(); at && (!earliest || *at < *earliest)) {
      earliest = at;
    }
  }
  return earliest;
}

std::vector<swarm_event> swarm::take_events() {
  std::vector<lt::alert*> alerts;
  session_->session.pop_alerts(&alerts);
  std::vector<swarm_event> events = std::exchange(found_, {});
  add_hashed_twins(events);
  auto key_of = [&](const lt::torrent_handle& h) -> content* {
    for (auto& [key, c] : contents_) {
      if (c->handle == h) return c.get();
    }
    return nullptr;
  };
  // A v1 twin's troubles are news about the twin only: the content and its jobs go on.
  auto twin_of = [&](const lt::torrent_handle& h) -> content* {
    for (auto& [key, c] : contents_) {
      if (c->twin.is_valid() && c->twin == h) return c.get();
    }
    return nullptr;
  };
  for (const lt::alert* a : alerts) {
    if (const auto* torrent = dynamic_cast<const lt::torrent_alert*>(a)) {
      if (content* c = twin_of(torrent->handle)) {
        if (const auto* ban = lt::alert_cast<lt::peer_ban_alert>(a)) {
          events.push_back({swarm_event::kind::peer_banned, c->key,
                            "peer " + endpoint_text(ban->endpoint) + " of the v1 twin banned"});
        } else if (lt::alert_cast<lt::hash_failed_alert>(a) ||
                   lt::alert_cast<lt::file_error_alert>(a) ||
                   lt::alert_cast<lt::torrent_error_alert>(a)) {
          events.push_back({swarm_event::kind::legacy_failed, c->key, "v1 twin: " + a->message()});
        }
        continue;
      }
    }
    if (const auto* block = lt::alert_cast<lt::block_finished_alert>(a)) {
      content* c = key_of(block->handle);
      if (const auto sender = sender_of(*block); c && sender) {
        c->senders.insert(*sender);
        c->peer_written.insert(static_cast<std::uint32_t>(static_cast<int>(block->piece_index)));
      }
    } else if (const auto* done = lt::alert_cast<lt::piece_finished_alert>(a)) {
      if (content* c = key_of(done->handle)) {
        const auto piece = static_cast<std::uint32_t>(static_cast<int>(done->piece_index));
        c->unverified.erase(piece);
        c->peer_written.erase(piece);
      }
    } else if (const auto* bad = lt::alert_cast<lt::hash_failed_alert>(a)) {
      if (content* c = key_of(bad->handle)) {
        // Only a piece whose every block came from the origin says something about the origin's
        // file: when a peer wrote a block of it, the origin's copy was (at least in part) not
        // taken, and the peer is to blame (libtorrent bans it).
        const auto piece = static_cast<std::uint32_t>(static_cast<int>(bad->piece_index));
        const bool from_peer = c->peer_written.erase(piece) != 0;
        const bool from_origin = c->unverified.erase(piece) != 0 && !from_peer;
        events.push_back(
            {from_origin ? swarm_event::kind::bad_piece : swarm_event::kind::bad_peer_piece, c->key,
             "piece " + std::to_string(static_cast<int>(bad->piece_index)) +
                 " failed its hash check and is fetched again"});
      }
    } else if (const auto* flushed = lt::alert_cast<lt::cache_flushed_alert>(a)) {
      // Everything libtorrent held when the flush was asked for is in the file now: only then is
      // the content complete (content_progress::complete).
      content* c = key_of(flushed->handle);
      if (c && c->flush == content::flush_state::asked) {
        c->flush = content::flush_state::done;
        events.push_back({swarm_event::kind::completed, c->key, {}});
      }
    } else if (const auto* finished = lt::alert_cast<lt::torrent_finished_alert>(a)) {
      if (content* c = key_of(finished->handle); c && c->flush == content::flush_state::none) {
        c->ask_flush();
      }
    } else if (const auto* ban = lt::alert_cast<lt::peer_ban_alert>(a)) {
      content* c = key_of(ban->handle);
      events.push_back({swarm_event::kind::peer_banned, c ? c->key : std::string(),
                        "peer " + endpoint_text(ban->endpoint) + " banned: it sent bad data"});
    } else if (const auto* file_error = lt::alert_cast<lt::file_error_alert>(a)) {
      content* c = key_of(file_error->handle);
      events.push_back(
          {swarm_event::kind::failed, c ? c->key : std::string(), file_error->message()});
    } else if (const auto* error = lt::alert_cast<lt::torrent_error_alert>(a)) {
      content* c = key_of(error->handle);
      const bool inconsistent =
          error->error == lt::error_code(lt::errors::torrent_inconsistent_hashes);
      if (inconsistent && c && c->from_magnet && !c->inconsistency_rechecked) {
        // libtorrent 2.0.8 also raises it, wrongly, when the piece hashes a peer sends for a
        // magnet's content prove right a piece whose blocks are not yet written out (see
        // piece_layers_here): its bytes are good. A recheck from the disk (which clears the error;
        // resume undoes the pause that came with it) keeps every piece that both hashes verify
        // there, now that the layers are here; bytes whose two hashes really disagree meet the
        // same error again, and then the content is refused.
        c->inconsistency_rechecked = true;
        c->handle.force_recheck();
        c->handle.resume();
        c->recheck_asked = jobs::mono_clock::now();
        c->unverified.clear();
        events.push_back({swarm_event::kind::rechecked, c->key,
                          "libtorrent stopped the content (" + error->error.message() +
                              "), which it also does when piece hashes come from a peer while "
                              "pieces that passed their SHA-1 check are being written: the "
                              "content is checked again from the disk, once"});
        continue;
      }
      events.push_back({inconsistent ? swarm_event::kind::inconsistent : swarm_event::kind::failed,
                        c ? c->key : std::string(), error->message()});
    } else if (const auto* listen = lt::alert_cast<lt::listen_failed_alert>(a)) {
      events.push_back({swarm_event::kind::failed, {}, listen->message()});
    } else if (auto news = connection_news(*a)) {
      const auto* torrent = dynamic_cast<const lt::torrent_alert*>(a);
      const content* c = torrent ? key_of(torrent->handle) : nullptr;
      if (const auto* found = lt::alert_cast<lt::lsd_peer_alert>(a); found && c) {
        c->known_peers.insert(found->endpoint);
      }
      events.push_back({swarm_event::kind::connection, c ? c->key : std::string(), *news});
    }
  }
  return events;
}

std::vector<peer_view> swarm::peers() const {
  std::vector<peer_view> out;
  for (const auto& [key, c] : contents_) {
    std::vector<lt::peer_info> peers;
    c->handle.get_peer_info(peers);
    if (c->twin.is_valid()) {
      std::vector<lt::peer_info> legacy;
      c->twin.get_peer_info(legacy);
      peers.insert(peers.end(), legacy.begin(), legacy.end());
    }
    for (const auto& p : peers) {
      peer_view v;
      v.key = key;
      v.address = endpoint_text(p.ip);
      v.client = p.client;
      v.host_name = host_name_of(p.pid);
      v.opendo = !v.host_name.empty();
      v.seed = static_cast<bool>(p.flags & lt::peer_info::seed);
      v.bytes_down = static_cast<std::uint64_t>(std::max<std::int64_t>(0, p.total_download));
      v.bytes_up = static_cast<std::uint64_t>(std::max<std::int64_t>(0, p.total_upload));
      v.rate_down = static_cast<std::uint64_t>(std::max(0, p.payload_down_speed));
      v.rate_up = static_cast<std::uint64_t>(std::max(0, p.payload_up_speed));
      out.push_back(std::move(v));
    }
  }
  return out;
}

std::uint32_t swarm::senders(const std::string& key) const {
  const auto it = contents_.find(key);
  return it == contents_.end() ? 0 : static_cast<std::uint32_t>(it->second->senders.size());
}

std::uint16_t swarm::listen_port() const {
  return session_->session.listen_port();
}

std::vector<std::string> swarm::keys() const {
  std::vector<std::string> out;
  for (const auto& [key, c] : contents_) out.push_back(key);
  return out;
}

}  // namespace opendo::transfer::peer
