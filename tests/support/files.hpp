// File helpers for tests: private temp dirs, whole-file reads and writes, SHA-256, and a seeded,
// random-access byte stream that makes large test files quickly without holding them in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace opendo::test {

// True when OPENDO_TEST_KEEP_TMP=1: fixtures then leave their temp dirs behind for inspection and
// say where they are on stderr.
bool keep_temp_dirs();

// A new private (0700) directory /tmp/<prefix>-XXXXXX. /tmp rather than $TMPDIR keeps Unix
// socket paths below their 108-byte limit.
std::filesystem::path make_temp_dir(std::string_view prefix = "opendo-test");

// Removes a temp dir tree, or keeps it and names it on stderr when keep_temp_dirs(). Never throws.
void remove_temp_dir(const std::filesystem::path& dir) noexcept;

// A temp dir that is removed when it goes out of scope.
class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "opendo-test") : path_(make_temp_dir(prefix)) {}
  ~temp_dir() { remove_temp_dir(path_); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& child) const {
    return path_ / child;
  }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);

// Writes (replaces) a file, creating its parent directories.
void write_file(const std::filesystem::path& path, std::string_view bytes);

// Lower-case hex SHA-256 of bytes in memory, or of a file read in chunks.
std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);

// The seeded test stream: byte i of the stream for a seed is always the same, so a test can ask
// for any slice of a file it made without reading the file. random_bytes(seed, 0, n) is the
// first n bytes of every file write_random_file(..., size >= n, seed) makes.
std::string random_bytes(std::uint64_t seed, std::uint64_t offset, std::uint64_t length);

// Writes size bytes of the seeded stream to path (parents created) in 1 MiB chunks and returns
// their SHA-256 in hex. A 1 GiB file takes about a second of CPU (plus the disk) and 1 MiB of
// memory.
std::string write_random_file(const std::filesystem::path& path, std::uint64_t size,
                              std::uint64_t seed);

}  // namespace opendo::test
