// The manager's side of peer-to-peer delivery: files with trusted metadata fetched through the
// swarm (transfer/peer/swarm.hpp), the origin fetches that supply this host's share of their
// pieces, and the copy of a complete content into the owner's temporary file. See docs/peers.md.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "daemon/manager.hpp"
#include "daemon/peer_module.hpp"
#include "jobs/accounting.hpp"
#include "jobs/lifecycle.hpp"
#include "jobs/peer_policy.hpp"
#include "opendo/hresult.hpp"
#include "transfer/peer/metainfo.hpp"

namespace opendo::daemon {

namespace {

// Origin requests running at once for one content: two hide a request's latency, more would
// take the origin's bandwidth from the other hosts of the LAN.
constexpr std::size_t kOriginFetchesPerContent = 2;
// How often the swarm's figures are read while files are shared (each read is a round trip to
// libtorrent's thread).
constexpr std::chrono::milliseconds kSwarmTurn{100};
// A content whose pieces fail their hash check this often is not what its metainfo says (the
// origin changed the file, or serves another): the job fails instead of fetching forever.
constexpr std::uint32_t kMaxBadPieces = 8;
// Whole-file copies to and from the content cache at once (each a copy and an fdatasync): two
// keep a large delivery from holding up a small one.
constexpr std::size_t kCopyThreads = 2;
// How long a file with only a magnet waits at least for its metadata from peers (when the start
// grace is shorter) before it goes over HTTP only. A peer that has the content sends it within
// milliseconds of the connection; local discovery finds peers within the start grace.
constexpr std::chrono::seconds kMetadataWait{3};

jobs::mono_time mono_now() {
  return jobs::mono_clock::now();
}

// Every content's figures, read once.
std::map<std::string, transfer::peer::content_progress> read_progress(
    const transfer::peer::swarm_api& swarm) {
  std::map<std::string, transfer::peer::content_progress> out;
  for (const auto& key : swarm.keys()) out.emplace(key, swarm.progress(key));
  return out;
}

// Copies `size` bytes from `from` to `to` (both from offset 0): in the kernel when it can.
// Returns 0, or the errno it failed with (EIO for a file shorter than `size`), which the caller
// reads rather than errno: building `error` may have changed that.
int copy_all(int from, int to, std::uint64_t size, std::string& error) {
  loff_t in = 0;
  loff_t out = 0;
  while (static_cast<std::uint64_t>(in) < size) {
    const auto left = static_cast<std::size_t>(size - static_cast<std::uint64_t>(in));
    const ssize_t n = ::copy_file_range(from, &in, to, &out, left, 0);
    if (n > 0) continue;
    if (n == 0) {
      error = "the content cache's file is shorter than the content";
      return EIO;
    }
    const int failed = errno;
    if (failed == EXDEV || failed == ENOSYS || failed == EOPNOTSUPP || failed == EINVAL) break;
    error = std::strerror(failed);
    return failed;
  }
  std::vector<char> buffer(std::size_t{1} << 20);
  while (static_cast<std::uint64_t>(in) < size) {
    const std::size_t want = std::min<std::uint64_t>(buffer.size(), size - in);
    const ssize_t n = ::pread(from, buffer.data(), want, in);
    if (n <= 0) {
      const int failed = n == 0 ? EIO : errno;
      error =
          n == 0 ? "the content cache's file is shorter than the content" : std::strerror(failed);
      return failed;
    }
    for (ssize_t done = 0; done < n;) {
      const ssize_t w =
          ::pwrite(to, buffer.data() + done, static_cast<std::size_t>(n - done), out + done);
      if (w < 0) {
        const int failed = errno;
        error = std::strerror(failed);
        return failed;
      }
      done += w;
    }
    in += n;
    out += n;
  }
  return 0;
}

// Scheme, host and port of an http(s) URL, as libcurl reads them ("https://host:443"); empty when
// it does not parse.
std::string url_origin(const std::string& url) {
  const transfer::http::url_parts parsed = parse_url(url);
  if (!parsed.ok || parsed.scheme.empty() || parsed.host.empty() || parsed.port.empty()) return {};
  return parsed.scheme + "://" + parsed.host + ":" + parsed.port;
}

}  // namespace

bool manager::may_share(const jobs::job& j, std::uint32_t index) const {
  const auto& file = j.files[index];
  if (!config_.peers.sharing() || !jobs::may_fetch_from_peers(j) || !file.ranges.empty() ||
      j.dynamic_content || file.origin_only) {
    return false;
  }
  if (file.metainfo.empty()) return may_share_magnet(j, index);
  return content_size(file) >= config_.peers.min_file_size;
}

bool manager::may_share_magnet(const jobs::job& j, std::uint32_t index) const {
  const auto& file = j.files[index];
  // Tried when the file starts with no byte yet, until a note says why not (kept until the next
  // Resume or retry; "used" is no reason not to: it came through peers before); not in
  // group mode, whose swarm is keyed by the info dictionary a magnet does not carry.
  return !file.magnet.empty() && file.metainfo.empty() &&
         (file.metainfo_note.empty() || file.metainfo_note == "used") &&
         !config_.peers.group_mode() && file.bytes_transferred == 0 && file.segments.empty();
}

bool manager::magnet_metadata_arrived(jobs::job& j, shared_file& shared, std::string& why) {
  auto& file = j.files[shared.index];
  try {
    if (!swarm_->has_metadata(shared.key)) return false;
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
  const auto progress = swarm_->progress(shared.key);
  if (shared.origin_size != size_unknown && progress.size != shared.origin_size) {
    why = "the metadata of its magnet describes " + std::to_string(progress.size) +
          " bytes, but the origin's file has " + std::to_string(shared.origin_size);
    return false;
  }
  shared.awaiting_metadata = false;
  file.bytes_total = file.remote_size = progress.size;
  if (file.metainfo_note != "used") {
    file.metainfo_note = "used";
    persist_file(j, shared.index);  // `opendo info` says it after a restart too
  }
  spdlog::info("job {}: file {}: the metadata of its magnet came from peers ({} bytes)", j.id,
               shared.index, progress.size);
  notify(j, job_event_kind::modified);
  return true;
}

void manager::magnet_not_used(jobs::job& j, std::uint32_t index, const std::string& why) {
  stop_shared_file(j);
  auto& file = j.files[index];
  file.metainfo_note = why;
  file.bytes_total = file.remote_size = size_unknown;
  persist_file(j, index);  // `opendo info` says why after a restart too
  spdlog::warn("job {}: file {} goes over HTTP only: {}", j.id, index, why);
  notify(j, job_event_kind::modified);
  start_file(j);
}

void manager::keep_magnet_metainfo(const jobs::job& j, const shared_file& shared) {
  const auto& file = j.files[shared.index];
  try {
    std::string metainfo = swarm_->full_metainfo(shared.key);
    // What the cache keeps must be what opendo accepts from an owner, and the same content.
    const auto meta = peer_module().read_metainfo(metainfo);
    if (transfer::peer::content_id(meta) != file.content_id) {
      throw std::runtime_error("it names another content");
    }
    remember_content(shared.key, metainfo);
    spdlog::info("peers: content {} came by its magnet; its metainfo is kept in the cache",
                 shared.key);
  } catch (const std::exception& e) {
    spdlog::warn(
        "peers: content {}: no metainfo made from its magnet ({}); it is not shared "
        "again after a restart",
        shared.key, e.what());
  }
}

std::uint64_t manager::content_size(const jobs::file_record& file) const {
  // The content id is the SHA-256 of the info dictionary, which holds the size: one parse per
  // content serves every later start of every file with that content.
  const auto known = content_sizes_.find(file.content_id);
  if (known != content_sizes_.end()) return known->second;
  const auto size = peer_module().content_size(file.metainfo);
  if (!size) return 0;
  content_sizes_.emplace(file.content_id, *size);
  return *size;
}

transfer::peer::swarm_api& manager::the_swarm() {
  if (!swarm_) {
    transfer::peer::swarm_settings s;
    s.listen_interfaces = config_.peers.listen;
    s.local_discovery = config_.peers.local_discovery;
    s.static_peers = config_.peers.static_peers;
    s.upload_rate_limit = config_.peers.upload_limit;
    s.origin_request_bytes = config_.peers.origin_request_bytes;
    s.origin_policy.start_grace = config_.peers.start_grace;
    if (config_.peers.group_mode()) s.group_id = config_.peers.group_id;
    swarm_ = peer_module().make_swarm(s, [this] { engine_.wakeup(); });
    // The group id itself is not logged: it is what lets a host into the group's swarms.
    spdlog::info("peers: sharing on {} as host {}{}", config_.peers.listen, swarm_->host_name(),
                 config_.peers.group_mode() ? " with the hosts of its group only" : "");
  }
  return *swarm_;
}

void manager::add_swarm_figures(machine_statistics& s) const {
  switch (config_.peers.download_mode) {
    case 0:
      s.download_mode = "HttpOnly";
      break;
    case 2:
      s.download_mode = "Group";
      break;
    case 99:
      s.download_mode = "Simple";
      break;
    default:
      s.download_mode = "Lan";
      break;
  }
  if (!swarm_) return;
  for (const auto& key : swarm_->keys()) s.cache_size += swarm_->progress(key).verified;
  std::set<std::string> addresses;
  for (const auto& peer : swarm_->peers()) addresses.insert(peer.address);
  s.peers_connected = static_cast<std::uint32_t>(addresses.size());
}

std::vector<peer_connection> manager::peers(const caller& who) const {
  std::vector<peer_connection> out;
  if (!swarm_) return out;
  // A content id tells what was downloaded: a user sees the peers of their own files only.
  std::set<std::string> visible;
  for (const auto& [id, j] : jobs_) {
    if (!who.admin && j.owner_uid != who.uid) continue;
    for (const auto& file : j.files) {
      if (!file.content_id.empty()) visible.insert(file.content_id);
    }
  }
  for (const auto& p : swarm_->peers()) {
    const std::string content_id = transfer::peer::content_id(p.key);
    if (!who.admin && visible.count(content_id) == 0) continue;
    peer_connection c;
    c.content_id = content_id;
    c.address = p.address;
    c.client = p.client;
    c.opendo = p.opendo;
    c.seed = p.seed;
    c.bytes_from = p.bytes_down;
    c.bytes_to = p.bytes_up;
    c.rate_from = p.rate_down;
    c.rate_to = p.rate_up;
    out.push_back(std::move(c));
  }
  return out;
}

void manager::start_shared_file(jobs::job& j, std::uint32_t index) {
  auto& file = j.files[index];
  auto now = mono_now();
  std::string key;
  try {
    std::filesystem::create_directories(config_.peers.cache_dir);
    std::filesystem::permissions(config_.peers.cache_dir, std::filesystem::perms::owner_all);
    const bool serving =
        jobs::may_serve_to_peers(j) && (config_.peers.share_on_metered || !network_.metered());
    // The first shared file loads the peer module and starts the session (a second under
    // sanitizers): the peers' grace starts once they can be reached, not before.
    auto& swarm = the_swarm();
    now = mono_now();
    if (file.metainfo.empty()) {
      key = swarm.add_magnet(file.magnet, config_.peers.cache_dir, now, serving);
    } else {
      key = swarm.add(file.metainfo, config_.peers.cache_dir, now, serving);
      remember_content(key, file.metainfo);
    }
  } catch (const std::exception& e) {
    if (file.metainfo.empty()) {
      // The magnet is an optimization: the file comes from its origin as without it.
      file.metainfo_note = std::string("its magnet cannot be shared: ") + e.what();
      persist_file(j, index);
      spdlog::warn("job {}: file {} goes over HTTP only: {}", j.id, index, file.metainfo_note);
      notify(j, job_event_kind::modified);
      start_file(j);
      return;
    }
    fail_job(j, value_of(hr::e_fail), error_context::local_file, index,
             std::string("the file cannot be shared: ") + e.what(), true);
    return;
  }
  shared_file shared;
  shared.index = index;
  shared.key = key;
  shared.clock_at = now;
  if (const auto probed = magnet_sizes_.find({j.id, index}); probed != magnet_sizes_.end()) {
    shared.origin_size = probed->second;
    magnet_sizes_.erase(probed);
  }
  // A magnet's content waits for its metadata from peers, at most the start grace and no less
  // than kMetadataWait, before the file goes over HTTP only (run_shared_files). One whose
  // metadata is here already (a start after a retry, a content in the cache) is checked now.
  shared.awaiting_metadata = file.metainfo.empty();
  shared.metadata_by =
      now + std::max<jobs::mono_clock::duration>(config_.peers.start_grace, kMetadataWait);
  if (shared.awaiting_metadata) {
    std::string why;
    if (!magnet_metadata_arrived(j, shared, why) && !why.empty()) {
      shared_.insert_or_assign(j.id, shared);
      magnet_not_used(j, index, why);
      return;
    }
  }
  const auto progress = swarm_->progress(key);
  if (!shared.awaiting_metadata) file.bytes_total = file.remote_size = progress.size;
  shared.peer_bytes_seen = progress.from_peers;
  shared.verified = progress.verified;
  shared_.insert_or_assign(j.id, shared);
  // Its bytes wait in the content cache: stopping it loses none.
  turns_[j.id] = turn{now, true};
  dirty_schedule_ = true;
  if (shared.awaiting_metadata) {
    spdlog::info("job {}: file {} asks peers for the metadata of its magnet (content {})", j.id,
                 index, key);
  } else {
    spdlog::info("job {}: file {} comes through peers as content {} ({} bytes)", j.id, index, key,
                 progress.size);
  }
}

void manager::run_shared_files(jobs::mono_time now) {
  if (!swarm_ || now - swarm_turn_at_ < kSwarmTurn) return;
  swarm_turn_at_ = now;
  for (auto& e : swarm_->take_events()) {
    using kind = transfer::peer::swarm_event::kind;
    switch (e.what) {
      case kind::completed:
        break;  // seen below in its progress
      case kind::bad_piece:
        spdlog::warn("peers: content {}: {}", e.key, e.message);
        if (++bad_pieces_[e.key] > kMaxBadPieces) {
          fail_shared_content(e.key, value_of(hr::do_e_bad_piece_hash), error_context::remote_file,
                              "more than " + std::to_string(kMaxBadPieces) +
                                  " pieces failed their hash check: the origin's file is not "
                                  "the one the metainfo describes",
                              false);
        }
        break;
      case kind::bad_peer_piece:  // its senders' fault, not the origin's: libtorrent bans them
      case kind::peer_banned:
      case kind::rechecked:
        spdlog::warn("peers: content {}: {}", e.key, e.message);
        break;
      case kind::inconsistent:
        spdlog::warn("peers: content {}: {}", e.key, e.message);
        drop_inconsistent_content(e.key, e.message);
        break;
      case kind::legacy_shared:
        spdlog::info("peers: content {}: {}", e.key, e.message);
        break;
      case kind::connection:
        if (e.key.empty()) {
          spdlog::debug("peers: {}", e.message);
        } else {
          spdlog::debug("peers: content {}: {}", e.key, e.message);
        }
        break;
      case kind::legacy_failed:
        // Only legacy clients lose: the content and its jobs are not affected.
        spdlog::warn("peers: content {}: no v1 twin for legacy clients: {}", e.key, e.message);
        break;
      case kind::failed:
        if (e.key.empty()) {
          spdlog::warn("peers: {}", e.message);
        } else {
          fail_shared_content(e.key, value_of(hr::e_fail), error_context::local_file,
                              "the content cache failed: " + e.message, true);
        }
        break;
    }
  }
  // Each read is a round trip to libtorrent's thread: once per content per turn.
  const progress_by_key progress = read_progress(*swarm_);
  count_peer_traffic(progress);
  gate_uploads();
  check_imported(progress);
  for (auto it = restored_twins_.begin(); it != restored_twins_.end();) {
    const auto read = progress.find(it->first);
    if (read == progress.end()) {
      it = restored_twins_.erase(it);
    } else if (read->second.complete) {
      swarm_->share_v1_twin(it->first, it->second);
      it = restored_twins_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::string> complete;
  std::vector<std::pair<std::string, std::string>> magnets_not_used;  // job, why
  for (auto& [job_id, shared] : shared_) {
    if (shared.delivering) continue;  // complete, and being copied out (deliver_shared_file)
    const auto read = progress.find(shared.key);
    if (read == progress.end()) continue;
    if (shared.awaiting_metadata) {
      std::string why;
      if (!magnet_metadata_arrived(jobs_.at(job_id), shared, why)) {
        if (why.empty() && now >= shared.metadata_by) {
          why = "no peer sent the metadata of its magnet within " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::max<jobs::mono_clock::duration>(config_.peers.start_grace,
                                                                        kMetadataWait))
                                   .count()) +
                " ms";
        }
        if (!why.empty()) magnets_not_used.emplace_back(job_id, why);
        continue;
      }
    }
    shared.verified = read->second.verified;
    if (read->second.complete) {
      // A magnet's content: its full metainfo, with the piece layers peers sent, goes into the
      // cache, so that it is shared again like any other content.
      if (jobs_.at(job_id).files[shared.index].metainfo.empty()) {
        keep_magnet_metainfo(jobs_.at(job_id), shared);
      }
      // Legacy BitTorrent clients get the same file through its v1 twin (docs/peers.md), with
      // the file's URL as its web seed.
      if (swarm_->serving(shared.key)) {
        swarm_->share_v1_twin(shared.key, jobs_.at(job_id).files[shared.index].remote_url);
      }
      complete.push_back(job_id);
      continue;
    }
    start_origin_fetches(jobs_.at(job_id), shared, now);
  }
  for (const auto& job_id : complete) {
    if (shared_.count(job_id) != 0) deliver_shared_file(jobs_.at(job_id));
  }
  for (const auto& [job_id, why] : magnets_not_used) {
    const auto it = shared_.find(job_id);
    if (it != shared_.end()) magnet_not_used(jobs_.at(job_id), it->second.index, why);
  }
}

bool manager::others_may_serve(const std::string& key, const std::string& except) const {
  return std::any_of(shared_.begin(), shared_.end(), [&](const auto& entry) {
    return entry.first != except && entry.second.key == key &&
           jobs::may_serve_to_peers(jobs_.at(entry.first));
  });
}

void manager::gate_uploads() {
  // Nothing is served on a metered or cellular network unless the configuration says so.
  const bool network_allows = config_.peers.share_on_metered || !network_.metered();
  // A content that several jobs fetch is served when one of them allows it: its bytes are the
  // same for all, and the others' peers get them anyway. One complete and kept from before
  // (another job shared it) is served as it was; one no job fetches any more was kept only if
  // its job allowed it.
  std::map<std::string, bool> jobs_allow;
  for (const auto& [job_id, shared] : shared_) {
    jobs_allow[shared.key] = jobs_allow[shared.key] || jobs::may_serve_to_peers(jobs_.at(job_id));
  }
  for (const auto& key : swarm_->keys()) {
    const auto it = jobs_allow.find(key);
    bool allowed = it == jobs_allow.end() || it->second ||
                   std::filesystem::exists(std::filesystem::path(config_.peers.cache_dir) /
                                           (key + ".complete"));
    allowed = allowed && network_allows;
    if (swarm_->serving(key) == allowed) continue;
    swarm_->set_serving(key, allowed);
    spdlog::info("peers: content {} is {} served to peers ({})", key, allowed ? "now" : "no longer",
                 network_allows ? "its jobs' peer caching flags"
                                : std::string("the network is ") +
                                      std::string(jobs::to_string(network_.cost())));
  }
}

void manager::count_peer_traffic(const progress_by_key& progress) {
  // In group mode every peer of a swarm is a host of the group (only they can find or join it):
  // its bytes are group-peer bytes (DO's BytesFromGroupPeers and its kin), not LAN ones.
  const bool group = config_.peers.group_mode();
  const jobs::byte_source source =
      group ? jobs::byte_source::group_peer : jobs::byte_source::lan_peer;
  std::uint64_t source_stats::*const connections =
      group ? &source_stats::group_peer_connections : &source_stats::lan_peer_connections;
  std::uint64_t source_stats::*const uploaded =
      group ? &source_stats::bytes_to_group_peers : &source_stats::bytes_to_lan_peers;
  for (auto& [job_id, shared] : shared_) {
    const auto read = progress.find(shared.key);
    if (read == progress.end()) continue;
    const std::uint64_t from_peers = read->second.from_peers;
    if (from_peers > shared.peer_bytes_seen) {
      const std::uint64_t bytes = from_peers - shared.peer_bytes_seen;
      jobs::add_received(jobs_.at(job_id).files[shared.index].sources, source, bytes);
      jobs::add_received(totals_.sources, source, bytes);
      totals_dirty_ = true;
    }
    shared.peer_bytes_seen = from_peers;
  }
  // The peers that delivered blocks of a file count as its peer connections (DO's connection
  // counts per source); libtorrent names each block's sender.
  for (auto& [job_id, shared] : shared_) {
    auto& file = jobs_.at(job_id).files[shared.index];
    const std::uint64_t connected = swarm_->senders(shared.key);
    if (connected > file.sources.*connections) {
      totals_.sources.*connections += connected - file.sources.*connections;
      file.sources.*connections = connected;
      totals_dirty_ = true;
    }
  }
  // Uploads go on after the files are delivered, while the cache serves them.
  for (const auto& [key, read] : progress) {
    const std::uint64_t sent = read.to_peers;
    std::uint64_t& seen = uploads_seen_[key];
    if (sent <= seen) continue;
    const std::uint64_t bytes = sent - seen;
    seen = sent;
    if (uploaded_contents_.insert(key).second) ++totals_.files_uploaded;
    totals_.sources.*uploaded += bytes;
    totals_dirty_ = true;
    for (auto& [job_id, shared] : shared_) {
      if (shared.key == key) {
        jobs_.at(job_id).files[shared.index].sources.*uploaded += bytes;
        break;
      }
    }
  }
}

void manager::start_origin_fetches(jobs::job& j, shared_file& shared, jobs::mono_time now) {
  std::size_t running_fetches = 0;
  for (const auto& [tid, f] : origin_fetches_) running_fetches += f.key == shared.key ? 1 : 0;
  if (running_fetches >= kOriginFetchesPerContent) return;
  auto& file = j.files[shared.index];
  for (const auto& span :
       swarm_->origin_work(shared.key, now, kOriginFetchesPerContent - running_fetches)) {
    ipc::unique_fd memory(::memfd_create("opendo-origin-piece", MFD_CLOEXEC));
    if (!memory) {
      swarm_->origin_failed(shared.key, span);
      const std::string why = std::strerror(errno);
      stop_shared_file(j);
      fail_job(j, value_of(hr::e_outofmemory), error_context::local_file, shared.index,
               "no memory for the pieces fetched from the origin: " + why, true);
      return;
    }
    transfer::http::request req = base_request(j);
    req.url = file.remote_url;
    req.fd = memory.get();
    req.offset = 0;
    req.range = transfer::http::remote_range{span.offset, span.offset + span.length - 1};
    req.expected_total = file.remote_size;
    const auto tid = engine_.start(req);
    count_request(file, jobs::byte_source::origin);
    origin_fetches_.emplace(tid, origin_fetch{j.id, shared.key, span, std::move(memory), now});
    spdlog::debug("job {}: content {}: pieces {}..{} from the origin", j.id, shared.key,
                  span.first_piece, span.first_piece + span.pieces - 1);
  }
}

std::optional<std::optional<transfer::http::outcome>> manager::on_origin_fetch_response(
    transfer::http::transfer_id id, const transfer::http::response_info& info) {
  const auto it = origin_fetches_.find(id);
  if (it == origin_fetches_.end()) return std::nullopt;
  const auto job = jobs_.find(it->second.job_id);
  if (job == jobs_.end()) return std::optional<transfer::http::outcome>{};
  const auto shared = shared_.find(job->first);
  if (shared == shared_.end()) return std::optional<transfer::http::outcome>{};
  const std::uint64_t size = job->second.files[shared->second.index].remote_size;
  if (info.total == size_unknown || info.total == size) {
    return std::optional<transfer::http::outcome>{};
  }
  transfer::http::outcome refused;
  refused.code = value_of(hr::bg_e_validation_failed);
  refused.context = error_context::remote_file;
  refused.message = "the origin's file has " + std::to_string(info.total) +
                    " bytes, but its metainfo describes " + std::to_string(size);
  return std::optional<transfer::http::outcome>{refused};
}

bool manager::on_origin_fetch_finished(transfer::http::transfer_id id,
                                       const transfer::http::outcome& result) {
  const auto it = origin_fetches_.find(id);
  if (it == origin_fetches_.end()) return false;
  origin_fetch fetch = std::move(it->second);
  origin_fetches_.erase(it);
  if (!swarm_) return true;
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(mono_now() - fetch.started);
  const auto job = jobs_.find(fetch.job_id);
  const auto shared = shared_.find(fetch.job_id);
  const bool still_shared =
      job != jobs_.end() && shared != shared_.end() && shared->second.key == fetch.key;
  if (result.ok) {
    std::string bytes(fetch.span.length, '\0');
    const ssize_t n = ::pread(fetch.fd.get(), bytes.data(), bytes.size(), 0);
    if (n == static_cast<ssize_t>(bytes.size())) {
      swarm_->origin_done(fetch.key, fetch.span, bytes, took);
      if (still_shared) {
        auto& file = job->second.files[shared->second.index];
        jobs::add_received(file.sources, jobs::byte_source::origin, bytes.size());
        jobs::add_received(totals_.sources, jobs::byte_source::origin, bytes.size());
        totals_dirty_ = true;
      }
      return true;
    }
    swarm_->origin_failed(fetch.key, fetch.span);
    if (still_shared) {
      const std::uint32_t index = shared->second.index;
      stop_shared_file(job->second);
      fail_job(job->second, value_of(hr::e_fail), error_context::local_file, index,
               "the pieces fetched from the origin could not be read back", true);
    }
    return true;
  }
  swarm_->origin_failed(fetch.key, fetch.span);
  if (still_shared) {
    const std::uint32_t index = shared->second.index;
    if (result.response) job->second.last_response = to_http_response(*result.response);
    stop_shared_file(job->second);
    fail_job(job->second, result.code, result.context, index, result.message, result.transient);
  }
  return true;
}

void manager::deliver_shared_file(jobs::job& j) {
  shared_file& shared = shared_.at(j.id);
  const std::uint32_t index = shared.index;
  auto& file = j.files[index];
  const std::uint64_t size = file.remote_size;
  // The cache is the daemon's own directory, never a path a user chose.
  const auto path = swarm_->file_path(shared.key);
  ipc::unique_fd from(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!from) {
    const std::string why = std::strerror(errno);
    stop_shared_file(j);
    fail_job(j, value_of(hr::e_fail), error_context::local_file, index,
             "the content cache's file " + path.string() + " cannot be opened: " + why, true);
    return;
  }
  ipc::unique_fd to;
  const file_result opened = files_.open_temp(j.owner_uid, file.local_name, file.temp_name, 0, to);
  if (!opened.ok()) {
    stop_shared_file(j);
    opened_or_failed(j, index, opened);
    return;
  }
  note_tail_cut(j, index);  // emptied: what it holds from now on is this boot's
  // The copy and its sync take as long as the file's size asks: off the loop.
  shared.delivering = true;
  shared.copy = ++copies_made_;
  cache_copy what;
  what.number = shared.copy;
  what.job_id = j.id;
  what.index = index;
  what.key = shared.key;
  copy_off_loop(std::move(what), std::move(from), std::move(to), size);
}

void manager::copy_off_loop(cache_copy what, ipc::unique_fd from, ipc::unique_fd to,
                            std::uint64_t size) {
  if (!copies_) {
    copies_ =
        std::make_unique<background_work<cache_copy>>(kCopyThreads, [this] { engine_.wakeup(); });
  }
  // std::function copies its callable: the descriptors and the record travel in a shared_ptr.
  struct job_of_copy {
    cache_copy what;
    ipc::unique_fd from;
    ipc::unique_fd to;
  };
  auto work =
      std::make_shared<job_of_copy>(job_of_copy{std::move(what), std::move(from), std::move(to)});
  copies_->submit([work, size] {
    cache_copy done = std::move(work->what);
    int failed = copy_all(work->from.get(), work->to.get(), size, done.error);
    if (failed == 0 && ::fdatasync(work->to.get()) != 0) {
      failed = errno;
      done.error = std::strerror(failed);
    }
    done.disk_full = failed == ENOSPC || failed == EDQUOT;
    work->from.reset();
    if (done.import) {
      work->to.reset();
    } else {
      done.to = std::move(work->to);
    }
    return done;
  });
}

void manager::finish_cache_copies() {
  if (!copies_) return;
  for (cache_copy& done : copies_->take()) {
    if (done.import) {
      imported_into_content_cache(std::move(done));
    } else {
      delivered_shared_file(std::move(done));
    }
  }
}

void manager::delivered_shared_file(cache_copy done) {
  // The job may have been suspended, cancelled or started again while the copy ran: only the
  // delivery it still waits for counts.
  const auto job = jobs_.find(done.job_id);
  const auto it = shared_.find(done.job_id);
  if (job == jobs_.end() || it == shared_.end() || !it->second.delivering ||
      it->second.copy != done.number) {
    return;
  }
  jobs::job& j = job->second;
  const shared_file shared = it->second;
  const std::uint32_t index = shared.index;
  auto& file = j.files[index];
  if (!done.error.empty()) {
    stop_shared_file(j);
    fail_job(j, value_of(done.disk_full ? hr::disk_full : hr::e_fail), error_context::local_file,
             index, "copying the file from the content cache failed: " + done.error,
             done.disk_full);
    return;
  }
  const auto now = mono_now();
  const std::uint64_t size = file.remote_size;
  // Its time: from the start of sharing to now.
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(now - shared.clock_at);
  file.sources.download_duration_ms +=
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, spent.count()));
  totals_.sources.download_duration_ms +=
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, spent.count()));
  // A content no job may serve is not kept to be served later: it leaves the swarm and the cache
  // unless another job shared it complete before (its marker says so).
  const bool keep = jobs::may_serve_to_peers(j) || others_may_serve(shared.key, j.id) ||
                    std::filesystem::exists(std::filesystem::path(config_.peers.cache_dir) /
                                            (shared.key + ".complete"));
  if (keep) mark_content_complete(shared.key, file.remote_url);
  stop_shared_file(j);
  if (!keep) forget_unserved_content(shared.key);
  file.bytes_total = size;
  jobs::on_progress(j, index, size, now);
  spdlog::info(
      "job {}: file {} delivered from the content cache ({} bytes: {} from peers, {} "
      "from the origin)",
      j.id, index, size, file.sources.bytes_from_peers(), file.sources.bytes_from_origin);
  if (!verify_digest(j, index, done.to.get())) return;
  on_finished_file(j, index);
}

