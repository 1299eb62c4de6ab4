#include "daemon/manager.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <tuple>
#include <vector>

#include "common/libcrypto.hpp"
#include "common/numbers.hpp"
#include "daemon/peer_module.hpp"
#include "daemon/self_usage.hpp"
#include "jobs/cost_policy.hpp"
#include "jobs/digest.hpp"
#include "jobs/headers.hpp"
#include "jobs/lifecycle.hpp"
#include "jobs/peer_policy.hpp"
#include "jobs/ranges.hpp"
#include "jobs/scheduler.hpp"
#include "opendo/hresult.hpp"
#include "transfer/peer/metainfo.hpp"

namespace opendo::daemon {
namespace {

constexpr std::size_t kRetiredKept = 1024;
constexpr int kMaxRangelessRestarts = 3;
// A transfer that received this much since its last checkpoint gets the next one before the
// interval: at a fast rate the kernel's dirty pages would otherwise pile up for the whole interval,
// and the file's last sync, which TRANSFERRED waits for, would write them all at once.
constexpr std::uint64_t kEarlyCheckpointBytes = std::uint64_t{16} << 20;
// The write buffers of one file's transfers share this much, each at least kMinTransferBuffer
// (jobs::transfer_write_buffer): 16 connections of 4 MiB, each with its second buffer while one
// is on its way to the disk, held 128 MiB for one file.
constexpr std::size_t kFileWriteBudget = std::size_t{8} << 20;
constexpr std::size_t kMinTransferBuffer = std::size_t{512} << 10;

std::int64_t wall_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}
jobs::mono_time mono_now() {
  return jobs::mono_clock::now();
}

std::string new_guid() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char text[40];
  std::snprintf(text, sizeof text,
                "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return text;
}

// ".opendo-<32 hex of the job id>-<index>.part": unique per job and file, hidden, and short
// enough for any file system's name limit.
std::string temp_name_for(const std::string& job_id, std::size_t index) {
  std::string hex;
  for (char c : job_id) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
  }
  return ".opendo-" + hex + "-" + std::to_string(index) + ".part";
}

// http(s) URLs with a host, checked by libcurl's parser.
// The digest of everything in `fd` in lower-case hex, with OpenSSL's EVP; empty on a read error.
std::string digest_of(int fd, const std::string& algorithm) {
  const EVP_MD* md = libcrypto().EVP_get_digestbyname(algorithm.c_str());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(libcrypto().EVP_MD_CTX_new(),
                                                              libcrypto().EVP_MD_CTX_free);
  if (md == nullptr || !ctx || libcrypto().EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1)
    return {};
  std::vector<unsigned char> buffer(std::size_t{1} << 20);
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {};
    if (n == 0) break;
    libcrypto().EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(n));
    offset += n;
  }
  unsigned char value[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (libcrypto().EVP_DigestFinal_ex(ctx.get(), value, &length) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[value[i] >> 4]);
    hex.push_back(kHex[value[i] & 0xF]);
  }
  return hex;
}

// The kernel's id of this boot; empty when it cannot be read. The test-only environment
// variable OPENDO_TEST_BOOT_ID_FILE names a file read instead, so that a power-loss test can
// "reboot" between two runs of the daemon by changing it; outside tests it is not set.
std::string current_boot_id() {
  const char* simulated = std::getenv("OPENDO_TEST_BOOT_ID_FILE");
  std::ifstream in(simulated != nullptr ? simulated : "/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

void check_url(const std::string& url) {
  const transfer::http::url_parts parsed = parse_url(url);
  if (parsed.ok && parsed.scheme != "http" && parsed.scheme != "https") {
    throw request_error{value_of(hr::winhttp_unrecognized_scheme),
                        "unsupported URL scheme \"" + parsed.scheme + "\" in " + url +
                            " (only http and https are supported)"};
  }
  if (!parsed.ok || parsed.host.empty()) {
    throw request_error{
        value_of(hr::winhttp_invalid_url),
        "not a valid URL: \"" + url + "\" (" + (!parsed.ok ? parsed.error : "no host") + ")"};
  }
}

// Drops the job's credential for (target, scheme), if it has one.
void remove_credential(jobs::job& j, std::uint32_t target, std::uint32_t scheme) {
  std::erase_if(j.credentials, [&](const jobs::credential_record& c) {
    return static_cast<std::uint32_t>(c.target) == target &&
           static_cast<std::uint32_t>(c.scheme) == scheme;
  });
}

// The file system that holds the open file `fd`: its type and mount point from the kernel's
// mount table (the entry with the file's device; the last one, as a later mount hides an
// earlier one). Empty strings when it cannot be told.
std::pair<std::string, std::string> file_system_of(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return {};
  const std::string device =
      std::to_string(major(info.st_dev)) + ":" + std::to_string(minor(info.st_dev));
  std::ifstream mounts("/proc/self/mountinfo");
  std::pair<std::string, std::string> found;
  // "36 35 98:0 /root /mnt/point options... - fstype source super-options"
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    if (dev != device) continue;
    const auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::istringstream tail(line.substr(separator + 3));
    std::string type;
    tail >> type;
    found = {type, mount_point};
  }
  return found;
}

// A disk-full error in words that tell the owner what to do: which file system is full, how
// much is left, that the bytes so far are kept and that the job goes on by itself.
std::string describe_full_disk(int fd, const std::string& local_name, std::uint64_t kept,
                               const std::string& cause) {
  const auto [type, mount_point] = file_system_of(fd);
  std::string text = "the disk is full: no space left on the ";
  text += type.empty() ? "file system" : type + " file system";
  if (!mount_point.empty()) text += " mounted on " + mount_point;
  text += " that holds " + local_name;
  struct statvfs space {};
  if (::fstatvfs(fd, &space) == 0) {
    text += " (" + std::to_string(std::uint64_t{space.f_bavail} * space.f_frsize) + " bytes free)";
  }
  text += "; the " + std::to_string(kept) +
          " bytes fetched so far are kept and the job tries again after its retry delay, once "
          "space is freed (" +
          cause + ")";
  return text;
}

// OPENDO_TEST_EXIT_AFTER_RENAMES=N, for tests only: the daemon _exits right after the Nth file
// it renames into place in a Complete, before recording it, as a SIGKILL at that moment would.
// Unset (always, outside tests) or not a whole number, it does nothing.
int test_exit_after_renames() {
  const char* value = std::getenv("OPENDO_TEST_EXIT_AFTER_RENAMES");
  if (value == nullptr) return 0;
  return numbers::parse_whole<int>(value).value_or(0);
}

}  // namespace

http_response to_http_response(const transfer::http::response_record& r) {
  return http_response{static_cast<std::uint32_t>(r.status), r.headers, r.server_ip,
                       r.redirection_target};
}

manager::manager(const config& cfg, store::job_store& store, file_ops& files)
    : config_(cfg),
      store_(store),
      files_(files),
      engine_(*this, cfg.http),
      connection_memory_(cfg.segments.remember_for),
      notifier_([this](const std::string& id) -> const jobs::job* {
        auto it = jobs_.find(id);
        return it == jobs_.end() ? nullptr : &it->second;
      }),
      test_exit_after_renames_(test_exit_after_renames()) {}

manager::~manager() = default;

void manager::load() {
  const auto now = mono_now();
  load_boot();
  totals_ = store_.load_totals();
  for (auto& j : store_.load_all()) {
    if (is_final(j.state)) {
      try {
        store_.remove_job(j.id);
      } catch (const std::exception& e) {
        spdlog::error("could not remove final job {} from the store: {}", j.id, e.what());
      }
      continue;
    }
    if (j.state == job_state::connecting || j.state == job_state::transferring) {
      j.state = job_state::queued;  // it was running when the daemon stopped
    }
    j.retry_delay_floor = config_.retry_delay_floor;
    for (std::uint32_t i = 0; i < j.files.size(); ++i) {
      j.files[i].adopt_written_bytes = !j.files[i].completed && tails_cut_.count({j.id, i}) != 0;
    }
    if (j.state == job_state::transient_error) {
      j.retry_at = now + jobs::effective_retry_delay(j);
    }
    j.progress_at = now;
    spdlog::info("loaded job {} ({}) in state {}", j.id, j.display_name, to_string(j.state));
    jobs_.emplace(j.id, std::move(j));
  }
  finish_interrupted_completes();
  restore_content_cache();
  dirty_schedule_ = true;
}

// Written bytes past a file's record may be adopted only when they were written in this boot:
// the page cache kept them through a kill of the daemon, while a power loss may have left zeros
// or stale blocks there (docs/durability.md). So a file adopts only when, in this boot, its
// temporary file was cut back to its record before it was written again: its tail-cut mark holds
// this boot's id. Such marks come only from starts of the file (note_tail_cut), so a file that
// no start reached since a power loss (suspended, in error, waiting for a slot, or a daemon
// killed before it got there) is never adopted, whatever restarts follow in the same boot. No
// file is opened here: the first start after a reboot costs one small transaction, with any
// number of jobs, and a file whose owner cannot be reached just keeps no mark.
void manager::load_boot() {
  boot_id_ = current_boot_id();
  if (boot_id_.empty()) return;  // no boot to tell: nothing is ever adopted
  try {
    if (store_.meta("boot_id") == boot_id_) {
      tails_cut_ = store_.tails_cut_in(boot_id_);
    } else {
      // Marks count only while the store's boot id is this boot's: a store that has not seen
      // this boot may hold marks that a power loss made false.
      store::job_store::batch b(store_);
      store_.forget_tail_cuts();
      store_.set_meta("boot_id", boot_id_);
      b.commit();
    }
  } catch (const std::exception& e) {
    // E.g. a full disk. Without marks only recorded bytes count: safe, and the daemon still
    // serves the jobs it has.
    tails_cut_.clear();
    spdlog::error("could not read or record the boot id and the tail-cut marks: {}", e.what());
  }
}

// The file's temporary file was just cut back to its record (or less) in this boot: from now on
// what it holds past its record was written in this boot. Recorded after the cut, so that a kill
// in between leaves a file unmarked (never adopted) rather than marked and uncut; and at the end
// of the loop's turn (record_tail_cuts), with every other file started in it, rather than in a
// transaction of its own each time a file starts: a kill before then leaves the file unmarked
// too.
void manager::note_tail_cut(const jobs::job& j, std::uint32_t index) {
  if (boot_id_.empty() || !tails_cut_.emplace(j.id, index).second) return;
  unrecorded_tail_cuts_.emplace_back(j.id, index);
}

void manager::record_tail_cuts() {
  if (unrecorded_tail_cuts_.empty()) return;
  auto marks = std::exchange(unrecorded_tail_cuts_, {});
  // A job retired meanwhile took its marks out of tails_cut_: none is written for it.
  std::erase_if(marks, [&](const auto& mark) { return tails_cut_.count(mark) == 0; });
  try {
    store::job_store::batch b(store_);
    for (const auto& [job_id, index] : marks) store_.mark_tail_cut(job_id, index, boot_id_);
    b.commit();
  } catch (const std::exception& e) {
    for (const auto& mark : marks) tails_cut_.erase(mark);  // the next start of each tries again
    spdlog::error("could not record that {} files were cut back to their records: {}", marks.size(),
                  e.what());
  }
}

// ---- lookups -----------------------------------------------------------------------------------

jobs::job* manager::find_job(const std::string& id) {
  if (auto it = jobs_.find(id); it != jobs_.end()) return &it->second;
  if (auto old = retired_.find(id); old != retired_.end()) return &old->second;
  return nullptr;
}

jobs::job& manager::visible_job(const caller& who, const std::string& id) {
  jobs::job* j = find_job(id);
  // Another user's job does not exist for the caller (BITS answers BG_E_NOT_FOUND too).
  if (j == nullptr || (j->owner_uid != who.uid && !who.admin)) {
    throw request_error{value_of(hr::bg_e_not_found), "no job " + id};
  }
  return *j;
}

jobs::job& manager::mutable_job(const caller& who, const std::string& id) {
  jobs::job& j = visible_job(who, id);
  if (is_final(j.state)) {
    throw request_error{
        value_of(hr::bg_e_invalid_state),
        "job " + id + " is " + std::string(to_string(j.state)) + " and accepts no more changes"};
  }
  return j;
}

namespace {

// The registration rule of the reference: the job's owner, its creator or an administrator.
bool may_register(const caller& who, const jobs::job& j) {
  return who.admin || j.owner_uid == who.uid || j.creator_uid == who.uid;
}

}  // namespace

jobs::job& manager::registration_job(const caller& who, const std::string& id,
                                     const char* refused) {
  jobs::job* j = find_job(id);
  const bool retired = j != nullptr && jobs_.count(id) == 0;
  if (j == nullptr || (retired && !may_register(who, *j))) {
    throw request_error{value_of(hr::bg_e_not_found), "no job " + id};
  }
  if (!may_register(who, *j)) throw request_error{value_of(hr::e_accessdenied), refused};
  if (is_final(j->state)) {
    throw request_error{
        value_of(hr::bg_e_invalid_state),
        "job " + id + " is " + std::string(to_string(j->state)) + " and accepts no more changes"};
  }
  return *j;
}

job_info creators_view(const job_info& job) {
  job_info out;
  out.id = job.id;
  out.owner_uid = job.owner_uid;
  out.creator_uid = job.creator_uid;
  out.priority = job.priority;
  out.state = job.state;
  out.bytes_total = job.bytes_total;
  out.bytes_transferred = job.bytes_transferred;
  out.files_total = job.files_total;
  out.files_transferred = job.files_transferred;
  out.notify_flags = job.notify_flags;
  out.error_count = job.error_count;
  if (job.error) {
    // The code and where it happened; the message may name the new owner's URLs and files.
    out.error = job_error{job.error->code, job.error->context, job.error->file_index, {}, {}};
  }
  out.times = job.times;
  return out;
}

