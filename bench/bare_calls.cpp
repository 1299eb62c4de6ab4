// Case 4's reference: the least a one-loop daemon has to do per call when each call's change is
// durable before its answer, with nothing else (no job model, no transfers, no credentials, no
// notifications). bench/run times it beside opendod so that every run measures where such a
// server puts the floor of the per-call latency on this machine (bench/RESULTS.md, case 4).
//
//   bench_bare_calls durable|grouped|nosync STORE OUT_DIR JOBS THREADS
//
// THREADS client threads, each on its own connection (a socketpair), call CreateJob, AddFiles,
// Resume and Cancel for JOBS jobs in all, each waiting for its answer before the next call, as
// bench_api_calls does with opendod. The server is one thread: it reads every connection that
// has data, and for each call parses its JSON (nlohmann, as opendod), changes an SQLite store in
// WAL mode in a transaction of the call's own (a job row; a file row after checking that the
// destination's directory opens; the job's state; both rows deleted) and queues the JSON answer.
// MODE:
// - durable: what opendod promises (docs/durability.md): once per turn, before any answer of the
//   turn goes out, the WAL is synced.
// - grouped: as durable, but the calls of a turn share one transaction, each in a savepoint of
//   its own, committed before the sync (group commit: what opendod does not do, since a failed
//   commit would take back changes its clients had been told about).
// - nosync: as durable without any sync (SQLite's synchronous = OFF: its checkpoints sync
//   nothing either).
// Resume here only records the state: opendod also starts the transfer, and Cancel stops it.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"

namespace {

using json = nlohmann::json;
constexpr const char* kInterface = "org.opendo.Transfer.";

class store {
 public:
  store(const std::string& path, bool synced) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) fail("open");
    // As opendod's store: synchronous = NORMAL, the WAL synced once per turn (sync()); without
    // syncs, OFF, or SQLite's checkpoints would still sync the WAL and the database.
    exec(synced ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL"
                : "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF");
    exec(
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, name TEXT, state INTEGER);"
        "CREATE TABLE IF NOT EXISTS files (job TEXT, idx INTEGER, url TEXT, path TEXT,"
        "  PRIMARY KEY (job, idx))");
    insert_job_ = prepare("INSERT INTO jobs VALUES (?1, ?2, 0)");
    insert_file_ = prepare("INSERT INTO files VALUES (?1, 0, ?2, ?3)");
    set_state_ = prepare("UPDATE jobs SET state = ?2 WHERE id = ?1");
    delete_files_ = prepare("DELETE FROM files WHERE job = ?1");
    delete_job_ = prepare("DELETE FROM jobs WHERE id = ?1");
  }
  ~store() {
    for (auto* s : {insert_job_, insert_file_, set_state_, delete_files_, delete_job_}) {
      sqlite3_finalize(s);
    }
    sqlite3_close(db_);
  }
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  void create(const std::string& id, const std::string& name) {
    transaction([&] { step(insert_job_, {id, name}); });
  }
  void add_file(const std::string& id, const std::string& url, const std::string& path) {
    transaction([&] { step(insert_file_, {id, url, path}); });
  }
  void resume(const std::string& id) {
    transaction([&] {
      sqlite3_bind_int(set_state_, 2, 1);
      step(set_state_, {id});
    });
  }
  void cancel(const std::string& id) {
    transaction([&] {
      step(delete_files_, {id});
      step(delete_job_, {id});
    });
  }

  // Until end_turn(), each call's transaction is a savepoint in the turn's one transaction.
  void begin_turn() {
    exec("BEGIN");
    in_turn_ = true;
  }
  void end_turn() {
    in_turn_ = false;
    exec("COMMIT");
  }

  // What synchronous = FULL does at each commit, once for the turn's commits (as opendod).
  void sync() {
    sqlite3_file* wal = nullptr;
    if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK) {
      fail("journal pointer");
    }
    if (wal != nullptr && wal->pMethods != nullptr &&
        wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK) {
      fail("sync the WAL");
    }
  }

 private:
  template <typename Body>
  void transaction(Body body) {
    exec(in_turn_ ? "SAVEPOINT call" : "BEGIN");
    body();
    exec(in_turn_ ? "RELEASE call" : "COMMIT");
  }
  // Binds the texts to ?1, ?2, ... and runs the statement once.
  void step(sqlite3_stmt* s, std::initializer_list<std::string> texts) {
    int index = 1;
    for (const auto& text : texts) {
      sqlite3_bind_text(s, index++, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    }
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) fail("step");
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) fail(sql);
    return s;
  }
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
  }
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("store: " + what + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* db_ = nullptr;
  bool in_turn_ = false;
  sqlite3_stmt* insert_job_ = nullptr;
  sqlite3_stmt* insert_file_ = nullptr;
  sqlite3_stmt* set_state_ = nullptr;
  sqlite3_stmt* delete_files_ = nullptr;
  sqlite3_stmt* delete_job_ = nullptr;
};

