// Fuzz target for the daemon's request handlers: a real daemon::server and daemon::manager (user
// mode, direct file operations, a SQLite store in a temp dir made once) in this process, driven
// through a real client connection on its Unix socket with the calls the input describes.
//
// Input: one call per line, "NAME FLAGS PARAMETERS":
//   NAME        a method of org.opendo.Transfer ("CreateJob"), or a fully qualified name with a
//               dot ("org.varlink.service.GetInfo", "no.such.Method");
//   FLAGS       letters: m "more", o "oneway", i put the id of the last job this input created
//               into the parameters, p send this call together with the next (no reply read in
//               between), r the PARAMETERS text is the whole message, sent as it is (it may even
//               hold NULs, i.e. several messages); "-" for none;
//   PARAMETERS  the JSON of "parameters". A text that is no JSON object is pasted into the
//               message as it is, so malformed messages reach the server's parser too.
// For example: "CreateJob - {"display_name":"a"}" then "AddFile i {"remote_url":...}".
//
// Never blocking, nothing outside the temp dir changed: the manager's run_once() is never called,
// so the scheduler starts no transfer (the fuzzer's URLs are arbitrary) and no notify command runs
// (its program is arbitrary too); handlers do only what a request does by itself. AddFile checks
// destinations as this process's user, Cancel deletes only the job's own ".opendo-<id>-N.part"
// names. Each input gets a new daemon on a new store (in the same temp dir), so inputs do not
// depend on each other: a crash reproduces from its input alone, and nothing accumulates.
#include <fcntl.h>
#include <poll.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/file_ops.hpp"
#include "daemon/manager.hpp"
#include "daemon/server.hpp"
#include "ipc/codec.hpp"
#include "ipc/framing.hpp"
#include "ipc/socket.hpp"
#include "store/store.hpp"

namespace {

using opendo::ipc::json;
namespace daemon = opendo::daemon;
namespace ipc = opendo::ipc;

constexpr std::size_t kMaxCallsPerInput = 64;

// OPENDO_FUZZ_VERBOSE=1 prints every message sent and received, to read what an input does.
const bool verbose = std::getenv("OPENDO_FUZZ_VERBOSE") != nullptr;

void require(bool condition, const std::string& what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz_handlers: invariant violated: %s\n", what.c_str());
    std::abort();
  }
}

// The daemon logs errors it recovered from (e.g. an unexpected exception in a handler becomes
// E_FAIL): print each distinct one once, so a fuzzing run shows them without flooding.
class distinct_errors_sink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::err || seen_.size() >= 100) return;
    std::string text(msg.payload.data(), msg.payload.size());
    if (seen_.insert(text.substr(0, 120)).second) {
      std::fprintf(stderr, "fuzz_handlers: the daemon logged: %s\n", text.c_str());
    }
  }
  void flush_() override {}

 private:
  std::set<std::string> seen_;
};

// One daemon as main.cpp builds it, without the event loop.
struct daemon_under_test {
  explicit daemon_under_test(const daemon::config& c)
      : cfg(c),
        store(cfg.state_dir + "/jobs.sqlite"),
        jobs(cfg, store, files),
        server(cfg, jobs, ipc::listen_unix(cfg.socket_path, 0600)) {
    jobs.load();
  }
  daemon::config cfg;
  opendo::store::job_store store;
  daemon::direct_file_ops files;
  daemon::manager jobs;
  daemon::server server;
};

// The temp dir, made once; each input gets a daemon of its own on a new store in it.
struct environment {
  std::string dir;
  daemon::config cfg;

  environment() {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/opendo-fuzz-XXXXXX";
    require(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    dir = pattern;
    std::filesystem::create_directory(dir + "/state");
    cfg.state_dir = dir + "/state";
    cfg.socket_path = dir + "/opendod.sock";
  }
  ~environment() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  // The store of the last input, so that the next one starts from nothing.
  void forget_state() const {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      ::unlink((cfg.state_dir + "/jobs.sqlite" + suffix).c_str());
    }
  }
};

environment* env = nullptr;

short to_poll(short curl_events) {
  short out = 0;
  if (curl_events & CURL_WAIT_POLLIN) out |= POLLIN;
  if (curl_events & CURL_WAIT_POLLPRI) out |= POLLPRI;
  if (curl_events & CURL_WAIT_POLLOUT) out |= POLLOUT;
  return out;
}

short from_poll(short revents) {
  short out = 0;
  // A hang-up or error is seen by reading, as with curl_multi_poll.
  if (revents & (POLLIN | POLLHUP | POLLERR)) out |= CURL_WAIT_POLLIN;
  if (revents & POLLPRI) out |= CURL_WAIT_POLLPRI;
  if (revents & POLLOUT) out |= CURL_WAIT_POLLOUT;
  return out;
}

// The client side of one connection: sends framed calls, reads and checks every reply.
class client {
 public:
  explicit client(ipc::unique_fd fd) : fd_(std::move(fd)) {
    ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
  }

  // Sends as much as the socket takes; the rest waits in out_ for the next pump.
  void send(std::string_view bytes) {
    if (verbose) std::fprintf(stderr, "-> %.*s\n", static_cast<int>(bytes.size()), bytes.data());
    out_.append(bytes);
  }