void manager::check(std::uint32_t code, const std::string& what) {
  if (failed(code)) throw request_error{code, what + ": " + describe(code)};
}

std::uint32_t manager::count_jobs(std::optional<uid_t> owner) const {
  std::uint32_t count = 0;
  for (const auto& [id, j] : jobs_) {
    if (!owner || j.owner_uid == *owner) ++count;
  }
  return count;
}

job_info manager::view(const jobs::job& j) const {
  job_info info = jobs::to_info(j);
  // Show the bytes received and the time spent so far, not only those already recorded.
  if (auto it = active_by_job_.find(j.id); it != active_by_job_.end()) {
    for (const auto tid : it->second) {
      const auto& t = active_.at(tid);
      auto& file = info.files.at(t.file_index);
      if (tid == it->second.front()) {  // the file's clock runs on one of its transfers
        file.sources.download_duration_ms += static_cast<std::uint64_t>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(mono_now() - t.clock_at)
                   .count()));
      }
      const std::uint64_t live = unrecorded(tid, t);
      info.bytes_transferred += live;
      file.progress.bytes_transferred += live;
      jobs::add_received(file.sources, t.source, live);  // likewise for their source
    }
  }
  if (const auto shared = shared_.find(j.id); shared != shared_.end()) {
    auto& file = info.files.at(shared->second.index);
    const std::uint64_t live = shared->second.verified;
    file.sources.download_duration_ms += static_cast<std::uint64_t>(std::max<std::int64_t>(
        0,
        std::chrono::duration_cast<std::chrono::milliseconds>(mono_now() - shared->second.clock_at)
            .count()));
    if (live > file.progress.bytes_transferred) {
      info.bytes_transferred += live - file.progress.bytes_transferred;
      file.progress.bytes_transferred = live;
    }
  }
  return info;
}

void manager::save_with_totals(const jobs::job& j, const std::function<void()>& save,
                               std::string_view what) {
  try {
    store::job_store::batch b(store_);
    save();
    if (totals_dirty_) store_.save_totals(totals_);
    b.commit();
    totals_dirty_ = false;
  } catch (const std::exception& e) {
    spdlog::error("could not {} job {}: {}", what, j.id, e.what());
  }
}

void manager::persist(const jobs::job& j) {
  save_with_totals(j, [&] { store_.save_job(j); });
}

void manager::persist_file(const jobs::job& j, std::uint32_t index) {
  save_with_totals(j, [&] { store_.save_job_file(j, index); });
}

void manager::persist_state(const jobs::job& j) {
  save_with_totals(j, [&] { store_.save_job_state(j); });
}

// The job and a file's validation flags in one transaction (save_job leaves those flags alone).
void manager::save_with_validation(const jobs::job& j, std::uint32_t index) {
  store::job_store::batch b(store_);
  persist(j);
  store_.save_validation(j.id, index, j.files[index]);
  b.commit();
}

void manager::record_or_refuse(const jobs::job& j, const std::function<void()>& save) {
  try {
    save();
  } catch (const opendo::error& e) {
    spdlog::error("could not record job {}: {}", j.id, e.what());
    throw request_error{e.hresult(), std::string("the job could not be recorded, so nothing was "
                                                 "changed: ") +
                                         e.what()};
  }
}

void manager::notify(const jobs::job& j, job_event_kind kind) {
  if (kind == job_event_kind::state) {
    try {
      store_.commit_so_far();
    } catch (const std::exception& e) {
      spdlog::error("could not record the transfers' progress so far: {}", e.what());
    }
  }
  const auto now = mono_now();
  if (!is_final(j.state)) notifier_.on_change(j, now);
  // The watchers' progress is rate-limited here, before the job's view is built: a job of many
  // small files makes a progress event per file, and its view copies every file's record.
  std::vector<std::uint64_t> tokens;
  for (auto& [token, entry] : watchers_) {
    if (entry.job_id != j.id) continue;
    if (kind == job_event_kind::progress) {
      if (now - entry.last_progress < entry.progress_interval) continue;
      entry.last_progress = now;
    }
    tokens.push_back(token);
  }
  if (tokens.empty()) return;
  const job_info info = view(j);
  std::optional<job_info> narrowed;
  for (auto token : tokens) {
    auto it = watchers_.find(token);
    if (it == watchers_.end()) continue;
    const caller& who = it->second.who;
    if (who.admin || who.uid == j.owner_uid) {
      it->second.on_event(kind, info);
    } else {
      // The owner who started the watch lost the job to an administrator's TakeOwnership: from
      // then on it is told what its creator's notifications say, and no more.
      if (!narrowed) narrowed = creators_view(info);
      it->second.on_event(kind, *narrowed);
    }
  }
}

void manager::retire(jobs::job& j) {
  // With the machine's totals, which its last transfers may have counted (cancel() saves
  // nothing before).
  save_with_totals(
      j, [&] { store_.remove_job(j.id); }, "remove");
  notify(j, job_event_kind::state);
  notifier_.on_final(j.id);
  const std::string id = j.id;
  forget_cache_host_attempts(id);
  tails_cut_.erase(tails_cut_.lower_bound({id, 0}),
                   tails_cut_.upper_bound({id, std::numeric_limits<std::uint32_t>::max()}));
  // Its temporary files are gone (Cancel) or renamed and synced (Complete): never recorded.
  unsynced_names_.erase(
      unsynced_names_.lower_bound({id, 0}),
      unsynced_names_.upper_bound({id, std::numeric_limits<std::uint32_t>::max()}));
  for (auto dir = unsynced_dirs_.begin(); dir != unsynced_dirs_.end();) {
    std::erase_if(dir->second, [&](const auto& name) { return name.first == id; });
    dir = dir->second.empty() ? unsynced_dirs_.erase(dir) : std::next(dir);
  }
  retired_.insert_or_assign(id, std::move(j));
  jobs_.erase(id);
  retired_order_.push_back(id);
  while (retired_order_.size() > kRetiredKept) {
    retired_.erase(retired_order_.front());
    retired_order_.pop_front();
  }
  // Watchers of a final job are done.
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    it = it->second.job_id == id ? watchers_.erase(it) : std::next(it);
  }
  dirty_schedule_ = true;
}

// ---- requests
// ------------------------------------------------------------------------------------

std::string manager::create_job(const caller& who, const std::string& display_name) {
  check(jobs::check_create(count_jobs(std::nullopt), count_jobs(who.uid), display_name,
                           config_.limits),
        "cannot create a job");
  std::string id;
  do {
    id = new_guid();
  } while (jobs_.count(id) != 0 || retired_.count(id) != 0);
  jobs::job j = jobs::make_job(id, who.uid, display_name, wall_now());
  j.retry_delay_floor = config_.retry_delay_floor;
  record_or_refuse(j, [&] { store_.save_job_state(j); });  // a new job is its row alone
  spdlog::info("uid {} created job {} ({})", who.uid, id, display_name);
  jobs_.emplace(id, std::move(j));
  return id;
}

job_info manager::get_job(const caller& who, const std::string& id) {
  return view(visible_job(who, id));
}

machine_statistics manager::statistics() const {
  machine_statistics s;
  s.files_downloaded = totals_.files_downloaded;
  s.files_uploaded = totals_.files_uploaded;
  s.totals = totals_.sources;
  s.download_rate = download_rate_.per_second();
  s.upload_rate = upload_rate_.per_second();
  add_swarm_figures(s);
  for (const auto& [id, j] : jobs_) {
    if (running(id)) {
      ++(j.priority == job_priority::foreground ? s.foreground_downloads : s.background_downloads);
    } else if (j.state == job_state::queued || j.state == job_state::transient_error) {
      ++s.queued_jobs;
    }
  }
  const self_usage usage = read_self_usage();
  s.daemon_cpu_time_ms = usage.cpu_time_ms;
  s.daemon_rss_bytes = usage.rss_bytes;
  s.daemon_uptime_s = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(mono_now() - started_at_).count());
  return s;
}

std::vector<job_info> manager::list_jobs(const caller& who, bool all_users) {
  if (all_users && !who.admin) {
    throw request_error{value_of(hr::e_accessdenied),
                        "only administrators may list the jobs of all users"};
  }
  std::vector<const jobs::job*> visible;
  for (const auto& [id, j] : jobs_) {
    if (all_users || j.owner_uid == who.uid) visible.push_back(&j);
  }
  std::sort(visible.begin(), visible.end(), [](const jobs::job* a, const jobs::job* b) {
    return std::tie(a->times.creation, a->id) < std::tie(b->times.creation, b->id);
  });
  std::vector<job_info> out;
  out.reserve(visible.size());
  for (const auto* j : visible) out.push_back(view(*j));
  return out;
}

namespace {

// A file's trusted content metadata (metainfo or magnet, docs/architecture.md): checked here,
// once, so that everything stored is something the peer engine can trust.
void set_content_metadata(jobs::file_record& file, const file_spec& spec) {
  const int given = (spec.metainfo.empty() ? 0 : 1) + (spec.magnet.empty() ? 0 : 1) +
                    (spec.metainfo_url.empty() ? 0 : 1);
  if (given == 0) return;
  const std::string what = "cannot add " + spec.remote_url + " with ";
  if (given > 1) {
    throw request_error{value_of(hr::e_invalidarg),
                        what +
                            "more than one of a metainfo, a magnet and a metainfo URL: give "
                            "one of them"};
  }
  const char* kind = !spec.metainfo.empty() ? "a metainfo"
                     : !spec.magnet.empty() ? "a magnet"
                                            : "a metainfo URL";
  if (!spec.ranges.empty()) {
    throw request_error{value_of(hr::e_invalidarg),
                        what + kind + " and ranges: content metadata describes a whole file"};
  }
  if (!spec.metainfo_url.empty()) {
    // Fetched when the file starts, with the job's HTTP options (manager_peers.cpp).
    check_url(spec.metainfo_url);
    file.metainfo_url = spec.metainfo_url;
    return;
  }
  try {
    const auto meta = spec.metainfo.empty() ? peer_module().read_magnet(spec.magnet)
                                            : peer_module().read_metainfo(spec.metainfo);
    file.content_id = transfer::peer::content_id(meta);
  } catch (const transfer::peer::content_error& e) {
    throw request_error{value_of(hr::e_invalidarg), what + kind + ": " + e.what()};
  }
  file.metainfo = spec.metainfo;
  file.magnet = spec.magnet;
}

}  // namespace

void manager::add_files(const caller& who, const std::string& id,
                        const std::vector<file_spec>& files) {
  jobs::job& j = mutable_job(who, id);
  jobs::job copy = j;  // all or nothing (AddFileSet): add to a copy, then commit
  const auto wall = wall_now();
  for (const auto& spec : files) {
    const std::string& remote_url = spec.remote_url;
    const std::string& local_name = spec.local_name;
    if (local_name.empty() || local_name.front() != '/') {
      throw request_error{value_of(hr::e_invalidarg),
                          "the local name must be an absolute path: \"" + local_name + "\""};
    }
    check(jobs::check_file(remote_url, local_name, config_.limits),
          std::string("cannot add ").append(remote_url).append(" -> ").append(local_name));
    check_url(remote_url);
    for (const auto& f : copy.files) {
      if (f.local_name == local_name) {
        throw request_error{value_of(hr::e_invalidarg),
                            "the job already has a file with the local name " + local_name};
      }
    }
    const file_result destination = files_.check_destination(j.owner_uid, local_name);
    check(destination.code, destination.message);
    jobs::file_record file;
    file.remote_url = remote_url;
    file.local_name = local_name;
    file.ranges = spec.ranges;
    file.layout = spec.layout;
    if (!spec.digest.empty()) {
      const auto digest = jobs::parse_digest(spec.digest);
      if (!digest) {
        throw request_error{value_of(hr::e_invalidarg),
                            "the digest must be sha256:HEX (64 digits) or sha512:HEX (128 "
                            "digits), not \"" +
                                spec.digest.substr(0, 200) + "\""};
      }
      file.digest = digest->text();
    }
    if (!file.ranges.empty() && copy.dynamic_content) {
      throw request_error{value_of(hr::e_invalidarg),
                          "cannot add " + remote_url +
                              " with ranges: the job has dynamic content, which is fetched "
                              "whole (BITS_JOB_PROPERTY_DYNAMIC_CONTENT)"};
    }
    if (!file.ranges.empty()) {
      const jobs::range_check ranges =
          jobs::check_ranges(file.ranges, file.layout, config_.limits.max_ranges_per_file);
      check(ranges.code, "cannot add " + remote_url + " with ranges: " + ranges.message);
      file.bytes_total = jobs::ranges_total(file.ranges, size_unknown);
    }
    if (spec.metainfo_url.size() > config_.limits.max_url) {
      throw request_error{value_of(hr::e_invalidarg),
                          "cannot add " + remote_url + ": its metainfo URL is longer than " +
                              std::to_string(config_.limits.max_url) + " bytes"};
    }
    set_content_metadata(file, spec);
    file.temp_name = temp_name_for(copy.id, copy.files.size());
    check(jobs::add_file(copy, std::move(file), config_.limits, wall),
          "cannot add a file to job " + id);
  }
  const job_state before = j.state;
  const auto first_added = static_cast<std::uint32_t>(j.files.size());
  record_or_refuse(copy, [&] { store_.save_added_files(copy, first_added); });
  j = std::move(copy);
  notify(j, before != j.state ? job_event_kind::state : job_event_kind::modified);
  dirty_schedule_ = true;
}

