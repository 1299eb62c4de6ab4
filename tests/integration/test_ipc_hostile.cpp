// The daemon survives any client: garbage, oversized and unterminated messages, wrong types,
// unknown methods, and clients that hang up mid-call. Each gets a Varlink error, and the daemon
// keeps serving everyone else.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "integration/helpers.hpp"
#include "ipc/framing.hpp"
#include "ipc/socket.hpp"

using namespace opendo;
using namespace opendo::test;
using nlohmann::json;

namespace {

class HostileClient : public ::testing::Test {
 protected:
  daemon_process daemon;

  ipc::unique_fd open_raw() {
    ipc::unique_fd fd = ipc::connect_unix(daemon.socket_path().string());
    EXPECT_TRUE(fd);
    return fd;
  }

  // Sends raw bytes and returns the reply message, parsed.
  json exchange(const std::string& bytes) {
    ipc::unique_fd fd = open_raw();
    send_all(fd.get(), bytes);
    ipc::frame_decoder decoder;
    return json::parse(ipc::receive_message(fd.get(), decoder, std::chrono::seconds(10)));
  }

  static void send_all(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the daemon may hang up on an oversized message: fine
      sent += static_cast<std::size_t>(n);
    }
  }

  // The daemon still answers a well-formed call on a fresh connection.
  void expect_daemon_alive() {
    ASSERT_TRUE(daemon.running()) << daemon.log();
    client c = connect(daemon);
    EXPECT_NO_THROW(c.list_jobs());
  }
};

}  // namespace

TEST_F(HostileClient, GarbageGetsInvalidParameter) {
  const json reply = exchange(std::string("this is not json\0", 17));
  EXPECT_EQ(reply["error"], "org.varlink.service.InvalidParameter");
  expect_daemon_alive();
}

TEST_F(HostileClient, WrongShapesGetInvalidParameterNamingTheField) {
  EXPECT_EQ(exchange(std::string("[1,2,3]\0", 8))["parameters"]["parameter"], "message");
  EXPECT_EQ(exchange(std::string("{\"method\":42}\0", 15))["parameters"]["parameter"], "method");
  const json wrong_type =
      exchange(json{{"method", "org.opendo.Transfer.GetJob"}, {"parameters", {{"id", 7}}}}.dump() +
               std::string(1, '\0'));
  EXPECT_EQ(wrong_type["error"], "org.varlink.service.InvalidParameter");
  EXPECT_EQ(wrong_type["parameters"]["parameter"], "id");
  const json watch_files = exchange(
      json{{"method", "org.opendo.Transfer.Watch"},
           {"parameters", {{"id", "{00000000-0000-4000-8000-000000000000}"}, {"files", "no"}}}}
          .dump() +
      std::string(1, '\0'));
  EXPECT_EQ(watch_files["error"], "org.varlink.service.InvalidParameter");
  EXPECT_EQ(watch_files["parameters"]["parameter"], "files");
  expect_daemon_alive();
}

TEST_F(HostileClient, UnknownMethodsAndInterfacesAreNamed) {
  json reply =
      exchange(json{{"method", "org.opendo.Transfer.Explode"}}.dump() + std::string(1, '\0'));
  EXPECT_EQ(reply["error"], "org.varlink.service.MethodNotFound");
  reply = exchange(json{{"method", "com.example.Other.Call"}}.dump() + std::string(1, '\0'));
  EXPECT_EQ(reply["error"], "org.varlink.service.InterfaceNotFound");
  expect_daemon_alive();
}

// Found by fuzz_handlers: oneway calls get no reply, not even an error, or a client would read
// the error as the answer to its next call.
TEST_F(HostileClient, OnewayCallsGetNoReplyEvenWhenTheyFail) {
  ipc::unique_fd fd = open_raw();
  const std::string end(1, '\0');
  send_all(fd.get(), json{{"method", "org.opendo.Transfer.Explode"}, {"oneway", true}}.dump() +
                         end + json{{"method", "com.example.Other.Call"}, {"oneway", true}}.dump() +
                         end +
                         json{{"method", "org.opendo.Transfer.GetJob"},
                              {"parameters", {{"id", "{00000000-0000-0000-0000-000000000000}"}}},
                              {"oneway", true}}
                             .dump() +
                         end +
                         json{{"method", "org.opendo.Transfer.Subscribe"},
                              {"parameters", {{"id", "x"}}},
                              {"more", true},
                              {"oneway", true}}
                             .dump() +
                         end + json{{"method", "org.varlink.service.GetInfo"}}.dump() + end);
  ipc::frame_decoder decoder;
  const json first = json::parse(ipc::receive_message(fd.get(), decoder, std::chrono::seconds(10)));
  EXPECT_EQ(first["parameters"]["product"], "opendod") << first.dump();
  expect_daemon_alive();
}

