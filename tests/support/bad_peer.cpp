#include "support/bad_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace opendo::test {

namespace {

constexpr std::string_view kProtocol = "BitTorrent protocol";
constexpr std::size_t kHashLength = 20;
constexpr std::size_t kPeerIdLength = 20;
// Message ids of BEP 3.
constexpr std::uint8_t kUnchoke = 1;
constexpr std::uint8_t kBitfield = 5;
constexpr std::uint8_t kRequest = 6;
constexpr std::uint8_t kPiece = 7;
// Larger messages are not BitTorrent's (a request is 13 bytes, a bitfield a few KiB): close.
constexpr std::uint32_t kMaxMessage = 1U << 20;
// Blocks are at most 16 KiB (BEP 3's "all current implementations use 2^14"); a request for more
// is refused as libtorrent refuses one.
constexpr std::uint32_t kMaxBlock = 1U << 17;
constexpr char kWrongByte = static_cast<char>(0xBD);

std::system_error os_error(const char* what) {
  return std::system_error(errno, std::generic_category(), what);
}

// Reads exactly n bytes; false on EOF or error.
bool read_all(int fd, char* out, std::size_t n) {
  while (n > 0) {
    const ssize_t got = ::recv(fd, out, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

void put_u32(std::string& out, std::uint32_t v) {
  const std::uint32_t be = htonl(v);
  out.append(reinterpret_cast<const char*>(&be), sizeof be);
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t be = 0;
  std::memcpy(&be, p, sizeof be);
  return ntohl(be);
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

}  // namespace

bad_peer::bad_peer(std::uint32_t pieces, std::string address, answers mode)
    : pieces_(pieces), address_(std::move(address)), mode_(mode) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw os_error("bad_peer: socket");
  const int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, address_.c_str(), &addr.sin_addr) != 1) {
    ::close(listener_);
    throw std::invalid_argument("bad_peer: not an IPv4 address: " + address_);
  }
  socklen_t length = sizeof addr;
  if (::bind(listener_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    const auto error = os_error(("bad_peer: listen on " + address_).c_str());
    ::close(listener_);
    throw error;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

bad_peer::~bad_peer() {
  stopping_ = true;
  // Wakes accept() (Linux ends it with EINVAL), then every recv() and send() of the workers.
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (const int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& w : workers_) w.join();
  ::close(listener_);
}

std::vector<std::string> bad_peer::info_hashes() const {
  std::lock_guard lock(mutex_);
  return info_hashes_;
}

void bad_peer::accept_loop() {
  while (!stopping_) {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    connections_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void bad_peer::serve(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  [&] {
    // The greeting up to its info hash; the peer id follows once we answered.
    char greeting[1 + kProtocol.size() + 8 + kHashLength];
    if (!read_all(fd, greeting, sizeof greeting)) return;
    if (static_cast<unsigned char>(greeting[0]) != kProtocol.size() ||
        std::string_view(greeting + 1, kProtocol.size()) != kProtocol) {
      return;  // an encrypted handshake (or not BitTorrent): the client retries in plain text
    }
    const std::string_view info_hash(greeting + 1 + kProtocol.size() + 8, kHashLength);
    std::string hello;
    hello += static_cast<char>(kProtocol.size());
    hello += kProtocol;
    hello.append(8, '\0');
    hello += info_hash;
    hello += "-XX0001-badpeer00000";
    if (!write_all(fd, hello)) return;
    char their_id[kPeerIdLength];
    if (!read_all(fd, their_id, sizeof their_id)) return;
    {
      std::lock_guard lock(mutex_);
      info_hashes_.push_back(hex(info_hash));
    }
    ++handshakes_;

    // Every piece, high bit first; the spare bits of the last byte stay 0 (BEP 3 requires it).
    std::string bitfield((pieces_ + 7) / 8, '\0');
    for (std::uint32_t p = 0; p < pieces_; ++p) {
      bitfield[p / 8] =
          static_cast<char>(static_cast<unsigned char>(bitfield[p / 8]) | (0x80U >> (p % 8)));
    }
    std::string intro;
    put_u32(intro, 1 + static_cast<std::uint32_t>(bitfield.size()));
    intro += static_cast<char>(kBitfield);
    intro += bitfield;
    put_u32(intro, 1);
    intro += static_cast<char>(kUnchoke);
    if (!write_all(fd, intro)) return;

    std::string message;
    for (;;) {
      char prefix[4];
      if (!read_all(fd, prefix, sizeof prefix)) return;
      const std::uint32_t length = get_u32(prefix);
      if (length == 0) continue;  // keep-alive
      if (length > kMaxMessage) return;
      message.resize(length);
      if (!read_all(fd, message.data(), length)) return;
      if (static_cast<std::uint8_t>(message[0]) != kRequest || length != 13) continue;
      const std::uint32_t index = get_u32(message.data() + 1);
      const std::uint32_t begin = get_u32(message.data() + 5);
      const std::uint32_t block = get_u32(message.data() + 9);
      if (block == 0 || block > kMaxBlock) return;
      ++requests_;
      if (mode_ == answers::nothing) continue;
      std::string piece;
      put_u32(piece, 9 + block);
      piece += static_cast<char>(kPiece);
      put_u32(piece, index);
      put_u32(piece, begin);
      piece.append(block, kWrongByte);
      if (!write_all(fd, piece)) return;
      ++blocks_sent_;
    }
  }();
  std::lock_guard lock(mutex_);
  connections_.erase(std::find(connections_.begin(), connections_.end(), fd));
  ::close(fd);
}

}  // namespace opendo::test