void manager::set_properties(const caller& who, const std::string& id,
                             const property_changes& changes) {
  jobs::job& j = mutable_job(who, id);
  jobs::job copy = j;  // all or nothing: apply to a copy, then commit
  const auto wall = wall_now();
  const auto& lim = config_.limits;
  if (changes.display_name) {
    check(jobs::set_display_name(copy, *changes.display_name, lim, wall), "display name");
  }
  if (changes.description) {
    check(jobs::set_description(copy, *changes.description, lim, wall), "description");
  }
  if (changes.priority) check(jobs::set_priority(copy, *changes.priority, wall), "priority");
  if (changes.minimum_retry_delay) {
    check(jobs::set_minimum_retry_delay(copy, *changes.minimum_retry_delay, wall),
          "minimum retry delay");
  }
  if (changes.no_progress_timeout) {
    check(jobs::set_no_progress_timeout(copy, *changes.no_progress_timeout, wall),
          "no-progress timeout");
  }
  if (changes.notify_flags) {
    check(jobs::set_notify_flags(copy, *changes.notify_flags, wall),
          "notify flags " + std::to_string(*changes.notify_flags));
  }
  if (changes.proxy) {
    const auto& proxy = *changes.proxy;
    if (static_cast<std::uint32_t>(proxy.usage) > 3) {
      throw request_error{value_of(hr::e_invalidarg), "unknown proxy usage"};
    }
    if (proxy.usage == proxy_usage::override && proxy.proxy_list.empty()) {
      throw request_error{value_of(hr::e_invalidarg), "proxy usage OVERRIDE needs a proxy list"};
    }
    if (proxy.usage != proxy_usage::override &&
        (!proxy.proxy_list.empty() || !proxy.bypass_list.empty())) {
      throw request_error{value_of(hr::e_invalidarg),
                          "proxy and bypass lists are only allowed with proxy usage OVERRIDE"};
    }
    if (proxy.proxy_list.size() > 4000 || proxy.bypass_list.size() > 4000) {
      throw request_error{value_of(hr::bg_e_string_too_long), "the proxy list is too long"};
    }
    copy.proxy = proxy;
    copy.times.modification = wall;
  }
  if (changes.notify_command) {
    const auto& command = *changes.notify_command;
    if (!command.program.empty() && command.program.front() != '/') {
      throw request_error{
          value_of(hr::e_invalidarg),
          "the notify program must be an absolute path: \"" + command.program + "\""};
    }
    if (command.program.empty() && !command.parameters.empty()) {
      throw request_error{value_of(hr::e_invalidarg), "notify parameters without a program"};
    }
    if (command.program.size() > config_.limits.max_path || command.parameters.size() > 4096) {
      throw request_error{value_of(hr::bg_e_string_too_long), "the notify command is too long"};
    }
    copy.notify_command = command;
    copy.times.modification = wall;
  }
  if (changes.max_download_time) {
    check(jobs::set_max_download_time(copy, *changes.max_download_time, wall),
          "maximum download time");
  }
  if (changes.max_download_size) {
    check(jobs::set_max_download_size(copy, *changes.max_download_size, wall),
          "maximum download size");
  }
  if (changes.dynamic_content) {
    check(jobs::set_dynamic_content(copy, *changes.dynamic_content, wall), "dynamic content");
  }
  if (changes.high_performance) {
    check(jobs::set_high_performance(copy, *changes.high_performance, wall), "high performance");
  }
  if (changes.minimum_notification_interval_ms) {
    check(jobs::set_minimum_notification_interval(copy, *changes.minimum_notification_interval_ms,
                                                  wall),
          "minimum notification interval");
  }
  if (changes.peer_caching_flags) {
    check(jobs::set_peer_caching_flags(copy, *changes.peer_caching_flags, wall),
          "peer caching flags " + std::to_string(*changes.peer_caching_flags));
  }
  if (changes.cost_flags) {
    check(jobs::set_cost_flags(copy, *changes.cost_flags, wall),
          "cost flags " + std::to_string(*changes.cost_flags));
  }
  if (changes.cost_policy) {
    check(jobs::set_cost_policy(copy, *changes.cost_policy, wall),
          "cost policy " + std::to_string(*changes.cost_policy));
  }
  if (changes.disallow_on_cellular) {
    check(jobs::set_disallow_on_cellular(copy, *changes.disallow_on_cellular, wall),
          "disallow on cellular");
  }
  if (changes.custom_headers) {
    const jobs::header_check checked =
        jobs::check_headers(*changes.custom_headers, jobs::header_kind::custom);
    if (!checked.ok()) throw request_error{checked.code, checked.message};
    copy.custom_headers = *changes.custom_headers;
    copy.times.modification = wall;
  }
  if (changes.custom_auth_headers) {
    // The message names the header, never its value.
    const jobs::header_check checked =
        jobs::check_headers(*changes.custom_auth_headers, jobs::header_kind::auth);
    if (!checked.ok()) throw request_error{checked.code, checked.message};
    copy.custom_auth_headers = *changes.custom_auth_headers;
    copy.times.modification = wall;
  }
  if (changes.allow_https_to_http_redirect) {
    copy.allow_https_to_http_redirect = *changes.allow_https_to_http_redirect;
    copy.times.modification = wall;
  }
  if (changes.tls_exemptions) {
    if ((*changes.tls_exemptions & ~tls_exemption::all) != 0) {
      throw request_error{value_of(hr::e_invalidarg), "unknown certificate error exemptions"};
    }
    copy.tls_exemptions = *changes.tls_exemptions;
    copy.times.modification = wall;
  }
  if (changes.client_certificate) {
    // Both empty remove it; the message never holds the key.
    if (!changes.client_certificate->empty()) {
      const jobs::client_certificate_check checked =
          jobs::check_client_certificate(*changes.client_certificate);
      if (!checked.ok()) throw request_error{checked.code, checked.message};
    }
    copy.client_certificate = *changes.client_certificate;
    copy.times.modification = wall;
  }
  j = std::move(copy);
  persist(j);
  notify(j, job_event_kind::modified);
  dirty_schedule_ = true;
}

void manager::resume(const caller& who, const std::string& id) {
  jobs::job& j = mutable_job(who, id);
  const job_state before = j.state;
  check(jobs::resume(j, mono_now(), wall_now()), "cannot resume job " + id);
  if (j.state != before) {
    restarts_.erase({j.id, j.current_file});
    persist_state(j);  // jobs::resume changes no file
    notify(j, job_event_kind::state);
  }
  dirty_schedule_ = true;
}

void manager::suspend(const caller& who, const std::string& id) {
  jobs::job& j = mutable_job(who, id);
  const job_state before = j.state;
  stop_job(j);  // saves the files' progress if transfers ran
  check(jobs::suspend(j, wall_now()), "cannot suspend job " + id);
  persist_state(j);  // jobs::suspend changes no file
  if (j.state != before) notify(j, job_event_kind::state);
  dirty_schedule_ = true;
}

std::uint32_t manager::cancel(const caller& who, const std::string& id) {
  jobs::job& j = mutable_job(who, id);
  // Its transfers' bytes are not saved: retire() removes the job from the store next. (A job
  // that cannot be cancelled is final and has no transfers to stop.)
  halt_job(j);
  check(jobs::cancel(j, wall_now()), "cannot cancel job " + id);
  std::uint32_t result = value_of(hr::ok);
  for (const auto& file : j.files) {
    if (file.delivered) continue;
    const file_result removed = files_.remove_temp(j.owner_uid, file.local_name, file.temp_name);
    if (!removed.ok()) {
      spdlog::warn("job {}: {}", j.id, removed.message);
      result = value_of(hr::bg_s_unable_to_delete_files);
    }
  }
  spdlog::info("job {} cancelled", j.id);
  retire(j);
  return result;
}

// Complete is recorded before its first rename (the store's completing mark), so that a daemon
// killed in the middle finishes it on restart (finish_complete with may_be_delivered): a file
// whose temporary file is gone and whose destination exists was moved before the kill. A
// Complete that fails without a crash (e.g. a locked destination) clears the mark after
// recording the files it did move; calling it again moves the rest.
std::uint32_t manager::complete(const caller& who, const std::string& id) {
  jobs::job& j = mutable_job(who, id);
  const jobs::complete_plan plan = jobs::plan_complete(j);
  check(plan.result, "cannot complete job " + id);
  stop_job(j);
  try {
    store_.mark_completing(j.id);
  } catch (const opendo::error& e) {
    throw request_error{
        e.hresult(), std::string("Complete could not be recorded, nothing was moved: ") + e.what()};
  }
  return finish_complete(j, false);
}

std::uint32_t manager::finish_complete(jobs::job& j, bool may_be_delivered) {
  const jobs::complete_plan plan = jobs::plan_complete(j);
  // Each file is synced and renamed; the directories are synced once each after the renames
  // (not once per file), and only then are the deliveries recorded. A power loss before a
  // directory's sync may undo its renames, but the temporary files' names were synced when they
  // were created and the completing mark is on record, so the restart renames them again.
  std::vector<std::uint32_t> moved;
  moved.reserve(plan.deliver.size());
  const auto record_moved = [&] {
    std::vector<std::string> synced;  // one file of each directory synced
    for (std::uint32_t index : moved) {
      const auto& name = j.files[index].local_name;
      const std::string parent = split_path(name).first;
      if (std::find(synced.begin(), synced.end(), parent) != synced.end()) continue;
      synced.push_back(parent);
      const file_result done = files_.sync_directory(j.owner_uid, name);
      if (!done.ok()) spdlog::warn("job {}: {}", j.id, done.message);
    }
    for (std::uint32_t index : moved) j.files[index].delivered = true;
    // One transaction for all of them (a Complete of 200 small files made 200 commits).
    try {
      store::job_store::batch deliveries(store_);
      for (std::uint32_t index : moved) store_.save_file_progress(j.id, index, j.files[index]);
      deliveries.commit();
    } catch (const std::exception& e) {
      // The completing mark covers it: a restart finds the files moved and counts them.
      spdlog::error("job {}: could not record the delivery of {} files: {}", j.id, moved.size(),
                    e.what());
    }
  };
  for (std::uint32_t index : plan.deliver) {
    auto& file = j.files[index];
    const file_result result = files_.deliver(j.owner_uid, file.local_name, file.temp_name,
                                              file.remote_mtime, may_be_delivered, false);
    if (!result.ok()) {
      record_moved();
      persist(j);  // files already delivered stay delivered
      try {
        store_.clear_completing(j.id);
      } catch (const std::exception& e) {
        spdlog::error("job {}: could not clear its completing mark: {}", j.id, e.what());
      }
      throw request_error{result.code, result.message};
    }
    moved.push_back(index);
    if (test_exit_after_renames_ > 0 && ++renames_done_ == test_exit_after_renames_) {
      // Test hook (OPENDO_TEST_EXIT_AFTER_RENAMES): the kill between a rename and its record.
      spdlog::warn("test hook: exiting after {} renames", renames_done_);
      ::_exit(86);
    }
  }
  record_moved();
  for (std::uint32_t index : plan.drop) {
    const auto& file = j.files[index];
    const file_result removed = files_.remove_temp(j.owner_uid, file.local_name, file.temp_name);
    if (!removed.ok()) spdlog::warn("job {}: {}", j.id, removed.message);
  }
  jobs::mark_acknowledged(j, wall_now());
  spdlog::info("job {} completed ({} delivered, {} dropped)", j.id, plan.deliver.size(),
               plan.drop.size());
  retire(j);  // removes the job and its completing mark from the store at once
  return plan.result;
}

void manager::finish_interrupted_completes() {
  std::vector<std::string> interrupted;
  for (const auto& [id, j] : jobs_) {
    if (store_.completing(id)) interrupted.push_back(id);
  }
  for (const auto& id : interrupted) {
    jobs::job& j = jobs_.at(id);
    spdlog::info("job {}: finishing the Complete that the daemon's stop interrupted", id);
    try {
      finish_complete(j, true);
    } catch (const request_error& e) {
      spdlog::warn(
          "job {}: the interrupted Complete cannot be finished ({}); the job stays {} "
          "and Complete can be called again",
          id, e.message, to_string(j.state));
    }
  }
}

void manager::set_remote_name(const caller& who, const std::string& id, std::uint32_t index,
                              const std::string& remote_url) {
  jobs::job& j = mutable_job(who, id);
  if (index >= j.files.size()) {
    throw request_error{value_of(hr::e_invalidarg),
                        "job " + id + " has no file " + std::to_string(index)};
  }
  change_remote_names(j, {{index, remote_url}});
}

// IBackgroundCopyFile3::SetValidationState. Only a transferred file can be judged (E_PENDING
// before, as BITS says). A copy the application rejects is never delivered: the file starts again
// (jobs::on_file_rejected). When peers sent any of it, BITS drops the file from its peer cache and
// fetches it again from the origin by itself; opendo does the same with its content cache.
void manager::set_validation_state(const caller& who, const std::string& id, std::uint32_t index,
                                   bool valid) {
  jobs::job& j = mutable_job(who, id);
  if (index >= j.files.size()) {
    throw request_error{value_of(hr::e_invalidarg),
                        "job " + id + " has no file " + std::to_string(index)};
  }
  if (is_final(j.state)) {
    throw request_error{value_of(hr::bg_e_invalid_state),
                        "job " + id + " is " + std::string(to_string(j.state))};
  }
  auto& file = j.files[index];
  if (!file.completed) {
    throw request_error{value_of(hr::e_pending), "file " + std::to_string(index) + " of job " + id +
                                                     " is not transferred yet"};
  }
  if (valid) {
    file.validated = true;
    j.times.modification = wall_now();
    save_with_validation(j, index);
    notify(j, job_event_kind::modified);
    return;
  }
  const bool from_peers = file.sources.bytes_from_peers() > 0;
  if (from_peers) forget_rejected_content(file.content_id);
  const job_state state = jobs::on_file_rejected(j, index, from_peers, mono_now(), wall_now());
  spdlog::warn(
      "job {}: file {}: the application says its content is not valid; it is fetched "
      "again{} -> {}",
      j.id, index, from_peers ? " from the origin only" : "", to_string(state));
  save_with_validation(j, index);
  notify(j, job_event_kind::state);
  dirty_schedule_ = true;
}

