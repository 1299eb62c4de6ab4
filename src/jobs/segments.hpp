// Segmented downloads: a large file fetched over several connections at once, each asking for
// its own byte range (like aria2's -x/-s). Pure logic: the segments of a file and how they are
// split and persisted, and the controller that decides how many connections help. The manager
// starts and stops the transfers; see "Segmented downloads" in docs/architecture.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.hpp"

namespace opendo::jobs {

struct segment_policy {
  // Connections one file may use at most (each also counts against the per-host and total caps
  // of the scheduler). 1: no segmentation.
  std::uint32_t max_connections = 8;
  // A file is first split only when each half keeps at least this many bytes; a file with less
  // than twice this left is never segmented.
  std::uint64_t min_segment_size = std::uint64_t{4} << 20;
  // Once a file is in segments, a connection that is added or that finished its own segment
  // takes the second half of the segment with the most bytes left while each half keeps at
  // least this many (or min_segment_size, if smaller). Smaller than min_segment_size so that
  // the file's last megabytes are shared too: otherwise its connections end one by one and the
  // last ones fetch their rest alone (bench case 3: 0.71 -> 0.63 s with 16 connections).
  std::uint64_t min_split_size = std::uint64_t{1} << 20;
  // The download rate is measured for `window` once every connection of the file has received
  // its first bytes and `settle` more has passed (a new connection needs its handshake and its
  // first burst first; the wait for the first bytes is what makes a slow handshake harmless). A
  // connection that has no bytes after `max_wait` is judged with the others anyway.
  // A server that paces each connection sends it bursts with silences between them (nginx's
  // limit_rate: sendfile_max_chunk, 2 MiB, then a pause as long as that takes at the rate): the
  // window lasts at least `bursts` of the longest silence seen, so that it holds several bursts
  // of each connection whatever their phase, and at most `longest_window`. It starts and ends
  // where a burst starts (bytes after a silence at least half the longest since the change), so
  // that it counts whole bursts; it starts anyway `window` after settling (a connection that
  // never flows), and ends anyway at `longest_window`.
  std::chrono::milliseconds settle{50};
  std::chrono::milliseconds window{400};
  std::uint32_t bursts = 3;
  std::chrono::milliseconds longest_window{3000};
  std::chrono::milliseconds max_wait{5000};
  // Connections are added while they pay: an added connection pays when the file's rate rose
  // by at least this share of what one connection brought before. The first try adds one
  // connection; a try whose connections each brought nearly a whole connection's worth (3/4)
  // is followed by a bigger one (after the probe four times as many, after that the cap: a
  // server that caps each connection gets many quickly); a try that did not keeps the ones that
  // paid, and no more are tried. A link already full so gains nothing from the one probe and
  // goes back to one.
  double min_gain = 0.5;
  // What a host's files learned (connection_memory) holds this long: a later file from the same
  // host starts with that many connections instead of one.
  std::chrono::milliseconds remember_for{std::chrono::minutes(10)};
};

// What one file learned about its host: the number of connections that paid, and what one
// connection brought (bytes per second) when it was measured alone.
struct learned_connections {
  std::uint32_t connections = 1;
  double one_connection_rate = 0;
};

// "first-end:done" for each segment, joined by ','; "" for no segments. The store keeps this.
std::string encode_segments(const std::vector<segment>& segments);
// nullopt for text that is not a list of valid segments (first < end, done <= end - first).
std::optional<std::vector<segment>> decode_segments(std::string_view text);

std::uint64_t segments_done(const std::vector<segment>& segments);
bool segments_complete(const std::vector<segment>& segments);

// The first split of a whole file being fetched from byte 0 by one transfer that has recorded
// `recorded` bytes and received `live` so far: segment 0 keeps [0, cut) and the new segment 1
// takes [cut, size). nullopt when the rest is too small to share.
std::optional<std::vector<segment>> first_split(std::uint64_t size, std::uint64_t recorded,
                                                std::uint64_t live, std::uint64_t min_size);

// Splits the segment with the most bytes left at the middle of what is left beyond `live_next`
// (where its transfer has got to, recorded or not; its `next()` for a segment without one) and
// appends the second half; returns the index of the one split, or nullopt when no segment has
// 2 x min_size bytes left. `live_next[i]` is given for each segment.
std::optional<std::size_t> split_largest(std::vector<segment>& segments,
                                         const std::vector<std::uint64_t>& live_next,
                                         std::uint64_t min_size);

// The write buffer of one of a file's transfers when the file runs on `connections` of them:
// the file's buffers share `file_budget` (each transfer also has a second buffer while one is
// written to the disk), within [min, max] each (max wins when it is the smaller). One or two
// connections keep the full buffer (what writes a fast single file at the least CPU); sixteen of a
// capped origin do not each hold 8 MiB of memory, or lose 4 MiB each when the daemon is killed
// (bench cases 3 and 7).
std::size_t transfer_write_buffer(std::uint32_t connections, std::size_t file_budget,
                                  std::size_t min, std::size_t max);

// How many connections a file should use, learned from its download rate: one, then a probe
// with two; a probe that paid in full (each added connection brought at least 3/4 of one's
// worth) is followed by four times as many, and a try after that which paid in full by the
// per-file cap (1, 2, 8, 16). Of a try that does not pay in full, the connections that did
// not pay are given back (segment_policy::min_gain), and no more are tried. A link that one
// connection fills so ends with one, after a single probe with two. A file whose host taught
// an earlier file a number (start_from) starts there, judged against that file's rate of one
// connection.
class connection_controller {
 public:
  explicit connection_controller(segment_policy policy = {}) : policy_(policy) {}
  // The number of connections running changed (a transfer started or ended): measure afresh.
  void connections_changed(mono_time now, std::uint32_t running, std::uint64_t received);
  // Called on every loop turn with the bytes the file's transfers received in all (recorded or
  // not), and whether every one of them has received some bytes yet. Returns the number of
  // connections the file should have now.
  std::uint32_t target(mono_time now, std::uint64_t received, bool all_flowing = true);
  bool settled() const { return settled_; }
  // The number decided last, without measuring.
  std::uint32_t wanted() const { return target_; }
  // Starts from a number learned before (a resumed file).
  void resume_with(std::uint32_t connections);
  // Starts from what an earlier file of the same host learned: with one connection, nothing
  // more is tried; with more, they are all asked for at once and the first window judges them
  // against the one connection's rate the earlier file measured, as a try from one to that
  // many (all paid: on to the cap; some: those are kept; none: back to one).
  void start_from(const learned_connections& learned);
  // The number this file settled on (or, not settled yet, asks for after a try that paid in
  // full), and the rate of one connection it measured; nullopt before that, for a file that
  // started from a number it was given (resume_with, a remembered 1), or for one that never
  // measured one connection.
  std::optional<learned_connections> learned() const;

