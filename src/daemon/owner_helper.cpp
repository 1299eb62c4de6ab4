#include "daemon/owner_helper.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/numbers.hpp"
#include "opendo/hresult.hpp"

namespace opendo::daemon {
namespace {

using nlohmann::json;

// A request holds at most two paths of at most 4,096 bytes each (longer ones are refused before
// any file operation); even escaped as \uXXXX throughout, they fit in 64 KiB.
constexpr std::size_t kMaxMessage = std::size_t{64} * 1024;
// The helper's end of the socketpair, as the daemon sets it up before exec.
constexpr int kHelperSocket = 3;
// Exit statuses of a helper that could not start; the daemon logs them.
constexpr int kExitUsage = 64;
constexpr int kExitCannotDrop = 70;
constexpr int kExitIo = 74;

file_result failure(const std::string& message) {
  return {value_of(hr::e_fail), message};
}

// "1000,27,100" -> gids; "-" -> none.
bool parse_groups(const char* text, std::vector<gid_t>& out) {
  const std::string list(text);
  if (list == "-") return true;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = list.find(',', start);
    const std::string item = list.substr(start, comma == std::string::npos ? comma : comma - start);
    const std::optional<gid_t> gid = numbers::parse_whole<gid_t>(item);
    if (!gid) return false;
    out.push_back(*gid);
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

bool send_all(int fd, const std::string& message, int passed_fd = -1) {
  iovec iov{const_cast<char*>(message.data()), message.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (passed_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&msg);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &passed_fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(message.size());
}

// One message and the descriptors that came with it. Returns the byte count (0: the other end
// closed), or -1 with errno; `truncated` when the message or its descriptors did not fit.
ssize_t receive(int fd, std::string& message, std::vector<ipc::unique_fd>& fds, bool& truncated) {
  message.resize(kMaxMessage + 1);
  iovec iov{message.data(), message.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  for (cmsghdr* h = CMSG_FIRSTHDR(&msg); h != nullptr; h = CMSG_NXTHDR(&msg, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int received = -1;
      std::memcpy(&received, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
      fds.emplace_back(received);  // owned from here, so extras are closed
    }
  }
  truncated = n > 0 && (static_cast<std::size_t>(n) > kMaxMessage ||
                        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0);
  message.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return n;
}

bool capabilities_empty() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0) return false;
  }
  return true;
}

// ---- the helper's side -------------------------------------------------------------------------

std::string reply(const file_result& result) {
  return json{{"code", result.code}, {"message", result.message}, {"created", result.created}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

// Does one request with the helper's (the owner's) credentials.
file_result serve(const json& request, ipc::unique_fd& opened) {
  if (!request.is_object()) return {value_of(hr::e_invalidarg), "malformed request"};
  const auto text = [&](const char* key) -> std::string {
    auto it = request.find(key);
    return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string op = text("op");
  const std::string local_name = text("local_name");
  const std::string temp_name = text("temp_name");
  if (local_name.empty() || local_name.front() != '/') {
    return {value_of(hr::e_invalidarg), "the local name must be an absolute path"};
  }
  if (op != "check_destination" && op != "sync_directory" &&
      (temp_name.empty() || temp_name.find('/') != std::string::npos)) {
    return {value_of(hr::e_invalidarg), "the temporary name must be a plain file name"};
  }
  direct_file_ops files;
  const uid_t self = ::getuid();
  if (op == "check_destination") return files.check_destination(self, local_name);
  if (op == "open_temp") {
    const std::uint64_t keep = request.value("keep_bytes", std::uint64_t{0});
    return files.open_temp(self, local_name, temp_name, keep, opened,
                           request.value("sync_new_name", true));
  }
  if (op == "deliver") {
    return files.deliver(self, local_name, temp_name, request.value("mtime", std::int64_t{-1}),
                         request.value("may_be_delivered", false), request.value("sync_dir", true));
  }
  if (op == "sync_directory") return files.sync_directory(self, local_name);
  if (op == "remove_temp") return files.remove_temp(self, local_name, temp_name);
  return {value_of(hr::e_invalidarg), "unknown operation " + op};
}

[[noreturn]] void helper_exit(int status) {
  // _exit: nothing of the daemon's runs at exit in a process that is the owner now.
  ::_exit(status);
}

}  // namespace

// ---- identities --------------------------------------------------------------------------------

std::optional<owner_identity> lookup_owner(uid_t uid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < (1U << 24)) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0 || found == nullptr) return std::nullopt;
  owner_identity who;
  who.uid = uid;
  who.gid = entry.pw_gid;
  who.name = entry.pw_name;
  who.home = entry.pw_dir != nullptr ? entry.pw_dir : "/";
  who.shell = entry.pw_shell != nullptr ? entry.pw_shell : "";
  int count = 32;
  for (int attempt = 0; attempt < 8; ++attempt) {
    who.groups.assign(static_cast<std::size_t>(count), 0);
    int wanted = count;
    if (::getgrouplist(who.name.c_str(), who.gid, who.groups.data(), &wanted) >= 0) {
      who.groups.resize(static_cast<std::size_t>(wanted));
      std::sort(who.groups.begin(), who.groups.end());
      who.groups.erase(std::unique(who.groups.begin(), who.groups.end()), who.groups.end());
      return who;
    }
    count = std::max(wanted, count * 2);
  }
  return std::nullopt;
}

std::optional<gid_t> lookup_group(const std::string& name) {
  long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  group entry{};
  group* found = nullptr;
  int rc;
  while ((rc = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1U << 24)) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0 || found == nullptr) return std::nullopt;
  return entry.gr_gid;
}

bool drop_to_owner(const owner_identity& who) {
  if (::setgroups(who.groups.size(), who.groups.data()) != 0) return false;
  if (::setresgid(who.gid, who.gid, who.gid) != 0) return false;
  if (::setresuid(who.uid, who.uid, who.uid) != 0) return false;
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ruid != who.uid || euid != who.uid ||
      suid != who.uid) {
    return false;
  }
  if (::getresgid(&rgid, &egid, &sgid) != 0 || rgid != who.gid || egid != who.gid ||
      sgid != who.gid) {
    return false;
  }
  // The kernel keeps the list sorted: compare as sets. More than 1,024 groups (EINVAL) is left to
  // the setgroups above, which either set them all or failed.
  gid_t now[1024];
  const int count = ::getgroups(1024, now);
  if (count < 0 && errno != EINVAL) return false;
  if (count >= 0) {
    if (static_cast<std::size_t>(count) != who.groups.size()) return false;
    for (int i = 0; i < count; ++i) {
      bool wanted = false;
      for (gid_t g : who.groups) wanted = wanted || g == now[i];
      if (!wanted) return false;
    }
  }
  if (who.uid != 0) {
    // Whatever is left must not lead back to root.
    if (!capabilities_empty()) return false;
    if (::setuid(0) == 0 || ::seteuid(0) == 0) return false;
    if (who.gid != 0 && (::setgid(0) == 0 || ::setegid(0) == 0)) return false;
    if (::setgroups(0, nullptr) == 0) return false;
  }
  return true;
}

// ---- the daemon's side -------------------------------------------------------------------------

helper_file_ops::helper_file_ops(std::chrono::milliseconds timeout) : timeout_(timeout) {}

helper_file_ops::~helper_file_ops() {
  // A helper holds nothing worth finishing between requests: stop them all, and reap them for up
  // to a second (one stuck in an uninterruptible wait is left to init).
  for (auto& [uid, h] : helpers_) {
    h.socket.reset();
    ::kill(h.pid, SIGKILL);
    dying_.push_back(h.pid);
  }
  helpers_.clear();
  for (int round = 0; round < 100 && !dying_.empty(); ++round) {
    reap();
    if (!dying_.empty()) ::usleep(10000);
  }
}

void helper_file_ops::reap() {
  std::erase_if(dying_, [](pid_t pid) {
    const pid_t rc = ::waitpid(pid, nullptr, WNOHANG);
    return rc == pid || (rc < 0 && errno == ECHILD);
  });
}

void helper_file_ops::discard(uid_t owner) {
  auto it = helpers_.find(owner);
  if (it == helpers_.end()) return;
  ::kill(it->second.pid, SIGKILL);
  dying_.push_back(it->second.pid);
  helpers_.erase(it);
  reap();
}

file_result helper_file_ops::start(uid_t owner, helper& out) {
  const auto who = lookup_owner(owner);
  if (!who) {
    return {value_of(hr::e_accessdenied),
            "uid " + std::to_string(owner) +
                " has no entry in the user database: opendod does not know its groups and does "
                "no file operation on its behalf"};
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return failure(std::string("cannot create the file helper's socket: ") + std::strerror(errno));
  }
  ipc::unique_fd ours(pair[0]);
  ipc::unique_fd theirs(pair[1]);
  ipc::unique_fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return failure(std::string("cannot open /dev/null: ") + std::strerror(errno));

  // Everything the child needs is built now: between fork and exec only async-signal-safe calls.
  std::string groups;
  for (gid_t g : who->groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
  if (groups.empty()) groups = "-";
  std::vector<std::string> args = {"opendod", "--file-helper", std::to_string(who->uid),
                                   std::to_string(who->gid), groups};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  const int their_fd = theirs.get();
  const int null_fd = null.get();

  const pid_t pid = ::fork();
  if (pid < 0) return failure(std::string("cannot start a file helper: ") + std::strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Above the range being set up, so that the dup2s below cannot clobber them.
    const int s = ::fcntl(their_fd, F_DUPFD_CLOEXEC, 10);
    const int n = ::fcntl(null_fd, F_DUPFD_CLOEXEC, 10);
    if (s < 0 || n < 0 || ::dup2(n, 0) < 0 || ::dup2(n, 1) < 0 || ::dup2(n, 2) < 0 ||
        ::dup2(s, kHelperSocket) < 0) {
      ::_exit(127);
    }
    ::close_range(kHelperSocket + 1, ~0U, 0);
    // A fresh image of opendod: no copy of the daemon's memory (other users' jobs and
    // credentials), no threads, no library state inherited across fork.
    ::execve("/proc/self/exe", argv.data(), envp);
    ::_exit(127);
  }
  theirs.reset();
  out.pid = pid;
  out.socket = std::move(ours);

  // The helper says it is ready once it has dropped to the owner, or why it could not.
  pollfd p{out.socket.get(), POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, static_cast<int>(timeout_.count()));
  } while (ready < 0 && errno == EINTR);
  std::string message;
  std::vector<ipc::unique_fd> fds;
  bool truncated = false;
  const ssize_t n = ready > 0 ? receive(out.socket.get(), message, fds, truncated) : -1;
  const json hello = n > 0 && !truncated ? json::parse(message, nullptr, false) : json();
  if (!hello.is_object() || !hello.value("ready", false)) {
    std::string why = hello.is_object() ? hello.value("message", std::string()) : std::string();
    if (why.empty()) why = ready == 0 ? "it did not start in time" : "it ended at once";
    ::kill(pid, SIGKILL);
    dying_.push_back(pid);
    reap();
    return failure("cannot start the file helper of uid " + std::to_string(owner) + ": " + why);
  }
  spdlog::info("file helper for uid {} ({}) started (pid {})", owner, who->name, pid);
  return {};
}

file_result helper_file_ops::call(uid_t owner, const std::string& request,
                                  ipc::unique_fd* received) {
  reap();
  if (request.size() > kMaxMessage) {
    return {value_of(hr::e_invalidarg), "a path of the request is too long"};
  }
  // A helper that died since the last call (killed by its user, say) is replaced.
  if (auto it = helpers_.find(owner); it != helpers_.end()) {
    int status = 0;
    if (::waitpid(it->second.pid, &status, WNOHANG) == it->second.pid) {
      spdlog::warn("file helper of uid {} (pid {}) had ended (status {}); starting another", owner,
                   it->second.pid,
                   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      helpers_.erase(it);
    }
  }
  bool sent = false;
  for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
    auto it = helpers_.find(owner);
    if (it == helpers_.end()) {
      helper fresh;
      if (auto started = start(owner, fresh); !started.ok()) return started;
      it = helpers_.emplace(owner, std::move(fresh)).first;
    }
    sent = send_all(it->second.socket.get(), request);
    if (!sent) discard(owner);  // it went away before reading: nothing was done, so try again
  }
  if (!sent)
    return failure("cannot send a request to the file helper of uid " + std::to_string(owner));

  helper& h = helpers_.at(owner);
  const pid_t pid = h.pid;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  pollfd p{h.socket.get(), POLLIN, 0};
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int rc = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (rc > 0) break;
    if (rc < 0 && errno == EINTR) continue;
    discard(owner);
    spdlog::error("file helper of uid {} (pid {}) did not answer in {} ms; killed it", owner, pid,
                  timeout_.count());
    return failure("the file operation did not finish in " +
                   std::to_string(timeout_.count() / 1000) +
                   " s (a file system that does not answer?); it was abandoned");
  }
  std::string message;
  std::vector<ipc::unique_fd> fds;
  bool truncated = false;
  const ssize_t n = receive(h.socket.get(), message, fds, truncated);
  if (n <= 0 || truncated) {
    discard(owner);
    return failure(
        n == 0
            ? "the file helper of uid " + std::to_string(owner) + " ended while doing the operation"
            : "the file helper of uid " + std::to_string(owner) + " sent a malformed answer");
  }
  const json answer = json::parse(message, nullptr, false);
  if (!answer.is_object() || !answer.contains("code") || !answer["code"].is_number_unsigned()) {
    discard(owner);
    return failure("the file helper of uid " + std::to_string(owner) + " sent a malformed answer");
  }
  file_result result{answer["code"].get<std::uint32_t>(), answer.value("message", std::string()),
                     answer.value("created", false)};
  if (received == nullptr || !result.ok()) return result;
  // The descriptor is written by root from now on: make sure it is what open_temp promises.
  struct stat info {};
  if (fds.size() != 1 || ::fstat(fds[0].get(), &info) != 0 || !S_ISREG(info.st_mode) ||
      info.st_uid != owner || (::fcntl(fds[0].get(), F_GETFL) & O_ACCMODE) == O_RDONLY) {
    discard(owner);
    return {value_of(hr::e_accessdenied), "the file helper of uid " + std::to_string(owner) +
                                              " did not return a writable file of its owner"};
  }
  *received = std::move(fds[0]);
  return result;
}