bool manager::replace_remote_prefix(const caller& who, const std::string& id,
                                    const std::string& old_prefix, const std::string& new_prefix) {
  jobs::job& j = mutable_job(who, id);
  if (old_prefix.empty() || new_prefix.empty()) {
    throw request_error{value_of(hr::e_invalidarg), "a prefix is empty"};
  }
  std::vector<std::pair<std::uint32_t, std::string>> changes;
  for (std::uint32_t i = 0; i < j.files.size(); ++i) {
    const std::string& url = j.files[i].remote_url;
    if (url.compare(0, old_prefix.size(), old_prefix) == 0) {
      changes.emplace_back(i, new_prefix + url.substr(old_prefix.size()));
    }
  }
  if (!changes.empty()) change_remote_names(j, changes);
  return !changes.empty();
}

// SetRemoteName / ReplaceRemotePrefix: in any state but a final one (BITS's rule). Every new URL
// is checked before any changes, so that a set of changes happens whole or not at all. A file
// already transferred keeps its bytes (BITS does not restart it); a file being transferred starts
// again from the new server at the same byte: If-Range makes a server whose file differs send it
// whole.
void manager::change_remote_names(
    jobs::job& j, const std::vector<std::pair<std::uint32_t, std::string>>& changes) {
  if (is_final(j.state)) {
    throw request_error{value_of(hr::bg_e_invalid_state),
                        "job " + j.id + " is " + std::string(to_string(j.state))};
  }
  for (const auto& [index, url] : changes) {
    check(jobs::check_file(url, j.files[index].local_name, config_.limits), "cannot use " + url);
    check_url(url);
  }
  const auto running = active_by_job_.find(j.id);
  const bool restart = running != active_by_job_.end() &&
                       std::any_of(changes.begin(), changes.end(), [&](const auto& change) {
                         return change.first == active_.at(running->second.front()).file_index;
                       });
  if (restart) stop_job(j);
  for (const auto& [index, url] : changes) j.files[index].remote_url = url;
  if (restart) {
    j.state = job_state::queued;
    dirty_schedule_ = true;
  }
  j.times.modification = wall_now();
  persist(j);
  notify(j, restart ? job_event_kind::state : job_event_kind::modified);
}

void manager::take_ownership(const caller& who, const std::string& id) {
  jobs::job& j = mutable_job(who, id);
  if (!who.admin) {
    throw request_error{value_of(hr::e_accessdenied), "only administrators may take ownership"};
  }
  j.owner_uid = who.uid;
  j.notify_command = {};  // it would run as the new owner with the old owner's choice
  // As BITS does with custom headers: the new owner does not send the old owner's headers (nor
  // its secrets).
  j.custom_headers.clear();
  j.custom_auth_headers.clear();
  j.client_certificate = {};  // the new owner does not authenticate as the old one
  j.times.modification = wall_now();
  persist(j);
  notify(j, job_event_kind::modified);
}

void manager::set_credentials(const caller& who, const std::string& id, std::uint32_t target,
                              std::uint32_t scheme, const std::string& user_name,
                              const std::string& password) {
  jobs::job& j = mutable_job(who, id);
  if (target != 1 && target != 2) {
    throw request_error{value_of(hr::e_invalidarg), "unknown credential target"};
  }
  if (scheme < 1 || scheme > 5) {
    throw request_error{value_of(hr::e_invalidarg), "unknown authentication scheme"};
  }
  if (scheme == static_cast<std::uint32_t>(auth_scheme::negotiate)) {
    // libcurl's Negotiate takes Kerberos tickets from the process's credential cache, which
    // is the daemon's (root's, in system mode), not the job owner's: a confused deputy.
    throw request_error{value_of(hr::e_notimpl),
                        "Negotiate (Kerberos) authentication is not supported: it would use the "
                        "daemon's own tickets, not the user name and password given"};
  }
  if (scheme == static_cast<std::uint32_t>(auth_scheme::passport)) {
    throw request_error{value_of(hr::e_notimpl),
                        "Passport authentication is not supported (Microsoft retired the service)"};
  }
  if (user_name.size() > 300 || password.size() > 65536) {
    throw request_error{value_of(hr::bg_e_string_too_long), "the credentials are too long"};
  }
  remove_credential(j, target, scheme);
  j.credentials.push_back(
      {static_cast<auth_target>(target), static_cast<auth_scheme>(scheme), user_name, password});
  j.times.modification = wall_now();
  persist(j);
  notify(j, job_event_kind::modified);
}

void manager::remove_credentials(const caller& who, const std::string& id, std::uint32_t target,
                                 std::uint32_t scheme) {
  jobs::job& j = mutable_job(who, id);
  remove_credential(j, target, scheme);
  j.times.modification = wall_now();
  persist(j);
  notify(j, job_event_kind::modified);
}

std::uint64_t manager::subscribe(const caller& who, const std::string& id, subscriber_sink sink) {
  jobs::job& j = registration_job(who, id,
                                  "only the job's owner, its creator or an administrator may "
                                  "register for its notifications");
  if (!who.admin && sink.deliver) {
    // Decided at each delivery: the subscriber may own the job now and not later (TakeOwnership)
    // or the other way round.
    sink.deliver = [deliver = std::move(sink.deliver), uid = who.uid](const notification& n) {
      if (n.job.owner_uid == uid) return deliver(n);
      notification shown = n;
      shown.job = creators_view(n.job);
      deliver(shown);
    };
  }
  if (sink.registered) sink.registered();
  return notifier_.subscribe(j, std::move(sink), mono_now());
}

bool manager::remove_subscription(const caller& who, const std::string& id) {
  registration_job(who, id,
                   "only the job's owner, its creator or an administrator may change its "
                   "notifications");
  return notifier_.remove(id, mono_now());
}

void manager::unsubscribe(std::uint64_t token) {
  notifier_.unsubscribe(token, mono_now());
}

void manager::acknowledge(const caller& who, const std::string& id, std::uint64_t sequence,
                          bool handled) {
  const jobs::job* j = find_job(id);
  // Whoever may register acknowledges; to anyone else the job does not exist.
  if (j == nullptr || !may_register(who, *j)) {
    throw request_error{value_of(hr::bg_e_not_found), "no job " + id};
  }
  notifier_.acknowledge(id, sequence, handled, mono_now());
}

std::uint64_t manager::watch(const caller& who, const std::string& id, watcher on_event,
                             std::chrono::milliseconds progress_interval) {
  const jobs::job& j = visible_job(who, id);
  on_event(job_event_kind::snapshot, view(j));
  if (is_final(j.state)) return 0;  // nothing more will happen
  const std::uint64_t token = next_watch_++;
  watchers_.emplace(token, watch_entry{id, std::move(on_event), who, progress_interval, {}});
  return token;
}

void manager::unwatch(std::uint64_t token) {
  watchers_.erase(token);
}

// ---- scheduling and transfers
// ---------------------------------------------------------------------

void manager::poll(std::vector<curl_waitfd>& extra, int timeout_ms) {
  // The transfers' records of one poll commit together (job_store::turn): a small file makes two
  // (its response and its end), and each commit costs WAL writes and lock calls. A state change
  // commits first (notify), so no client learns of one that is not on record.
  store::job_store::turn records(store_);
  engine_.poll(extra, timeout_ms);
  record_tail_cuts();  // of the files the finished ones made start: in the same transaction
  try {
    records.end();
  } catch (const std::exception& e) {
    spdlog::error("could not record the transfers' progress of this turn: {}", e.what());
  }
}

int manager::run_once() {
  const auto now = mono_now();
  const auto wall = wall_now();
  int timeout_ms = 1000;
  // The loop sleeps no later than the earliest timer.
  auto wake_by = [&](std::optional<jobs::mono_time> deadline) {
    if (!deadline) return;
    // In 64 bits: a deadline 90 days away (the default maximum download time) overflows an int
    // of milliseconds, and a negative wait made the loop spin at 100% CPU while jobs ran.
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now);
    timeout_ms = static_cast<int>(std::clamp<std::int64_t>(wait.count() + 1, 0, timeout_ms));
  };

  // First, so that the scheduler below decides on the network the machine uses now.
  if (network_.refresh(now)) on_network_changed(now);
  for (auto& [id, j] : jobs_) {
    const job_state before = j.state;
    const auto result = jobs::tick(j, now, wall);
    if (result == jobs::tick_result::timed_out) {
      spdlog::warn("job {}: maximum download time of {} s reached", j.id, j.max_download_time);
      stop_job(j);  // records the bytes that are on disk
    }
    if (result != jobs::tick_result::none) {
      spdlog::info("job {}: {} -> {}", j.id, to_string(before), to_string(j.state));
      persist_state(j);  // jobs::tick changes no file; stop_job saved their bytes
      notify(j, job_event_kind::state);
      dirty_schedule_ = true;
    }
    wake_by(jobs::next_deadline(j));
  }

  notifier_.tick(now);
  wake_by(notifier_.next_deadline());
  if (next_schedule_at_ && now >= *next_schedule_at_) dirty_schedule_ = true;
  if (dirty_schedule_) schedule();
  wake_by(next_schedule_at_);

  for (auto& [tid, t] : active_) {
    const std::uint64_t received = engine_.received(tid);
    if (now - t.last_checkpoint < config_.checkpoint_interval &&
        received - t.checkpoint_received < kEarlyCheckpointBytes) {
      continue;
    }
    t.checkpoint_received = received;
    if (jobs_.at(t.job_id).high_performance) {
      // BITS_JOB_PROPERTY_HIGH_PERFORMANCE trades crash safety for I/O: no periodic sync and
      // record; the bytes are recorded when the transfer stops or finishes.
      t.last_checkpoint = now;
      continue;
    }
    // The engine syncs off the loop; on_synced records the bytes once they are on disk.
    t.last_checkpoint = now;
    engine_.request_checkpoint(tid);
  }
  grow_segments(now);
  finish_cache_copies();
  run_shared_files(now);
  expire_content_cache(now);
  // While there are jobs or shared content, a change of network is noticed within
  // network_monitor::kRefresh.
  if (swarm_ || !jobs_.empty())
    timeout_ms = std::min(timeout_ms, static_cast<int>(network_monitor::kRefresh.count() * 1000));
  if (!shared_.empty() || (swarm_ && swarm_->hashing_twins())) {
    // The swarm's progress and the origin's share are looked at every kSwarmTurn; a v1 twin
    // whose hashing is done is added at the next look.
    timeout_ms = std::min(timeout_ms, 100);
    if (swarm_) wake_by(swarm_->next_decision());
  }
  enforce_max_download_size();
  pace_transfers(now);
  download_rate_.sample(now, live_totals().bytes_downloaded());
  upload_rate_.sample(now, totals_.sources.bytes_uploaded());
  sample_job_rates(now);
  if (!active_.empty() || !shared_.empty()) {
    if (now - last_progress_notice_ >= config_.progress_interval) {
      last_progress_notice_ = now;
      for (const auto& [job_id, tid] : active_by_job_)
        notify(jobs_.at(job_id), job_event_kind::progress);
      for (const auto& [job_id, shared] : shared_) {
        if (active_by_job_.count(job_id) == 0) notify(jobs_.at(job_id), job_event_kind::progress);
      }
    }
    timeout_ms = std::min(timeout_ms, static_cast<int>(config_.progress_interval.count()));
  }
  record_tail_cuts();  // of the files this turn started
  return timeout_ms;
}

void manager::schedule() {
  dirty_schedule_ = false;
  const auto now = mono_now();
  forget_stale_turns();
  std::vector<jobs::schedule_input> inputs;
  for (const auto& [id, j] : jobs_) {
    jobs::schedule_input in;
    in.j = &j;
    in.running = running(id);
    if (const auto t = turns_.find(id); in.running && t != turns_.end()) {
      in.turn_started = t->second.started;
      in.resumable = t->second.resumable;
    } else if (!in.running && j.state == job_state::queued) {
      in.waiting_since = waiting_since_.try_emplace(id, now).first->second;
    }
    inputs.push_back(in);
  }
  const auto plan = jobs::choose_running(inputs, config_.scheduler, now);
  next_schedule_at_ = plan.next_decision;
  // Pre-empt or rotate out running jobs that lost their slot; they resume where they stopped.
  std::vector<std::string> preempted;
  for (const auto& [job_id, j] : jobs_) {
    if (running(job_id) && std::find(plan.run.begin(), plan.run.end(), job_id) == plan.run.end())
      preempted.push_back(job_id);
  }
  for (const auto& job_id : preempted) {
    jobs::job& j = jobs_.at(job_id);
    stop_job(j);
    jobs::on_requeued(j, now, wall_now());
    waiting_since_[job_id] = now;
    spdlog::info("job {}: gives its slot away and waits, {} bytes kept", j.id,
                 j.bytes_transferred());
    persist_state(j);  // stop_job saved the files' bytes; on_requeued changes no file
    notify(j, job_event_kind::state);
  }
  for (const auto& job_id : plan.run) {
    jobs::job& j = jobs_.at(job_id);
    if (!running(job_id) && j.state == job_state::queued) {
      waiting_since_.erase(job_id);
      if (const auto block = jobs::blocked_by_cost(j, network_.cost())) {
        wait_for_network(j, *block);
        continue;
      }
      if (j.current_file < j.files.size()) {
        make_room(jobs::host_key(j.files[j.current_file].remote_url));
      }
      start_job(j);
    }
  }
}

