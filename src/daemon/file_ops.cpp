#include "daemon/file_ops.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "opendo/hresult.hpp"

namespace opendo::daemon {
namespace {

file_result errno_result(int error_number, const std::string& what) {
  file_result out;
  switch (error_number) {
    case ENOENT:
      out.code = value_of(hr::path_not_found);
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      out.code = value_of(hr::e_accessdenied);
      break;
    case ENOSPC:
    case EDQUOT:
      out.code = value_of(hr::disk_full);
      break;
    case ENOTDIR:
    case ENAMETOOLONG:
    case ELOOP:
      out.code = value_of(hr::invalid_name);
      break;
    case EEXIST:
      out.code = value_of(hr::file_exists);
      break;
    default:
      out.code = hresult_from_win32(29U);
      break;  // ERROR_WRITE_FAULT
  }
  out.message = what + ": " + std::strerror(error_number);
  return out;
}

// A descriptor of the directory that holds `path`, or an error naming it.
file_result open_parent(const std::string& path, ipc::unique_fd& dir) {
  const auto [parent, name] = split_path(path);
  // O_RDONLY so the directory can be fsync'd after a rename; O_PATH if it is not readable.
  dir.reset(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir && errno == EACCES) dir.reset(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return errno_result(errno, "cannot open the directory " + parent);
  return {};
}

}  // namespace

std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? std::string("/") : path.substr(0, slash), path.substr(slash + 1)};
}

