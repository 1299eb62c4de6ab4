// Crash safety under chaos (the reliability issue's chaos test): 200 jobs of mixed sizes, some of
// several files, some of one large file fetched over several connections (segments), while
// opendod is killed with SIGKILL at 20 moments a seeded PRNG picks (some of them while a Complete
// runs) and restarted each time. No job may be lost or doubled, every file
// must arrive bit for bit, and nginx may send less than 1.1 x the payload in all.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int kJobs = 200;
constexpr int kKills = 20;
// Eight jobs at once, each paced by nginx, so that every kill lands in the middle of transfers:
// at 4 MiB/s in all the payload (about 190 MiB) takes some 50 s, longer than the daemon runs
// between the 20 kills (1.4 s on average).
constexpr int kActiveJobs = 8;
constexpr std::uint64_t kRate = 512 << 10;
// Segmented files: 6 to 12 MiB, split into segments of at least 1 MiB over up to four
// connections each. Most of them are among the first jobs, so that they run while the kills come.
constexpr std::uint32_t kConnectionsPerFile = 4;
constexpr std::uint64_t kMinSegmentSize = 1 << 20;
constexpr int kSegmentedAmong = 120;  // one in eight of the first 120 jobs
// Connections to the host: room for the eight jobs and the extra connections of their segments.
constexpr int kConnectionsPerHost = 3 * kActiveJobs;
constexpr std::uint64_t kDefaultSeed = 20261204;
constexpr double kMaxFetchedRatio = 1.1;

std::uint64_t chaos_seed() {
  const char* text = std::getenv("OPENDO_CHAOS_SEED");
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : kDefaultSeed;
}

struct planned_file {
  std::string name;  // the same under nginx's docroot and in the output dir
  std::uint64_t size = 0;
  std::string sha256;
};

// What a job exercises. A segmented job has one file of several MiB that the daemon splits among
// up to kConnectionsPerFile connections (src/jobs/segments.*): nginx caps each connection, so
// every connection added pays and the file soon runs on several, each segment resumed on its own
// after a kill.
enum class job_kind { single_file, multi_file, segmented };

struct planned_job {
  job_kind kind = job_kind::single_file;
  std::vector<planned_file> files;
};

std::uint64_t pick(std::mt19937_64& rng, std::uint64_t low, std::uint64_t high) {
  return std::uniform_int_distribution<std::uint64_t>(low, high)(rng);
}

// One file of a single-file job: a third tiny (done in one burst), medium, or several MiB.
std::uint64_t single_file_size(std::mt19937_64& rng) {
  switch (pick(rng, 0, 9)) {
    case 0:
    case 1:
    case 2:
      return pick(rng, 1 << 10, 64 << 10);
    case 3:
    case 4:
    case 5:
    case 6:
      return pick(rng, 64 << 10, 1 << 20);
    default:
      return pick(rng, 1 << 20, 3 << 20);
  }
}

job_kind pick_kind(std::mt19937_64& rng, int index) {
  if (index < kSegmentedAmong && pick(rng, 0, 7) == 0) return job_kind::segmented;
  return pick(rng, 0, 3) == 0 ? job_kind::multi_file : job_kind::single_file;
}

std::uint64_t file_size(std::mt19937_64& rng, job_kind kind) {
  switch (kind) {
    case job_kind::segmented:
      return pick(rng, 6 << 20, 12 << 20);
    case job_kind::multi_file:
      return pick(rng, 4 << 10, 1 << 20);
    case job_kind::single_file:
      break;
  }
  return single_file_size(rng);
}

// A quarter of the other jobs have 2 to 5 files of up to 1 MiB.
std::vector<planned_job> plan_jobs(std::mt19937_64& rng) {
  std::vector<planned_job> jobs(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    planned_job& j = jobs[static_cast<std::size_t>(i)];
    j.kind = pick_kind(rng, i);
    const std::uint64_t files = j.kind == job_kind::multi_file ? pick(rng, 2, 5) : 1;
    for (std::uint64_t f = 0; f < files; ++f) {
      j.files.push_back({"j" + std::to_string(i) + "-f" + std::to_string(f) + ".bin",
                         file_size(rng, j.kind),
                         {}});
    }
  }
  return jobs;
}

struct planned_kill {
  std::chrono::milliseconds after_restart{0};  // how long the daemon runs before it dies
  bool during_complete = false;  // wait for a Complete call to start, then kill within ~2 ms
  std::chrono::microseconds complete_delay{0};
};

