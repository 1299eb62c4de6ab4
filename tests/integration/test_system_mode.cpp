// opendod --system: one root daemon serves every user of the machine. Each user sees and changes
// only their own jobs, administrators (root, --admin-group) see all, and the daemon never creates,
// opens, renames or deletes a path a user controls with its own privilege: the owner's helper does
// it as the owner, so symlinks, hard links and FIFOs planted by a user gain them nothing.
//
// Runs as root (CI does): it creates the users opendo-test-a, opendo-test-b and opendo-test-admin
// (in the group opendo-test-admins) when they are missing, and runs the CLI as them with setpriv.

// The Windows names first and through the compat directory, as ported code includes them.
#include <windows.h>

#include <bits.h>

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "opendo/opendo.hpp"
#include "support/daemon.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using namespace opendo::test;

namespace {

// A BITS callback, as ported code writes one: counts JobTransferred calls, which it handles.
class transferred_callback final : public IBackgroundCopyCallback {
 public:
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppv) override {
    if (ppv == nullptr) return E_POINTER;
    *ppv = nullptr;
    if (riid == IID_IUnknown || riid == IID_IBackgroundCopyCallback) {
      *ppv = static_cast<IBackgroundCopyCallback*>(this);
      AddRef();
      return S_OK;
    }
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return ++refs_; }
  ULONG STDMETHODCALLTYPE Release() override {
    const ULONG left = --refs_;
    if (left == 0) delete this;
    return left;
  }
  HRESULT STDMETHODCALLTYPE JobTransferred(IBackgroundCopyJob*) override {
    std::lock_guard lock(mutex_);
    ++transferred_;
    changed_.notify_all();
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE JobError(IBackgroundCopyJob*, IBackgroundCopyError*) override {
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE JobModification(IBackgroundCopyJob*, DWORD) override { return S_OK; }

  bool wait_transferred(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return transferred_ > 0; });
  }

 private:
  std::atomic<ULONG> refs_{1};
  std::mutex mutex_;
  std::condition_variable changed_;
  int transferred_ = 0;
};

constexpr const char* kAdminGroup = "opendo-test-admins";

struct account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

std::optional<account> find_account(const std::string& name) {
  const passwd* entry = ::getpwnam(name.c_str());
  if (entry == nullptr) return std::nullopt;
  return account{name, entry->pw_uid, entry->pw_gid};
}

// The groups the system gives a user (what the daemon must give its helper and commands).
std::set<gid_t> groups_of(const account& who) {
  std::vector<gid_t> groups(256);
  int count = static_cast<int>(groups.size());
  if (::getgrouplist(who.name.c_str(), who.gid, groups.data(), &count) < 0) {
    throw std::runtime_error("too many groups for " + who.name);
  }
  return {groups.begin(), groups.begin() + count};
}

std::optional<gid_t> find_group(const std::string& name) {
  const group* entry = ::getgrnam(name.c_str());
  if (entry == nullptr) return std::nullopt;
  return entry->gr_gid;
}

// useradd and groupadd lock /etc/passwd; test processes that ctest runs in parallel may race for
// it, or create the account first. So: try, then look again, a few times.
void ensure_group(const std::string& name) {
  for (int attempt = 0; attempt < 50 && !find_group(name); ++attempt) {
    run({"groupadd", "--system", name}, 30s);
    if (!find_group(name)) std::this_thread::sleep_for(200ms);
  }
  if (!find_group(name)) throw std::runtime_error("cannot create the group " + name);
}

account ensure_user(const std::string& name, const std::string& extra_group = "") {
  std::string failure;
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (auto found = find_account(name)) {
      if (extra_group.empty() || groups_of(*found).count(*find_group(extra_group)) > 0) {
        return *found;
      }
      const run_result added = run({"usermod", "-a", "-G", extra_group, name}, 30s);
      failure = added.err;
    } else {
      std::vector<std::string> argv = {"useradd", "--system", "--no-create-home", "--shell",
                                       "/usr/sbin/nologin"};
      if (!extra_group.empty()) argv.insert(argv.end(), {"-G", extra_group});
      argv.push_back(name);
      failure = run(argv, 30s).err;
    }
    std::this_thread::sleep_for(200ms);
  }
  throw std::runtime_error("cannot create the user " + name + ": " + failure);
}

// The HRESULT the CLI printed ("opendo: error 0x80200001: ..."), or "ok" when it succeeded.
std::string outcome(const run_result& r) {
  if (r.exit_code == 0) return "ok";
  const auto at = r.err.find("error 0x");
  if (at == std::string::npos) return "exit " + std::to_string(r.exit_code) + ": " + r.err;
  return r.err.substr(at + 6, 10);
}

std::string trim(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

// The temporary file of a job's file, as the daemon names it beside the destination.
std::string temp_name(const std::string& job_id, int index) {
  std::string hex;
  for (char c : job_id) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
  }
  return ".opendo-" + hex + "-" + std::to_string(index) + ".part";
}

struct file_state {
  bool exists = false;
  std::string content;
  uid_t uid = 0;
  nlink_t links = 0;
  bool operator==(const file_state&) const = default;
};

file_state state_of(const fs::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return {};
  return {true, S_ISREG(info.st_mode) ? read_file(path) : std::string(), info.st_uid,
          info.st_nlink};
}

std::set<std::string> entries_of(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

// A helper process of the daemon: "opendod --file-helper UID ..." whose parent is the daemon.
std::vector<pid_t> helpers_of(pid_t daemon, uid_t uid) {
  std::vector<pid_t> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::string cmdline;
    std::string status;
    try {
      cmdline = read_file(entry.path() / "cmdline");
      status = read_file(entry.path() / "status");
    } catch (const std::exception&) {
      continue;  // gone meanwhile
    }
    const std::string wanted = std::string("--file-helper") + '\0' + std::to_string(uid) + '\0';
    if (cmdline.find(wanted) == std::string::npos) continue;
    if (status.find("\nPPid:\t" + std::to_string(daemon) + "\n") == std::string::npos) continue;
    if (status.find("\nState:\tZ") != std::string::npos) continue;
    found.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return found;
}

// "Uid:\t1\t1\t1\t1" -> {"1", "1", "1", "1"}
std::vector<std::string> status_field(const std::string& status, const std::string& field) {
  const auto at = status.find("\n" + field + ":");
  if (at == std::string::npos) return {};
  const auto end = status.find('\n', at + 1);
  std::istringstream words(status.substr(at + field.size() + 2, end - at - field.size() - 2));
  std::vector<std::string> out;
  for (std::string w; words >> w;) out.push_back(w);
  return out;
}

// ---- raw Varlink, for calling every method as another user ----

// One call on a fresh connection: the reply (the first message of a stream), or
// {"timeout": true} when none came in 10 s.
json varlink_call(const fs::path& socket, const std::string& method, const json& parameters,
                  bool more) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to " + socket.string());
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  json call = {{"method", method}, {"parameters", parameters}};
  if (more) call["more"] = true;
  std::string out = call.dump();
  out.push_back('\0');
  if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
    ::close(fd);
    throw std::runtime_error("send failed");
  }
  std::string in;
  char buffer[4096];
  while (in.find('\0') == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    in.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto end = in.find('\0');
  if (end == std::string::npos) return json{{"timeout", true}};
  return json::parse(in.substr(0, end));
}

// The methods of an interface description that take a job id, each with parameters that fill
// its other required arguments with a value of their type.
std::vector<std::pair<std::string, json>> methods_taking_a_job_id(const std::string& description) {
  std::vector<std::pair<std::string, json>> out;
  const std::regex method_re(R"(method\s+(\w+)\s*\(([\s\S]*?)\)\s*->)");
  for (std::sregex_iterator it(description.begin(), description.end(), method_re), end; it != end;
       ++it) {
    const std::string name = (*it)[1];
    const std::string args = (*it)[2];
    // Split at top-level commas (inline struct types hold commas inside parentheses).
    std::vector<std::string> parts(1);
    int depth = 0;
    for (char ch : args) {
      if (ch == '(') ++depth;
      if (ch == ')') --depth;
      if (ch == ',' && depth == 0) {
        parts.emplace_back();
      } else {
        parts.back().push_back(ch);
      }
    }
    json parameters = json::object();
    bool takes_id = false;
    for (std::string part : parts) {
      part = std::regex_replace(part, std::regex(R"(^\s+|\s+$)"), "");
      const auto colon = part.find(':');
      if (colon == std::string::npos) continue;
      const std::string arg = std::regex_replace(part.substr(0, colon), std::regex(R"(\s)"), "");
      const std::string type =
          std::regex_replace(part.substr(colon + 1), std::regex(R"(^\s+|\s+$)"), "");
      if (arg == "id" && type == "string") takes_id = true;
      if (type.empty() || type[0] == '?') continue;  // optional: left out
      if (type == "string") {
        parameters[arg] = "http://127.0.0.1:1/x";
      } else if (type == "int" || type == "float") {
        parameters[arg] = 1;
      } else if (type == "bool") {
        parameters[arg] = false;
      } else if (type.rfind("[]", 0) == 0) {
        parameters[arg] = json::array();
      } else {
        parameters[arg] = json::object();  // a struct, a map or an object
      }
    }
    if (takes_id) out.emplace_back(name, parameters);
  }
  return out;
}