// ---- bandwidth policy
// ---------------------------------------------------------------------------

void manager::set_bandwidth_policy(const jobs::bandwidth_policy& policy) {
  config_.bandwidth = policy;
  pace_transfers(mono_now());
}

// Each class's cap is the daemon's total for that class: it is divided equally among the class's
// running transfers, and divided again whenever a transfer starts or stops, a job changes class,
// the policy changes or a business-hours window opens or closes (this runs on every loop turn).
void manager::pace_transfers(jobs::mono_time now) {
  const std::time_t wall = std::time(nullptr);
  std::tm local{};
  localtime_r(&wall, &local);
  const jobs::class_caps caps = jobs::caps_at(config_.bandwidth, {local.tm_wday, local.tm_hour},
                                              link_capacity_.estimate(now));
  if (caps != logged_caps_) {
    logged_caps_ = caps;
    spdlog::info("bandwidth caps now: foreground {}, background {} (bytes/s, 0 = none)",
                 caps.foreground, caps.background);
  }
  std::size_t foreground = 0;
  for (const auto& [tid, t] : active_) {
    if (jobs_.at(t.job_id).priority == job_priority::foreground) ++foreground;
  }
  const std::size_t background = active_.size() - foreground;
  bool capped = false;
  for (const auto& [tid, t] : active_) {
    const bool is_foreground = jobs_.at(t.job_id).priority == job_priority::foreground;
    const std::uint64_t rate = is_foreground ? jobs::share_of(caps.foreground, foreground)
                                             : jobs::share_of(caps.background, background);
    engine_.set_rate_limit(tid, rate);
    capped = capped || rate != 0;
  }
  sample_link_rate(now, capped);
}

// One sample a second of the total download rate, over intervals in which transfers ran all
// along; the estimator keeps the highest of the last ten minutes.
void manager::sample_link_rate(jobs::mono_time now, bool capped) {
  const std::uint64_t total = engine_.total_received();
  if (active_.empty()) {
    rate_sample_valid_ = false;
    return;
  }
  if (!rate_sample_valid_) {
    rate_sample_valid_ = true;
    rate_sample_start_ = now;
    rate_sample_bytes_ = total;
    rate_sample_capped_ = capped;
    return;
  }
  rate_sample_capped_ = rate_sample_capped_ || capped;
  if (now - rate_sample_start_ < std::chrono::seconds(1)) return;
  link_capacity_.add_sample(rate_sample_start_, now, total - rate_sample_bytes_,
                            rate_sample_capped_);
  rate_sample_start_ = now;
  rate_sample_bytes_ = total;
  rate_sample_capped_ = capped;
}

// Turns of jobs that stopped running and wait times of jobs that no longer wait (suspended,
// failed, finished, removed): a job that waits again waits from then on.
void manager::forget_stale_turns() {
  std::erase_if(turns_, [&](const auto& entry) { return !running(entry.first); });
  std::erase_if(waiting_since_, [&](const auto& entry) {
    const auto j = jobs_.find(entry.first);
    return j == jobs_.end() || j->second.state != job_state::queued || running(entry.first);
  });
}

void manager::start_job(jobs::job& j) {
  // A new start may ask again the cache hosts that failed its files before, once unbanned.
  for (auto it = cache_attempts_.lower_bound({j.id, 0});
       it != cache_attempts_.end() && it->first.first == j.id; ++it) {
    it->second.failed.clear();
  }
  // A published metainfo that could not be used is tried again at each new start of a file that
  // has no bytes yet (the server may have it now); not by a file that its origin's bytes showed
  // the metainfo to be stale for, which comes from the origin only.
  for (auto& file : j.files) {
    if (file.metainfo.empty() && file.bytes_transferred == 0 && !file.origin_only) {
      file.metainfo_note.clear();
    }
  }
  jobs::on_connecting(j, mono_now(), wall_now());
  notify(j, job_event_kind::state);
  start_file(j);
}

void manager::start_file(jobs::job& j) {
  // Skip files that need no request: complete already, or all their bytes recorded.
  while (j.current_file < j.files.size()) {
    auto& file = j.files[j.current_file];
    if (!file.completed && !(file.bytes_total != size_unknown &&
                             file.bytes_transferred == file.bytes_total && file.bytes_total > 0)) {
      break;
    }
    if (!file.completed && !file.digest.empty()) {
      // Every byte was recorded before a restart, but the digest was not checked yet.
      ipc::unique_fd fd;
      const file_result opened = files_.open_temp(j.owner_uid, file.local_name, file.temp_name,
                                                  file.bytes_transferred, fd);
      if (!opened_or_failed(j, j.current_file, opened)) return;
      if (!verify_digest(j, j.current_file, fd.get())) return;
    }
    const std::uint32_t done = j.current_file;
    if (!file.completed) {
      // Its last byte came before a restart, or just before its turn ended (the transfer
      // stopped before its end was seen): it is done as if its transfer had just finished.
      if (complete_file(j, done)) return;
      continue;
    }
    if (jobs::on_file_completed(j, done, wall_now())) {
      persist_file(j, done);
      notify(j, job_event_kind::state);
      dirty_schedule_ = true;  // its slot is free
      return;
    }
  }
  if (j.current_file >= j.files.size()) return;
  const std::uint32_t index = j.current_file;
  auto& file = j.files[index];
  ipc::unique_fd fd;
  if (std::exchange(file.adopt_written_bytes, false)) {
    const file_result opened =
        files_.open_temp(j.owner_uid, file.local_name, file.temp_name, keep_all_bytes, fd);
    if (!opened_or_failed(j, index, opened)) return;
    adopt_written_bytes(j, index, fd.get());
    if (file.bytes_total != size_unknown && file.bytes_total > 0 &&
        file.bytes_transferred == file.bytes_total) {
      // Its last byte was written before the kill: asking for bytes past the end would get a
      // 416 and fetch the file again. The loop above delivers it as a file recorded whole.
      start_file(j);
      return;
    }
  }
  if (wants_published_metainfo(j, index)) {
    start_metainfo_fetch(j, index, false, {}, 0);
    return;
  }
  if (may_share(j, index)) {
    if (j.files[index].metainfo.empty() && magnet_sizes_.count({j.id, index}) == 0) {
      // A magnet carries no size: the origin's tells first whether peers are worth asking.
      start_metainfo_fetch(j, index, true, {}, 0, true);
      return;
    }
    start_shared_file(j, index);
    return;
  }
  if (!file.segments.empty()) {
    start_segments(j, index, std::move(fd));
    return;
  }
  transfer::http::request req = base_request(j);
  std::uint64_t local_offset = file.bytes_transferred;
  if (file.ranges.empty()) {
    // Without a known size the bytes cannot be resumed reliably; dynamic content is never
    // resumed (each request may give other bytes), nor checked against earlier validators.
    if ((file.bytes_total == size_unknown || j.dynamic_content) && file.bytes_transferred > 0) {
      file.bytes_transferred = 0;
      local_offset = 0;
    }
  } else {
    const auto next = jobs::next_range_request(file.ranges, file.layout, file.remote_size,
                                               file.bytes_transferred);
    if (!next) {
      // Every range arrived (the last one ran to the end of a file of unknown size).
      file.bytes_total = file.bytes_transferred;
      on_finished_file(j, index);
      return;
    }
    req.range = transfer::http::remote_range{next->first, next->last};
    local_offset = next->local_offset;
  }
  const file_result opened =
      fd ? truncate_temp(fd.get(), local_offset)
         : files_.open_temp(j.owner_uid, file.local_name, file.temp_name, local_offset, fd, false);
  if (!opened_or_failed(j, index, opened)) return;
  // A new name is synced with its directory before the file's first record (sync_name), once
  // for every name created there meanwhile, and off the request's path (a Resume).
  if (opened.created) {
    const auto key = std::make_pair(j.owner_uid, split_path(file.local_name).first);
    unsynced_dirs_[key].emplace_back(j.id, index);
    unsynced_names_.emplace(j.id, index);
  }
  note_tail_cut(j, index);
  const auto source = choose_request_source(j, index);
  if (!source) return;
  request_to(req, *source);
  req.fd = fd.get();
  req.offset = local_offset;
  req.expected_total = file.remote_size;
  if (!j.dynamic_content) {
    req.etag = file.etag;
    req.last_modified = file.last_modified;
  } else {
    req.expected_total = size_unknown;  // the size may differ per request
  }
  const auto tid = engine_.start(req);
  active_transfer t;
  t.job_id = j.id;
  t.file_index = index;
  t.fd = std::move(fd);
  t.last_checkpoint = t.clock_at = mono_now();
  t.url = req.url;
  t.source = source->source;
  t.cache_host = source->cache_host;
  count_request(file, t.source);
  t.base_progress = file.bytes_transferred;
  t.base_local = t.recorded_local = local_offset;
  active_.emplace(tid, std::move(t));
  active_by_job_[j.id].push_back(tid);
  spdlog::debug("job {}: file {} starts at byte {} ({})", j.id, index, req.offset, req.url);
}

// A file operation for the job's file failed: the job fails with LOCAL_FILE, transiently when the
// disk is full (it goes on by itself once there is room), for good otherwise.
bool manager::opened_or_failed(jobs::job& j, std::uint32_t index, const file_result& opened) {
  if (opened.ok()) return true;
  fail_job(j, opened.code, error_context::local_file, index, opened.message,
           opened.code == value_of(hr::disk_full));
  return false;
}

void manager::request_to(transfer::http::request& req, const request_source& source) {
  req.url = source.url;
  if (source.source != jobs::byte_source::origin) {
    req.tls_exemptions = 0;
    req.client_certificate = {};  // the job's identity is for its origin only
  }
}

transfer::http::request manager::base_request(const jobs::job& j) const {
  transfer::http::request req;
  req.proxy = j.proxy;
  for (const auto& c : j.credentials) {
    auto& slot = c.target == auth_target::server ? req.server_auth : req.proxy_auth;
    slot = transfer::http::credentials{c.scheme, c.user_name, c.password};
  }
  req.headers = j.custom_headers;
  req.auth_headers = j.custom_auth_headers;
  req.allow_https_to_http = j.allow_https_to_http_redirect;
  // The job's certificate exemptions are for its origin: a cache host (request_to) or proxy is
  // always verified.
  req.tls_exemptions = j.tls_exemptions;
  req.client_certificate = j.client_certificate;
  return req;
}

// ---- segmented downloads
// -------------------------------------------------------------------------

// A segmented file goes on where each segment stopped, with as many connections as it had
// segments left (what it learned before), within the caps; the rest wait for room.
void manager::start_segments(jobs::job& j, std::uint32_t index, ipc::unique_fd fd) {
  auto& file = j.files[index];
  if (!fd) {
    const file_result opened =
        files_.open_temp(j.owner_uid, file.local_name, file.temp_name, keep_all_bytes, fd);
    if (!opened_or_failed(j, index, opened)) return;
  }
  // What no segment recorded (or adopted) goes: a later adoption must find only bytes written
  // from the recorded points on (adopt_segment_bytes), never older ones, e.g. of a boot before.
  bool cut = true;
  for (const auto& s : file.segments) {
    if (!s.complete()) cut = punch_hole(fd.get(), s.next(), s.remaining()) && cut;
  }
  if (cut) note_tail_cut(j, index);
  const auto source = choose_request_source(j, index);
  if (!source) return;
  // A file that goes on in the same run keeps what its controller learned; a resumed one (after
  // a stop or a restart) starts with as many connections as it has segments left.
  auto [it, fresh] = controllers_.try_emplace({j.id, index}, config_.segments);
  jobs::connection_controller& controller = it->second;
  if (fresh) {
    std::uint32_t left = 0;
    for (const auto& s : file.segments) left += s.complete() ? 0 : 1;
    controller.resume_with(left);
  }
  std::uint32_t started = 0;
  for (std::uint32_t s = 0; s < file.segments.size(); ++s) {
    if (file.segments[s].complete()) continue;
    // The first one runs in any case: the scheduler gave the job its slot.
    if (started > 0 && (started >= controller.wanted() || connection_budget(j, index) == 0)) {
      break;
    }
    if (!start_segment(j, index, s, fd.get(), *source)) return;
    ++started;
  }
  controller.connections_changed(mono_now(), started, file.bytes_transferred);
}

bool manager::start_segment(jobs::job& j, std::uint32_t index, std::uint32_t segment, int fd,
                            const request_source& from) {
  auto& file = j.files[index];
  const jobs::segment& s = file.segments[segment];
  ipc::unique_fd own(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!own) {
    fail_job(j, value_of(hr::e_fail), error_context::local_file, index,
             std::string("cannot open the temporary file again: ") + std::strerror(errno), true);
    return false;
  }
  transfer::http::request req = base_request(j);
  request_to(req, from);
  req.fd = own.get();
  req.offset = s.next();
  req.range = transfer::http::remote_range{s.next(), s.end - 1};
  req.expected_total = file.remote_size;
  req.etag = file.etag;
  req.last_modified = file.last_modified;
  if (auto c = controllers_.find({j.id, index}); c != controllers_.end()) {
    req.write_buffer = jobs::transfer_write_buffer(c->second.wanted(), kFileWriteBudget,
                                                   kMinTransferBuffer, config_.http.write_buffer);
  }
  const auto tid = engine_.start(req);
  active_transfer t;
  t.job_id = j.id;
  t.file_index = index;
  t.fd = std::move(own);
  t.last_checkpoint = t.clock_at = mono_now();
  t.source = from.source;
  t.url = from.url;
  t.cache_host = from.cache_host;
  t.segment = segment;
  t.splittable = true;
  t.base_local = t.recorded_local = s.next();
  t.base_progress = file.bytes_transferred;
  count_request(file, t.source);
  active_.emplace(tid, std::move(t));
  active_by_job_[j.id].push_back(tid);
  spdlog::debug("job {}: file {} segment {} starts at byte {} ({}; {} KiB write buffer)", j.id,
                index, segment, req.offset, from.url, req.write_buffer / 1024);
  return true;
}