std::vector<planned_kill> plan_kills(std::mt19937_64& rng) {
  std::vector<planned_kill> kills(kKills);
  for (auto& k : kills) {
    k.after_restart = std::chrono::milliseconds(pick(rng, 300, 2500));
    k.during_complete = pick(rng, 0, 3) == 0;
    k.complete_delay = std::chrono::microseconds(pick(rng, 0, 2000));
  }
  return kills;
}

std::uint64_t payload_bytes(const std::vector<planned_job>& jobs) {
  std::uint64_t total = 0;
  for (const auto& j : jobs) {
    for (const auto& f : j.files) total += f.size;
  }
  return total;
}

std::size_t file_count(const std::vector<planned_job>& jobs) {
  std::size_t total = 0;
  for (const auto& j : jobs) total += j.files.size();
  return total;
}

bool no_service(const opendo::error& e) {
  return e.hresult() == value_of(hr::do_e_no_service);
}

// Each job's id and the destinations of its files.
using job_destinations = std::map<std::string, std::vector<fs::path>>;

// Completes jobs as they reach TRANSFERRED, as an application would, on its own client and across
// the daemon's restarts. A Complete the daemon died under is "interrupted": after the restart the
// job must be TRANSFERRED with none of its files moved (and is completed again) or finished with
// all of them in place (ACKNOWLEDGED, or already gone from the store), never half of it; the
// test's end checks every file's bytes.
class completer {
 public:
  completer(const daemon_process& daemon, job_destinations created)
      : daemon_(daemon), created_(std::move(created)) {}

