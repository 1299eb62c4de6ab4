// The power-loss model's disk: a shadow directory of what was synced under a tree, and the
// rebuild of the tree from it (see support/power_loss.hpp). Compiled into the test support
// library and into libopendo_power_loss.so, so it uses nothing of the test framework. The shadow
// holds files/DEV-INO, the bytes of a file at its last sync, and dirs/DEV-INO, the names of a
// directory at its last sync, one "TYPE MODE DEV-INO NAME" line each (TYPE d or f).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>

#include "support/power_loss.hpp"

namespace fs = std::filesystem;

namespace opendo::test {
namespace power_loss_disk {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), "power-loss model: " + what);
}

std::string key_of(const struct stat& info) {
  return std::to_string(info.st_dev) + "-" + std::to_string(info.st_ino);
}

// A unique name beside `path` to write before renaming over it: threads of one process and
// several processes may sync at once.
fs::path scratch_for(const fs::path& path) {
  static std::atomic<std::uint64_t> counter{0};
  return path.string() + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(::syscall(SYS_gettid)) + "." + std::to_string(counter++);
}

void write_atomically(const fs::path& path, const std::string& bytes) {
  const fs::path scratch = scratch_for(path);
  {
    std::ofstream out(scratch, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) fail("cannot write " + scratch.string());
  }
  if (::rename(scratch.c_str(), path.c_str()) != 0) fail("cannot rename " + scratch.string());
}

// The bytes of the file `fd` is open on, read through a descriptor of our own (`fd` may be
// write-only, and its position must not move).
void copy_content(int fd, const fs::path& to) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const int in = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("cannot reopen " + self);
  const fs::path scratch = scratch_for(to);
  const int out = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    ::close(in);
    fail("cannot create " + scratch.string());
  }
  std::string buffer(1 << 20, '\0');
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    if (::write(out, buffer.data(), static_cast<std::size_t>(n)) != n) {
      ok = false;
      break;
    }
  }
  ::close(in);
  ::close(out);
  if (!ok || ::rename(scratch.c_str(), to.c_str()) != 0) fail("cannot copy into " + to.string());
}

std::string listing_of(int dir_fd) {
  const std::string self = "/proc/self/fd/" + std::to_string(dir_fd);
  DIR* dir = ::opendir(self.c_str());
  if (dir == nullptr) fail("cannot list " + self);
  std::ostringstream listing;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat info {};
    if (::fstatat(::dirfd(dir), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) continue;
    // Sockets, FIFOs and links are not modelled: they do not hold data.
    if (!S_ISDIR(info.st_mode) && !S_ISREG(info.st_mode)) continue;
    if (name.find('\n') != std::string::npos) {
      ::closedir(dir);
      errno = EINVAL;
      fail("a name with a newline: " + name);
    }
    listing << (S_ISDIR(info.st_mode) ? 'd' : 'f') << ' ' << (info.st_mode & 07777) << ' '
            << key_of(info) << ' ' << name << '\n';
  }
  ::closedir(dir);
  return listing.str();
}

struct entry {
  bool directory = false;
  unsigned mode = 0;
  std::string key;
  std::string name;
};

std::vector<entry> read_listing(const fs::path& path) {
  std::vector<entry> entries;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    entry e;
    char type = 0;
    fields >> type >> e.mode >> e.key;
    fields.get();  // the space before the name
    std::getline(fields, e.name);
    e.directory = type == 'd';
    entries.push_back(e);
  }
  return entries;
}

void walk_files(const fs::path& dir, std::map<std::string, fs::path>& out) {
  for (const auto& item : fs::directory_iterator(dir)) {
    struct stat info {};
    if (::lstat(item.path().c_str(), &info) != 0) continue;
    if (S_ISDIR(info.st_mode)) {
      walk_files(item.path(), out);
    } else if (S_ISREG(info.st_mode)) {
      out[key_of(info)] = item.path();
    }
  }
}

// What the disk holds of a file after the power went: what the kernel wrote back of its unsynced
// changes, if anything.
enum class file_outcome { synced, written_back, size_only };