file_result direct_file_ops::check_destination(uid_t, const std::string& local_name) {
  ipc::unique_fd dir;
  if (auto result = open_parent(local_name, dir); !result.ok()) return result;
  const auto [parent, name] = split_path(local_name);
  if (::faccessat(dir.get(), ".", W_OK | X_OK, AT_EACCESS) != 0) {
    return errno_result(errno, "cannot create files in " + parent);
  }
  struct stat info {};
  if (::fstatat(dir.get(), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISDIR(info.st_mode)) {
    return {value_of(hr::e_invalidarg), local_name + " is a directory"};
  }
  return {};
}

file_result direct_file_ops::open_temp(uid_t owner, const std::string& local_name,
                                       const std::string& temp_name, std::uint64_t keep_bytes,
                                       ipc::unique_fd& out, bool sync_new_name) {
  ipc::unique_fd dir;
  if (auto result = open_parent(local_name, dir); !result.ok()) return result;
  const std::string shown = split_path(local_name).first + "/" + temp_name;
  ipc::unique_fd fd(::openat(dir.get(), temp_name.c_str(),
                             O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  const bool created = static_cast<bool>(fd);
  if (!fd && errno == EEXIST) {
    // Ours from an earlier attempt or run: reuse it only if it is a plain file of the owner.
    // Looked at before it is opened, since opening a device node can act on the device; and
    // again after, in case the name changed in between.
    const auto ours = [owner](const struct stat& info) {
      return S_ISREG(info.st_mode) && info.st_uid == owner && info.st_nlink == 1;
    };
    file_result not_ours{
        value_of(hr::e_accessdenied),
        shown + " is not a temporary file of this job (not a plain file of its owner)"};
    struct stat named {};
    if (::fstatat(dir.get(), temp_name.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno_result(errno, "cannot inspect " + shown);
    }
    if (!ours(named)) return not_ours;
    fd.reset(::openat(dir.get(), temp_name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return errno_result(errno, "cannot reopen the temporary file " + shown);
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) return errno_result(errno, "cannot inspect " + shown);
    if (!ours(info) || info.st_ino != named.st_ino || info.st_dev != named.st_dev) return not_ours;
    ::fcntl(fd.get(), F_SETFL, 0);
  }
  if (!fd) return errno_result(errno, "cannot create the temporary file " + shown);
  if (created && sync_new_name) {
    // The new name is made durable before any byte of the file is recorded: after a power loss
    // a recorded byte must not be found in a file that is gone (it would come back as a hole).
    // Without sync_new_name the caller syncs the directory before its first record.
    ::fsync(dir.get());  // fails harmlessly on an O_PATH descriptor
  }
  // A file just created is empty: cutting it to 0 bytes would be a system call for nothing.
  const bool cut = keep_bytes != keep_all_bytes && !(created && keep_bytes == 0);
  if (cut && ::ftruncate(fd.get(), static_cast<off_t>(keep_bytes)) != 0) {
    return errno_result(errno, "cannot truncate " + shown);
  }
  out = std::move(fd);
  file_result done;
  done.created = created;
  return done;
}

file_result direct_file_ops::deliver(uid_t owner, const std::string& local_name,
                                     const std::string& temp_name, std::int64_t mtime,
                                     bool may_be_delivered, bool sync_dir) {
  ipc::unique_fd dir;
  if (auto result = open_parent(local_name, dir); !result.ok()) return result;
  const auto [parent, name] = split_path(local_name);
  const std::string shown = parent + "/" + temp_name;
  ipc::unique_fd fd(
      ::openat(dir.get(), temp_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd && errno == ENOENT && may_be_delivered) {
    struct stat delivered {};
    if (::fstatat(dir.get(), name.c_str(), &delivered, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(delivered.st_mode) && delivered.st_uid == owner) {
      ::fsync(dir.get());  // the crash may have come before the directory was synced
      return {};
    }
    errno = ENOENT;
  }
  if (!fd) return errno_result(errno, "cannot open the temporary file " + shown);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_uid != owner) {
    return {value_of(hr::e_accessdenied), shown + " is not a plain file of the job's owner"};
  }
  // Its bytes are not synced again: each was synced before it was recorded (the engine's
  // fdatasync before it reports the file finished, adopt_written_bytes, the content cache's
  // copy), and only a file whose every byte is recorded is delivered.
  if (mtime >= 0) {
    timespec times[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(mtime), 0}};
    ::futimens(fd.get(), times);  // best effort: a wrong mtime is no reason to fail delivery
  }
  if (::renameat(dir.get(), temp_name.c_str(), dir.get(), name.c_str()) != 0) {
    file_result result = errno_result(errno, "cannot move " + shown + " to " + local_name);
    if (errno == EISDIR || errno == EBUSY || errno == ETXTBSY) {
      result.code = value_of(hr::bg_e_destination_locked);
    }
    return result;
  }
  if (sync_dir) ::fsync(dir.get());  // the rename is durable; fails harmlessly on O_PATH
  return {};
}

file_result direct_file_ops::sync_directory(uid_t, const std::string& local_name) {
  ipc::unique_fd dir;
  if (auto result = open_parent(local_name, dir); !result.ok()) return result;
  ::fsync(dir.get());  // fails harmlessly on an O_PATH descriptor, as in deliver
  return {};
}

file_result direct_file_ops::remove_temp(uid_t owner, const std::string& local_name,
                                         const std::string& temp_name) {
  ipc::unique_fd dir;
  if (auto result = open_parent(local_name, dir); !result.ok()) {
    return result.code == value_of(hr::path_not_found) ? file_result{} : result;
  }
  const std::string shown = split_path(local_name).first + "/" + temp_name;
  // Only what the service could have made: a plain file of the owner. A link, a FIFO or a device
  // node at that name is somebody else's doing and stays (the job's own file was not deleted).
  struct stat info {};
  if (::fstatat(dir.get(), temp_name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? file_result{} : errno_result(errno, "cannot inspect " + shown);
  }
  if (!S_ISREG(info.st_mode) || info.st_uid != owner) {
    return {value_of(hr::e_accessdenied),
            shown +
                " is not a temporary file of this job (not a plain file of its owner); it "
                "is left as it is"};
  }
  if (::unlinkat(dir.get(), temp_name.c_str(), 0) != 0 && errno != ENOENT) {
    return errno_result(errno, "cannot delete " + shown);
  }
  return {};
}

}  // namespace opendo::daemon