void manager::stop_shared_file(jobs::job& j) {
  const auto it = shared_.find(j.id);
  if (it == shared_.end()) return;
  const std::string key = it->second.key;
  for (auto f = origin_fetches_.begin(); f != origin_fetches_.end();) {
    if (f->second.job_id != j.id) {
      ++f;
      continue;
    }
    engine_.stop(f->first);
    if (swarm_) swarm_->origin_failed(f->second.key, f->second.span);
    f = origin_fetches_.erase(f);
  }
  shared_.erase(it);
  turns_.erase(j.id);
  dirty_schedule_ = true;
  // An unfinished content nobody wants any more stops downloading; a complete one stays shared.
  const bool wanted = std::any_of(shared_.begin(), shared_.end(),
                                  [&](const auto& entry) { return entry.second.key == key; });
  if (swarm_ && !wanted && !swarm_->progress(key).complete) swarm_->remove(key);
}

void manager::fail_shared_content(const std::string& key, std::uint32_t code, error_context context,
                                  const std::string& message, bool transient) {
  std::vector<std::string> failing;
  for (const auto& [job_id, shared] : shared_) {
    if (shared.key == key) failing.push_back(job_id);
  }
  for (const auto& job_id : failing) {
    jobs::job& j = jobs_.at(job_id);
    const std::uint32_t index = shared_.at(job_id).index;
    stop_shared_file(j);
    auto& file = j.files[index];
    if (code == value_of(hr::do_e_bad_piece_hash) && !file.metainfo_url.empty()) {
      // The metainfo came from the origin's server, the authority on its file: a file that does
      // not match it (replaced, the metainfo beside it left stale) is what the origin serves,
      // and it comes from the origin alone, as a file without metadata, from the start.
      jobs::restart_file(file);
      file.origin_only = true;
      save_with_validation(j, index);
      published_metainfo_refused(j, index,
                                 "the origin's file does not match its published metainfo " +
                                     file.metainfo_url + " (" + message +
                                     "); it is fetched again from the origin only");
      continue;
    }
    fail_job(j, code, context, index, message, transient);
  }
  bad_pieces_.erase(key);
}

