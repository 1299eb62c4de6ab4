// Case 2's reference: the least a program has to do to download many small files the way
// opendod keeps them, with nothing else (no IPC, no job model, no notifications). bench/run
// times it beside curl -Z so that every run measures how far durability alone puts the floor
// from a download that keeps no state (bench/RESULTS.md, case 2).
//
//   bench_bare_files LIST MODE STORE     LIST: one "URL<TAB>LOCAL_PATH" per line
//
// One libcurl multi handle, 16 transfers in flight; each file goes to LOCAL_PATH.part and is
// renamed over LOCAL_PATH once done; a row per file in an SQLite store in WAL mode, one
// transaction per loop turn for the files that turn finished. MODE:
// - durable: what opendod promises (docs/durability.md): each file is fdatasync'ed (on four
//   threads of opendod's own worker pool, background_work, as its sync worker does) before it is
//   renamed and recorded, each commit syncs the WAL, and every directory a file was renamed into
//   is fsync'ed at the end.
// - nosync: the same without any sync (SQLite's synchronous = NORMAL): what the issue's own
//   bare program measured.
#include <curl/curl.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "common/background_work.hpp"

namespace {

constexpr long kInFlight = 16;
constexpr std::size_t kSyncThreads = 4;

struct download {
  std::string url;
  std::string path;
  std::string temp;
  int fd = -1;
  std::uint64_t bytes = 0;
  bool write_failed = false;
};

// A file's fdatasync, done on a worker thread; the loop delivers the file once it is back.
struct synced {
  download* file;
  bool ok;
};
using sync_pool = opendo::background_work<synced>;

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* d = static_cast<download*>(user);
  const std::size_t length = size * count;
  std::size_t done = 0;
  while (done < length) {
    const ssize_t n = ::write(d->fd, data + done, length - done);
    if (n <= 0) {
      d->write_failed = true;
      return 0;  // libcurl ends the transfer with CURLE_WRITE_ERROR
    }
    done += static_cast<std::size_t>(n);
  }
  d->bytes += length;
  return length;
}

class store {
 public:
  store(const std::string& path, bool durable) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) fail("open");
    exec(durable ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL"
                 : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
    exec("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, url TEXT, bytes INTEGER)");
    if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO files VALUES (?1, ?2, ?3)", -1, &insert_,
                           nullptr) != SQLITE_OK) {
      fail("prepare");
    }
  }
  ~store() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // One transaction for the files one loop turn finished.
  void record(const std::vector<download*>& finished) {
    if (finished.empty()) return;
    exec("BEGIN");
    for (const download* d : finished) {
      sqlite3_bind_text(insert_, 1, d->path.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert_, 2, d->url.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 3, static_cast<sqlite3_int64>(d->bytes));
      if (sqlite3_step(insert_) != SQLITE_DONE) fail("insert");
      sqlite3_reset(insert_);
    }
    exec("COMMIT");
  }

 private:
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
  }
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("store: " + what + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

std::vector<download> read_list(const char* path) {
  std::vector<download> list;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    download d;
    d.url = line.substr(0, tab);
    d.path = line.substr(tab + 1);
    d.temp = d.path + ".part";
    list.push_back(std::move(d));
  }
  return list;
}

class downloader {
 public:
  downloader(std::vector<download>& files, bool durable, const std::string& store_path)
      : files_(files), durable_(durable), store_(store_path, durable), multi_(curl_multi_init()) {
    if (durable_) {
      syncs_ = std::make_unique<sync_pool>(kSyncThreads, [this] { curl_multi_wakeup(multi_); });
    }
  }
  ~downloader() {
    syncs_.reset();  // its threads may still wake the multi handle
    curl_multi_cleanup(multi_);
  }
  downloader(const downloader&) = delete;
  downloader& operator=(const downloader&) = delete;

  // Number of files that failed.
  std::size_t run() {
    while (ended_ < files_.size()) {
      int still = 0;
      curl_multi_perform(multi_, &still);
      collect_transfers();
      if (syncs_) {
        for (const synced& done : syncs_->take()) deliver(done.file, done.ok);
      }
      store_.record(std::exchange(finished_, {}));
      // Free slots are filled before the wait: with none in flight it would wait for nothing.
      while (running_ < kInFlight && next_ < files_.size()) start(files_[next_++]);
      if (ended_ < files_.size()) {
        long timeout_ms = -1;
        curl_multi_timeout(multi_, &timeout_ms);
        if (timeout_ms < 0 || timeout_ms > 100) timeout_ms = 100;
        curl_multi_poll(multi_, nullptr, 0, static_cast<int>(timeout_ms), nullptr);
      }
    }
    if (durable_) sync_directories();
    return failed_;
  }

 private:
  void start(download& d) {
    d.fd = ::open(d.temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (d.fd < 0) {
      std::perror(d.temp.c_str());
      ++failed_;
      ++ended_;
      return;
    }
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, d.url.c_str());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &d);
    curl_easy_setopt(easy, CURLOPT_FAILONERROR, 1L);
    curl_multi_add_handle(multi_, easy);
    ++running_;
  }

  void collect_transfers() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode result = msg->data.result;
      download* d = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &d);
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      --running_;
      if (result != CURLE_OK || d->write_failed) {
        std::fprintf(stderr, "bench_bare_files: %s: %s\n", d->url.c_str(),
                     curl_easy_strerror(result));
        deliver(d, false);
      } else if (syncs_) {
        syncs_->submit([d] { return synced{d, ::fdatasync(d->fd) == 0}; });
      } else {
        deliver(d, true);
      }
    }
  }

  void deliver(download* d, bool ok) {
    ++ended_;
    if (ok && ::rename(d->temp.c_str(), d->path.c_str()) != 0) {
      std::perror(d->path.c_str());
      ok = false;
    }
    if (ok) {
      finished_.push_back(d);
      directories_.insert(bench::parent_of(d->path));
    } else {
      ++failed_;
    }
    ::close(d->fd);
    d->fd = -1;
  }

  void sync_directories() {
    for (const std::string& dir : directories_) {
      const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || ::fsync(fd) != 0) {
        std::perror(dir.c_str());
        ++failed_;
      }
      if (fd >= 0) ::close(fd);
    }
  }

  std::vector<download>& files_;
  bool durable_;
  store store_;
  CURLM* multi_;
  std::unique_ptr<sync_pool> syncs_;
  std::size_t next_ = 0;
  std::size_t ended_ = 0;
  std::size_t failed_ = 0;
  long running_ = 0;
  std::vector<download*> finished_;
  std::set<std::string> directories_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 4 ? argv[2] : "";
  if (mode != "durable" && mode != "nosync") {
    std::fprintf(stderr, "usage: bench_bare_files LIST durable|nosync STORE\n");
    return 2;
  }
  std::vector<download> files = read_list(argv[1]);
  if (files.empty()) {
    std::fprintf(stderr, "bench_bare_files: no files in %s\n", argv[1]);
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::size_t failed = 0;
  try {
    downloader run(files, mode == "durable", argv[3]);
    failed = run.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bare_files: %s\n", e.what());
    return 1;
  }
  curl_global_cleanup();
  std::printf("files=%zu \n", files.size() - failed);
  return failed == 0 ? 0 : 1;
}
