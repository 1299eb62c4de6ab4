// File helpers for tests; see files.hpp.
#include "support/files.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace opendo::test {
namespace {

constexpr std::size_t chunk_size = std::size_t{1} << 20;

[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), what + " " + path.string());
}

// A file descriptor closed on scope exit.
class unique_fd {
 public:
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Streaming SHA-256 over OpenSSL EVP.
class sha256 {
 public:
  sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
    }
  }
  void update(const void* data, std::size_t size) {
    if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) {
      throw std::runtime_error("EVP_DigestUpdate failed");
    }
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &length) != 1) {
      throw std::runtime_error("EVP_DigestFinal_ex failed");
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::size_t{length} * 2);
    for (unsigned int i = 0; i < length; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 0xF];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx_;
};

// SplitMix64 in counter form: word i depends only on (seed, i), which makes the stream
// random-access and lets random_bytes() and write_random_file() agree byte for byte.
std::uint64_t stream_word(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Fills out[0, length) with stream bytes [offset, offset + length); words are little-endian.
void fill_stream(std::uint64_t seed, std::uint64_t offset, char* out, std::size_t length) {
  auto put_word = [](char* to, std::uint64_t word) {
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
    std::memcpy(to, &word, 8);
  };
  std::size_t done = 0;
  // Bytes before the first word boundary, then whole words, then what is left of the last one.
  while (done < length && (offset + done) % 8 != 0) {
    const std::uint64_t position = offset + done;
    out[done++] = static_cast<char>(stream_word(seed, position / 8) >> (8 * (position % 8)));
  }
  std::uint64_t index = (offset + done) / 8;
  for (; length - done >= 8; done += 8) put_word(out + done, stream_word(seed, index++));
  if (done < length) {
    char last[8];
    put_word(last, stream_word(seed, index));
    std::memcpy(out + done, last, length - done);
  }
}

void write_all(int fd, const char* data, std::size_t size, const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", path);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void create_parents(const std::filesystem::path& path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
}

}  // namespace

bool keep_temp_dirs() {
  const char* keep = std::getenv("OPENDO_TEST_KEEP_TMP");
  return keep != nullptr && std::string_view(keep) == "1";
}

std::filesystem::path make_temp_dir(std::string_view prefix) {
  std::string pattern = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp", pattern);
  return pattern;
}

void remove_temp_dir(const std::filesystem::path& dir) noexcept {
  if (dir.empty()) return;
  if (keep_temp_dirs()) {
    std::cerr << "opendo test: kept " << dir.string() << '\n';
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

std::string read_file(const std::filesystem::path& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno("open", path);
  std::string out;
  std::vector<char> buffer(std::size_t{64} << 10);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path);
    }
    if (n == 0) break;
    out.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return out;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  create_parents(path);
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw_errno("open", path);
  write_all(fd.get(), bytes.data(), bytes.size(), path);
}

std::string sha256_hex(std::string_view bytes) {
  sha256 hash;
  hash.update(bytes.data(), bytes.size());
  return hash.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno("open", path);
  sha256 hash;
  std::vector<char> buffer(chunk_size);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path);
    }
    if (n == 0) break;
    hash.update(buffer.data(), static_cast<std::size_t>(n));
  }
  return hash.hex();
}

std::string random_bytes(std::uint64_t seed, std::uint64_t offset, std::uint64_t length) {
  std::string out(length, '\0');
  fill_stream(seed, offset, out.data(), out.size());
  return out;
}

std::string write_random_file(const std::filesystem::path& path, std::uint64_t size,
                              std::uint64_t seed) {
  create_parents(path);
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw_errno("open", path);
  sha256 hash;
  std::vector<char> buffer(chunk_size);
  for (std::uint64_t offset = 0; offset < size;) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, size - offset));
    fill_stream(seed, offset, buffer.data(), n);
    hash.update(buffer.data(), n);
    write_all(fd.get(), buffer.data(), n, path);
    offset += n;
  }
  return hash.hex();
}

}  // namespace opendo::test