file_result helper_file_ops::check_destination(uid_t owner, const std::string& local_name) {
  return call(owner, json{{"op", "check_destination"}, {"local_name", local_name}}.dump(), nullptr);
}

file_result helper_file_ops::open_temp(uid_t owner, const std::string& local_name,
                                       const std::string& temp_name, std::uint64_t keep_bytes,
                                       ipc::unique_fd& out, bool sync_new_name) {
  return call(owner,
              json{{"op", "open_temp"},
                   {"local_name", local_name},
                   {"temp_name", temp_name},
                   {"keep_bytes", keep_bytes},
                   {"sync_new_name", sync_new_name}}
                  .dump(),
              &out);
}

file_result helper_file_ops::deliver(uid_t owner, const std::string& local_name,
                                     const std::string& temp_name, std::int64_t mtime,
                                     bool may_be_delivered, bool sync_dir) {
  return call(owner,
              json{{"op", "deliver"},
                   {"local_name", local_name},
                   {"temp_name", temp_name},
                   {"mtime", mtime},
                   {"may_be_delivered", may_be_delivered},
                   {"sync_dir", sync_dir}}
                  .dump(),
              nullptr);
}

file_result helper_file_ops::sync_directory(uid_t owner, const std::string& local_name) {
  return call(owner, json{{"op", "sync_directory"}, {"local_name", local_name}}.dump(), nullptr);
}