// Throws unless `call`'s HRESULT (0 when it succeeded) is `wanted`: for checks made in a user's
// process (as_user), where a gtest assertion would not reach the test.
void expect_hresult(std::uint32_t wanted, const char* what, const std::function<void()>& call) {
  std::uint32_t got = 0;
  try {
    call();
  } catch (const opendo::error& e) {
    got = e.hresult();
  }
  if (got != wanted) {
    char text[128];
    std::snprintf(text, sizeof text, "%s: 0x%08X, expected 0x%08X", what, got, wanted);
    throw std::runtime_error(text);
  }
}

class SystemMode : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0U)
        << "test_system_mode must run as root: it creates test users with useradd, runs "
           "opendod --system (which refuses to run as anyone else) and runs the CLI as the "
           "users with setpriv. Run it as root (CI does), e.g. sudo "
           "OPENDO_BIN_DIR=build/bin build/bin/test_system_mode";
    ensure_group(kAdminGroup);
    a = ensure_user("opendo-test-a");
    b = ensure_user("opendo-test-b");
    admin = ensure_user("opendo-test-admin", kAdminGroup);
    admin_gid = *find_group(kAdminGroup);

    // Everyone may pass through the top directory; each user owns their own directory in it.
    top = std::make_unique<temp_dir>("opendo-sys");
    fs::permissions(top->path(), fs::perms(0755));
    for (const account* who : {&a, &b, &admin}) {
      const fs::path dir = home(*who);
      fs::create_directory(dir);
      ASSERT_EQ(::chown(dir.c_str(), who->uid, who->gid), 0);
      fs::permissions(dir, fs::perms(0755));
    }
    // The users run a copy of the CLI: the build tree may be where they cannot enter.
    fs::create_directory(top->path() / "bin");
    fs::copy_file(bin_dir() / "opendo", top->path() / "bin" / "opendo");
    for (const auto& entry : fs::directory_iterator(bin_dir().parent_path() / "lib")) {
      const std::string name = entry.path().filename();
      if (name.rfind("libopendo.so", 0) == 0 && !entry.is_symlink()) {
        fs::copy_file(entry.path(), top->path() / "bin" / name);
        fs::create_symlink(name, top->path() / "bin" / "libopendo.so.0");
      }
    }
    fs::permissions(top->path() / "bin", fs::perms(0755));

    daemon_options options;
    options.extra_args = {"--system", "--admin-group", kAdminGroup};
    options.dir_mode = fs::perms(0755);
    daemon = std::make_unique<daemon_process>(options);
  }

  void TearDown() override {
    if (HasFailure() && daemon) std::cerr << "---- opendod log:\n" << daemon->log() << "\n";
    daemon.reset();
    top.reset();
  }

  fs::path home(const account& who) const { return top->path() / who.name; }

  // `opendo --socket S ARGS` as the user (uid, gid and their groups), or as root.
  run_result cli(const account& who, const std::vector<std::string>& args,
                 std::chrono::milliseconds timeout = 30s) const {
    std::vector<std::string> argv = {"setpriv", "--reuid=" + std::to_string(who.uid),
                                     "--regid=" + std::to_string(who.gid), "--init-groups"};
    argv.insert(argv.end(), {(top->path() / "bin" / "opendo").string(), "--socket",
                             daemon->socket_path().string(), "--no-autostart"});
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, timeout, {"LD_LIBRARY_PATH=" + (top->path() / "bin").string()});
  }
  run_result cli_root(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {(top->path() / "bin" / "opendo").string(), "--socket",
                                     daemon->socket_path().string(), "--no-autostart"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, 30s, {"LD_LIBRARY_PATH=" + (top->path() / "bin").string()});
  }
  // A shell command as the user.
  run_result shell(const account& who, const std::string& command) const {
    return run({"setpriv", "--reuid=" + std::to_string(who.uid),
                "--regid=" + std::to_string(who.gid), "--init-groups", "/bin/sh", "-c", command},
               30s);
  }

  std::string create_job(const account& who, const std::string& name) {
    const run_result r = cli(who, {"create", name});
    EXPECT_EQ(outcome(r), "ok") << r.err;
    return trim(r.out);
  }
  json info(const account& who, const std::string& id) {
    const run_result r = cli(who, {"--json", "info", id});
    if (r.exit_code != 0) return json{{"cli_error", outcome(r)}};
    return json::parse(r.out);
  }
  json list(const account& who, bool all_users) {
    std::vector<std::string> args = {"--json", "list"};
    if (all_users) args.push_back("--all-users");
    const run_result r = cli(who, args);
    if (r.exit_code != 0) return json{{"cli_error", outcome(r)}};
    return json::parse(r.out);
  }
  // Polls the job as its owner until it is in `state` (or the time is up); returns its info.
  json wait_for_state(const account& who, const std::string& id, const std::string& state,
                      std::chrono::seconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json last = info(who, id);
    while (last.value("state", "") != state && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
      last = info(who, id);
    }
    return last;
  }

  // Runs `body` in a child process that has become the user (uid, gid, groups); true when it
  // returned without throwing. For calls the CLI does not offer.
  bool as_user(const account& who, const std::function<void()>& body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::initgroups(who.name.c_str(), who.gid) != 0 ||
          ::setresgid(who.gid, who.gid, who.gid) != 0 ||
          ::setresuid(who.uid, who.uid, who.uid) != 0) {
        ::_exit(120);
      }
      try {
        body();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "as %s: %s\n", who.name.c_str(), e.what());
        ::_exit(1);
      }
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  opendo::client_options client_options() const {
    opendo::client_options options;
    options.socket_path = daemon->socket_path().string();
    options.autostart = false;
    return options;
  }

  account a, b, admin;
  gid_t admin_gid = 0;
  std::unique_ptr<temp_dir> top;
  std::unique_ptr<daemon_process> daemon;
};

}  // namespace

// ---- who may connect and who sees what ---------------------------------------------------------

TEST(SystemModeStart, RefusesToRunWithoutRoot) {
  ASSERT_EQ(::geteuid(), 0U) << "test_system_mode must run as root (it runs opendod as nobody)";
  temp_dir dir("opendo-sys");
  fs::permissions(dir.path(), fs::perms(0777));
  // A copy nobody can run: the build tree may be where nobody cannot enter.
  fs::copy_file(bin_dir() / "opendod", dir / "opendod");
  const run_result r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            (dir / "opendod").string(), "--system", "--socket",
                            (dir / "sys.sock").string(), "--state-dir", (dir / "state").string()},
                           20s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("must run as root"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "sys.sock"));
}

TEST(SystemModeStart, AdminGroupNeedsSystemMode) {
  const run_result r = run({(bin_dir() / "opendod").string(), "--admin-group", "root"}, 20s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("--system"), std::string::npos) << r.out << r.err;
}

TEST_F(SystemMode, SocketIsOpenToEveryUserInAReadOnlyDirectory) {
  struct stat sock {};
  ASSERT_EQ(::stat(daemon->socket_path().c_str(), &sock), 0);
  EXPECT_TRUE(S_ISSOCK(sock.st_mode));
  EXPECT_EQ(sock.st_mode & 0777, 0666U);
  struct stat dir {};
  ASSERT_EQ(::stat(daemon->socket_path().parent_path().c_str(), &dir), 0);
  EXPECT_EQ(dir.st_uid, 0U);
  EXPECT_EQ(dir.st_mode & 0022, 0U) << "others could replace the socket";
  struct stat state {};
  ASSERT_EQ(::stat(daemon->state_dir().c_str(), &state), 0);
  EXPECT_EQ(state.st_mode & 0777, 0700U);
  // Both users are served (a user-mode daemon would refuse them).
  EXPECT_EQ(outcome(cli(a, {"list"})), "ok");
  EXPECT_EQ(outcome(cli(b, {"list"})), "ok");
}