// On every loop turn: a file whose controller wants another connection gets one when the caps
// leave room, and one whose last connection did not pay gives it back.
void manager::grow_segments(jobs::mono_time now) {
  if (config_.segments.max_connections <= 1) return;
  std::vector<std::tuple<std::string, std::uint32_t, std::uint32_t>> changes;
  for (const auto& [job_id, tids] : active_by_job_) {
    const active_transfer& t = active_.at(tids.front());
    if (!t.splittable) continue;
    auto it = controllers_.find({job_id, t.file_index});
    if (it == controllers_.end()) continue;
    std::uint64_t received = jobs_.at(job_id).files[t.file_index].bytes_transferred;
    bool all_flowing = true;
    for (const auto tid : tids) {
      const active_transfer& each = active_.at(tid);
      received += unrecorded(tid, each);
      if (engine_.received(tid) <= each.base_local) all_flowing = false;
    }
    const bool was_settled = it->second.settled();
    const std::uint32_t target = it->second.target(now, received, all_flowing);
    if (!was_settled) {
      if (const auto learned = it->second.learned()) {
        connection_memory_.remember(memory_key(jobs_.at(job_id), t.url), *learned, now);
      }
    }
    if (target != tids.size()) changes.emplace_back(job_id, t.file_index, target);
  }
  for (const auto& [job_id, index, target] : changes) {
    jobs::job& j = jobs_.at(job_id);
    const std::size_t running = active_by_job_.at(job_id).size();
    if (target < running) {
      give_back_connections(j, running - target);
    } else if (connection_budget(j, index) == 0 || !add_connection(j, index)) {
      continue;
    }
    controllers_.at({job_id, index})
        .connections_changed(now, static_cast<std::uint32_t>(active_by_job_.at(job_id).size()), 0);
  }
}

// Stops `count` of a job's extra connections (never its first), those with the most bytes left
// first; their bytes are recorded and their segments wait for a connection that finishes its own.
void manager::give_back_connections(jobs::job& j, std::size_t count) {
  const auto now = mono_now();
  for (; count > 0; --count) {
    const auto& tids = active_by_job_.at(j.id);
    if (tids.size() <= 1) return;
    std::size_t victim = 1;
    for (std::size_t i = 2; i < tids.size(); ++i) {
      const auto& t = active_.at(tids[i]);
      const auto& v = active_.at(tids[victim]);
      if (j.files[t.file_index].segments.at(*t.segment).remaining() >
          j.files[v.file_index].segments.at(*v.segment).remaining()) {
        victim = i;
      }
    }
    const std::uint32_t index = active_.at(tids[victim]).file_index;
    stop_transfer(j, tids[victim], now);
    save_segments(j, index);
    spdlog::info("job {}: file {} goes back to {} connection(s): the last one did not pay", j.id,
                 index, active_by_job_.at(j.id).size());
  }
}

// One more connection for a file: a segment nobody fetches, or else the half of the segment with
// the most bytes left (the first time, of the one transfer fetching the whole file).
bool manager::add_connection(jobs::job& j, std::uint32_t index) {
  auto& file = j.files[index];
  const auto& tids = active_by_job_.at(j.id);
  const active_transfer& first = active_.at(tids.front());
  // The new connection asks where the file's first one does.
  const request_source from{first.source, first.url, first.cache_host};
  const int fd = first.fd.get();
  std::vector<std::optional<transfer::http::transfer_id>> fetcher(file.segments.size());
  for (const auto tid : tids) {
    const auto& t = active_.at(tid);
    if (t.segment) fetcher[*t.segment] = tid;
  }
  for (std::uint32_t s = 0; s < file.segments.size(); ++s) {
    if (!fetcher[s] && !file.segments[s].complete()) return start_segment(j, index, s, fd, from);
  }
  const std::uint64_t min_size = config_.segments.min_segment_size;
  const std::vector<jobs::segment> before = file.segments;
  std::optional<std::size_t> split;
  if (file.segments.empty()) {
    const auto tid = tids.front();
    auto segments = jobs::first_split(file.remote_size, file.bytes_transferred,
                                      engine_.received(tid), min_size);
    if (!segments) return false;
    file.segments = std::move(*segments);
    split = 0;
    fetcher.assign(1, tid);
  } else {
    std::vector<std::uint64_t> live_next(file.segments.size());
    for (std::uint32_t s = 0; s < file.segments.size(); ++s) {
      live_next[s] = fetcher[s] ? engine_.received(*fetcher[s]) : file.segments[s].next();
    }
    split = jobs::split_largest(file.segments, live_next,
                                std::min(min_size, config_.segments.min_split_size));
    if (!split) return false;
  }
  // Recorded before any byte lands beyond the cut: a restart must know the file is in pieces.
  if (!save_segments(j, index)) {
    file.segments = before;
    return false;
  }
  if (const auto tid = fetcher[*split]) {
    auto& t = active_.at(*tid);
    t.segment = static_cast<std::uint32_t>(*split);
    engine_.set_end(*tid, file.segments[*split].end);
  }
  spdlog::info("job {}: file {} now uses {} connections", j.id, index, tids.size() + 1);
  return start_segment(j, index, static_cast<std::uint32_t>(file.segments.size() - 1), fd, from);
}

bool manager::save_segments(const jobs::job& j, std::uint32_t index) {
  sync_name(j, index);
  try {
    store_.save_file_progress(j.id, index, j.files[index]);
    return true;
  } catch (const std::exception& e) {
    spdlog::error("could not record the segments of job {}: {}", j.id, e.what());
    return false;
  }
}

// Room for one more connection to the file's host: the scheduler's caps, and the file's own.
std::uint32_t manager::connection_budget(const jobs::job& j, std::uint32_t index) const {
  const std::string host = jobs::host_key(j.files[index].remote_url);
  std::uint32_t to_host = 0;
  std::uint32_t of_file = 0;
  for (const auto& [tid, t] : active_) {
    const jobs::job& other = jobs_.at(t.job_id);
    if (jobs::host_key(other.files[t.file_index].remote_url) == host) ++to_host;
    if (t.job_id == j.id && t.file_index == index) ++of_file;
  }
  const auto room = [](std::uint32_t cap, std::size_t used) {
    return used >= cap ? 0U : cap - static_cast<std::uint32_t>(used);
  };
  return std::min({room(config_.segments.max_connections, of_file),
                   room(config_.scheduler.max_connections_per_host, to_host),
                   room(config_.scheduler.max_connections, active_.size())});
}

std::string manager::memory_key(const jobs::job& j, const std::string& url) {
  return jobs::host_key(url) + ' ' + std::to_string(static_cast<int>(j.priority));
}

void manager::make_room(const std::string& host) {
  const auto full = [&] {
    std::uint32_t to_host = 0;
    for (const auto& [tid, t] : active_) {
      if (jobs::host_key(jobs_.at(t.job_id).files[t.file_index].remote_url) == host) ++to_host;
    }
    return to_host >= config_.scheduler.max_connections_per_host ||
           active_.size() >= config_.scheduler.max_connections;
  };
  while (full()) {
    // The extra connection (not a job's first) with the most bytes left gives way.
    std::optional<transfer::http::transfer_id> victim;
    std::uint64_t most = 0;
    for (const auto& [job_id, tids] : active_by_job_) {
      for (std::size_t i = 1; i < tids.size(); ++i) {
        const auto& t = active_.at(tids[i]);
        const auto& s = jobs_.at(job_id).files[t.file_index].segments.at(*t.segment);
        if (!victim || s.remaining() > most) {
          victim = tids[i];
          most = s.remaining();
        }
      }
    }
    if (!victim) return;
    jobs::job& j = jobs_.at(active_.at(*victim).job_id);
    const std::uint32_t index = active_.at(*victim).file_index;
    stop_transfer(j, *victim, mono_now());
    save_segments(j, index);
    if (auto c = controllers_.find({j.id, index}); c != controllers_.end()) {
      c->second.connections_changed(mono_now(),
                                    static_cast<std::uint32_t>(active_by_job_.at(j.id).size()), 0);
    }
  }
}

// ---- cache hosts
// --------------------------------------------------------------------------------

// A cache host serves plain http to whoever asks, and keeps what it fetched: a file goes through
// one only when the job sends no secret to its server and wants no fresh copy per request.
bool manager::may_use_cache_hosts(const jobs::job& j, std::uint32_t index) const {
  if (config_.cache_hosts.hosts.empty() || j.dynamic_content || !j.custom_auth_headers.empty()) {
    return false;
  }
  const bool server_credentials =
      std::any_of(j.credentials.begin(), j.credentials.end(),
                  [](const jobs::credential_record& c) { return c.target == auth_target::server; });
  return !server_credentials && jobs::cache_host_url(j.files[index].remote_url, "cache");
}

std::optional<manager::request_source> manager::choose_request_source(jobs::job& j,
                                                                      std::uint32_t index) {
  const std::string& url = j.files[index].remote_url;
  const request_source origin{jobs::byte_source::origin, url, {}};
  if (!may_use_cache_hosts(j, index)) return origin;
  auto& attempt = cache_attempts_[{j.id, index}];
  const auto choice =
      jobs::choose_source(config_.cache_hosts, cache_host_bans_, attempt, mono_now());
  switch (choice.what) {
    case jobs::source_choice::kind::cache_host:
      return request_source{jobs::byte_source::cache_host, *jobs::cache_host_url(url, choice.host),
                            choice.host};
    case jobs::source_choice::kind::wait:
      wait_for_origin(j, index, choice.origin_from);
      return std::nullopt;
    case jobs::source_choice::kind::origin:
      break;
  }
  if (!std::exchange(attempt.fell_back_logged, true)) {
    spdlog::info("job {}: file {}: no cache host left to try; it falls back to the origin", j.id,
                 index);
  }
  return origin;
}

// Every cache host failed or is banned and the fallback delay holds the origin back: the job
// takes the ordinary transient-error path, its error naming the hosts and why they failed.
void manager::wait_for_origin(jobs::job& j, std::uint32_t index, jobs::mono_time origin_from) {
  std::uint32_t code = value_of(hr::winhttp_cannot_connect);
  std::string failures;
  for (const std::string& host : config_.cache_hosts.hosts) {
    const jobs::cache_host_ban* ban = cache_host_bans_.last(host);
    if (ban == nullptr) continue;
    if (failures.empty()) code = ban->code;
    failures += (failures.empty() ? "" : "; ") + host + ": " + ban->reason;
  }
  const auto wait = std::chrono::ceil<std::chrono::seconds>(origin_from - mono_now());
  fail_job(j, code, error_context::general_transport, index,
           "no cache host can serve the file (" + failures + "); the origin may be used in " +
               std::to_string(wait.count()) + " s, once the cache host fallback delay of " +
               std::to_string(config_.cache_hosts.fallback_delay.count()) + " s has passed",
           true);
}

bool manager::on_cache_host_failure(jobs::job& j, std::uint32_t index, const std::string& host,
                                    const transfer::http::outcome& result) {
  if (result.context == error_context::local_file ||
      result.code == value_of(hr::bg_e_max_download_size_limit_reached)) {
    return false;
  }
  const auto now = mono_now();
  char code[16];
  std::snprintf(code, sizeof code, "0x%08X", result.code);
  const std::string reason = std::string(code) + " " + result.message;
  if (cache_host_bans_.find(host, now) == nullptr) {  // each ban is logged once
    spdlog::info("cache host {} is banned for {} s: {}", host, config_.cache_hosts.ban_time.count(),
                 reason);
  }
  cache_host_bans_.ban(host, now + config_.cache_hosts.ban_time, result.code, reason);
  cache_attempts_[{j.id, index}].failed.push_back(host);
  persist(j);     // the bytes that did arrive are kept for the next source
  start_file(j);  // the next cache host, or the origin, at once: no transient error
  return true;
}

void manager::forget_cache_host_attempts(const std::string& job_id) {
  cache_attempts_.erase(cache_attempts_.lower_bound({job_id, 0}),
                        cache_attempts_.lower_bound({job_id + '\0', 0}));
}

void manager::set_cache_host_policy(const jobs::cache_host_policy& policy) {
  config_.cache_hosts = policy;
}

// After a crash of the daemon (not of the machine: the boot is the same), the temporary file
// holds every byte the engine wrote, recorded or not: the page cache outlives the process, and
// the engine writes body bytes in order, so the file's length says how many arrived. They are
// synced, then counted, instead of being fetched again. Only where the local position is the
// progress (whole files, ranges one after another) and the file's size is known.
void manager::adopt_written_bytes(jobs::job& j, std::uint32_t index, int fd) {
  auto& file = j.files[index];
  struct stat info {};
  if (file.layout != range_layout::concatenated || ::fstat(fd, &info) != 0) return;
  if (!file.segments.empty()) {
    adopt_segment_bytes(j, index, fd, info);
    return;
  }
  if (file.bytes_total == size_unknown) return;
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size <= file.bytes_transferred || size > file.bytes_total || ::fdatasync(fd) != 0) return;
  spdlog::info("job {}: file {}: {} bytes written before the daemon stopped are kept", j.id, index,
               size - file.bytes_transferred);
  // Which source wrote them is not recorded: they count to the origin.
  record_progress(j, index, size, jobs::byte_source::origin, mono_now());
  save_adopted_progress(j, index);
}