enum class mode { durable, grouped, nosync };

class server {
 public:
  server(const std::string& store_path, mode m) : store_(store_path, m != mode::nosync), mode_(m) {}

  // Serves the connections until every client has closed its end.
  void run(const std::vector<int>& fds) {
    const int poller = ::epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < fds.size(); ++i) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = i;
      ::epoll_ctl(poller, EPOLL_CTL_ADD, fds[i], &event);
    }
    std::vector<std::string> input(fds.size()), output(fds.size());
    std::size_t open = fds.size();
    std::vector<epoll_event> events(fds.size());
    char buffer[65536];
    while (open > 0) {
      const int ready = ::epoll_wait(poller, events.data(), static_cast<int>(events.size()), -1);
      bool wrote = false;
      for (int e = 0; e < ready; ++e) {
        const auto i = static_cast<std::size_t>(events[e].data.u64);
        const ssize_t n = ::recv(fds[i], buffer, sizeof buffer, 0);
        if (n <= 0) {
          ::epoll_ctl(poller, EPOLL_CTL_DEL, fds[i], nullptr);
          --open;
          continue;
        }
        input[i].append(buffer, static_cast<std::size_t>(n));
        for (auto end = input[i].find('\0'); end != std::string::npos; end = input[i].find('\0')) {
          if (!wrote && mode_ == mode::grouped) store_.begin_turn();
          output[i] += answer(input[i].substr(0, end));
          output[i].push_back('\0');
          input[i].erase(0, end + 1);
          wrote = true;
        }
      }
      // Every answer of the turn waits for the turn's changes to be durable.
      if (wrote && mode_ == mode::grouped) store_.end_turn();
      if (wrote && mode_ != mode::nosync) store_.sync();
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (output[i].empty()) continue;
        if (::send(fds[i], output[i].data(), output[i].size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(output[i].size())) {
          throw std::runtime_error("a short send to a client");
        }
        output[i].clear();
      }
    }
    ::close(poller);
  }

 private:
  std::string answer(const std::string& message) {
    const json call = json::parse(message);
    const std::string method = call.at("method").get<std::string>();
    const json& p = call.at("parameters");
    json result = json::object();
    if (method == std::string(kInterface) + "CreateJob") {
      char id[40];
      std::snprintf(id, sizeof id, "{%08X-0000-4000-8000-%012llX}", 0xB0A7E5u,
                    static_cast<unsigned long long>(++next_id_));
      store_.create(id, p.at("display_name").get<std::string>());
      jobs_.insert(id);
      result["id"] = id;
    } else if (method == std::string(kInterface) + "AddFiles") {
      const std::string id = p.at("id").get<std::string>();
      const json& file = p.at("files").at(0);
      const std::string path = file.at("local_name").get<std::string>();
      // As opendod: the destination's directory must open before the file is taken.
      const int dir = ::open(bench::parent_of(path).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dir >= 0) ::close(dir);
      if (dir < 0 || jobs_.count(id) == 0) return R"({"error":"org.opendo.Transfer.Failed"})";
      store_.add_file(id, file.at("remote_url").get<std::string>(), path);
    } else if (method == std::string(kInterface) + "Resume") {
      store_.resume(p.at("id").get<std::string>());
    } else if (method == std::string(kInterface) + "Cancel") {
      const std::string id = p.at("id").get<std::string>();
      store_.cancel(id);
      jobs_.erase(id);
      result["hresult"] = 0;
    } else {
      return R"({"error":"org.varlink.service.MethodNotFound"})";
    }
    return json{{"parameters", std::move(result)}}.dump();
  }

  store store_;
  mode mode_;
  unsigned long long next_id_ = 0;
  std::set<std::string> jobs_;  // the jobs created and not cancelled
};

