// Varlink framing: messages are JSON texts terminated by a NUL byte. The decoder splits a byte
// stream into messages and refuses any message larger than the limit, so no peer can make the
// other side buffer without bound.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace opendo::ipc {

inline constexpr std::size_t max_message_size = std::size_t{1024} * 1024;

class frame_decoder {
 public:
  explicit frame_decoder(std::size_t limit = max_message_size) : limit_(limit) {}

  // Appends received bytes.
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete message (without its NUL), if any. Sets overflow() when the pending
  // message is longer than the limit; after that the stream is unusable.
  std::optional<std::string> next();
  bool overflow() const { return overflow_; }
  // Bytes of an incomplete message waiting for its terminator.
  std::size_t pending() const { return buffer_.size() - consumed_; }

 private:
  std::size_t limit_;
  std::string buffer_;
  std::size_t consumed_ = 0;
  bool overflow_ = false;
};

// The bytes of one message on the wire.
inline std::string frame(std::string_view json) {
  std::string out(json);
  out.push_back('\0');
  return out;
}

}  // namespace opendo::ipc