  void run(const std::stop_token& stop) {
    client c = connect(daemon_);
    while (!stop.stop_requested() && finished() < created_.size()) {
      std::vector<job_info> listed;
      try {
        listed = c.list_jobs();
        resolve_interrupted(c, listed);
        for (const auto& info : listed) handle(c, info);
      } catch (const opendo::error& e) {
        if (!no_service(e)) note_failure(std::string("a call failed: ") + e.what());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Waits up to `timeout` for the next Complete call to begin; false when none did.
  bool wait_for_complete_start(std::chrono::milliseconds timeout) {
    std::unique_lock lock(start_mutex_);
    const std::uint64_t seen = starts_;
    return start_cv_.wait_for(lock, timeout, [&] { return starts_ != seen; });
  }

  // The job ids as the daemon must hold them: what `list` returns (ListJobs, or the store's rows)
  // must hold each job that is neither finished nor in an interrupted Complete, and no other,
  // once. Listed under the lock, so that no Complete ends in between.
  template <typename List>
  void expect_holds_exactly_the_unfinished(List&& list, const std::string& where) {
    std::lock_guard lock(mutex_);
    const std::vector<std::string> listed = list();
    const std::set<std::string> unique(listed.begin(), listed.end());
    EXPECT_EQ(unique.size(), listed.size()) << where << ": a job is listed twice";
    for (const auto& id : unique) {
      EXPECT_TRUE(created_.count(id)) << where << ": unknown job " << id;
      EXPECT_FALSE(done_.count(id)) << where << ": finished job " << id << " came back";
    }
    for (const auto& [id, destinations] : created_) {
      if (done_.count(id) || interrupted_.count(id)) continue;
      EXPECT_TRUE(unique.count(id)) << where << ": job " << id << " was lost";
    }
  }

  std::size_t finished() const {
    std::lock_guard lock(mutex_);
    return done_.size();
  }
  std::vector<std::string> failures() const {
    std::lock_guard lock(mutex_);
    return failures_;
  }
  int interrupted_completes() const { return interrupted_count_; }
  int finished_by_restart() const { return finished_by_restart_; }
  int finished_before_kill() const { return finished_before_kill_; }

 private:
  void handle(client& c, const job_info& info) {
    if (info.state == job_state::transferred) {
      complete(c, info.id);
    } else if (info.state == job_state::error) {
      note_failure("job " + info.id + " is in ERROR: " +
                   (info.error ? info.error->message : std::string("(no error)")));
    }
  }

  void complete(client& c, const std::string& id) {
    job j = c.open_job(id);
    std::lock_guard lock(mutex_);
    {
      std::lock_guard start_lock(start_mutex_);
      ++starts_;
    }
    start_cv_.notify_all();
    try {
      const hr result = j.complete();
      if (result == hr::ok) {
        done_.insert(id);
      } else {
        failures_.push_back("Complete of " + id + " returned a partial result");
      }
    } catch (const opendo::error& e) {
      if (!no_service(e)) throw;
      interrupted_.insert(id);  // the daemon died under the call
      ++interrupted_count_;
    }
  }

  // After a restart: an interrupted Complete either did not happen (the job is listed,
  // TRANSFERRED, and handle() completes it again) or was finished, before the kill or by the
  // restarted daemon before it served anyone.
  void resolve_interrupted(client& c, const std::vector<job_info>& listed) {
    std::lock_guard lock(mutex_);
    for (auto it = interrupted_.begin(); it != interrupted_.end();) {
      const auto same = [&](const job_info& info) { return info.id == *it; };
      const auto found = std::find_if(listed.begin(), listed.end(), same);
      if (found != listed.end()) {
        EXPECT_EQ(found->state, job_state::transferred) << "after an interrupted Complete";
        expect_destinations(*it, false);
        it = interrupted_.erase(it);
      } else if (finished_elsewhere(c, *it)) {
        expect_destinations(*it, true);
        done_.insert(*it);
        it = interrupted_.erase(it);
      } else {
        ++it;
      }
    }
  }

  bool finished_elsewhere(client& c, const std::string& id) {
    try {
      const job_info info = c.open_job(id).info();
      EXPECT_EQ(info.state, job_state::acknowledged) << "after an interrupted Complete";
      ++finished_by_restart_;
      return true;
    } catch (const opendo::error& e) {
      if (no_service(e)) return false;
      // Gone from the store: the Complete ended before the kill. Its files are checked at the end.
      EXPECT_EQ(e.hresult(), value_of(hr::bg_e_not_found)) << e.what();
      ++finished_before_kill_;
      return true;
    }
  }

  // The test's destinations are new paths: each exists only once Complete moved its file there.
  void expect_destinations(const std::string& id, bool in_place) const {
    for (const auto& path : created_.at(id)) {
      EXPECT_EQ(fs::exists(path), in_place)
          << path << " after an interrupted Complete of job " << id << " that "
          << (in_place ? "finished" : "did not happen");
    }
  }

  void note_failure(const std::string& what) {
    std::lock_guard lock(mutex_);
    if (failures_.size() < 20) failures_.push_back(what);
  }

  const daemon_process& daemon_;
  const job_destinations created_;
  mutable std::mutex mutex_;  // held over each Complete and its bookkeeping
  std::set<std::string> done_;
  std::set<std::string> interrupted_;
  std::vector<std::string> failures_;
  int interrupted_count_ = 0;
  int finished_by_restart_ = 0;
  int finished_before_kill_ = 0;
  std::mutex start_mutex_;
  std::condition_variable start_cv_;
  std::uint64_t starts_ = 0;
};

std::vector<std::string> create_jobs(const daemon_process& daemon, const nginx_server& origin,
                                     const fs::path& out, const std::vector<planned_job>& plan) {
  client c = connect(daemon);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    job j = c.create_job("chaos " + std::to_string(i));
    // A transient failure (none is expected) is retried within the test's time.
    j.set_minimum_retry_delay(std::chrono::seconds(1));
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& f : plan[i].files)
      files.emplace_back(origin.url(f.name), (out / f.name).string());
    if (plan[i].kind != job_kind::multi_file) {
      j.add_file(files[0].first, files[0].second);
    } else {
      j.add_files(files);
    }
    j.resume();
    ids.push_back(j.id());
  }
  return ids;
}

job_destinations destinations(const std::vector<std::string>& ids,
                              const std::vector<planned_job>& plan, const fs::path& out) {
  job_destinations all;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (const auto& f : plan[i].files) all[ids[i]].push_back(out / f.name);
  }
  return all;
}

std::vector<std::string> listed_ids(const daemon_process& daemon) {
  client c = connect(daemon);
  std::vector<std::string> ids;
  for (const auto& info : c.list_jobs()) ids.push_back(info.id);
  return ids;
}

// The job ids in the store, read from the SQLite file while the daemon is dead.
std::vector<std::string> stored_ids(const fs::path& state_dir) {
  sqlite3* db = nullptr;
  const std::string path = (state_dir / "jobs.sqlite").string();
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT id FROM jobs", -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::vector<std::string> ids;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    ids.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return ids;
}

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// Requests nginx is still answering, from its stub_status page (less the status request): a
// killed daemon's requests are logged only when nginx notices, at its next paced write.
int requests_in_progress(const nginx_server& origin) {
  std::string body;
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, origin.url("nginx-status").c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &append_to_string);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
  const CURLcode code = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  const auto at = body.find("Writing: ");
  if (code != CURLE_OK || at == std::string::npos) return -1;
  return std::atoi(body.c_str() + at + 9) - 1;
}