file_outcome pick_outcome(bool still_there, const power_off_chances& chances,
                          std::mt19937_64& rng) {
  if (!still_there) return file_outcome::synced;
  // One draw per file whatever the chances, so that a seed replays the same power offs.
  const double draw = std::uniform_real_distribution<double>(0, 1)(rng);
  if (draw < chances.written_back) return file_outcome::written_back;
  if (draw < chances.written_back + chances.size_only) return file_outcome::size_only;
  return file_outcome::synced;
}

void rebuild(const fs::path& into, const fs::path& shadow, const std::string& key,
             const std::map<std::string, fs::path>& live, const power_off_chances& chances,
             std::mt19937_64& rng) {
  const fs::path listing = shadow / "dirs" / key;
  if (!fs::exists(listing)) return;  // a directory whose names were never synced: empty
  for (const entry& e : read_listing(listing)) {
    const fs::path path = into / e.name;
    if (e.directory) {
      fs::create_directory(path);
      rebuild(path, shadow, e.key, live, chances, rng);
    } else {
      const fs::path synced = shadow / "files" / e.key;
      const auto current = live.find(e.key);
      const file_outcome outcome = pick_outcome(current != live.end(), chances, rng);
      if (outcome == file_outcome::written_back) {
        fs::copy_file(current->second, path);
      } else if (fs::exists(synced)) {
        fs::copy_file(synced, path);
      } else {
        std::ofstream{path};  // named on disk, but none of its bytes ever were
      }
      if (outcome == file_outcome::size_only) {
        // Its new size reached the disk, its new bytes did not: zeros past the synced ones.
        fs::resize_file(path, fs::file_size(current->second));
      }
    }
    fs::permissions(path, static_cast<fs::perms>(e.mode));
  }
}

}  // namespace

void sync_file(const fs::path& shadow, int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) fail("cannot inspect a synced descriptor");
  copy_content(fd, shadow / "files" / key_of(info));
}

void sync_directory(const fs::path& shadow, int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) fail("cannot inspect a synced directory");
  write_atomically(shadow / "dirs" / key_of(info), listing_of(fd));
}

fs::path synced_copy(const fs::path& shadow, const fs::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) fail("cannot inspect " + file.string());
  return shadow / "files" / key_of(info);
}

void sync_tree(const fs::path& root, const fs::path& shadow) {
  const int dir = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail("cannot open " + root.string());
  sync_directory(shadow, dir);
  ::close(dir);
  for (const auto& item : fs::directory_iterator(root)) {
    struct stat info {};
    if (::lstat(item.path().c_str(), &info) != 0) continue;
    if (S_ISDIR(info.st_mode)) {
      sync_tree(item.path(), shadow);
    } else if (S_ISREG(info.st_mode)) {
      const int fd = ::open(item.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) fail("cannot open " + item.path().string());
      sync_file(shadow, fd);
      ::close(fd);
    }
  }
}

void restore(const fs::path& root, const fs::path& shadow, const power_off_chances& chances,
             std::mt19937_64& rng) {
  struct stat info {};
  if (::stat(root.c_str(), &info) != 0) fail("cannot inspect " + root.string());
  std::map<std::string, fs::path> live;
  walk_files(root, live);
  const fs::path staging = root.string() + ".power-loss-restore";
  fs::remove_all(staging);
  fs::create_directory(staging);
  rebuild(staging, shadow, key_of(info), live, chances, rng);
  for (const auto& item : fs::directory_iterator(root)) fs::remove_all(item.path());
  for (const auto& item : fs::directory_iterator(staging)) {
    fs::rename(item.path(), root / item.path().filename());
  }
  fs::remove(staging);
  // The tree as rebuilt is what the disk holds: the next power off starts from it.
  fs::remove_all(shadow);
  fs::create_directories(shadow / "files");
  fs::create_directories(shadow / "dirs");
  sync_tree(root, shadow);
}

}  // namespace power_loss_disk

}  // namespace opendo::test