// A program with no socket option and no daemon of its own reaches the system daemon (as every
// Windows program reaches dosvc) instead of starting a daemon of the user's.
TEST_F(SystemMode, ClientsWithoutADaemonOfTheirOwnFindTheSystemDaemon) {
  const fs::path runtime = home(a) / "runtime";
  fs::create_directory(runtime);
  ASSERT_EQ(::chown(runtime.c_str(), a.uid, a.gid), 0);
  fs::permissions(runtime, fs::perms(0700));
  const run_result created =
      run({"setpriv", "--reuid=" + std::to_string(a.uid), "--regid=" + std::to_string(a.gid),
           "--init-groups", (top->path() / "bin" / "opendo").string(), "create", "found it"},
          30s,
          {"LD_LIBRARY_PATH=" + (top->path() / "bin").string(),
           "OPENDO_SYSTEM_SOCKET=" + daemon->socket_path().string(),
           "XDG_RUNTIME_DIR=" + runtime.string(), "OPENDO_SOCKET="});
  ASSERT_EQ(outcome(created), "ok") << created.err;
  const std::string id = trim(created.out);
  const json mine = info(a, id);  // through the system daemon
  EXPECT_EQ(mine.value("display_name", ""), "found it") << mine.dump();
  EXPECT_EQ(mine.value("owner_uid", 0U), a.uid);
  EXPECT_FALSE(fs::exists(runtime / "opendo" / "opendod.sock"));  // no daemon of a's own
}

TEST_F(SystemMode, JobsOfOneUserAreInvisibleToAnother) {
  const std::string id = create_job(a, "a's job");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(outcome(cli(a, {"addfile", id, "http://127.0.0.1:1/x", (home(a) / "x").string()})),
            "ok");
  EXPECT_EQ(info(a, id).value("owner_uid", 0U), a.uid);

  EXPECT_EQ(outcome(cli(b, {"info", id})), "0x80200001");
  EXPECT_EQ(list(b, false), json::array());
  for (const char* verb : {"cancel", "complete", "resume", "suspend"}) {
    EXPECT_EQ(outcome(cli(b, {verb, id})), "0x80200001") << verb;
  }
  EXPECT_EQ(outcome(cli(b, {"setprop", id, "--name", "mine now"})), "0x80200001");
  EXPECT_EQ(outcome(cli(b, {"addfile", id, "http://127.0.0.1:1/y", (home(b) / "y").string()})),
            "0x80200001");

  // Nothing B tried changed the job.
  const json after = info(a, id);
  EXPECT_EQ(after.value("state", ""), "SUSPENDED");
  EXPECT_EQ(after.value("display_name", ""), "a's job");
  EXPECT_EQ(after.value("files_total", 0U), 1U);
  ASSERT_EQ(list(a, false).size(), 1U);
}

// Every method of the interface that takes a job id, called by another user with the id of A's
// job, is refused exactly as it is for an id that does not exist: no method works, and none
// but the registration methods (E_ACCESSDENIED, the BITS rule) tells B that the job exists. The
// list comes from the daemon's own interface description, so a method added later is covered
// without changing this test.
TEST_F(SystemMode, EveryJobMethodCalledByAnotherUserIsRefusedAsForAnUnknownJob) {
  const std::string id = create_job(a, "a's job");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, "http://127.0.0.1:1/x", (home(a) / "x").string()})),
            "ok");
  const json before = info(a, id);
  const std::string unknown = "{0badc0de-0000-4000-8000-000000000001}";

  // B's view, in B's own process: the description, then each method with both ids.
  const fs::path results = top->path() / "results.json";
  const fs::path socket = daemon->socket_path();
  fs::permissions(top->path(), fs::perms(0777));  // B writes the results there
  ASSERT_TRUE(as_user(b, [&] {
    const json description = varlink_call(socket, "org.varlink.service.GetInterfaceDescription",
                                          {{"interface", "org.opendo.Transfer"}}, false);
    json calls = json::array();
    for (auto [name, parameters] :
         methods_taking_a_job_id(description["parameters"].value("description", ""))) {
      const bool more = name == "Watch" || name == "Subscribe";  // the streaming methods
      const std::string method = "org.opendo.Transfer." + name;
      parameters["id"] = id;
      json on_a = varlink_call(socket, method, parameters, more);
      parameters["id"] = unknown;
      json on_unknown = varlink_call(socket, method, parameters, more);
      calls.push_back({{"method", name}, {"a", on_a}, {"unknown", on_unknown}});
    }
    std::ofstream(results) << calls.dump();
  }));
  fs::permissions(top->path(), fs::perms(0755));
  const json calls = json::parse(read_file(results));

  std::set<std::string> seen;
  for (const json& call : calls) {
    const std::string name = call["method"];
    seen.insert(name);
    const json& on_a = call["a"];
    EXPECT_TRUE(on_a.contains("error")) << name << " succeeded for another user: " << on_a.dump();
    if (name == "Subscribe" || name == "Unsubscribe") {
      // Registration attempts on another user's job are E_ACCESSDENIED, as the BITS rules say
      // (an id is an unguessable GUID: only someone who was given it learns that it exists).
      EXPECT_EQ(on_a["parameters"].value("code", 0U), 0x80070005U) << name << ": " << on_a.dump();
      continue;
    }
    // The same error and parameters as for an unknown id, once each id in a message is masked.
    auto masked = [&](json reply, const std::string& which) {
      std::string text = reply.dump();
      for (auto at = text.find(which); at != std::string::npos; at = text.find(which, at)) {
        text.replace(at, which.size(), "<id>");
      }
      return text;
    };
    EXPECT_EQ(masked(on_a, id), masked(call["unknown"], unknown))
        << name << " answers another user's job differently from an unknown one";
  }
  // The description lists every job method the daemon has; a few that must be there:
  for (const char* name :
       {"GetJob", "AddFile", "SetProperties", "Resume", "Suspend", "Cancel", "Complete", "Watch",
        "Subscribe", "Unsubscribe", "SetCredentials", "TakeOwnership", "SetRemoteName",
        "ReplaceRemotePrefix", "SetValidationState"}) {
    EXPECT_EQ(seen.count(name), 1U) << name << " was not tried";
  }

  // And nothing B tried changed A's job.
  const json after = info(a, id);
  for (const char* field : {"state", "display_name", "files_total", "owner_uid", "priority"}) {
    EXPECT_EQ(after[field], before[field]) << field;
  }
  EXPECT_EQ(list(b, false), json::array());
}

TEST_F(SystemMode, OnlyAdministratorsListEveryUsersJobs) {
  const std::string job_a = create_job(a, "a");
  const std::string job_b = create_job(b, "b");
  auto ids = [](const json& jobs) {
    std::set<std::string> out;
    for (const auto& j : jobs) out.insert(j.value("id", ""));
    return out;
  };
  EXPECT_EQ(outcome(cli(a, {"list", "--all-users"})), "0x80070005");
  EXPECT_EQ(ids(list(a, false)), std::set<std::string>{job_a});

  const run_result as_root = cli_root({"--json", "list", "--all-users"});
  ASSERT_EQ(outcome(as_root), "ok") << as_root.err;
  const auto seen_by_root = ids(json::parse(as_root.out));
  EXPECT_TRUE(seen_by_root.count(job_a) && seen_by_root.count(job_b));

  // A member of --admin-group administers as root does (its membership comes from the user
  // database: setpriv --init-groups is not what grants it).
  const json seen_by_admin = list(admin, true);
  ASSERT_TRUE(seen_by_admin.is_array()) << seen_by_admin;
  EXPECT_TRUE(ids(seen_by_admin).count(job_a) && ids(seen_by_admin).count(job_b));
  EXPECT_EQ(info(admin, job_a).value("owner_uid", 0U), a.uid);
  const run_result no_groups = run(
      {"setpriv", "--reuid=" + std::to_string(admin.uid), "--regid=" + std::to_string(admin.gid),
       "--clear-groups", (top->path() / "bin" / "opendo").string(), "--socket",
       daemon->socket_path().string(), "--no-autostart", "--json", "list", "--all-users"},
      30s, {"LD_LIBRARY_PATH=" + (top->path() / "bin").string()});
  EXPECT_EQ(outcome(no_groups), "ok") << no_groups.err;
}