// One client connection: a call and its answer, as opendo::client makes them.
class caller {
 public:
  explicit caller(int fd) : fd_(fd) {}
  json call(const char* method, json parameters) {
    std::string message =
        json{{"method", std::string(kInterface) + method}, {"parameters", std::move(parameters)}}
            .dump();
    message.push_back('\0');
    if (::send(fd_, message.data(), message.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(message.size())) {
      throw std::runtime_error("send");
    }
    std::string reply;
    char buffer[4096];
    while (reply.empty() || reply.back() != '\0') {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) throw std::runtime_error("the server closed the connection");
      reply.append(buffer, static_cast<std::size_t>(n));
    }
    reply.pop_back();
    json answer = json::parse(reply);
    if (answer.contains("error")) throw std::runtime_error(answer["error"].get<std::string>());
    return answer.at("parameters");
  }

 private:
  int fd_;
};

// Times each call into `into`.
template <typename Call>
json timed(std::vector<double>& into, Call call) {
  const auto start = bench::clock::now();
  json result = call();
  into.push_back(bench::ms_since(start));
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc == 6 ? argv[1] : "";
  if (name != "durable" && name != "grouped" && name != "nosync") {
    std::fprintf(stderr,
                 "usage: bench_bare_calls durable|grouped|nosync STORE OUT_DIR JOBS THREADS\n");
    return 2;
  }
  const mode m = name == "durable"   ? mode::durable
                 : name == "grouped" ? mode::grouped
                                     : mode::nosync;
  const std::string out_dir = argv[3];
  const std::size_t jobs = bench::parse_count(argv[4], "JOBS");
  const std::size_t threads = bench::parse_count(argv[5], "THREADS");

  std::vector<int> server_ends, client_ends;
  for (std::size_t t = 0; t < threads; ++t) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      std::perror("socketpair");
      return 1;
    }
    server_ends.push_back(pair[0]);
    client_ends.push_back(pair[1]);
  }

  std::atomic<int> failures{0};
  std::thread serving([&] {
    try {
      server s(argv[2], m);
      s.run(server_ends);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_bare_calls: server: %s\n", e.what());
      ++failures;
      for (int fd : server_ends) ::shutdown(fd, SHUT_RDWR);  // the clients see it and stop
    }
  });

  std::vector<bench::call_samples> per_thread(threads);
  std::atomic<std::size_t> next{0};
  const auto all = bench::clock::now();
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bench::call_samples& mine = per_thread[t];
      caller client(client_ends[t]);
      try {
        for (std::size_t i = next++; i < jobs; i = next++) {
          const std::string name = "bench api " + std::to_string(i);
          const auto id = timed(mine.create,
                                [&] {
                                  return client.call("CreateJob", {{"display_name", name}});
                                })
                              .at("id")
                              .get<std::string>();
          json file = {{"remote_url", "http://127.0.0.1/small/4k.bin"},
                       {"local_name", out_dir + "/api-" + std::to_string(i)}};
          timed(mine.add_file, [&] {
            return client.call("AddFiles", {{"id", id}, {"files", json::array({file})}});
          });
          timed(mine.resume, [&] { return client.call("Resume", {{"id", id}}); });
          timed(mine.cancel, [&] { return client.call("Cancel", {{"id", id}}); });
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_bare_calls: client %zu: %s\n", t, e.what());
        ++failures;
      }
      ::close(client_ends[t]);
    });
  }
  for (auto& worker : workers) worker.join();
  const double total_s = bench::ms_since(all) / 1000;
  serving.join();
  for (int fd : server_ends) ::close(fd);

  return bench::report_calls(per_thread, total_s, failures.load());
}
