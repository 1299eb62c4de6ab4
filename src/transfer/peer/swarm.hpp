// Peer-to-peer delivery: one libtorrent session inside opendod that shares content with the
// other hosts of the LAN (BitTorrent v2, verified piece by piece against the trusted metainfo the
// job's owner gave). The origin is not a libtorrent web seed: opendod's own HTTP engine fetches
// the pieces this host owns (jobs/origin_share.hpp) and hands them in with add_piece, which
// verifies them like any piece. Everything else comes from peers.
//
// libtorrent runs its own threads; this class is used from the daemon's one thread, and `wake`
// (called from libtorrent's thread when alerts wait) makes the daemon's loop come round.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transfer/peer/swarm_api.hpp"

namespace opendo::transfer::peer {

class swarm final : public swarm_api {
 public:
  swarm(swarm_settings settings, std::function<void()> wake);
  ~swarm() override;
  swarm(const swarm&) = delete;
  swarm& operator=(const swarm&) = delete;

  // What each call does: swarm_api.hpp.
  std::string add(std::string_view metainfo, const std::filesystem::path& dir, jobs::mono_time now,
                  bool serving = true, bool upload_only = false) override;
  std::string add_magnet(std::string_view magnet, const std::filesystem::path& cache_dir,
                         jobs::mono_time now, bool serving = true) override;
  bool has_metadata(const std::string& key) override;
  std::string full_metainfo(const std::string& key) const override;
  // Where add() keeps the file of `metainfo`'s content under cache_dir (cache_dir/KEY/NAME, NAME
  // as libtorrent makes it safe). Throws std::runtime_error when the metainfo cannot be read.
  static std::filesystem::path content_file(std::string_view metainfo,
                                            const std::filesystem::path& cache_dir);
  // The size of the content a metainfo describes; nullopt when it cannot be read.
  static std::optional<std::uint64_t> content_size(std::string_view metainfo);
  void remove(const std::string& key) override;
  bool has(const std::string& key) const override { return contents_.count(key) != 0; }
  std::filesystem::path file_path(const std::string& key) const override;
  content_progress progress(const std::string& key) const override;
  void share_v1_twin(const std::string& key, const std::string& web_seed) override;
  bool hashing_twins() const override;
  void set_serving(const std::string& key, bool serving) override;
  bool serving(const std::string& key) const override;
  std::vector<piece_span> origin_work(const std::string& key, jobs::mono_time now,
                                      std::size_t max) override;
  void origin_done(const std::string& key, const piece_span& span, std::string_view bytes,
                   std::chrono::milliseconds took) override;
  void origin_failed(const std::string& key, const piece_span& span) override;
  std::optional<jobs::mono_time> next_decision() const override;
  std::vector<swarm_event> take_events() override;
  std::vector<peer_view> peers() const override;
  std::vector<std::string> keys() const override;
  std::uint32_t senders(const std::string& key) const override;
  std::uint16_t listen_port() const override;
  const std::string& host_name() const override { return host_name_; }

 private:
  struct content;
  void add_hashed_twins(std::vector<swarm_event>& events);

  swarm_settings settings_;
  std::function<void()> wake_;
  // This host's name among the opendo hosts of a content (see the peer id in swarm.cpp).
  std::string host_name_;
  struct session_holder;
  std::unique_ptr<session_holder> session_;
  std::map<std::string, std::unique_ptr<content>> contents_;
  // Events found outside the alerts (origin_work's rechecks), for the next take_events.
  mutable std::vector<swarm_event> found_;  // mutable: progress() reports its redials
};

}  // namespace opendo::transfer::peer