  // One turn of the daemon's loop (poll without waiting, dispatch), with the client writing and
  // reading in between, until nothing is ready on either side.
  void pump(daemon_under_test& d) {
    for (int round = 0; round < 256; ++round) {
      const bool flushed = flush();
      bool progress = drain() || flushed;
      auto& fds = d.server.wait_fds();
      std::vector<pollfd> polled;
      for (const auto& f : fds) polled.push_back({f.fd, to_poll(f.events), 0});
      if (::poll(polled.data(), polled.size(), 0) < 0) return;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        fds[i].revents = from_poll(polled[i].revents);
        if (fds[i].revents != 0) progress = true;
      }
      d.server.dispatch();
      progress = drain() || progress;
      if (!progress && out_.empty()) return;
    }
  }

  const std::vector<std::string>& created_ids() const { return ids_; }
  void close() { fd_.reset(); }

 private:
  bool flush() {
    bool sent = false;
    while (!out_.empty()) {
      const ssize_t n = ::send(fd_.get(), out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      out_.erase(0, static_cast<std::size_t>(n));
      sent = true;
    }
    return sent;
  }

  bool drain() {
    bool got = false;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n <= 0) break;
      got = true;
      decoder_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
      while (auto message = decoder_.next()) check_reply(*message);
      require(!decoder_.overflow(), "a reply longer than the message limit");
    }
    return got;
  }

  // Every reply is a Varlink reply: a JSON object with parameters or an error.
  void check_reply(const std::string& message) {
    if (verbose) std::fprintf(stderr, "<- %.300s\n", message.c_str());
    const json reply = json::parse(message, nullptr, /*allow_exceptions=*/false);
    require(!reply.is_discarded() && reply.is_object(),
            "a reply that is no JSON object: " + message.substr(0, 200));
    const auto error = reply.find("error");
    if (error != reply.end()) {
      require(error->is_string(), "an error that is no string: " + message.substr(0, 200));
      if (*error == ipc::hresult_error) {
        const json& p = reply.at("parameters");
        require(p.contains("code") && p["code"].is_number_unsigned() && p.contains("message"),
                "an HResult error without code or message: " + message.substr(0, 200));
      }
      return;
    }
    const auto parameters = reply.find("parameters");
    require(parameters != reply.end() && parameters->is_object(),
            "a reply without parameters: " + message.substr(0, 200));
    // CreateJob's reply: later calls of this input may refer to the job.
    if (parameters->size() == 1 && parameters->contains("id") && (*parameters)["id"].is_string() &&
        ids_.size() < 16) {
      ids_.push_back((*parameters)["id"].get<std::string>());
    }
  }

  ipc::unique_fd fd_;
  std::string out_;
  ipc::frame_decoder decoder_;
  std::vector<std::string> ids_;
};

// One line of the input as the bytes of one framed call (or, with r, of whatever it holds).
std::string message_for(std::string_view line, const std::vector<std::string>& ids,
                        bool& pipelined) {
  auto word = [&line]() {
    const std::size_t space = line.find(' ');
    const std::string_view w = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    return w;
  };
  const std::string name(word());
  const std::string_view flags = word();
  const std::string_view parameters = line;
  pipelined = flags.find('p') != std::string_view::npos;
  if (flags.find('r') != std::string_view::npos) return ipc::frame(parameters);

  const std::string method =
      name.find('.') == std::string::npos ? std::string(ipc::interface_name) + "." + name : name;
  json call = {{"method", method}};
  if (flags.find('m') != std::string_view::npos) call["more"] = true;
  if (flags.find('o') != std::string_view::npos) call["oneway"] = true;
  if (parameters.empty())
    return ipc::frame(call.dump(-1, ' ', false, json::error_handler_t::replace));
  json params = json::parse(parameters, nullptr, /*allow_exceptions=*/false);
  if (params.is_object()) {
    if (flags.find('i') != std::string_view::npos && !ids.empty()) params["id"] = ids.back();
    call["parameters"] = std::move(params);
    return ipc::frame(call.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  // Not an object: pasted as it is, for the server to refuse.
  std::string text = call.dump(-1, ' ', false, json::error_handler_t::replace);
  text.pop_back();  // the closing brace
  text += ",\"parameters\":";
  text.append(parameters);
  text += "}";
  return ipc::frame(text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto logger =
      std::make_shared<spdlog::logger>("opendod", std::make_shared<distinct_errors_sink>());
  logger->set_level(spdlog::level::err);
  spdlog::set_default_logger(logger);
  env = new environment();
  std::atexit([] {
    delete env;
    env = nullptr;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  env->forget_state();
  daemon_under_test d(env->cfg);
  ipc::unique_fd fd = ipc::connect_unix(env->cfg.socket_path);
  require(static_cast<bool>(fd), "cannot connect to the daemon under test");
  client c(std::move(fd));
  c.pump(d);
  require(d.server.connections() == 1, "the connection was not accepted");

  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (std::size_t calls = 0; !input.empty() && calls < kMaxCallsPerInput; ++calls) {
    const std::size_t end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    bool pipelined = false;
    c.send(message_for(line, c.created_ids(), pipelined));
    if (!pipelined) c.pump(d);
  }
  c.pump(d);

  // Hang up and let the server see it: it must drop the connection and its watches.
  c.close();
  for (int i = 0; i < 8 && d.server.connections() > 0; ++i) c.pump(d);
  require(d.server.connections() == 0, "the server kept a closed connection");
  return 0;
}