void manager::drop_inconsistent_content(const std::string& key, const std::string& message) {
  // libtorrent paused the content in error and keeps it so: a retry of its jobs would only meet it
  // again (or, added anew, the same metadata and the same refusal), so none waits in
  // TRANSIENT_ERROR for one.
  std::vector<std::string> magnets;
  bool with_metainfo = false;
  for (const auto& [job_id, shared] : shared_) {
    if (shared.key != key) continue;
    if (jobs_.at(job_id).files[shared.index].metainfo.empty()) {
      magnets.push_back(job_id);
    } else {
      with_metainfo = true;
    }
  }
  // The magnet is an optimization: its file comes from the origin as one without it.
  for (const auto& job_id : magnets) {
    const auto it = shared_.find(job_id);
    if (it == shared_.end()) continue;
    magnet_not_used(jobs_.at(job_id), it->second.index,
                    "libtorrent refused the content of its magnet: its v1 and v2 hashes do not "
                    "describe the same data");
  }
  // A metainfo's hashes are the owner's: a file that cannot be checked against them is not
  // fetched without them (a published metainfo's file comes from the origin only, as for pieces
  // that fail their checks).
  if (with_metainfo) {
    fail_shared_content(key, value_of(hr::do_e_bad_piece_hash), error_context::remote_file,
                        "libtorrent refused the content: " + message, false);
  }
  drop_cached_content(key, "its v1 and v2 hashes do not describe the same data");
}

