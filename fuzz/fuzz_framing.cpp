// Fuzz target for ipc::frame_decoder: the input is a byte stream fed in arbitrary chunks, and the
// decoder must split it exactly as a plain reference model does, never return a message longer
// than its limit or containing a NUL, and stay unusable once it overflowed.
//
// Input layout: byte 0 picks the limit (255: the real 1 MiB limit, otherwise 0..254), byte 1 is
// the number of chunk splits n (at most 15), the next n bytes are the chunk lengths (a length of 0
// feeds nothing, which is legal too), and the rest is the stream; what the splits do not cover is
// fed as the last chunk.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/framing.hpp"

namespace {

// What the decoder should do: messages are the NUL-terminated segments of the stream in order,
// as long as each fits the limit; the first one that does not (complete, or the pending tail)
// overflows the stream for good.
class reference {
 public:
  explicit reference(std::size_t limit) : limit_(limit) {}
  void feed(std::string_view bytes) { data_.append(bytes); }
  std::optional<std::string> next() {
    if (overflow_) return std::nullopt;
    const std::size_t nul = data_.find('\0', consumed_);
    if (nul == std::string::npos) {
      if (data_.size() - consumed_ > limit_) overflow_ = true;
      return std::nullopt;
    }
    if (nul - consumed_ > limit_) {
      overflow_ = true;
      return std::nullopt;
    }
    std::string message = data_.substr(consumed_, nul - consumed_);
    consumed_ = nul + 1;
    return message;
  }
  bool overflow() const { return overflow_; }
  std::size_t pending() const { return data_.size() - consumed_; }

 private:
  std::size_t limit_;
  std::string data_;
  std::size_t consumed_ = 0;
  bool overflow_ = false;
};

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz_framing: invariant violated: %s\n", what);
    std::abort();
  }
}

// Drains both decoders and compares them message by message.
void drain(opendo::ipc::frame_decoder& decoder, reference& model, std::size_t limit) {
  for (;;) {
    const auto got = decoder.next();
    const auto want = model.next();
    require(got.has_value() == want.has_value(), "a message where the model has none, or none");
    if (!got) break;
    require(*got == *want, "the message differs from the model's");
    require(got->size() <= limit, "a message longer than the limit");
    require(std::memchr(got->data(), '\0', got->size()) == nullptr, "a message with a NUL");
  }
  require(decoder.overflow() == model.overflow(), "overflow differs from the model's");
  if (!decoder.overflow()) {
    require(decoder.pending() == model.pending(), "pending() differs from the model's");
    require(decoder.pending() <= limit, "more than the limit pending without overflow");
  }
  // Once overflowed, the stream is unusable: next() never returns a message again.
  if (decoder.overflow()) require(!decoder.next().has_value(), "a message after overflow");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t limit = data[0] == 255 ? opendo::ipc::max_message_size : data[0];
  const std::size_t splits = data[1] % 16;
  std::size_t header = 2 + splits;
  if (size < header) return 0;
  std::vector<std::size_t> chunks(data + 2, data + header);
  const std::string_view stream(reinterpret_cast<const char*>(data + header), size - header);

  opendo::ipc::frame_decoder decoder(limit);
  reference model(limit);
  std::size_t offset = 0;
  for (std::size_t length : chunks) {
    length = std::min(length, stream.size() - offset);
    decoder.feed(stream.substr(offset, length));
    model.feed(stream.substr(offset, length));
    offset += length;
    drain(decoder, model, limit);
  }
  decoder.feed(stream.substr(offset));
  model.feed(stream.substr(offset));
  drain(decoder, model, limit);
  return 0;
}
