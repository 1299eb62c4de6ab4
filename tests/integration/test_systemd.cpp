// systemd integration by its protocols: opendod takes the listening socket systemd passes (socket
// activation, fd 3 with LISTEN_FDS/LISTEN_PID), says READY=1 and STOPPING=1 on $NOTIFY_SOCKET, and
// leaves systemd's socket in place when it stops. This test plays systemd's part itself: CI
// machines and containers run no systemd.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "integration/helpers.hpp"
#include "ipc/socket.hpp"
#include "support/files.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

// A datagram socket bound at `path`, as systemd's notification socket.
ipc::unique_fd notification_socket(const fs::path& path) {
  ipc::unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
      << std::strerror(errno);
  return fd;
}

// The next notice, or "" after the timeout.
std::string next_notice(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return "";
  char buffer[4096];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
}

}  // namespace

TEST(Systemd, SocketActivatedDaemonServesSystemdsSocketAndReportsReadiness) {
  temp_dir dir("opendo-systemd");
  const fs::path socket = dir / "opendod.sock";
  ipc::unique_fd listener = ipc::listen_unix(socket.string(), 0600);
  ipc::unique_fd notices = notification_socket(dir / "notify");
  const std::string daemon = (bin_dir() / "opendod").string();
  const std::string state = (dir / "state").string();
  const std::string notify_path = (dir / "notify").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // What systemd does: the socket at fd 3, LISTEN_PID naming the new process.
    if (listener.get() == 3) {
      ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
    } else if (::dup2(listener.get(), 3) != 3) {
      ::_exit(126);
    }
    ::setenv("LISTEN_FDS", "1", 1);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
    ::execl(daemon.c_str(), "opendod", "--socket", socket.c_str(), "--state-dir", state.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  listener.reset();  // the daemon holds it now, as systemd would keep its own copy
  const std::string ready = next_notice(notices.get(), 10000);
  ASSERT_NE(ready.find("READY=1"), std::string::npos)
      << "no READY=1; daemon " << (try_reap(pid) ? "exited" : "still running");

  client_options options;
  options.socket_path = socket.string();
  options.autostart = false;
  {
    client c(options);
    job j = c.create_job("activated");
    EXPECT_EQ(c.list_jobs().size(), 1U);
    EXPECT_EQ(j.info().display_name, "activated");
  }
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(next_notice(notices.get(), 5000).find("STOPPING=1"), std::string::npos);
  EXPECT_TRUE(fs::exists(socket));  // systemd's socket: removing it is systemd's business
}

TEST(Systemd, ActivationMeantForAnotherProcessIsIgnored) {
  // LISTEN_PID of another process (an inherited environment): the daemon makes its own socket.
  daemon_options options;
  options.env = {"LISTEN_FDS=1", "LISTEN_PID=1"};
  daemon_process daemon(options);
  client c = connect(daemon);
  EXPECT_NO_THROW(c.create_job("not activated"));
  EXPECT_EQ(daemon.log().find("socket from systemd"), std::string::npos);
}