// TakeOwnership is for administrators: the owner who is not one gets E_ACCESSDENIED, another user
// BG_E_NOT_FOUND (the job does not exist for them). A member of --admin-group (not root) may
// register for another user's job and take it: the job is then theirs, the old owner no longer
// sees it, and the old owner's notify command is gone (it would run as the new owner).
TEST_F(SystemMode, TakeOwnershipAndForeignRegistrationAreForAdministrators) {
  const std::string id = create_job(a, "to be taken");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, "http://127.0.0.1:1/x", (home(a) / "x").string()})),
            "ok");
  EXPECT_TRUE(as_user(a, [&] {
    opendo::client c(client_options());
    opendo::job j = c.open_job(id);
    j.set_notify_command("/bin/true", "");
    expect_hresult(0x80070005U, "the owner's TakeOwnership", [&] { j.take_ownership(); });
  }));
  EXPECT_TRUE(as_user(b, [&] {
    opendo::client c(client_options());
    expect_hresult(0x80200001U, "another user's TakeOwnership",
                   [&] { c.open_job(id).take_ownership(); });
    // libopendo's open_job already answers BG_E_NOT_FOUND: the registration goes on the wire.
    const json refused =
        varlink_call(daemon->socket_path(), "org.opendo.Transfer.Subscribe", {{"id", id}}, true);
    const std::uint32_t code =
        refused.contains("error") ? refused["parameters"].value("code", 0U) : 0U;
    expect_hresult(0x80070005U, "another user's registration", [&] {
      if (code != 0) throw opendo::error(code, "Subscribe refused");
    });
  }));
  EXPECT_EQ(info(a, id).value("owner_uid", 0U), a.uid);
  EXPECT_EQ(info(a, id)["notify_command"].value("program", ""), "/bin/true");

  EXPECT_TRUE(as_user(admin, [&] {
    opendo::client c(client_options());
    opendo::job j = c.open_job(id);
    auto registration = j.subscribe([](const opendo::notification&) { return true; });
    if (!registration.active()) throw std::runtime_error("the administrator's registration ended");
    j.take_ownership();
  }));
  const json taken = info(admin, id);
  EXPECT_EQ(taken.value("owner_uid", 0U), admin.uid) << taken;
  EXPECT_EQ(taken["notify_command"].value("program", ""), "") << taken;
  EXPECT_EQ(info(a, id).value("cli_error", ""), "0x80200001");
  EXPECT_EQ(list(a, false), json::array());
}