// ---- the content cache -----------------------------------------------------------------------
// Beside each content's directory (KEY/, libtorrent's save path) the cache holds KEY.torrent, its
// metainfo, and once it is complete KEY.complete, whose modification time is when it was last
// delivered: what its age counts from. All of it is the daemon's own directory (mode 0700).

namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds kCacheCheckInterval{60};

std::uint64_t bytes_under(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

void forget_content_files(const fs::path& cache, const std::string& key) {
  std::error_code ec;
  fs::remove_all(cache / key, ec);
  fs::remove(cache / (key + ".torrent"), ec);
  fs::remove(cache / (key + ".complete"), ec);
}

}  // namespace

void manager::drop_cached_content(const std::string& key, const char* why) {
  if (swarm_ && swarm_->has(key)) swarm_->remove(key);
  forget_content_files(config_.peers.cache_dir, key);
  spdlog::info("peers: cached content {} deleted ({})", key, why);
}

void manager::forget_rejected_content(const std::string& content_id) {
  const std::string key = transfer::peer::content_key(content_id);
  if (key.empty()) return;
  // Another job of this host may still be fetching the same content: it keeps the swarm's copy
  // until it is done, and only then may the cache let it go.
  const bool wanted = std::any_of(shared_.begin(), shared_.end(),
                                  [&](const auto& entry) { return entry.second.key == key; });
  if (wanted) {
    spdlog::warn(
        "peers: content {} was rejected by an application but another job still "
        "fetches it; it stays until that job is done",
        key);
    return;
  }
  drop_cached_content(key, "an application found it not valid");
}

