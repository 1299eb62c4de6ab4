// A BitTorrent peer that lies, for tests of the peer engine's defences: it claims every piece of
// a content and answers every request with corrupted bytes. Raw BEP 3 over TCP, on threads inside
// the test process, so that what it sends is exactly what the test says.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace opendo::test {

// Listens on `address` (a port the kernel picks) and, to every peer that connects:
// - answers the BEP 3 handshake with the info hash it was greeted with, all reserved bits off (no
//   extension protocol, no fast extension, no v2 upgrade: a plain v1 peer) and a peer id that is
//   not an opendo host's ("-XX0001-...");
// - sends a bitfield with every one of `pieces` pieces, then unchoke;
// - answers each request with a piece message of the requested length whose bytes are wrong
//   (every byte of the block is 0xBD), and ignores every other message; or, made with
//   answers::nothing, reads every request and answers none (a peer that claims the file and
//   holds it back).
// A connection that does not start with the plain handshake (libtorrent tries an encrypted one
// first, then reconnects in plain text) is closed.
class bad_peer {
 public:
  enum class answers { corrupt_blocks, nothing };
  bad_peer(std::uint32_t pieces, std::string address = "127.0.0.1",
           answers mode = answers::corrupt_blocks);
  // Closes the listener and every connection and joins the threads.
  ~bad_peer();
  bad_peer(const bad_peer&) = delete;
  bad_peer& operator=(const bad_peer&) = delete;

  std::uint16_t port() const { return port_; }
  // "ADDRESS:PORT", as opendod's --peer takes it.
  std::string endpoint() const { return address_ + ":" + std::to_string(port_); }

  // Blocks sent (piece messages), over all connections.
  std::uint64_t blocks_sent() const { return blocks_sent_; }
  // Requests received, over all connections (answered or not).
  std::uint64_t requests() const { return requests_; }
  // Connections that completed the handshake.
  std::uint64_t handshakes() const { return handshakes_; }
  // The info hashes peers greeted it with, in hex, one per handshake.
  std::vector<std::string> info_hashes() const;

 private:
  void accept_loop();
  void serve(int fd);

  std::uint32_t pieces_;
  std::string address_;
  answers mode_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> blocks_sent_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> handshakes_{0};
  mutable std::mutex mutex_;  // guards what follows
  std::vector<int> connections_;
  std::vector<std::thread> workers_;
  std::vector<std::string> info_hashes_;
  std::thread acceptor_;
};

}  // namespace opendo::test