// Only the job's owner, its creator or an administrator may register for its notifications (the
// reference). After an administrator took A's job, A, its creator, still registers through the
// job object it holds, is told that the job transferred (with none of the new owner's names in
// the notification), acknowledges it and ends the registration; everything else answers A as it
// answers any other user (BG_E_NOT_FOUND). B is still refused with E_ACCESSDENIED. The creator
// is in the store: after a restart the administrator sees it and A still registers.
TEST_F(SystemMode, CreatorStillRegistersAfterAnAdministratorTookTheJob) {
  nginx_server origin;
  origin.make_random_file("c.bin", 100000, 21);
  daemon_options options;
  options.extra_args = {"--system", "--admin-group", kAdminGroup};
  options.dir_mode = fs::perms(0755);
  options.state_dir = top->path() / "state-creator";
  daemon = std::make_unique<daemon_process>(options);

  const std::string id = create_job(a, "a's job");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url("c.bin"), (home(a) / "c.bin").string()})),
            "ok");
  ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
  ASSERT_EQ(wait_for_state(a, id, "TRANSFERRED").value("state", ""), "TRANSFERRED");
  const json created = info(a, id);
  EXPECT_EQ(created.value("owner_uid", 0U), a.uid) << created;
  EXPECT_EQ(created.value("creator_uid", 0U), a.uid) << created;

  auto fail = [](const std::string& what) { throw std::runtime_error(what); };

  // A's application: it holds the job object from before the administrator took the job, and
  // goes on once the parent says the job was taken (or gives up when the parent closes the pipe).
  int opened[2];
  int taken[2];
  ASSERT_EQ(::pipe(opened), 0);
  ASSERT_EQ(::pipe(taken), 0);
  const pid_t application = ::fork();
  ASSERT_GE(application, 0);
  if (application == 0) {
    ::close(opened[0]);
    ::close(taken[1]);
    if (::initgroups(a.name.c_str(), a.gid) != 0 || ::setresgid(a.gid, a.gid, a.gid) != 0 ||
        ::setresuid(a.uid, a.uid, a.uid) != 0) {
      ::_exit(120);
    }
    try {
      opendo::client c(client_options());
      opendo::job j = c.open_job(id);  // A owns the job now
      // And through COM, as a ported application holds it: its only job, enumerated.
      ::setenv("OPENDO_SOCKET", daemon->socket_path().c_str(), 1);
      if (CoInitializeEx(NULL, COINIT_MULTITHREADED) != S_OK) fail("CoInitializeEx failed");
      IBackgroundCopyManager* manager = nullptr;
      IEnumBackgroundCopyJobs* enumerated = nullptr;
      IBackgroundCopyJob* com_job = nullptr;
      ULONG fetched = 0;
      if (CoCreateInstance(__uuidof(BackgroundCopyManager), NULL, CLSCTX_LOCAL_SERVER,
                           __uuidof(IBackgroundCopyManager),
                           reinterpret_cast<void**>(&manager)) != S_OK ||
          manager->EnumJobs(0, &enumerated) != S_OK ||
          enumerated->Next(1, &com_job, &fetched) != S_OK || fetched != 1) {
        fail("A's COM manager does not give A its job");
      }
      enumerated->Release();
      manager->Release();
      // A also watches the job, from before the administrator takes it.
      std::mutex watch_mutex;
      std::condition_variable watch_changed;
      bool snapshot = false;
      bool watch_over = false;
      std::optional<opendo::job_info> watched_after;
      std::thread watcher([&] {
        try {
          opendo::client wc(client_options());
          wc.open_job(id).watch(
              [&](const opendo::job_event& e) {
                std::lock_guard lock(watch_mutex);
                if (e.kind == opendo::job_event_kind::snapshot) {
                  snapshot = true;
                } else if (e.job.owner_uid != a.uid) {
                  watched_after = e.job;
                }
                watch_changed.notify_all();
                return !watched_after;
              },
              0ms);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "as %s: the watch failed: %s\n", a.name.c_str(), e.what());
        }
        std::lock_guard lock(watch_mutex);
        watch_over = true;
        watch_changed.notify_all();
      });
      {
        std::unique_lock lock(watch_mutex);
        watch_changed.wait_for(lock, 30s, [&] { return snapshot || watch_over; });
      }
      if (!snapshot || ::write(opened[1], "o", 1) != 1) {
        watcher.detach();
        fail("A could not watch the job or tell the parent");
      }
      char go = 0;
      if (::read(taken[0], &go, 1) != 1) fail("the administrator did not take the job");
      {
        std::unique_lock lock(watch_mutex);
        watch_changed.wait_for(lock, 30s, [&] { return watch_over; });
      }
      if (!watch_over) {
        watcher.detach();
        fail("A's watch was told nothing after the job was taken");
      }
      watcher.join();
      // A's watch goes on, told only what the creator's notifications say.
      if (!watched_after) fail("A's watch ended without an event after the job was taken");
      if (watched_after->owner_uid != admin.uid) fail("the watch does not show the new owner");
      if (!watched_after->display_name.empty() || !watched_after->files.empty()) {
        fail("A's watch still shows the job: " + watched_after->display_name);
      }

      // The job is no longer A's: it does not exist for A, whatever A calls...
      expect_hresult(0x80200001U, "the creator's GetJob", [&] { j.info(); });
      expect_hresult(0x80200001U, "the creator's Resume", [&] { j.resume(); });
      expect_hresult(0x80200001U, "the creator's Cancel", [&] { j.cancel(); });
      expect_hresult(0x80200001U, "the creator's SetDisplayName",
                     [&] { j.set_display_name("back"); });
      expect_hresult(0x80200001U, "the creator's TakeOwnership", [&] { j.take_ownership(); });

      // ...but the registration, which the reference allows the creator.
      std::mutex mutex;
      std::condition_variable arrived;
      std::vector<opendo::notification> got;
      auto registration = j.subscribe([&](const opendo::notification& n) {
        {
          std::lock_guard lock(mutex);
          got.push_back(n);
        }
        arrived.notify_all();
        return true;  // handled: the library acknowledges it
      });
      opendo::notification n;
      {
        std::unique_lock lock(mutex);
        if (!arrived.wait_for(lock, 30s, [&] { return !got.empty(); })) {
          fail("the creator was told nothing");
        }
        n = got.front();
      }
      if (n.kind != opendo::notification_kind::transferred) fail("not a transferred notification");
      const opendo::job_info& seen = n.job;
      if (seen.id != id) fail("the notification is about job " + seen.id);
      if (seen.state != opendo::job_state::transferred) fail("the job is not TRANSFERRED");
      if (seen.owner_uid != admin.uid) fail("owner " + std::to_string(seen.owner_uid));
      if (seen.creator_uid != a.uid) fail("creator " + std::to_string(seen.creator_uid));
      if (seen.files_total != 1 || seen.files_transferred != 1 ||
          seen.bytes_transferred != 100000) {
        fail("the counts are not the job's");
      }
      // What the new owner set, and the files, stay out of the creator's notification.
      if (!seen.display_name.empty()) fail("the display name leaked: " + seen.display_name);
      if (!seen.description.empty()) fail("the description leaked: " + seen.description);
      if (!seen.files.empty()) fail("the files leaked: " + seen.files[0].remote_url);
      if (!seen.custom_headers.empty()) fail("the headers leaked: " + seen.custom_headers[0]);

      // The acknowledgement was accepted (a refused one ends the stream as "disconnected"
      // before the removal is read), and the creator may end its registration.
      if (!j.remove_subscription()) fail("the creator's Unsubscribe found no registration");
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      while (registration.active() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
      }
      if (registration.end_reason() != opendo::job::subscription_end::removed) {
        fail("the creator's registration did not end by its removal");
      }

      // The COM registration is the same: SetNotifyInterface works for the creator, and the
      // callback is told the job transferred; the job's other methods answer BG_E_NOT_FOUND.
      BG_JOB_STATE com_state = BG_JOB_STATE_QUEUED;
      if (com_job->GetState(&com_state) != BG_E_NOT_FOUND) fail("COM GetState is not refused");
      auto* callback = new transferred_callback;
      if (com_job->SetNotifyInterface(callback) != S_OK) fail("SetNotifyInterface refused");
      const bool told = callback->wait_transferred(30s);
      if (com_job->SetNotifyInterface(nullptr) != S_OK) fail("SetNotifyInterface(NULL) refused");
      callback->Release();
      com_job->Release();
      CoUninitialize();
      if (!told) fail("the COM callback was not told the job transferred");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "as %s: %s\n", a.name.c_str(), e.what());
      ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(opened[1]);
  ::close(taken[0]);
  char ready = 0;
  const bool a_holds_the_job = ::read(opened[0], &ready, 1) == 1;
  ::close(opened[0]);
  bool took = false;
  if (a_holds_the_job) {
    took = as_user(admin, [&] {
      opendo::client c(client_options());
      opendo::job j = c.open_job(id);
      j.take_ownership();
      // What the new owner sets is not the creator's to see.
      j.set_display_name("the administrator's name");
      j.set_description("the administrator's description");
      j.set_custom_headers({"X-Admin-Secret: 42"});
    });
  }
  if (took && ::write(taken[1], "t", 1) != 1) took = false;
  ::close(taken[1]);  // without the "t", A's process gives up
  int status = 0;
  ::waitpid(application, &status, 0);
  ASSERT_TRUE(a_holds_the_job);
  ASSERT_TRUE(took) << "the administrator could not take the job";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "A's application failed";

  const json owned = info(admin, id);
  EXPECT_EQ(owned.value("owner_uid", 0U), admin.uid) << owned;
  EXPECT_EQ(owned.value("creator_uid", 0U), a.uid) << owned;
  EXPECT_EQ(owned.value("display_name", ""), "the administrator's name") << owned;
  const run_result shown = cli(admin, {"info", id});
  EXPECT_NE(shown.out.find("creator uid:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(std::to_string(a.uid)), std::string::npos) << shown.out;
  EXPECT_EQ(info(a, id).value("cli_error", ""), "0x80200001");
  EXPECT_EQ(list(a, false), json::array());

  // B, neither owner nor creator: E_ACCESSDENIED on registering, BG_E_NOT_FOUND on GetJob.
  auto registration_by = [&](const account& who, const char* method) {
    const fs::path reply = top->path() / (who.name + "-" + method + ".json");
    const fs::path socket = daemon->socket_path();
    fs::permissions(top->path(), fs::perms(0777));  // the user writes the reply there
    const bool ran = as_user(who, [&] {
      std::ofstream(reply) << varlink_call(socket, std::string("org.opendo.Transfer.") + method,
                                           {{"id", id}}, std::string(method) == "Subscribe")
                                  .dump();
    });
    fs::permissions(top->path(), fs::perms(0755));
    return ran ? json::parse(read_file(reply)) : json{{"failed", true}};
  };
  for (const char* method : {"Subscribe", "Unsubscribe"}) {
    const json refused = registration_by(b, method);
    EXPECT_EQ(refused["parameters"].value("code", 0U), 0x80070005U) << method << ": " << refused;
  }
  EXPECT_EQ(info(b, id).value("cli_error", ""), "0x80200001");

  // The store keeps the creator: after a restart the administrator sees it, A still registers
  // (the first reply of its stream is "registered") and B is still refused.
  daemon.reset();
  daemon = std::make_unique<daemon_process>(options);
  const json restarted = info(admin, id);
  EXPECT_EQ(restarted.value("owner_uid", 0U), admin.uid) << restarted;
  EXPECT_EQ(restarted.value("creator_uid", 0U), a.uid) << restarted;
  const json again = registration_by(a, "Subscribe");
  EXPECT_FALSE(again.contains("error")) << again;
  EXPECT_EQ(again["parameters"].value("kind", ""), "registered") << again;
  EXPECT_EQ(registration_by(b, "Subscribe")["parameters"].value("code", 0U), 0x80070005U);
  EXPECT_EQ(info(a, id).value("cli_error", ""), "0x80200001");
}

// `opendo status` follows ListJobs: a user sees the files of their own jobs, administrators
// everyone's with --all-users. perfsnap's machine-wide sums are for everyone.
TEST_F(SystemMode, StatusShowsOnlyTheCallersFilesAndPerfsnapIsForEveryone) {
  const std::string job_a = create_job(a, "a");
  const std::string job_b = create_job(b, "b");
  ASSERT_EQ(outcome(cli(a, {"addfile", job_a, "http://127.0.0.1:1/x", (home(a) / "x").string()})),
            "ok");
  ASSERT_EQ(outcome(cli(b, {"addfile", job_b, "http://127.0.0.1:1/y", (home(b) / "y").string()})),
            "ok");
  auto job_ids = [](const run_result& r) {
    std::set<std::string> out;
    for (const auto& row : json::parse(r.out)) out.insert(row.value("job_id", ""));
    return out;
  };
  const run_result mine = cli(a, {"--json", "status"});
  ASSERT_EQ(outcome(mine), "ok") << mine.err;
  EXPECT_EQ(job_ids(mine), std::set<std::string>{job_a});
  EXPECT_EQ(mine.out.find("127.0.0.1:1/y"), std::string::npos) << mine.out;
  EXPECT_EQ(outcome(cli(a, {"status", "--all-users"})), "0x80070005");
  const run_result all = cli_root({"--json", "status", "--all-users"});
  ASSERT_EQ(outcome(all), "ok") << all.err;
  EXPECT_TRUE(job_ids(all).count(job_a) && job_ids(all).count(job_b));
  for (const account* who : {&a, &b}) {
    const run_result snap = cli(*who, {"--json", "perfsnap"});
    ASSERT_EQ(outcome(snap), "ok") << snap.err;
    EXPECT_EQ(json::parse(snap.out).value("peers_connected", 99U), 0U);
  }
}

TEST_F(SystemMode, CredentialsStayInTheDaemonsPrivateStore) {
  const std::string id = create_job(a, "secret");
  const std::string password = "hunter2-opendo-test";
  ASSERT_TRUE(as_user(a, [&] {
    opendo::client c(client_options());
    c.open_job(id).set_credentials(opendo::auth_target::server, opendo::auth_scheme::basic, "alice",
                                   password);
  }));
  // The owner and root see that the job holds credentials, never the password.
  const run_result mine = cli(a, {"--json", "info", id});
  ASSERT_EQ(outcome(mine), "ok") << mine.err;
  EXPECT_NE(mine.out.find("alice"), std::string::npos);
  EXPECT_EQ(mine.out.find(password), std::string::npos);
  const run_result all = cli_root({"--json", "list", "--all-users"});
  EXPECT_EQ(all.out.find(password), std::string::npos);
  // It is kept in jobs.sqlite: root's, mode 0600, in a 0700 directory nobody else may enter.
  const fs::path store = daemon->state_dir() / "jobs.sqlite";
  struct stat info {};
  ASSERT_EQ(::stat(store.c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 0U);
  EXPECT_EQ(info.st_mode & 0777, 0600U);
  EXPECT_NE(shell(a, "cat '" + store.string() + "' > /dev/null").exit_code, 0);
  EXPECT_NE(shell(b, "cat '" + store.string() + "' > /dev/null").exit_code, 0);
}

// ---- files are the owner's, made by the owner ---------------------------------------------------

// A Complete killed between its renames (the test-only hook OPENDO_TEST_EXIT_AFTER_RENAMES makes
// opendod _exit after its first rename, before recording it) is finished by the restarted system
// daemon through the owner's file helper: every file in place and A's, no temporary file left.
TEST_F(SystemMode, CompleteKilledBetweenRenamesIsFinishedAsTheOwner) {
  nginx_server origin;
  const std::vector<std::string> digests = {origin.make_random_file("c0.bin", 200000, 11),
                                            origin.make_random_file("c1.bin", 210000, 12)};
  daemon_options options;
  options.extra_args = {"--system", "--admin-group", kAdminGroup};
  options.dir_mode = fs::perms(0755);
  options.state_dir = top->path() / "state-complete";
  daemon_options doomed = options;
  doomed.env = {"OPENDO_TEST_EXIT_AFTER_RENAMES=1"};
  daemon = std::make_unique<daemon_process>(doomed);
  const std::string id = create_job(a, "complete, interrupted");
  for (const char* name : {"c0.bin", "c1.bin"}) {
    ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url(name), (home(a) / name).string()})), "ok");
  }
  ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
  ASSERT_EQ(wait_for_state(a, id, "TRANSFERRED").value("state", ""), "TRANSFERRED");
  EXPECT_NE(outcome(cli(a, {"complete", id})), "ok");  // the daemon dies under the call
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (daemon->running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(daemon->exit_status(), 86) << daemon->log();
  EXPECT_EQ(sha256_file(home(a) / "c0.bin"), digests[0]);
  EXPECT_TRUE(state_of(home(a) / temp_name(id, 1)).exists);

  daemon = std::make_unique<daemon_process>(options);
  EXPECT_EQ(info(a, id).value("state", ""), "ACKNOWLEDGED") << daemon->log();
  for (int i = 0; i < 2; ++i) {
    const fs::path target = home(a) / ("c" + std::to_string(i) + ".bin");
    const file_state delivered = state_of(target);
    EXPECT_TRUE(delivered.exists) << target;
    EXPECT_EQ(delivered.uid, a.uid) << target;
    EXPECT_EQ(sha256_file(target), digests[static_cast<std::size_t>(i)]) << target;
    EXPECT_FALSE(state_of(home(a) / temp_name(id, i)).exists);
  }
}

