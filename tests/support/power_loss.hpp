// A power-loss model for a directory tree: what a program fsync'd there survives a "power off",
// what it did not is dropped. The program runs with libopendo_power_loss.so preloaded, which,
// whenever an fsync or fdatasync of a file under the tree succeeds, keeps a copy of the file's
// content as of that moment (its "disk" copy), and whenever one of a directory succeeds, keeps
// its list of names; sync() and syncfs() keep everything. power_off(), called once every process
// that wrote the tree is dead, rebuilds the tree from those copies alone: a directory holds the
// names it held at its last fsync, a file the bytes it held at its last fsync (or none, if it
// never had one); renames, creations and deletions not made durable by a directory fsync are
// undone. A file's unsynced writes may also have reached the disk before the power went (the
// kernel writes dirty pages back when it likes): with a chance `written_back`, power_off keeps a
// file's current bytes instead; and its new size may have reached the disk without its new bytes
// (a file system that logs sizes before data): with a chance `size_only`, the file keeps its
// synced bytes at its current size, zeros past them. The model keeps names, bytes and permission
// bits, not owners, times or hard links. See "The power-loss model" in docs/durability.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "support/files.hpp"

namespace opendo::test {

// For each file changed since its last sync, the chances that the power off finds its current
// bytes, or its synced bytes at its current size; otherwise it finds its synced bytes.
struct power_off_chances {
  double written_back = 0;
  double size_only = 0;
};

// The disk side, shared with the preloaded library (no test framework in it).
namespace power_loss_disk {
// Makes `path` (a regular file, or a directory: its list of names) durable in `shadow`.
void sync_file(const std::filesystem::path& shadow, int fd);
void sync_directory(const std::filesystem::path& shadow, int fd);
// Where `shadow` keeps the synced bytes of `file`; no file there when it was never synced.
std::filesystem::path synced_copy(const std::filesystem::path& shadow,
                                  const std::filesystem::path& file);
// Makes everything under `root` durable.
void sync_tree(const std::filesystem::path& root, const std::filesystem::path& shadow);
// Rebuilds `root` from `shadow` (see power_off); then everything in it counts as durable.
void restore(const std::filesystem::path& root, const std::filesystem::path& shadow,
             const power_off_chances& chances, std::mt19937_64& rng);
}  // namespace power_loss_disk

class power_loss_model {
 public:
  // Makes `root` (created if missing) and its shadow in a new temp dir; what `root` holds now
  // counts as durable.
  explicit power_loss_model(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  // "NAME=value" entries for a process that writes under root(): LD_PRELOAD and the model's paths
  // (and, under AddressSanitizer, leave to preload a library before its runtime).
  std::vector<std::string> environment() const;
  // Everything under root() now counts as durable, as after `sync`.
  void sync_everything() const;
  // The size of `file` (under root()) at its last sync: what a power off keeps of it, unless
  // the kernel wrote more back. 0 when it was never synced.
  std::uint64_t synced_size(const std::filesystem::path& file) const;
  // The power goes: root() keeps only what was durable (see above). Every process that wrote
  // under root() must be dead.
  void power_off(std::mt19937_64& rng, double written_back_chance = 0);
  void power_off(std::mt19937_64& rng, const power_off_chances& chances);

 private:
  std::filesystem::path shadow() const { return dir_.path() / "shadow"; }

  std::filesystem::path root_;
  temp_dir dir_;
};

// Holds the fsyncs and fdatasyncs of the regular files whose path holds `part`, in a process the
// model's library is preloaded into (power_loss_model::environment()), while the gate is closed
// (OPENDO_TEST_HOLD_SYNC_OF and _GATE; see power_loss_preload.cpp). Closed when made.
class sync_gate {
 public:
  // The gate's files are made in `dir`.
  sync_gate(const std::filesystem::path& dir, std::string part);
  ~sync_gate();  // opens it: no process may be left waiting
  sync_gate(const sync_gate&) = delete;
  sync_gate& operator=(const sync_gate&) = delete;

  // The entries that put the gate in a process's environment.
  std::vector<std::string> environment() const;
  // Waits up to `timeout` for a sync to be held; whether one is.
  bool wait_until_held(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // Makes wait_until_held look for the next sync held (the one it saw stays held).
  void forget_held() const;
  // Lets every held sync go on, and none is held from then on.
  void open() const;

 private:
  std::filesystem::path gate_;
  std::filesystem::path held_;
  std::string part_;
};

// The path of libopendo_power_loss.so: beside the test executables ($OPENDO_BIN_DIR).
std::filesystem::path power_loss_library();

}  // namespace opendo::test