file_result helper_file_ops::remove_temp(uid_t owner, const std::string& local_name,
                                         const std::string& temp_name) {
  return call(
      owner,
      json{{"op", "remove_temp"}, {"local_name", local_name}, {"temp_name", temp_name}}.dump(),
      nullptr);
}

// ---- the helper process ------------------------------------------------------------------------

int run_file_helper(int argc, char** argv) {
  if (argc != 5) return kExitUsage;
  const std::optional<uid_t> uid = numbers::parse_whole<uid_t>(argv[2]);
  const std::optional<gid_t> gid = numbers::parse_whole<gid_t>(argv[3]);
  owner_identity who;
  if (!uid || !gid || !parse_groups(argv[4], who.groups)) return kExitUsage;
  who.uid = *uid;
  who.gid = *gid;
  // Only the socketpair end is kept (0-2 are /dev/null, set up by the daemon).
  int type = 0;
  socklen_t length = sizeof type;
  if (::getsockopt(kHelperSocket, SOL_SOCKET, SO_TYPE, &type, &length) != 0 ||
      type != SOCK_SEQPACKET) {
    return kExitUsage;
  }
  ::close_range(kHelperSocket + 1, ~0U, 0);
  ::fcntl(kHelperSocket, F_SETFD, FD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);
  ::umask(077);
  const pid_t parent = ::getppid();

  // The owner's credentials before anything else: no request is read as root.
  if (!drop_to_owner(who)) {
    const int error = errno;
    send_all(kHelperSocket,
             json{{"ready", false},
                  {"message", "cannot drop to uid " + std::to_string(who.uid) + " gid " +
                                  std::to_string(who.gid) + ": " +
                                  (error != 0 ? std::strerror(error) : "the ids did not stick")}}
                 .dump());
    helper_exit(kExitCannotDrop);
  }
  // Not dumpable: the owner may signal this process but not ptrace it or read its memory.
  // No new privileges: nothing it could exec would gain any. It dies with the daemon.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || ::getppid() != parent ||
      ::chdir("/") != 0) {
    helper_exit(kExitCannotDrop);
  }
  if (!send_all(kHelperSocket, json{{"ready", true}}.dump())) helper_exit(kExitIo);

  std::string message;
  for (;;) {
    std::vector<ipc::unique_fd> stray;  // a request carries no descriptors; any are closed
    bool truncated = false;
    const ssize_t n = receive(kHelperSocket, message, stray, truncated);
    if (n == 0) helper_exit(0);  // the daemon closed its end
    if (n < 0) helper_exit(kExitIo);
    file_result result;
    ipc::unique_fd opened;
    if (truncated) {
      result = {value_of(hr::e_invalidarg), "request too long"};
    } else {
      try {
        result = serve(json::parse(message, nullptr, false), opened);
      } catch (const std::exception& e) {  // a field of the wrong type
        result = {value_of(hr::e_invalidarg), std::string("malformed request: ") + e.what()};
      }
    }
    if (!send_all(kHelperSocket, reply(result), result.ok() ? opened.get() : -1)) {
      helper_exit(kExitIo);
    }
  }
}

}  // namespace opendo::daemon