TEST_F(SystemMode, DeliveredFileBelongsToTheOwner) {
  nginx_server origin;
  const std::string digest = origin.make_random_file("a.bin", 300000, 7);
  const std::string id = create_job(a, "download");
  const fs::path target = home(a) / "a.bin";
  ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url("a.bin"), target.string()})), "ok");
  ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
  // While it transfers or once it has, the temporary file is A's too.
  const json transferred = wait_for_state(a, id, "TRANSFERRED");
  ASSERT_EQ(transferred.value("state", ""), "TRANSFERRED") << transferred;
  const file_state temp = state_of(home(a) / temp_name(id, 0));
  EXPECT_TRUE(temp.exists);
  EXPECT_EQ(temp.uid, a.uid);
  ASSERT_EQ(outcome(cli(a, {"complete", id})), "ok");

  struct stat info {};
  ASSERT_EQ(::stat(target.c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, a.uid);
  EXPECT_EQ(info.st_gid, a.gid);
  EXPECT_EQ(info.st_mode & 07777, 0600U);  // created 0600 by the helper, renamed as is
  EXPECT_EQ(sha256_file(target), digest);
  EXPECT_FALSE(fs::exists(home(a) / temp_name(id, 0)));
}

TEST_F(SystemMode, HelperRunsWithTheOwnersCredentialsOnly) {
  const std::string id = create_job(a, "helper");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, "http://127.0.0.1:1/x", (home(a) / "x").string()})),
            "ok");
  const auto helpers = helpers_of(daemon->pid(), a.uid);
  ASSERT_EQ(helpers.size(), 1U) << "no file helper of uid " << a.uid << " under the daemon";
  const pid_t pid = helpers[0];
  const fs::path proc = "/proc/" + std::to_string(pid);
  const std::string status = read_file(proc / "status");
  const std::string uid = std::to_string(a.uid);
  const std::string gid = std::to_string(a.gid);
  EXPECT_EQ(status_field(status, "Uid"), (std::vector<std::string>{uid, uid, uid, uid}));
  EXPECT_EQ(status_field(status, "Gid"), (std::vector<std::string>{gid, gid, gid, gid}));
  std::set<gid_t> groups;
  for (const auto& g : status_field(status, "Groups")) groups.insert(std::stoul(g));
  EXPECT_EQ(groups, groups_of(a));
  EXPECT_EQ(status_field(status, "CapEff"), std::vector<std::string>{"0000000000000000"});
  EXPECT_EQ(status_field(status, "CapPrm"), std::vector<std::string>{"0000000000000000"});
  EXPECT_EQ(status_field(status, "NoNewPrivs"), std::vector<std::string>{"1"});
  // Not dumpable: the kernel gives its /proc files to root, so A cannot ptrace it or read them.
  struct stat owner {};
  ASSERT_EQ(::stat((proc / "environ").c_str(), &owner), 0);
  EXPECT_EQ(owner.st_uid, 0U);
  EXPECT_NE(shell(a, "cat " + (proc / "environ").string()).exit_code, 0);
  // Nothing of the daemon's is open in it: /dev/null on 0-2 and its socket.
  std::set<std::string> fds;
  for (const auto& entry : fs::directory_iterator(proc / "fd")) fds.insert(entry.path().filename());
  EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "3"}));
  for (const char* fd : {"0", "1", "2"}) {
    EXPECT_EQ(fs::read_symlink(proc / "fd" / fd), "/dev/null") << fd;
  }
  // B's operations get a helper of B's own.
  const std::string id_b = create_job(b, "helper b");
  ASSERT_EQ(outcome(cli(b, {"addfile", id_b, "http://127.0.0.1:1/x", (home(b) / "x").string()})),
            "ok");
  EXPECT_EQ(helpers_of(daemon->pid(), b.uid).size(), 1U);
  EXPECT_EQ(helpers_of(daemon->pid(), a.uid), helpers);
}

TEST_F(SystemMode, HelperThatHangsIsKilledAndReplaced) {
  const std::string id = create_job(a, "hang");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, "http://127.0.0.1:1/1", (home(a) / "1").string()})),
            "ok");
  const auto first = helpers_of(daemon->pid(), a.uid);
  ASSERT_EQ(first.size(), 1U);
  // A may signal its own helper: stopped, it answers nothing, as on a hung FUSE mount.
  ASSERT_EQ(shell(a, "kill -STOP " + std::to_string(first[0])).exit_code, 0);
  const auto started = std::chrono::steady_clock::now();
  const run_result hung =
      cli(a, {"addfile", id, "http://127.0.0.1:1/2", (home(a) / "2").string()}, 60s);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(outcome(hung), "0x80004005") << hung.err;
  EXPECT_NE(hung.err.find("did not finish in 10 s"), std::string::npos) << hung.err;
  EXPECT_GE(took, 9s);
  EXPECT_LT(took, 30s);
  // The next call gets a new helper; the stopped one was killed.
  ASSERT_EQ(outcome(cli(a, {"addfile", id, "http://127.0.0.1:1/3", (home(a) / "3").string()})),
            "ok");
  const auto second = helpers_of(daemon->pid(), a.uid);
  ASSERT_EQ(second.size(), 1U);
  EXPECT_NE(second[0], first[0]);
  // A helper its user killed is replaced as well.
  ASSERT_EQ(shell(a, "kill -KILL " + std::to_string(second[0])).exit_code, 0);
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(outcome(cli(a, {"addfile", id, "http://127.0.0.1:1/4", (home(a) / "4").string()})),
            "ok");
  EXPECT_EQ(info(a, id).value("files_total", 0U), 3U);
  EXPECT_EQ(outcome(cli(b, {"list"})), "ok");  // the daemon serves others again
}

// ---- the owner cannot make the daemon act where the owner could not -----------------------------

TEST_F(SystemMode, DestinationTheOwnerCannotWriteIsAccessDenied) {
  const fs::path root_dir = top->path() / "root-dir";  // root's, readable by all
  fs::create_directory(root_dir);
  fs::permissions(root_dir, fs::perms(0755));
  const fs::path private_dir = top->path() / "root-only";  // root's, closed to others
  fs::create_directory(private_dir);
  fs::permissions(private_dir, fs::perms(0700));
  const std::string id = create_job(a, "where");
  for (const fs::path& target : {root_dir / "x", private_dir / "x"}) {
    const run_result r = cli(a, {"addfile", id, "http://127.0.0.1:1/x", target.string()});
    EXPECT_EQ(outcome(r), "0x80070005") << target << ": " << r.err;
  }
  // Root itself may (the daemon's own privilege is not what decides; the caller's is).
  const std::string root_job = trim(cli_root({"create", "root"}).out);
  EXPECT_EQ(
      outcome(cli_root({"addfile", root_job, "http://127.0.0.1:1/x", (root_dir / "x").string()})),
      "ok");
  EXPECT_EQ(info(a, id).value("files_total", 1U), 0U);
  EXPECT_TRUE(entries_of(root_dir).empty());
}