void wait_until_nginx_is_idle(const nginx_server& origin) {
  const auto deadline = clock_type::now() + std::chrono::seconds(30);
  while (requests_in_progress(origin) != 0 && clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(requests_in_progress(origin), 0) << "nginx is still sending";
}

// Body bytes nginx sent for the payload's files; the paths that were sent more than once are
// described in `refetched` (the biggest first), to show where a bound was missed.
std::uint64_t bytes_fetched(const nginx_server& origin, const std::vector<planned_job>& plan,
                            std::string& refetched) {
  std::map<std::string, std::uint64_t> size_of;
  for (const auto& j : plan) {
    for (const auto& f : j.files) size_of["/" + f.name] = f.size;
  }
  std::map<std::string, std::uint64_t> sent;
  std::map<std::string, std::string> ranges;
  for (const auto& e : origin.access_log()) {
    if (!size_of.count(e.path)) continue;
    sent[e.path] += e.body_bytes_sent;
    ranges[e.path] +=
        " [" + (e.range.empty() ? "all" : e.range) + ": " + std::to_string(e.body_bytes_sent) + "]";
  }
  std::uint64_t total = 0;
  std::vector<std::pair<std::uint64_t, std::string>> extra;
  for (const auto& [path, bytes] : sent) {
    total += bytes;
    if (bytes > size_of[path]) extra.emplace_back(bytes - size_of[path], path);
  }
  std::sort(extra.rbegin(), extra.rend());
  for (std::size_t i = 0; i < std::min<std::size_t>(extra.size(), 15); ++i) {
    const auto& path = extra[i].second;
    refetched += path + " (" + std::to_string(size_of[path]) + " bytes) +" +
                 std::to_string(extra[i].first) + ":" + ranges[path] + "\n";
  }
  return total;
}

void expect_every_file_in_place(const fs::path& out, const std::vector<planned_job>& plan) {
  for (const auto& j : plan) {
    for (const auto& f : j.files) EXPECT_EQ(sha256_file(out / f.name), f.sha256) << f.name;
  }
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_NE(entry.path().extension(), ".part") << entry.path() << " was left behind";
  }
}

daemon_options chaos_daemon() {
  daemon_options options;
  options.max_connections_per_file = kConnectionsPerFile;
  options.extra_args = {"--max-active-jobs",          std::to_string(kActiveJobs),
                        "--max-connections-per-host", std::to_string(kConnectionsPerHost),
                        "--min-segment-size",         std::to_string(kMinSegmentSize),
                        "--max-jobs-per-user",        std::to_string(kJobs + 50),
                        "--retry-delay-floor",        "1"};
  return options;
}

nginx_options chaos_origin() {
  nginx_options options;
  options.limit_rate = kRate;
  // Smoothly, as a slow link delivers: nginx alone would send each second's worth at once at the
  // start of the second, in step on every connection.
  options.extra_config.push_back("sendfile_max_chunk 32k;");
  options.extra_config.push_back("location = /nginx-status { stub_status; access_log off; }");
  return options;
}

// The nginx files of the plan, each of its own seeded bytes; fills in their SHA-256.
void make_payload(nginx_server& origin, std::vector<planned_job>& plan, std::uint64_t seed) {
  for (auto& j : plan) {
    for (auto& f : j.files) f.sha256 = origin.make_random_file(f.name, f.size, ++seed);
  }
}

// The kills, each followed by a restart, on the test's thread (it owns the daemon process). After
// each, the store (read while the daemon is dead) and ListJobs must hold exactly the unfinished
// jobs. Returns how many kills were timed to a Complete call.
struct kill_figures {
  int aimed_at_complete = 0;
  // Kills while nginx sent on more connections than jobs run: segments were in flight.
  int amid_segments = 0;
};