// A segmented file's length says nothing about each segment: its segments write their own parts
// of a sparse file, each in order from where it stopped. What a segment wrote after its last
// record is the data that follows that point up to the first hole, less the block the writing
// stopped in (the file system counts a block as data once any byte of it is written): every
// block before that one was written whole by the same transfer. Only blocks wholly inside the
// segment count, since the block that holds its end may be data written by the next segment.
// This needs a file system that keeps holes; one that does not (where punching a hole fails)
// reports everything as data and adopts nothing. start_segments() punches out every segment's
// unrecorded part each time the file starts, so the data found here was written in this boot,
// by this segment.
void manager::adopt_segment_bytes(jobs::job& j, std::uint32_t index, int fd,
                                  const struct stat& info) {
  auto& file = j.files[index];
  const auto size = static_cast<std::uint64_t>(info.st_size);
  const std::uint64_t block =
      info.st_blksize > 0 ? static_cast<std::uint64_t>(info.st_blksize) : std::uint64_t{4096};
  if (!punch_hole(fd, (size + block - 1) / block * block, block)) return;  // no holes here
  std::vector<jobs::segment> adopted = file.segments;
  for (auto& s : adopted) {
    const std::uint64_t from = s.next();
    if (s.complete() || from >= size) continue;
    const off_t hole = ::lseek(fd, static_cast<off_t>(from), SEEK_HOLE);
    if (hole < 0) continue;
    const std::uint64_t data_end =
        std::min(static_cast<std::uint64_t>(hole), s.end / block * block);
    if (data_end <= from) continue;
    const std::uint64_t upto = (data_end - 1) / block * block;
    if (upto > from) s.done = upto - s.first;
  }
  const std::uint64_t done = jobs::segments_done(adopted);
  if (done <= file.bytes_transferred || ::fdatasync(fd) != 0) return;
  spdlog::info("job {}: file {}: {} bytes its segments wrote before the daemon stopped are kept",
               j.id, index, done - file.bytes_transferred);
  file.segments = std::move(adopted);
  record_progress(j, index, done, jobs::byte_source::origin, mono_now());
  save_adopted_progress(j, index);
}

void manager::save_adopted_progress(const jobs::job& j, std::uint32_t index) {
  try {
    store::job_store::batch b(store_);
    store_.save_file_progress(j.id, index, j.files[index]);
    store_.save_totals(totals_);
    b.commit();
    totals_dirty_ = false;
  } catch (const std::exception& e) {
    spdlog::error("could not record progress of job {}: {}", j.id, e.what());
  }
}

// Deallocates bytes [offset, offset + length) of a file, keeping its size; false where the file
// system cannot.
bool manager::punch_hole(int fd, std::uint64_t offset, std::uint64_t length) {
  return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                     static_cast<off_t>(length)) == 0;
}

file_result manager::truncate_temp(int fd, std::uint64_t size) {
  if (::ftruncate(fd, static_cast<off_t>(size)) == 0) return {};
  const int error = errno;
  return {error == ENOSPC ? value_of(hr::disk_full) : value_of(hr::e_fail),
          std::string("cannot truncate the temporary file: ") + std::strerror(error)};
}

// The file's bytes against its expected digest, read back from the temporary file (pread, so
// the engine's descriptor is not moved; the event loop waits for it: about a second per GiB).
// A mismatch puts the job in ERROR with BG_E_VALIDATION_FAILED and drops the bytes, so that
// Complete never delivers them and a Resume fetches the file again.
bool manager::verify_digest(jobs::job& j, std::uint32_t index, int fd) {
  auto& file = j.files[index];
  if (file.digest.empty()) return true;
  const auto expected = jobs::parse_digest(file.digest);
  const std::string actual = expected ? digest_of(fd, expected->algorithm) : std::string();
  if (expected && actual == expected->hex) return true;
  spdlog::warn("job {}: file {} does not have its expected digest", j.id, index);
  file.bytes_transferred = 0;  // the counters keep the bytes: they were fetched
  file.segments.clear();
  if (::ftruncate(fd, 0) != 0) spdlog::warn("job {}: cannot truncate file {}", j.id, index);
  fail_job(j, value_of(hr::bg_e_validation_failed), error_context::remote_file, index,
           actual.empty() ? "the temporary file could not be read to check its digest"
                          : "the file's " + expected->algorithm + " is " + actual + ", not " +
                                expected->hex + " as expected; it is not delivered",
           false);
  return false;
}

bool manager::complete_file(jobs::job& j, std::uint32_t index) {
  import_into_content_cache(j, index);
  count_file_downloaded();
  cache_attempts_.erase({j.id, index});
  const bool job_done = jobs::on_file_completed(j, index, wall_now());
  notifier_.on_file_transferred(j, index);
  persist_file(j, index);  // only this file and the job's own row changed
  if (job_done) {
    spdlog::info("job {} transferred", j.id);
    notify(j, job_event_kind::state);
    dirty_schedule_ = true;  // its slot is free
  }
  return job_done;
}

void manager::on_finished_file(jobs::job& j, std::uint32_t index) {
  if (complete_file(j, index)) return;
  notify(j, job_event_kind::progress);
  start_file(j);  // the next file goes right on, reusing the connection
  // Its host may differ and be at its cap: this loop turn's scheduling pass (before the new
  // request connects) stops whichever transfer ranks lower there.
  dirty_schedule_ = true;
}

void manager::stop_job(jobs::job& j) {
  if (halt_job(j)) persist(j);
}

bool manager::halt_job(jobs::job& j) {
  stop_shared_file(j);
  stop_metainfo_fetch(j.id);
  auto it = active_by_job_.find(j.id);
  if (it == active_by_job_.end()) return false;
  const auto now = mono_now();
  const std::vector<transfer::http::transfer_id> tids = it->second;
  for (const auto tid : tids) stop_transfer(j, tid, now);
  turns_.erase(j.id);
  controllers_.erase(controllers_.lower_bound({j.id, 0}),
                     controllers_.lower_bound({j.id + '\0', 0}));
  return true;
}

void manager::stop_transfer(jobs::job& j, transfer::http::transfer_id id, jobs::mono_time now) {
  auto& t = active_.at(id);
  if (id == active_by_job_.at(j.id).front()) count_time(j.files[t.file_index], t, now);
  if (auto durable = engine_.stop(id)) record_transfer(j, t, *durable, now);
  forget_transfer(id);
}

void manager::forget_transfer(transfer::http::transfer_id id) {
  const std::string job_id = active_.at(id).job_id;
  active_.erase(id);
  auto& tids = active_by_job_.at(job_id);
  const bool was_front = tids.front() == id;
  std::erase(tids, id);
  if (tids.empty()) {
    active_by_job_.erase(job_id);
  } else if (was_front) {
    active_.at(tids.front()).clock_at = mono_now();  // the file's clock goes on from here
  }
}

std::uint64_t manager::unrecorded(transfer::http::transfer_id id, const active_transfer& t) const {
  const std::uint64_t live = engine_.received(id);
  return live > t.recorded_local ? live - t.recorded_local : 0;
}

void manager::record_transfer(jobs::job& j, active_transfer& t, std::uint64_t durable_local,
                              jobs::mono_time now) {
  auto& file = j.files[t.file_index];
  std::uint64_t progress = t.progress_at(durable_local);
  if (t.segment) {
    auto& s = file.segments[*t.segment];
    const std::uint64_t upto = std::min(durable_local, s.end);
    if (upto > s.first) s.done = std::max(s.done, upto - s.first);
    progress = jobs::segments_done(file.segments);
  }
  t.recorded_local = std::max(t.recorded_local, durable_local);
  if (progress != file.bytes_transferred) record_progress(j, t.file_index, progress, t.source, now);
}

void manager::sync_name(const jobs::job& j, std::uint32_t index) {
  if (unsynced_names_.erase({j.id, index}) == 0) return;
  const std::string& local_name = j.files[index].local_name;
  const auto dir = unsynced_dirs_.find(std::make_pair(j.owner_uid, split_path(local_name).first));
  if (dir == unsynced_dirs_.end()) return;
  // One sync makes every name created in the directory so far durable.
  const file_result synced = files_.sync_directory(j.owner_uid, local_name);
  if (!synced.ok()) spdlog::warn("job {}: {}", j.id, synced.message);
  for (const auto& name : dir->second) unsynced_names_.erase(name);
  unsynced_dirs_.erase(dir);
}

void manager::record_progress(jobs::job& j, std::uint32_t index, std::uint64_t durable,
                              jobs::byte_source source, jobs::mono_time now) {
  sync_name(j, index);  // before any byte of a new temporary file is recorded
  auto& file = j.files[index];
  if (durable > file.bytes_transferred) {
    const std::uint64_t received = durable - file.bytes_transferred;
    jobs::add_received(file.sources, source, received);
    jobs::add_received(totals_.sources, source, received);
    totals_dirty_ = true;
  }
  jobs::on_progress(j, index, durable, now);
}

void manager::count_request(jobs::file_record& file, jobs::byte_source source) {
  jobs::add_request(file.sources, source);
  jobs::add_request(totals_.sources, source);
  totals_dirty_ = true;
}

void manager::count_time(jobs::file_record& file, active_transfer& t, jobs::mono_time now) {
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(now - t.clock_at);
  if (spent.count() <= 0) return;
  // The clock moves by the milliseconds counted, so that the rounding is not lost.
  t.clock_at += spent;
  const auto ms = static_cast<std::uint64_t>(spent.count());
  file.sources.download_duration_ms += ms;
  totals_.sources.download_duration_ms += ms;
  totals_dirty_ = true;
}

void manager::count_file_downloaded() {
  ++totals_.files_downloaded;
  totals_dirty_ = true;
}

source_stats manager::live_totals() const {
  source_stats totals = totals_.sources;
  for (const auto& [tid, t] : active_) jobs::add_received(totals, t.source, unrecorded(tid, t));
  return totals;
}

std::uint64_t manager::job_rate(const std::string& id) const {
  const auto it = job_rates_.find(id);
  return it == job_rates_.end() ? 0 : it->second.per_second();
}

void manager::sample_job_rates(jobs::mono_time now) {
  // A job's bytes are a sum over its files: taken once per step of the rate's window, not at
  // every loop turn (thousands a second while many small files finish).
  if (now - job_rates_sampled_ < jobs::rate_window::kDefaultStep) return;
  job_rates_sampled_ = now;
  std::erase_if(job_rates_, [&](const auto& e) { return active_by_job_.count(e.first) == 0; });
  for (const auto& [job_id, tids] : active_by_job_) {
    // The job's bytes as view() counts them: recorded, plus what its transfers received since.
    const jobs::job& j = jobs_.at(job_id);
    std::uint64_t bytes = 0;
    for (const auto& file : j.files) bytes += file.bytes_transferred;
    for (const auto tid : tids) bytes += unrecorded(tid, active_.at(tid));
    job_rates_[job_id].sample(now, bytes);
  }
}

void manager::checkpoint(transfer::http::transfer_id tid, active_transfer& t, jobs::mono_time now) {
  t.last_checkpoint = now;
  auto durable = engine_.checkpoint(tid);
  if (!durable) return;  // a local write error; the transfer finishes with it
  record_checkpoint(tid, t, *durable, now);
}

void manager::on_synced(transfer::http::transfer_id id, std::uint64_t durable) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  record_checkpoint(id, it->second, durable, mono_now());
}

// Records what a checkpoint made durable (no more: bytes received since are not on disk yet).
void manager::record_checkpoint(transfer::http::transfer_id tid, active_transfer& t,
                                std::uint64_t durable, jobs::mono_time now) {
  jobs::job& j = jobs_.at(t.job_id);
  auto& file = j.files[t.file_index];
  if (tid == active_by_job_.at(t.job_id).front()) count_time(file, t, now);
  // The download time survives a restart up to the last checkpoint.
  jobs::checkpoint_download_time(j, now);
  try {
    store_.save_download_time(j.id, j.download_time_spent);
  } catch (const std::exception& e) {
    spdlog::error("could not record the download time of job {}: {}", j.id, e.what());
  }
  record_transfer(j, t, durable, now);
  try {
    store::job_store::batch b(store_);
    store_.save_file_progress(j.id, t.file_index, file);
    if (totals_dirty_) store_.save_totals(totals_);
    b.commit();
    totals_dirty_ = false;
  } catch (const std::exception& e) {
    spdlog::error("could not record progress of job {}: {}", j.id, e.what());
  }
}

void manager::enforce_max_download_size() {
  // Only files of unknown size can grow past the limit after their response was accepted.
  std::vector<std::string> over;
  for (const auto& [job_id, tids] : active_by_job_) {
    const jobs::job& j = jobs_.at(job_id);
    if (j.max_download_size == 0) continue;
    // A file of known size counts whole already (download_size): its live bytes are not added,
    // or a finished file whose sync is still running would count twice.
    std::uint64_t live = 0;
    for (const auto tid : tids) {
      const active_transfer& t = active_.at(tid);
      if (j.files[t.file_index].bytes_total == size_unknown) live += unrecorded(tid, t);
    }
    if (jobs::exceeds_max_download_size(j, live)) over.push_back(job_id);
  }
  for (const auto& job_id : over) {
    jobs::job& j = jobs_.at(job_id);
    const std::uint32_t index = active_.at(active_by_job_.at(job_id).front()).file_index;
    stop_job(j);
    fail_job(j, value_of(hr::bg_e_max_download_size_limit_reached), error_context::remote_file,
             index,
             "the job downloaded more than its maximum download size of " +
                 std::to_string(j.max_download_size) + " bytes",
             false);
  }
}