void manager::remember_content(const std::string& key, const std::string& metainfo) {
  const fs::path cache(config_.peers.cache_dir);
  const fs::path target = cache / (key + ".torrent");
  std::error_code ec;
  if (fs::exists(target, ec)) return;
  const fs::path temp = cache / (key + ".torrent.tmp");
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(metainfo.data(), static_cast<std::streamsize>(metainfo.size()));
    if (!out) {
      spdlog::warn("peers: cannot keep the metainfo of {} in the cache", key);
      return;
    }
  }
  fs::rename(temp, target, ec);
}

void manager::mark_content_complete(const std::string& key, const std::string& url) {
  const fs::path marker = fs::path(config_.peers.cache_dir) / (key + ".complete");
  // It holds the file's URL: the web seed of the v1 twin shared again after a restart.
  std::ofstream(marker, std::ios::trunc) << url;
  std::error_code ec;
  fs::last_write_time(marker, fs::file_time_type::clock::now(), ec);
  cache_checked_at_ = {};  // the size cap is checked at once
}

void manager::forget_unserved_content(const std::string& key) {
  const bool wanted = std::any_of(shared_.begin(), shared_.end(),
                                  [&](const auto& entry) { return entry.second.key == key; });
  if (wanted) return;
  if (swarm_ && swarm_->has(key)) swarm_->remove(key);
  forget_content_files(config_.peers.cache_dir, key);
  spdlog::info("peers: content {} is not kept: its job may not serve it to peers", key);
}

