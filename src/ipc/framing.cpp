#include "ipc/framing.hpp"

#include <cstring>

namespace opendo::ipc {

std::optional<std::string> frame_decoder::next() {
  if (overflow_) return std::nullopt;
  const char* start = buffer_.data() + consumed_;
  const std::size_t available = buffer_.size() - consumed_;
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): a search for the NUL, nothing copied
  const void* nul = std::memchr(start, '\0', available);
  if (nul == nullptr) {
    if (available > limit_) overflow_ = true;
    // Drop what was consumed so the buffer holds only the pending message.
    if (consumed_ > 0) {
      buffer_.erase(0, consumed_);
      consumed_ = 0;
    }
    return std::nullopt;
  }
  const auto length = static_cast<std::size_t>(static_cast<const char*>(nul) - start);
  if (length > limit_) {
    overflow_ = true;
    return std::nullopt;
  }
  std::string message(start, length);
  consumed_ += length + 1;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return message;
}

}  // namespace opendo::ipc