TEST_F(HostileClient, OversizedMessageIsRefusedAndTheConnectionClosed) {
  ipc::unique_fd fd = open_raw();
  send_all(fd.get(), "{\"method\":\"" + std::string(ipc::max_message_size + 100, 'a'));
  ipc::frame_decoder decoder;
  const json reply = json::parse(ipc::receive_message(fd.get(), decoder, std::chrono::seconds(10)));
  EXPECT_EQ(reply["error"], "org.varlink.service.InvalidParameter");
  char byte;
  EXPECT_EQ(::recv(fd.get(), &byte, 1, 0), 0);  // closed after the error
  expect_daemon_alive();
}

TEST_F(HostileClient, UnterminatedMessageDoesNotBlockOthers) {
  ipc::unique_fd stuck = open_raw();
  send_all(stuck.get(), "{\"method\":\"org.opendo.Transfer.ListJobs\"");  // no NUL, ever
  expect_daemon_alive();
}

TEST_F(HostileClient, ClientThatHangsUpMidCallDoesNotHurt) {
  for (int i = 0; i < 50; ++i) {
    ipc::unique_fd fd = open_raw();
    send_all(fd.get(), json{{"method", "org.opendo.Transfer.CreateJob"},
                            {"parameters", {{"display_name", "gone"}}}}
                               .dump() +
                           std::string(1, '\0'));
  }  // each closes before reading its reply
  ipc::unique_fd watcher = open_raw();
  client c = connect(daemon);
  job j = c.create_job("watched");
  send_all(watcher.get(), json{{"method", "org.opendo.Transfer.Watch"},
                               {"parameters", {{"id", j.id()}}},
                               {"more", true}}
                                  .dump() +
                              std::string(1, '\0'));
  watcher.reset();  // a watcher that disappears
  j.set_display_name("changed after the watcher left");
  expect_daemon_alive();
}

// A client that sends calls and never reads the replies: the daemon keeps at most 16 MiB of
// replies for one connection, then closes it, and serves everyone else meanwhile.
TEST_F(HostileClient, AClientThatNeverReadsItsRepliesIsClosed) {
  client c = connect(daemon);
  for (int i = 0; i < 50; ++i) {
    job j = c.create_job(std::string(256, 'n'));
    j.set_description(std::string(1024, 'd'));
  }
  ipc::unique_fd reader = open_raw();
  const std::string list =
      json{{"method", "org.opendo.Transfer.ListJobs"}, {"parameters", json::object()}}.dump() +
      std::string(1, '\0');
  std::string burst;
  for (int i = 0; i < 600; ++i) burst += list;  // about 60 MB of replies
  send_all(reader.get(), burst);
  // Up to 60 s: under ASan, with another test beside it, the 16 MiB of replies (some 160 lists
  // of 50 jobs) took more than the 20 s this once waited (CI, 2026-12-06).
  bool closed = false;
  for (int i = 0; i < 3000 && !closed; ++i) {
    closed = daemon.log().find("it does not read its replies") != std::string::npos;
    if (!closed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(closed) << daemon.log();
  expect_daemon_alive();
  EXPECT_EQ(c.list_jobs().size(), 50U);
}

TEST_F(HostileClient, ManyMessagesInOnePacketAreAllAnswered) {
  ipc::unique_fd fd = open_raw();
  std::string burst;
  for (int i = 0; i < 100; ++i) {
    burst += json{{"method", "org.opendo.Transfer.ListJobs"}}.dump() + std::string(1, '\0');
  }
  send_all(fd.get(), burst);
  ipc::frame_decoder decoder;
  for (int i = 0; i < 100; ++i) {
    const json reply =
        json::parse(ipc::receive_message(fd.get(), decoder, std::chrono::seconds(10)));
    ASSERT_TRUE(reply.contains("parameters")) << reply.dump();
  }
}

TEST_F(HostileClient, VarlinkServiceDescribesTheInterface) {
  json reply =
      exchange(json{{"method", "org.varlink.service.GetInfo"}}.dump() + std::string(1, '\0'));
  EXPECT_EQ(reply["parameters"]["interfaces"][1], "org.opendo.Transfer");
  reply = exchange(json{{"method", "org.varlink.service.GetInterfaceDescription"},
                        {"parameters", {{"interface", "org.opendo.Transfer"}}}}
                       .dump() +
                   std::string(1, '\0'));
  const std::string text = reply["parameters"]["description"];
  EXPECT_NE(text.find("interface org.opendo.Transfer"), std::string::npos);
  EXPECT_NE(text.find("method CreateJob"), std::string::npos);
}
