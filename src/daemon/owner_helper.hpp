// Acting as a job's owner in system mode: the owner's identity as the user database defines it,
// dropping to it for good, and the file operations done by a helper process that runs with it.
// A root daemon never resolves a path a user controls; the helper of that user does.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/file_ops.hpp"
#include "ipc/socket.hpp"

namespace opendo::daemon {

// A user's credentials: uid, primary gid and every group the system puts the user in.
struct owner_identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // from getgrouplist: the primary group and the supplementary ones
  std::string name;
  std::string home;
  std::string shell;
};

// Looks the uid up with getpwuid_r and getgrouplist. nullopt when the user database has no entry
// for it: then nobody can say which groups it has, so nothing is done on its behalf. Not safe
// between fork and exec (NSS): call it before forking.
std::optional<owner_identity> lookup_owner(uid_t uid);

// The gid of a group name (getgrnam_r); nullopt when there is none.
std::optional<gid_t> lookup_group(const std::string& name);

// Becomes `who` for good: setgroups(who.groups), setresgid and setresuid to all three ids, then
// checks that the ids stuck, that no capability is left and that root cannot be regained.
// Returns false (errno set when a call failed) if any step did not hold; the caller must then
// exit without doing anything. Only async-signal-safe calls: usable between fork and exec.
bool drop_to_owner(const owner_identity& who);

// file_ops for a root daemon serving many users: every call is forwarded to a helper process of
// the file's owner (one per uid, started on first use, restarted when it died). The helper is
// `opendod --file-helper`, exec'd by a forked child of the daemon; it drops to the owner before it
// reads any request and serves requests on a SOCK_SEQPACKET socketpair, doing each one with
// direct_file_ops. open_temp's descriptor comes back with SCM_RIGHTS. A helper that does not
// answer within `timeout` (a hung FUSE or NFS directory, a stopped process) is killed and the
// call fails with E_FAIL and a message: the daemon's one thread is never blocked for longer.
class helper_file_ops final : public file_ops {
 public:
  explicit helper_file_ops(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~helper_file_ops() override;
  helper_file_ops(const helper_file_ops&) = delete;
  helper_file_ops& operator=(const helper_file_ops&) = delete;

  file_result check_destination(uid_t owner, const std::string& local_name) override;
  file_result open_temp(uid_t owner, const std::string& local_name, const std::string& temp_name,
                        std::uint64_t keep_bytes, ipc::unique_fd& out,
                        bool sync_new_name = true) override;
  file_result deliver(uid_t owner, const std::string& local_name, const std::string& temp_name,
                      std::int64_t mtime, bool may_be_delivered, bool sync_dir) override;
  file_result sync_directory(uid_t owner, const std::string& local_name) override;
  file_result remove_temp(uid_t owner, const std::string& local_name,
                          const std::string& temp_name) override;

 private:
  struct helper {
    pid_t pid = -1;
    ipc::unique_fd socket;
  };

  // Sends one request to the owner's helper and waits for its answer (and descriptor).
  file_result call(uid_t owner, const std::string& request, ipc::unique_fd* received);
  file_result start(uid_t owner, helper& out);
  // SIGKILLs a helper; it is reaped now or by a later reap().
  void discard(uid_t owner);
  void reap();

  std::chrono::milliseconds timeout_;
  std::map<uid_t, helper> helpers_;
  std::vector<pid_t> dying_;  // killed, not yet reaped (a process in D state takes its time)
};

// The helper's side: `opendod --file-helper UID GID GROUPS` with the socketpair end on fd 3
// (GROUPS: comma-separated gids, or "-" for none). Drops to the owner, then serves requests until
// the daemon closes its end. Returns the process's exit status.
int run_file_helper(int argc, char** argv);

}  // namespace opendo::daemon