kill_figures kill_and_restart(daemon_process& daemon, const nginx_server& origin,
                              completer& finisher, const std::vector<planned_kill>& kills,
                              std::size_t jobs) {
  kill_figures result;
  for (std::size_t k = 0; k < kills.size(); ++k) {
    const std::string after = " after kill " + std::to_string(k + 1);
    std::this_thread::sleep_for(kills[k].after_restart);
    if (kills[k].during_complete && finisher.wait_for_complete_start(std::chrono::seconds(3))) {
      std::this_thread::sleep_for(kills[k].complete_delay);
      ++result.aimed_at_complete;
    }
    if (requests_in_progress(origin) > kActiveJobs) ++result.amid_segments;
    daemon.kill9();
    EXPECT_LT(finisher.finished(), jobs) << "no job was left to interrupt" << after;
    // A Complete the kill interrupted holds the completer's lock until its call has failed.
    finisher.expect_holds_exactly_the_unfinished([&] { return stored_ids(daemon.state_dir()); },
                                                 "the store" + after);
    daemon.restart();
    finisher.expect_holds_exactly_the_unfinished([&] { return listed_ids(daemon); },
                                                 "ListJobs" + after);
  }
  return result;
}

void wait_for_every_job(const completer& finisher, std::size_t jobs) {
  const auto deadline = clock_type::now() + std::chrono::minutes(5);
  while (finisher.finished() < jobs && finisher.failures().empty() &&
         clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

struct figures {
  kill_figures kills;
  std::size_t files = 0;
  std::size_t segmented_files = 0;
  std::uint64_t payload = 0;
  std::uint64_t fetched = 0;
  double seconds = 0;
  std::uint64_t seed = 0;
  double ratio() const { return static_cast<double>(fetched) / static_cast<double>(payload); }
};

// One line, for CI logs and the closing note.
void print_figures(const figures& f, const completer& finisher) {
  std::printf(
      "chaos: %d kills (%d amid segments, %d timed to a Complete; %d Completes interrupted, "
      "finished %d by the restart and %d before the kill), %d jobs, %zu files (%zu segmented), "
      "payload %llu bytes, fetched %llu bytes, ratio %.3f, %.1f s, seed %llu\n",
      kKills, f.kills.amid_segments, f.kills.aimed_at_complete, finisher.interrupted_completes(),
      finisher.finished_by_restart(), finisher.finished_before_kill(), kJobs, f.files,
      f.segmented_files, static_cast<unsigned long long>(f.payload),
      static_cast<unsigned long long>(f.fetched), f.ratio(), f.seconds,
      static_cast<unsigned long long>(f.seed));
}

}  // namespace

TEST(Chaos, TwoHundredJobsSurviveTwentyKillNinesWithoutLossOrRefetch) {
  figures result;
  result.seed = chaos_seed();
  std::printf("chaos: seed %llu (OPENDO_CHAOS_SEED replays a run)\n",
              static_cast<unsigned long long>(result.seed));
  std::mt19937_64 rng(result.seed);
  std::vector<planned_job> plan = plan_jobs(rng);
  const std::vector<planned_kill> kills = plan_kills(rng);
  nginx_server origin(chaos_origin());
  make_payload(origin, plan, result.seed);
  temp_dir out("opendo-chaos-out");
  daemon_process daemon(chaos_daemon());

  const auto started = clock_type::now();
  const std::vector<std::string> ids = create_jobs(daemon, origin, out.path(), plan);
  completer finisher(daemon, destinations(ids, plan, out.path()));
  std::jthread completing([&](const std::stop_token& stop) { finisher.run(stop); });
  result.kills = kill_and_restart(daemon, origin, finisher, kills, ids.size());
  wait_for_every_job(finisher, ids.size());
  completing.request_stop();
  completing.join();
  result.seconds = std::chrono::duration<double>(clock_type::now() - started).count();

  for (const auto& failure : finisher.failures()) ADD_FAILURE() << failure;
  ASSERT_EQ(finisher.finished(), ids.size()) << "jobs left unfinished\n" << daemon.log();
  EXPECT_TRUE(listed_ids(daemon).empty());
  expect_every_file_in_place(out.path(), plan);

  wait_until_nginx_is_idle(origin);
  std::string refetched;
  result.files = file_count(plan);
  result.segmented_files =
      static_cast<std::size_t>(std::count_if(plan.begin(), plan.end(), [](const planned_job& j) {
        return j.kind == job_kind::segmented;
      }));
  result.payload = payload_bytes(plan);
  result.fetched = bytes_fetched(origin, plan, refetched);
  print_figures(result, finisher);
  RecordProperty("fetched_ratio", std::to_string(result.ratio()));
  EXPECT_GE(result.fetched, result.payload);
  EXPECT_LT(result.ratio(), kMaxFetchedRatio) << "fetched more than once:\n" << refetched;
  // The kills must find segmented files running on several connections, or they test nothing.
  EXPECT_GE(result.kills.amid_segments, kKills / 4);
}