 private:
  segment_policy policy_;
  std::uint32_t running_ = 0;
  std::uint32_t target_ = 1;
  bool settled_ = false;
  std::optional<mono_time> window_start_;
  std::uint64_t window_bytes_ = 0;
  std::uint64_t seen_ = 0;             // the most bytes seen (a turn that sees more brought bytes)
  std::optional<mono_time> bytes_at_;  // when bytes last came (connections flowing or not)
  mono_time::duration gaps_since_change_{};  // the longest gap between bytes since the change
  mono_time changed_at_{};
  std::optional<mono_time> flowing_at_;
  // When the file's byte count last grew while all its connections were flowing, and the
  // longest silence between two such growths.
  std::optional<mono_time> grew_at_;
  std::uint64_t grown_to_ = 0;
  mono_time::duration longest_silence_{};
  // The rate measured with one connection fewer than now (bytes per second), and how many that was.
  std::optional<double> previous_rate_;
  std::uint32_t previous_connections_ = 0;
  // One connection's rate, measured alone (or taken from the host's memory).
  std::optional<double> one_rate_;
  // Tries that paid in full so far (the probe is the first).
  std::uint32_t full_tries_ = 0;
  // Settled by a measurement (not by what it was told).
  bool judged_ = false;
  // A measured try paid in full.
  bool paid_in_full_ = false;
};

// Per host, what its files last learned (learned_connections), for `remember_for` from when it
// was learned. A later file that learns otherwise (more connections no longer pay) replaces it.
class connection_memory {
 public:
  explicit connection_memory(std::chrono::milliseconds remember_for = std::chrono::minutes(10))
      : remember_for_(remember_for) {}
  void remember(const std::string& host, const learned_connections& learned, mono_time now);
  std::optional<learned_connections> recall(const std::string& host, mono_time now);
  std::size_t size() const { return hosts_.size(); }

 private:
  struct entry {
    learned_connections learned;
    mono_time at;
  };
  std::chrono::milliseconds remember_for_;
  std::map<std::string, entry> hosts_;
};

}  // namespace opendo::jobs