TEST_F(SystemMode, TemporaryNameSymlinkedToARootFileIsRefused) {
  nginx_server origin;
  origin.make_random_file("s.bin", 5000, 3);
  const fs::path secret_dir = top->path() / "root-only";
  fs::create_directory(secret_dir);
  fs::permissions(secret_dir, fs::perms(0700));
  write_file(secret_dir / "secret", "root's secret\n");
  const file_state before = state_of(secret_dir / "secret");

  const std::string id = create_job(a, "symlink");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url("s.bin"), (home(a) / "s.bin").string()})),
            "ok");
  const fs::path temp = home(a) / temp_name(id, 0);
  ASSERT_EQ(shell(a, "ln -s '" + (secret_dir / "secret").string() + "' '" + temp.string() + "'")
                .exit_code,
            0);
  ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
  const json failed = wait_for_state(a, id, "ERROR", 30s);
  ASSERT_EQ(failed.value("state", ""), "ERROR") << failed;
  EXPECT_EQ(failed["error"].value("context", ""), "LOCAL_FILE") << failed;
  EXPECT_NE(failed["error"].value("message", "").find(temp.string()), std::string::npos) << failed;
  EXPECT_EQ(state_of(secret_dir / "secret"), before);
  EXPECT_TRUE(fs::is_symlink(temp));  // not A's daemon's to delete either: A made it
}

TEST_F(SystemMode, DirectorySwappedForASymlinkBeforeCompleteGainsNothing) {
  nginx_server origin;
  origin.make_random_file("d.bin", 5000, 4);
  const fs::path root_dir = top->path() / "root-dir";
  fs::create_directory(root_dir);
  fs::permissions(root_dir, fs::perms(0755));
  const fs::path sub = home(a) / "sub";
  ASSERT_EQ(shell(a, "mkdir '" + sub.string() + "'").exit_code, 0);

  const std::string id = create_job(a, "swap");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url("d.bin"), (sub / "d.bin").string()})), "ok");
  ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
  ASSERT_EQ(wait_for_state(a, id, "TRANSFERRED").value("state", ""), "TRANSFERRED");
  // Root has a file of the temporary file's name in its directory: a privileged rename or delete
  // through the swapped path would move it into place or delete it.
  write_file(root_dir / temp_name(id, 0), "root's file\n");
  const file_state planted = state_of(root_dir / temp_name(id, 0));
  const auto root_entries = entries_of(root_dir);
  ASSERT_EQ(shell(a, "mv '" + sub.string() + "' '" + sub.string() + ".moved' && ln -s '" +
                         root_dir.string() + "' '" + sub.string() + "'")
                .exit_code,
            0);

  const run_result completed = cli(a, {"complete", id});
  EXPECT_EQ(outcome(completed), "0x80070005") << completed.err;
  EXPECT_EQ(entries_of(root_dir), root_entries);
  EXPECT_EQ(state_of(root_dir / temp_name(id, 0)), planted);

  // Cancel deletes the job's temporary file as A: root's file of that name stays.
  const run_result cancelled = cli(a, {"--json", "cancel", id});
  EXPECT_EQ(outcome(cancelled), "ok") << cancelled.err;
  EXPECT_EQ(json::parse(cancelled.out).value("hresult", 0U), 0x0020001AU);  // could not delete
  EXPECT_EQ(entries_of(root_dir), root_entries);
  EXPECT_EQ(state_of(root_dir / temp_name(id, 0)), planted);
  EXPECT_TRUE(fs::exists(sub.string() + ".moved/" + temp_name(id, 0)));  // A's own, left to A
}

// CVE-2020-0787's move, after the transfer: A replaces the finished temporary file with a symlink
// to root's file before Complete. Complete's rename, done as A and without following the link,
// can at most move A's own link; root's file and directory stay exactly as they were, and
// nothing at A's destination belongs to root or holds root's bytes. Cancel of a second such job
// deletes nothing: the link is not the service's file.
TEST_F(SystemMode, TemporaryFileSwappedForASymlinkAfterTheTransferGainsNothing) {
  nginx_server origin;
  origin.make_random_file("s.bin", 5000, 4);
  const fs::path secret_dir = top->path() / "root-only";
  fs::create_directory(secret_dir);
  fs::permissions(secret_dir, fs::perms(0755));
  write_file(secret_dir / "secret", "root's file\n");
  fs::permissions(secret_dir / "secret", fs::perms(0644));
  const file_state before = state_of(secret_dir / "secret");
  const std::set<std::string> entries_before = entries_of(secret_dir);

  for (const char* ending : {"complete", "cancel"}) {
    const fs::path destination = home(a) / (std::string(ending) + ".bin");
    const std::string id = create_job(a, ending);
    ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url("s.bin"), destination.string()})), "ok");
    ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
    ASSERT_EQ(wait_for_state(a, id, "TRANSFERRED", 30s).value("state", ""), "TRANSFERRED");
    const fs::path temp = home(a) / temp_name(id, 0);
    ASSERT_EQ(state_of(temp).uid, a.uid);
    ASSERT_EQ(shell(a, "rm -f '" + temp.string() + "' && ln -s '" +
                           (secret_dir / "secret").string() + "' '" + temp.string() + "'")
                  .exit_code,
              0);
    const run_result ended = cli(a, {ending, id}, 20s);
    std::cout << ending << " after the swap: " << outcome(ended) << std::endl;
    EXPECT_EQ(state_of(secret_dir / "secret"), before) << ending;
    EXPECT_EQ(entries_of(secret_dir), entries_before) << ending;
    struct stat info {};
    if (::lstat(destination.c_str(), &info) == 0) {
      EXPECT_EQ(info.st_uid, a.uid) << ending;
      EXPECT_FALSE(S_ISREG(info.st_mode) && read_file(destination) == "root's file\n") << ending;
    }
    std::cout << ended.out << ended.err;
    if (std::string(ending) == "complete") {
      // O_NOFOLLOW on the temporary name: ELOOP, the job is not completed.
      EXPECT_EQ(outcome(ended), "0x8007007B") << ended.err;
      EXPECT_EQ(this->info(a, id).value("state", ""), "TRANSFERRED");
    } else {
      EXPECT_EQ(outcome(ended), "ok") << ended.err;  // BG_S_UNABLE_TO_DELETE_FILES
      EXPECT_NE(ended.out.find("could not be deleted"), std::string::npos) << ended.out;
    }
    // The link is not a file the service made: it is left as it is (a regular file of A's would
    // have been deleted), still A's link to root's untouched file.
    struct stat link_info {};
    ASSERT_EQ(::lstat(temp.c_str(), &link_info), 0) << ending;
    EXPECT_TRUE(S_ISLNK(link_info.st_mode)) << ending;
    EXPECT_EQ(link_info.st_uid, a.uid) << ending;
  }
}

TEST_F(SystemMode, TemporaryNameHardLinkedToARootFileIsRefused) {
  nginx_server origin;
  origin.make_random_file("h.bin", 5000, 5);
  const fs::path secret_dir = top->path() / "root-only";
  fs::create_directory(secret_dir);
  fs::permissions(secret_dir, fs::perms(0700));
  write_file(secret_dir / "passwd", "root:x:0:0::/root:/bin/sh\n");
  fs::permissions(secret_dir / "passwd", fs::perms(0644));  // A may read it, not write it

  const std::string id = create_job(a, "hardlink");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url("h.bin"), (home(a) / "h.bin").string()})),
            "ok");
  const fs::path temp = home(a) / temp_name(id, 0);
  // fs.protected_hardlinks stops A from making this link; a system without it, or a file A could
  // reach before, would not. Root makes the link so that the daemon's side is what is tested.
  fs::create_hard_link(secret_dir / "passwd", temp);
  const file_state before = state_of(secret_dir / "passwd");

  ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
  const json failed = wait_for_state(a, id, "ERROR", 30s);
  ASSERT_EQ(failed.value("state", ""), "ERROR") << failed;
  EXPECT_EQ(failed["error"].value("context", ""), "LOCAL_FILE") << failed;
  EXPECT_EQ(failed["error"].value("code", 0U), 0x80070005U) << failed;
  EXPECT_EQ(state_of(secret_dir / "passwd"), before);

  ASSERT_EQ(outcome(cli(a, {"cancel", id})), "ok");
  const file_state after = state_of(secret_dir / "passwd");
  EXPECT_TRUE(after.exists);
  EXPECT_EQ(after.content, before.content);
}