void manager::restore_content_cache() {
  if (!config_.peers.sharing()) return;
  network_.refresh(mono_now(), true);
  const bool serving = config_.peers.share_on_metered || !network_.metered();
  const fs::path cache(config_.peers.cache_dir);
  std::error_code ec;
  if (!fs::is_directory(cache, ec)) return;
  const auto now = fs::file_time_type::clock::now();
  std::size_t restored = 0;
  for (const auto& entry : fs::directory_iterator(cache, ec)) {
    if (entry.path().extension() != ".complete") continue;
    const std::string key = entry.path().stem().string();
    const auto age = now - fs::last_write_time(entry.path(), ec);
    if (ec || age > config_.peers.cache_max_age) continue;  // expire_content_cache deletes it
    std::ifstream in(cache / (key + ".torrent"), std::ios::binary);
    const std::string metainfo{std::istreambuf_iterator<char>(in), {}};
    std::ifstream marker(entry.path());
    std::string url;
    std::getline(marker, url);
    try {
      if (the_swarm().add(metainfo, cache, mono_now(), serving) == key) {
        ++restored;
        // Its v1 twin once libtorrent has checked the files (run_shared_files).
        if (!url.empty()) restored_twins_[key] = url;
      }
    } catch (const std::exception& e) {
      spdlog::warn("peers: cached content {} cannot be shared again ({}); deleting it", key,
                   e.what());
      forget_content_files(cache, key);
    }
  }
  if (restored > 0) spdlog::info("peers: sharing {} cached contents again", restored);
}

void manager::expire_content_cache(jobs::mono_time now) {
  if (now - cache_checked_at_ < kCacheCheckInterval && cache_checked_at_ != jobs::mono_time{}) {
    return;
  }
  cache_checked_at_ = now;
  const fs::path cache(config_.peers.cache_dir);
  std::error_code ec;
  if (!fs::is_directory(cache, ec)) return;
  std::set<std::string> wanted;
  for (const auto& [job_id, shared] : shared_) wanted.insert(shared.key);
  struct cached {
    std::string key;
    fs::file_time_type delivered;
    std::uint64_t bytes;
  };
  std::vector<cached> complete;
  const auto wall = fs::file_time_type::clock::now();
  auto drop = [&](const std::string& key, const char* why) { drop_cached_content(key, why); };
  for (const auto& entry : fs::directory_iterator(cache, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".complete") {
      const std::string key = entry.path().stem().string();
      if (wanted.count(key) != 0) continue;
      const auto delivered = fs::last_write_time(entry.path(), ec);
      if (wall - delivered > config_.peers.cache_max_age) {
        drop(key, "older than the maximum cache age");
      } else {
        complete.push_back({key, delivered, bytes_under(cache / key)});
      }
    } else if (entry.is_directory(ec) && !fs::exists(cache / (name + ".complete"), ec) &&
               wanted.count(name) == 0 && !(swarm_ && swarm_->has(name)) &&
               wall - fs::last_write_time(entry.path(), ec) > config_.peers.cache_max_age) {
      drop(name, "an unfinished download nobody resumed");
    }
  }
  std::uint64_t cap = config_.peers.cache_max_size;
  if (cap == 0) {
    const auto space = fs::space(cache, ec);
    cap = ec ? std::uint64_t{10} << 30 : space.capacity / 5;
  }
  std::uint64_t total = 0;
  for (const auto& c : complete) total += c.bytes;
  std::sort(complete.begin(), complete.end(),
            [](const cached& a, const cached& b) { return a.delivered < b.delivered; });
  for (const auto& c : complete) {
    if (total <= cap) break;
    drop(c.key, "the cache is over its maximum size");
    total -= c.bytes;
  }
}

