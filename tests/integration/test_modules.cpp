// opendod loads libcurl (opendo-http.so), libtorrent (opendo-peer.so) and libcrypto only when a
// job needs them (src/daemon/modules.hpp, src/common/libcrypto.hpp): an idle daemon maps none, a
// download maps the HTTP module and not the peer one, a file with metainfo maps the peer module,
// and a daemon whose modules are missing refuses to start and names the file.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

// The files the process maps (/proc/PID/maps), one path per line.
std::string mapped_files(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool maps(pid_t pid, const std::string& name) {
  return mapped_files(pid).find(name) != std::string::npos;
}

}  // namespace

TEST(Modules, IdleDaemonMapsNeitherModuleADownloadLoadsOnlyTheHttpOneMetainfoThePeerOne) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out{"opendo-out"};
  // Idle, with a client connected and a job created: no transfer, no URL yet.
  client c = connect(daemon);
  job j = c.create_job("modules");
  const pid_t pid = daemon.pid();
  EXPECT_FALSE(maps(pid, "opendo-http.so")) << mapped_files(pid);
  EXPECT_FALSE(maps(pid, "libcurl")) << mapped_files(pid);
  EXPECT_FALSE(maps(pid, "opendo-peer.so")) << mapped_files(pid);
  EXPECT_FALSE(maps(pid, "libtorrent")) << mapped_files(pid);
  // Nor OpenSSL's libcrypto, opened at its first use (common/libcrypto.hpp).
  EXPECT_FALSE(maps(pid, "libcrypto")) << mapped_files(pid);

  const std::string digest = origin.make_random_file("a.bin", 100000, 7);
  j.add_file(origin.url("a.bin"), (out / "a.bin").string());
  j.resume();
  wait_for_state(j, job_state::transferred, std::chrono::seconds(60));
  j.complete();
  EXPECT_EQ(sha256_file(out / "a.bin"), digest);
  EXPECT_TRUE(maps(pid, "opendo-http.so")) << mapped_files(pid);
  EXPECT_TRUE(maps(pid, "libcurl")) << mapped_files(pid);
  EXPECT_FALSE(maps(pid, "opendo-peer.so")) << mapped_files(pid);
  EXPECT_FALSE(maps(pid, "libtorrent")) << mapped_files(pid);

  // A file with metainfo: the daemon reads it with libtorrent, from the peer module.
  const fs::path torrent = out / "b.bin.torrent";
  origin.make_random_file("b.bin", 400000, 8);
  const auto published = daemon.cli({"publish", (origin.docroot() / "b.bin").string(), "--web-seed",
                                     origin.url("b.bin"), "-o", torrent.string()});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  job k = c.create_job("with metainfo");
  const auto added = daemon.cli({"addfile", k.id(), origin.url("b.bin"), (out / "b.bin").string(),
                                 "--metainfo", torrent.string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_TRUE(maps(pid, "opendo-peer.so")) << mapped_files(pid);
  EXPECT_TRUE(maps(pid, "libtorrent")) << mapped_files(pid);
  k.cancel();
}

TEST(Modules, DaemonWhoseModulesAreMissingRefusesToStartAndNamesTheFile) {
  // A copy of opendod in a directory with no modules beside it: an incomplete installation.
  temp_dir root{"opendo-modules"};
  fs::create_directories(root / "bin");
  fs::copy_file(bin_dir() / "opendod", root / "bin" / "opendod");
  const run_result ran = run({(root / "bin" / "opendod").string(), "--socket",
                              (root / "s.sock").string(), "--state-dir", (root / "state").string()},
                             std::chrono::seconds(30));
  EXPECT_EQ(ran.exit_code, 1) << ran.err;
  EXPECT_NE(ran.err.find("opendo-http.so is missing or unreadable"), std::string::npos) << ran.err;
  EXPECT_NE(ran.err.find("the installation is incomplete"), std::string::npos) << ran.err;
  EXPECT_FALSE(fs::exists(root / "s.sock"));  // it never served
}
