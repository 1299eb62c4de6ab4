// Every file operation opendod does for a job: check a destination, create or reopen the
// temporary file, deliver it (rename into place) and delete it. All of them are anchored on a
// descriptor of the destination's directory and never follow a symlink in the last component.
//
// In user mode the daemon runs as the job owner, so it does them itself. The system mode (next
// issue) replaces this class with one that does the same calls in a helper that has dropped to
// the owner's credentials, so the privileged daemon never resolves a user-controlled path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "ipc/socket.hpp"

namespace opendo::daemon {

struct file_result {
  std::uint32_t code = 0;  // HRESULT; 0 on success
  std::string message;     // what failed, naming the path
  bool created = false;    // open_temp: the file was created, not reopened
  bool ok() const { return code == 0; }
};

class file_ops {
 public:
  virtual ~file_ops() = default;

  // The destination's directory exists, is a directory, and the owner can create files in it;
  // the destination itself is not a directory.
  virtual file_result check_destination(uid_t owner, const std::string& local_name) = 0;

  // Opens the temporary file `temp_name` beside `local_name` for reading and writing (reading:
  // the daemon checks expected digests), truncated to
  // `keep_bytes` (keep_all_bytes: not truncated; the caller inspects and truncates the fd). It is
  // created (O_EXCL, mode 0600) when missing; an existing one is reused only when it is a regular
  // file of the owner with one link. A created file's name is made durable (its directory
  // synced) unless `sync_new_name` is false: then the caller must sync the directory
  // (sync_directory) before it records any byte of the file, and `created` tells it so.
  virtual file_result open_temp(uid_t owner, const std::string& local_name,
                                const std::string& temp_name, std::uint64_t keep_bytes,
                                ipc::unique_fd& out, bool sync_new_name = true) = 0;

  // Sets the temporary file's modification time (when mtime >= 0; its bytes were synced before
  // they were recorded, so it is not synced again), renames it over
  // `local_name` and, with `sync_dir`, syncs the directory. Without it the rename is durable only
  // once the caller syncs the directory (sync_directory): Complete renames all of a job's files
  // and then syncs each of their directories once. With `may_be_delivered` (finishing a Complete
  // that a crash interrupted) a missing temporary file beside a destination that is a plain file
  // of the owner means the rename already happened: success, after syncing the directory.
  virtual file_result deliver(uid_t owner, const std::string& local_name,
                              const std::string& temp_name, std::int64_t mtime,
                              bool may_be_delivered, bool sync_dir) = 0;
  // Syncs the directory that holds `local_name` (its names: renames and creations in it).
  virtual file_result sync_directory(uid_t owner, const std::string& local_name) = 0;

  // Deletes the temporary file: only a plain file of the owner (a link, FIFO or device node at its
  // name is not the service's and stays); a missing file is success.
  virtual file_result remove_temp(uid_t owner, const std::string& local_name,
                                  const std::string& temp_name) = 0;
};

inline constexpr std::uint64_t keep_all_bytes = ~std::uint64_t{0};

// The user-mode implementation: direct system calls as the daemon's own user.
class direct_file_ops final : public file_ops {
 public:
  file_result check_destination(uid_t owner, const std::string& local_name) override;
  file_result open_temp(uid_t owner, const std::string& local_name, const std::string& temp_name,
                        std::uint64_t keep_bytes, ipc::unique_fd& out,
                        bool sync_new_name = true) override;
  file_result deliver(uid_t owner, const std::string& local_name, const std::string& temp_name,
                      std::int64_t mtime, bool may_be_delivered, bool sync_dir) override;
  file_result sync_directory(uid_t owner, const std::string& local_name) override;
  file_result remove_temp(uid_t owner, const std::string& local_name,
                          const std::string& temp_name) override;
};

// "/a/b/c.iso" -> {"/a/b", "c.iso"}
std::pair<std::string, std::string> split_path(const std::string& path);

}  // namespace opendo::daemon