// ---- a metainfo published beside the file
// ----------------------------------------------------------------

bool manager::wants_published_metainfo(const jobs::job& j, std::uint32_t index) const {
  const auto& file = j.files[index];
  // Only a file that would be shared with a metainfo, and that has no bytes over HTTP yet: bytes
  // already in the temporary file came from the origin, and go on from there.
  return !file.metainfo_url.empty() && file.metainfo.empty() && file.metainfo_note.empty() &&
         config_.peers.sharing() && jobs::may_fetch_from_peers(j) && file.ranges.empty() &&
         !j.dynamic_content && !file.origin_only && file.bytes_transferred == 0 &&
         file.segments.empty();
}

void manager::start_metainfo_fetch(jobs::job& j, std::uint32_t index, bool probe,
                                   std::string metainfo, std::uint64_t size, bool magnet) {
  auto& file = j.files[index];
  ipc::unique_fd memory(::memfd_create("opendo-metainfo", MFD_CLOEXEC));
  if (!memory) {
    published_metainfo_refused(
        j, index,
        std::string("no memory to fetch the published metainfo: ") + std::strerror(errno));
    return;
  }
  transfer::http::request req = base_request(j);
  req.fd = memory.get();
  req.offset = 0;
  if (probe) {
    // The origin's size, which the metainfo must describe: one byte of the file (a range, as
    // every origin request of a shared file is; an origin without ranges cannot be shared).
    req.url = file.remote_url;
    req.range = transfer::http::remote_range{0, 0};
  } else {
    req.url = file.metainfo_url;
    req.etag.clear();
    req.last_modified.clear();
    // The job's credentials, auth headers, certificate exemptions and client certificate are
    // for its origin: they apply to the metainfo URL only when it is on the same server (scheme,
    // host and port).
    if (url_origin(file.metainfo_url) != url_origin(file.remote_url)) {
      req.server_auth.reset();
      req.auth_headers.clear();
      req.tls_exemptions = 0;
      req.client_certificate = {};
    }
  }
  const auto tid = engine_.start(req);
  metainfo_fetch fetch;
  fetch.job_id = j.id;
  fetch.index = index;
  fetch.probe = probe;
  fetch.fd = std::move(memory);
  fetch.metainfo = std::move(metainfo);
  fetch.size = size;
  fetch.magnet = magnet;
  metainfo_fetches_.emplace(tid, std::move(fetch));
  metainfo_fetch_by_job_[j.id] = tid;
  spdlog::info("job {}: file {}: {}", j.id, index,
               magnet  ? std::string("asking the origin for the size of the file of its magnet")
               : probe ? "checking the origin's size against the published metainfo"
                       : "fetching its published metainfo " + file.metainfo_url);
}

void manager::stop_metainfo_fetch(const std::string& job_id) {
  const auto it = metainfo_fetch_by_job_.find(job_id);
  if (it == metainfo_fetch_by_job_.end()) return;
  engine_.stop(it->second);
  metainfo_fetches_.erase(it->second);
  metainfo_fetch_by_job_.erase(it);
}

void manager::published_metainfo_refused(jobs::job& j, std::uint32_t index,
                                         const std::string& why) {
  auto& file = j.files[index];
  file.metainfo_note = why;
  persist_file(j, index);  // `opendo info` says why after a restart too
  spdlog::warn("job {}: file {} goes over HTTP only: {}", j.id, index, why);
  notify(j, job_event_kind::modified);
  start_file(j);
}

std::optional<std::optional<transfer::http::outcome>> manager::on_metainfo_fetch_response(
    transfer::http::transfer_id id, const transfer::http::response_info& info) {
  const auto it = metainfo_fetches_.find(id);
  if (it == metainfo_fetches_.end()) return std::nullopt;
  if (it->second.probe) {
    it->second.origin_total = info.total;
    return std::optional<transfer::http::outcome>{};
  }
  if (info.total != size_unknown && info.total > max_metainfo_size) {
    transfer::http::outcome refused;
    refused.code = value_of(hr::e_invalidarg);
    refused.context = error_context::remote_file;
    refused.message = "it is " + std::to_string(info.total) + " bytes; at most " +
                      std::to_string(max_metainfo_size) + " are accepted";
    return std::optional<transfer::http::outcome>{refused};
  }
  // A body of unknown size stops one byte past the limit, which then tells it is too large.
  if (info.total == size_unknown) engine_.set_end(id, max_metainfo_size + 1);
  return std::optional<transfer::http::outcome>{};
}