void manager::checkpoint_all() {
  // Syncs in flight first: finished transfers are reported as such, not merely checkpointed.
  engine_.drain_syncs();
  const auto now = mono_now();
  for (auto& [tid, t] : active_) checkpoint(tid, t, now);
  record_tail_cuts();
}

void manager::wait_for_network(jobs::job& j, const jobs::cost_block& block) {
  // TRANSIENT_ERROR with the blocking code: visible in status and GetError, looked at again after
  // the retry delay like any transient error, and at once when the network changes.
  const std::uint32_t file =
      std::min<std::uint32_t>(j.current_file, static_cast<std::uint32_t>(j.files.size() - 1));
  fail_job(j, block.code, error_context::general_queue_manager, file, block.message, true);
}

void manager::on_network_changed(jobs::mono_time now) {
  dirty_schedule_ = true;
  std::vector<std::string> stopped;
  for (auto& [id, j] : jobs_) {
    const auto block = jobs::blocked_by_cost(j, network_.cost());
    if (j.state == job_state::transient_error && j.error && jobs::is_cost_block(j.error->code) &&
        !block) {
      j.retry_at = now;  // the next tick queues it again
      continue;
    }
    if (block && running(id)) {
      stop_job(j);  // keeps the bytes on disk and in the content cache
      stopped.push_back(id);
      wait_for_network(j, *block);
    }
  }
  for (const auto& id : stopped) spdlog::info("job {}: stopped, the network does not allow it", id);
}

void manager::fail_job(jobs::job& j, std::uint32_t code, error_context context, std::uint32_t file,
                       const std::string& message, bool transient) {
  jobs::error_record error;
  error.code = code;
  error.context = context;
  error.file_index = file;
  error.message = message;
  const auto& url = j.files.at(file).remote_url;
  error.protocol = url.rfind("https", 0) == 0 ? "https" : "http";
  const job_state state = jobs::on_error(j, error, transient, mono_now(), wall_now());
  spdlog::warn("job {}: file {}: 0x{:08X} {} -> {}", j.id, file, code, message, to_string(state));
  persist(j);
  notify(j, job_event_kind::state);
  dirty_schedule_ = true;
}

// ---- engine events
// ---------------------------------------------------------------------------------

std::optional<transfer::http::outcome> manager::on_response(
    transfer::http::transfer_id id, const transfer::http::response_info& info) {
  if (auto fetch = on_origin_fetch_response(id, info)) return *fetch;
  if (auto fetch = on_metainfo_fetch_response(id, info)) return *fetch;
  auto it = active_.find(id);
  if (it == active_.end()) return std::nullopt;
  active_transfer& t = it->second;
  jobs::job& j = jobs_.at(t.job_id);
  auto& file = j.files[t.file_index];
  if (info.restarted) {
    spdlog::info("job {}: file {} starts again from byte 0 ({})", j.id, t.file_index,
                 info.validators_changed ? "it changed on the server"
                                         : "the server ignored the range request");
    file.bytes_transferred = 0;
    t.base_progress = t.base_local = t.recorded_local = 0;
    if (!info.validators_changed && !info.accepts_ranges) {
      ++restarts_[{j.id, t.file_index}];
    }
  }
  file.remote_size = info.total;
  if (file.ranges.empty()) {
    file.bytes_total = info.total;
  } else if (info.total != size_unknown) {
    const jobs::range_check fit = jobs::check_ranges_fit(file.ranges, info.total);
    if (!fit.ok()) {
      transfer::http::outcome refused;
      refused.code = fit.code;
      refused.context = error_context::remote_file;
      refused.message = fit.message;
      return refused;
    }
    file.bytes_total = jobs::ranges_total(file.ranges, info.total);
  }
  file.etag = info.etag;
  file.last_modified = info.last_modified;
  j.last_response = to_http_response(info.record);
  if (jobs::exceeds_max_download_size(j)) {
    // Refused before the body: the job may not download that much in all.
    transfer::http::outcome refused;
    refused.code = value_of(hr::bg_e_max_download_size_limit_reached);
    refused.context = error_context::remote_file;
    refused.message = "the job would download " + std::to_string(jobs::download_size(j)) +
                      " bytes, more than its maximum download size of " +
                      std::to_string(j.max_download_size);
    return refused;
  }
  start_turn(j, t.file_index, info);
  if (!t.segment && (info.accepts_ranges || info.status == 206) && file.ranges.empty() &&
      !j.dynamic_content && file.remote_size != size_unknown &&
      file.remote_size >= 2 * config_.segments.min_segment_size &&
      config_.segments.max_connections > 1) {
    // One connection now; its controller decides whether more pay (grow_segments), starting
    // from what the host's last file learned, if it is remembered.
    t.splittable = true;
    jobs::connection_controller& controller =
        controllers_
            .insert_or_assign({j.id, t.file_index}, jobs::connection_controller(config_.segments))
            .first->second;
    if (const auto learned = connection_memory_.recall(memory_key(j, t.url), mono_now())) {
      controller.start_from(*learned);
      spdlog::info("job {}: file {} starts with {} connection(s), as its host's last file", j.id,
                   t.file_index, controller.wanted());
    }
    controller.connections_changed(mono_now(), 1, file.bytes_transferred);
  }
  const job_state before = j.state;
  jobs::on_transferring(j, wall_now());
  jobs::on_progress(j, t.file_index, file.bytes_transferred, mono_now());
  if (j.state != before) {
    persist_file(j, t.file_index);  // the job's row and this file's changed
    notify(j, job_event_kind::state);
    return std::nullopt;
  }
  // Only the file's size, validators and progress changed (a job of many files sees a response
  // per file). They are recorded with the file's first recorded bytes: every path that records
  // bytes (a checkpoint, a segment's end, the file's end) writes the whole progress row from
  // this record, validators included, so no byte is ever on record without the validators it
  // must be resumed with. Until then a restart asks for the file from its start, as the store
  // says, and loses nothing. A file that starts again from byte 0 is the exception: the store
  // still holds the bytes and validators of the old content, which must not be resumed.
  if (!info.restarted) return std::nullopt;
  try {
    store_.save_file_progress(j.id, t.file_index, file);
  } catch (const std::exception& e) {
    spdlog::error("could not record the response for file {} of job {}: {}", t.file_index, j.id,
                  e.what());
  }
  return std::nullopt;
}

void manager::restart_changed_file(jobs::job& j, std::uint32_t index, const std::string& why) {
  spdlog::info("job {}: file {}: {}", j.id, index, why);
  jobs::restart_file(j.files[index]);
  jobs::on_requeued(j, mono_now(), wall_now());
  persist(j);
  dirty_schedule_ = true;
}

// A segment's transfer ended. Its bytes are recorded; when every segment is complete the file
// is; otherwise the file keeps its number of connections. A failure stops the file's other
// transfers too and the job fails as with one connection.
void manager::on_segment_finished(transfer::http::transfer_id id,
                                  const transfer::http::outcome& result) {
  active_transfer& t = active_.at(id);
  const std::string job_id = t.job_id;
  const std::uint32_t index = t.file_index;
  const jobs::byte_source source = t.source;
  const std::string cache_host = t.cache_host;
  const std::string url = t.url;
  jobs::job& j = jobs_.at(job_id);
  auto& file = j.files[index];
  const auto now = mono_now();
  if (id == active_by_job_.at(job_id).front()) count_time(file, t, now);
  record_transfer(j, t, result.bytes, now);
  if (t.segment) {
    const auto& s = file.segments[*t.segment];
    spdlog::debug("job {}: file {} segment {} [{}, {}) ends: {}", job_id, index, *t.segment,
                  s.first, s.end, result.ok ? "done" : "failed");
  }
  const ipc::unique_fd fd = std::move(t.fd);  // for the digest check
  forget_transfer(id);
  if (result.response) j.last_response = to_http_response(*result.response);
  if (result.remote_mtime >= 0) file.remote_mtime = result.remote_mtime;
  if (result.ok) {
    if (jobs::segments_complete(file.segments)) {
      // A file that ended while it still tried more remembers what it was trying.
      if (auto c = controllers_.find({job_id, index});
          c != controllers_.end() && !c->second.settled() && c->second.learned()) {
        connection_memory_.remember(memory_key(j, url), *c->second.learned(), now);
      }
      if (active_by_job_.count(job_id) != 0) stop_job(j);  // nothing is left to fetch
      controllers_.erase({job_id, index});
      file.bytes_total = file.remote_size;
      if (!verify_digest(j, index, fd.get())) return;
      on_finished_file(j, index);
      return;
    }
    save_segments(j, index);
    if (active_by_job_.count(job_id) == 0) {
      // The last transfer ended with segments left (they waited for room): they go on now.
      start_file(j);
      return;
    }
    // The file keeps as many connections as its controller decided on.
    auto c = controllers_.find({job_id, index});
    const std::size_t running = active_by_job_.at(job_id).size();
    if (c != controllers_.end() && c->second.wanted() > running &&
        connection_budget(j, index) > 0) {
      add_connection(j, index);
    }
    if (c != controllers_.end()) {
      c->second.connections_changed(
          now, static_cast<std::uint32_t>(active_by_job_.at(job_id).size()), 0);
    }
    return;
  }
  stop_job(j);
  // A cache host that fails a segment is banned and the file goes on from the next source.
  if (source == jobs::byte_source::cache_host &&
      on_cache_host_failure(j, index, cache_host, result)) {
    return;
  }
  if (result.restart_file) {
    restart_changed_file(j, index, result.message);
    return;
  }
  fail_job(j, result.code, result.context, index, result.message, result.transient);
}

// The job's slice starts with its first response: time spent connecting is no turn used. It may
// be rotated out only while the file's bytes survive a stop (see jobs::schedule_input).
void manager::start_turn(const jobs::job& j, std::uint32_t index,
                         const transfer::http::response_info& info) {
  const auto& file = j.files[index];
  turn& t = turns_[j.id];
  if (!t.started) {
    t.started = mono_now();
    dirty_schedule_ = true;  // the scheduler learns when the slice ends
  }
  const bool takes_ranges = info.accepts_ranges || !file.ranges.empty();
  t.resumable =
      takes_ranges && file.bytes_total != size_unknown && restarts_.count({j.id, index}) == 0;
}

void manager::on_finished(transfer::http::transfer_id id, const transfer::http::outcome& result) {
  if (on_origin_fetch_finished(id, result)) return;
  if (on_metainfo_fetch_finished(id, result)) return;
  auto it = active_.find(id);
  if (it == active_.end()) return;
  if (it->second.segment) {
    on_segment_finished(id, result);
    return;
  }
  const std::string job_id = it->second.job_id;
  const std::uint32_t index = it->second.file_index;
  const std::uint64_t progress = it->second.progress_at(result.bytes);
  const jobs::byte_source source = it->second.source;
  const std::string cache_host = it->second.cache_host;
  jobs::job& j = jobs_.at(job_id);
  auto& file = j.files[index];
  const auto now = mono_now();
  count_time(file, it->second, now);
  const ipc::unique_fd fd = std::move(it->second.fd);  // for the digest check
  forget_transfer(id);
  controllers_.erase({job_id, index});
  if (result.response) j.last_response = to_http_response(*result.response);

  if (result.ok) {
    if (file.bytes_total == size_unknown && file.ranges.empty()) {
      file.bytes_total = file.remote_size = progress;
    }
    file.remote_mtime = result.remote_mtime;
    record_progress(j, index, progress, source, now);
    restarts_.erase({job_id, index});
    if (!file.ranges.empty() &&
        jobs::next_range_request(file.ranges, file.layout, file.remote_size, progress)) {
      // The next range of the same file, over the same connection.
      persist(j);
      notify(j, job_event_kind::progress);
      start_file(j);
      return;
    }
    if (file.bytes_total == size_unknown) file.bytes_total = progress;
    if (!verify_digest(j, index, fd.get())) return;
    on_finished_file(j, index);
    return;
  }

  if (progress > file.bytes_transferred) record_progress(j, index, progress, source, now);
  if (source == jobs::byte_source::cache_host &&
      on_cache_host_failure(j, index, cache_host, result)) {
    return;
  }
  if (result.restart_file) {
    restart_changed_file(j, index, result.message);
    return;
  }
  // Whole files only: a ranged file always asks for ranges, and a server without them is an error.
  const bool cannot_resume = file.ranges.empty() && file.bytes_transferred > 0 &&
                             (file.bytes_total == size_unknown || restarts_.count({job_id, index}));
  if (cannot_resume && ++restarts_[{job_id, index}] > kMaxRangelessRestarts) {
    const bool unknown_size = file.bytes_total == size_unknown;
    fail_job(
        j,
        value_of(unknown_size ? hr::bg_e_missing_file_size : hr::bg_e_insufficient_range_support),
        error_context::remote_file, index,
        std::string(unknown_size ? "the server does not report the file's size"
                                 : "the server does not support byte ranges") +
            ", and the transfer was interrupted " + std::to_string(kMaxRangelessRestarts) +
            " times: " + result.message,
        false);
    return;
  }
  const std::string message =
      result.context == error_context::local_file && result.code == value_of(hr::disk_full) && fd
          ? describe_full_disk(fd.get(), file.local_name, file.bytes_transferred, result.message)
          : result.message;
  fail_job(j, result.code, result.context, index, message, result.transient);
}

}  // namespace opendo::daemon