TEST_F(SystemMode, FifosNeverHangTheDaemon) {
  nginx_server origin;
  const std::string digest = origin.make_random_file("f.bin", 5000, 6);
  const auto started = std::chrono::steady_clock::now();

  // A FIFO where the temporary file goes: opened without blocking, refused with a clear error.
  const std::string id = create_job(a, "fifo temp");
  ASSERT_EQ(outcome(cli(a, {"addfile", id, origin.url("f.bin"), (home(a) / "f.bin").string()})),
            "ok");
  ASSERT_EQ(shell(a, "mkfifo '" + (home(a) / temp_name(id, 0)).string() + "'").exit_code, 0);
  ASSERT_EQ(outcome(cli(a, {"resume", id})), "ok");
  const json failed = wait_for_state(a, id, "ERROR", 30s);
  ASSERT_EQ(failed.value("state", ""), "ERROR") << failed;
  EXPECT_EQ(failed["error"].value("context", ""), "LOCAL_FILE");
  EXPECT_NE(failed["error"].value("message", "").find(temp_name(id, 0)), std::string::npos)
      << failed;

  // A FIFO as the destination: it is never opened, only replaced by the rename on Complete.
  const fs::path destination = home(a) / "g.bin";
  ASSERT_EQ(shell(a, "mkfifo '" + destination.string() + "'").exit_code, 0);
  const std::string id2 = create_job(a, "fifo destination");
  ASSERT_EQ(outcome(cli(a, {"addfile", id2, origin.url("f.bin"), destination.string()})), "ok");
  ASSERT_EQ(outcome(cli(a, {"resume", id2})), "ok");
  ASSERT_EQ(wait_for_state(a, id2, "TRANSFERRED", 30s).value("state", ""), "TRANSFERRED");
  const run_result completed = cli(a, {"complete", id2}, 20s);
  EXPECT_FALSE(completed.timed_out);
  EXPECT_EQ(outcome(completed), "ok") << completed.err;
  struct stat info {};
  ASSERT_EQ(::lstat(destination.c_str(), &info), 0);
  ASSERT_TRUE(S_ISREG(info.st_mode)) << "the FIFO is still there";  // reading it would block
  EXPECT_EQ(info.st_uid, a.uid);
  EXPECT_EQ(sha256_file(destination), digest);

  EXPECT_LT(std::chrono::steady_clock::now() - started, 60s);
  EXPECT_EQ(outcome(cli(b, {"list"})), "ok");  // and the daemon still answers
}

// Device nodes and symbolic links where the files go: a device is never opened, written or
// deleted, and a link is replaced by the rename on Complete, never followed.
TEST_F(SystemMode, DevicesAndSymlinksAtTheDestinationAreNeverFollowed) {
  nginx_server origin;
  const std::string digest = origin.make_random_file("n.bin", 5000, 7);
  // A names /dev/null itself: the temporary file would go in /dev, which A may not write.
  const std::string id = create_job(a, "dev null");
  const run_result added = cli(a, {"addfile", id, origin.url("n.bin"), "/dev/null"});
  EXPECT_EQ(outcome(added), "0x80070005") << added.err;
  struct stat null_info {};
  ASSERT_EQ(::stat("/dev/null", &null_info), 0);
  EXPECT_TRUE(S_ISCHR(null_info.st_mode));

  // A device node (made by root, a copy of /dev/null) at the temporary file's name: refused.
  const std::string id2 = create_job(a, "device temp");
  ASSERT_EQ(outcome(cli(a, {"addfile", id2, origin.url("n.bin"), (home(a) / "t.bin").string()})),
            "ok");
  const fs::path node = home(a) / temp_name(id2, 0);
  ASSERT_EQ(::mknod(node.c_str(), S_IFCHR | 0666, null_info.st_rdev), 0) << std::strerror(errno);
  ASSERT_EQ(outcome(cli(a, {"resume", id2})), "ok");
  const json failed = wait_for_state(a, id2, "ERROR", 30s);
  ASSERT_EQ(failed.value("state", ""), "ERROR") << failed;
  EXPECT_EQ(failed["error"].value("context", ""), "LOCAL_FILE") << failed;
  struct stat node_info {};
  ASSERT_EQ(::lstat(node.c_str(), &node_info), 0);
  EXPECT_TRUE(S_ISCHR(node_info.st_mode));  // still there: not the service's to delete
  ASSERT_EQ(outcome(cli(a, {"cancel", id2})), "ok");
  ASSERT_EQ(::lstat(node.c_str(), &node_info), 0);
  EXPECT_TRUE(S_ISCHR(node_info.st_mode));

  // A device node and a symlink to root's file as destinations: Complete replaces each entry.
  const fs::path secret_dir = top->path() / "root-only";
  fs::create_directory(secret_dir);
  fs::permissions(secret_dir, fs::perms(0755));
  write_file(secret_dir / "secret", "root's file\n");
  const file_state before = state_of(secret_dir / "secret");
  const fs::path device_destination = home(a) / "device.bin";
  ASSERT_EQ(::mknod(device_destination.c_str(), S_IFCHR | 0666, null_info.st_rdev), 0);
  const fs::path link_destination = home(a) / "link.bin";
  ASSERT_EQ(shell(a, "ln -s '" + (secret_dir / "secret").string() + "' '" +
                         link_destination.string() + "'")
                .exit_code,
            0);
  const std::string id3 = create_job(a, "replaced");
  for (const fs::path& destination : {device_destination, link_destination}) {
    ASSERT_EQ(outcome(cli(a, {"addfile", id3, origin.url("n.bin"), destination.string()})), "ok");
  }
  ASSERT_EQ(outcome(cli(a, {"resume", id3})), "ok");
  ASSERT_EQ(wait_for_state(a, id3, "TRANSFERRED", 30s).value("state", ""), "TRANSFERRED");
  const run_result completed = cli(a, {"complete", id3}, 20s);
  EXPECT_EQ(outcome(completed), "ok") << completed.err;
  for (const fs::path& destination : {device_destination, link_destination}) {
    struct stat info {};
    ASSERT_EQ(::lstat(destination.c_str(), &info), 0);
    EXPECT_TRUE(S_ISREG(info.st_mode)) << destination;
    EXPECT_EQ(info.st_uid, a.uid) << destination;
    EXPECT_EQ(sha256_file(destination), digest) << destination;
  }
  EXPECT_EQ(state_of(secret_dir / "secret"), before);
  ASSERT_EQ(::stat("/dev/null", &null_info), 0);
  EXPECT_TRUE(S_ISCHR(null_info.st_mode));
}

// ---- the notify command -------------------------------------------------------------------------

TEST_F(SystemMode, NotifyCommandRunsAsTheOwnerWithTheOwnersGroups) {
  nginx_server origin;
  origin.make_random_file("n.bin", 2000, 8);
  for (const account* who : {&a, &admin}) {
    const fs::path dir = home(*who);
    const std::string id = create_job(*who, "notify");
    ASSERT_EQ(outcome(cli(*who, {"addfile", id, origin.url("n.bin"), (dir / "n.bin").string()})),
              "ok");
    // The CLI has no verb for the command line: the user sets it through libopendo.
    const std::string script = "id -u > '" + (dir / "uid").string() + "'; id -G > '" +
                               (dir / "groups").string() + "'; echo \\\"$HOME $USER\\\" > '" +
                               (dir / "env").string() + "'";
    ASSERT_TRUE(as_user(*who, [&] {
      opendo::client c(client_options());
      c.open_job(id).set_notify_command("/bin/sh", "sh -c \"" + script + "\"");
    }));
    ASSERT_EQ(outcome(cli(*who, {"resume", id})), "ok");
    ASSERT_EQ(wait_for_state(*who, id, "TRANSFERRED").value("state", ""), "TRANSFERRED");
    for (int i = 0; i < 500 && !fs::exists(dir / "env"); ++i) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(fs::exists(dir / "env")) << who->name << ": the notify command did not run";

    EXPECT_EQ(trim(read_file(dir / "uid")), std::to_string(who->uid)) << who->name;
    std::set<gid_t> groups;
    std::istringstream words(read_file(dir / "groups"));
    for (gid_t g; words >> g;) groups.insert(g);
    EXPECT_EQ(groups, groups_of(*who)) << who->name;
    EXPECT_EQ(groups.count(0), 0U) << who->name << " kept root's group";
    EXPECT_EQ(groups.count(admin_gid), who == &admin ? 1U : 0U) << who->name;
    EXPECT_NE(read_file(dir / "env").find(who->name), std::string::npos) << read_file(dir / "env");
    struct stat info {};
    ASSERT_EQ(::stat((dir / "uid").c_str(), &info), 0);
    EXPECT_EQ(info.st_uid, who->uid);
  }
}