bool manager::on_metainfo_fetch_finished(transfer::http::transfer_id id,
                                         const transfer::http::outcome& result) {
  const auto it = metainfo_fetches_.find(id);
  if (it == metainfo_fetches_.end()) return false;
  metainfo_fetch fetch = std::move(it->second);
  metainfo_fetches_.erase(it);
  const auto by_job = metainfo_fetch_by_job_.find(fetch.job_id);
  if (by_job == metainfo_fetch_by_job_.end() || by_job->second != id) return true;
  metainfo_fetch_by_job_.erase(by_job);
  const auto job = jobs_.find(fetch.job_id);
  if (job == jobs_.end() || job->second.current_file != fetch.index) return true;
  jobs::job& j = job->second;
  auto& file = j.files[fetch.index];
  if (fetch.magnet) {
    if (!result.ok) {
      magnet_not_used(j, fetch.index,
                      "the origin's size could not be read before asking peers: " + result.message);
    } else if (fetch.origin_total == size_unknown ||
               fetch.origin_total < config_.peers.min_file_size) {
      magnet_not_used(j, fetch.index,
                      fetch.origin_total == size_unknown
                          ? std::string("the origin does not tell the file's size")
                          : "the file is " + std::to_string(fetch.origin_total) +
                                " bytes, less than the minimum size shared (" +
                                std::to_string(config_.peers.min_file_size) + ")");
    } else {
      magnet_sizes_[{j.id, fetch.index}] = fetch.origin_total;
      start_file(j);
    }
    return true;
  }
  if (!fetch.probe) {
    if (!result.ok) {
      published_metainfo_refused(j, fetch.index,
                                 "its published metainfo " + file.metainfo_url +
                                     " could not be fetched: " + result.message);
      return true;
    }
    if (result.bytes > max_metainfo_size) {
      published_metainfo_refused(j, fetch.index,
                                 "its published metainfo " + file.metainfo_url + " is over " +
                                     std::to_string(max_metainfo_size) + " bytes");
      return true;
    }
    std::string bytes(result.bytes, '\0');
    if (::pread(fetch.fd.get(), bytes.data(), bytes.size(), 0) !=
        static_cast<ssize_t>(bytes.size())) {
      published_metainfo_refused(j, fetch.index, "its published metainfo could not be read back");
      return true;
    }
    std::uint64_t size = 0;
    try {
      size = peer_module().read_metainfo(bytes).size;
    } catch (const transfer::peer::content_error& e) {
      published_metainfo_refused(
          j, fetch.index,
          "its published metainfo " + file.metainfo_url + " is refused: " + e.what());
      return true;
    }
    start_metainfo_fetch(j, fetch.index, true, std::move(bytes), size);
    return true;
  }
  if (!result.ok) {
    published_metainfo_refused(
        j, fetch.index,
        "the origin's size could not be checked against its published metainfo: " + result.message);
    return true;
  }
  if (fetch.origin_total != fetch.size) {
    published_metainfo_refused(
        j, fetch.index,
        "its published metainfo " + file.metainfo_url + " describes " + std::to_string(fetch.size) +
            " bytes, but the origin's file has " +
            (fetch.origin_total == size_unknown ? std::string("an unknown size")
                                                : std::to_string(fetch.origin_total) + " bytes"));
    return true;
  }
  const auto meta = peer_module().read_metainfo(fetch.metainfo);
  file.metainfo = std::move(fetch.metainfo);
  file.content_id = transfer::peer::content_id(meta);
  file.metainfo_note = "used";
  persist(j);
  spdlog::info("job {}: file {} uses its published metainfo {} (content {})", j.id, fetch.index,
               file.metainfo_url, file.content_id);
  notify(j, job_event_kind::modified);
  start_file(j);
  return true;
}

// ---- an HTTP download served to peers
// --------------------------------------------------------------------

void manager::import_into_content_cache(jobs::job& j, std::uint32_t index) {
  const auto& file = j.files[index];
  // Only what a job may serve but not fetch through the swarm: any other shared file came
  // through the swarm (and is in the cache already), or may not be served.
  if (!config_.peers.sharing() || file.metainfo.empty() || !file.ranges.empty() ||
      j.dynamic_content || file.origin_only || !jobs::may_serve_to_peers(j) ||
      jobs::may_fetch_from_peers(j)) {
    return;
  }
  const std::uint64_t size = content_size(file);
  if (size == 0 || size < config_.peers.min_file_size || file.bytes_total != size) return;
  const std::string key = transfer::peer::content_key(file.content_id);
  if (key.empty() || (swarm_ && swarm_->has(key)) || imports_copying_.contains(key)) return;
  const fs::path cache(config_.peers.cache_dir);
  // Nothing here is the job's: a content that cannot be imported is only not served.
  auto skip = [&](const std::string& why) {
    spdlog::warn("job {}: file {} is not served to peers: {}", j.id, index, why);
    forget_content_files(cache, key);
  };
  fs::path target;
  try {
    target = peer_module().content_file(file.metainfo, cache);
  } catch (const std::exception& e) {
    skip(e.what());
    return;
  }
  // The owner's temporary file, opened by the owner's helper as every file of a job is; its bytes
  // are checked against the owner's hashes before any is served.
  ipc::unique_fd from;
  const file_result opened =
      files_.open_temp(j.owner_uid, file.local_name, file.temp_name, keep_all_bytes, from);
  if (!opened.ok()) {
    skip("its temporary file cannot be opened: " + opened.message);
    return;
  }
  forget_content_files(cache, key);  // an unfinished content of an earlier run, if any
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  fs::permissions(cache, fs::perms::owner_all, ec);
  ipc::unique_fd to(
      ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!to) {
    skip("the content cache's file " + target.string() +
         " cannot be made: " + std::strerror(errno));
    return;
  }
  // The copy reads the descriptor, not the path: the job may complete (rename) or be cancelled
  // meanwhile without changing what is copied.
  imports_copying_.insert(key);
  cache_copy what;
  what.import = true;
  what.number = ++copies_made_;
  what.job_id = j.id;
  what.index = index;
  what.key = key;
  what.metainfo = file.metainfo;
  what.url = file.remote_url;
  copy_off_loop(std::move(what), std::move(from), std::move(to), size);
}

void manager::imported_into_content_cache(cache_copy done) {
  imports_copying_.erase(done.key);
  const fs::path cache(config_.peers.cache_dir);
  // A job that fetches through the swarm may have added the content meanwhile: its files are the
  // swarm's now, and the same bytes.
  if (swarm_ && swarm_->has(done.key)) return;
  auto skip = [&](const std::string& why) {
    spdlog::warn("job {}: file {} is not served to peers: {}", done.job_id, done.index, why);
    forget_content_files(cache, done.key);
  };
  if (!done.error.empty()) {
    skip("copying it into the content cache failed: " + done.error);
    return;
  }
  const bool serving = config_.peers.share_on_metered || !network_.metered();
  try {
    the_swarm().add(done.metainfo, cache, mono_now(), serving, true);
  } catch (const std::exception& e) {
    skip(e.what());
    return;
  }
  remember_content(done.key, done.metainfo);
  importing_[done.key] = done.url;
  spdlog::info(
      "job {}: file {} came over HTTP (its job serves peers but does not fetch from them): "
      "content {} is checked for peers",
      done.job_id, done.index, done.key);
}

void manager::check_imported(const progress_by_key& progress) {
  for (auto it = importing_.begin(); it != importing_.end();) {
    const std::string key = it->first;
    const auto read = progress.find(key);
    if (read == progress.end()) {
      it = importing_.erase(it);
      continue;
    }
    if (read->second.complete) {
      mark_content_complete(key, it->second);
      if (swarm_->serving(key)) swarm_->share_v1_twin(key, it->second);
      spdlog::info("peers: content {} fetched over HTTP is served to peers", key);
      it = importing_.erase(it);
    } else if (!read->second.checking) {
      // Its bytes are not what the owner's metainfo describes (changed after the download): none
      // of it is served, and nothing missing is asked of peers (upload mode).
      swarm_->remove(key);
      forget_content_files(config_.peers.cache_dir, key);
      spdlog::warn("peers: content {} fetched over HTTP does not match its metainfo: not served",
                   key);
      it = importing_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace opendo::daemon
