// The job store: jobs, their files and progress in one SQLite database (WAL mode), so that a
// daemon killed at any moment restarts with every job where it was recorded.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobs/accounting.hpp"
#include "jobs/job.hpp"

struct sqlite3;

namespace opendo::store {

class job_store {
 public:
  // Opens (creating if needed, mode 0600) the database at `path`, sets WAL mode and creates or
  // migrates the schema. Throws opendo::error (E_FAIL-family HRESULT, message naming the path and
  // SQLite's reason) when the file cannot be opened or is not an opendo store.
  explicit job_store(const std::string& path);
  ~job_store();
  job_store(const job_store&) = delete;
  job_store& operator=(const job_store&) = delete;

  // Inserts or replaces the job row, all its file rows and its credential rows.
  void save_job(const jobs::job& j);
  // The job row and one file's row (with its segments), in one transaction: what changes when
  // one file of a job finishes, so a job of N files costs O(1) rows per file, not O(N).
  void save_job_file(const jobs::job& j, std::uint32_t index);
  // The job row alone: after a change of the job's own fields (state, error, times) that left its
  // files, credentials and HTTP options as they were, so that a job of N files costs one row.
  void save_job_state(const jobs::job& j);
  // The job row and the rows of files [first, end): after AddFiles appended them, so that a job
  // whose files are added one call at a time does not rewrite the earlier ones at each call.
  void save_added_files(const jobs::job& j, std::uint32_t first);
  // Updates only the progress columns of one file (bytes_total, bytes_transferred, completed,
  // the source counters, etag, last_modified, remote_mtime, delivered, segments).
  void save_file_progress(const std::string& job_id, std::uint32_t index,
                          const jobs::file_record& file);
  // IBackgroundCopyFile3::SetValidationState's flags of a file (validated, origin_only). Only that
  // request changes them, so save_job leaves them as they are.
  void save_validation(const std::string& job_id, std::uint32_t index,
                       const jobs::file_record& file);
  // Updates only the download time spent (a checkpoint of a running job's clock).
  void save_download_time(const std::string& job_id, std::chrono::milliseconds spent);
  // Removes the job with its files, credentials, completing mark and tail-cut marks.
  void remove_job(const std::string& job_id);
  // The machine's totals (`opendo perfsnap`): what load_totals reads is what save_totals last
  // wrote; zeros in a new store.
  jobs::machine_totals load_totals();
  void save_totals(const jobs::machine_totals& totals);
  // The mark of a Complete in progress, set (and synced) before its first rename
  // (docs/durability.md): a daemon restarted after a crash finishes such a job's Complete
  // instead of leaving some files delivered and others not.
  void mark_completing(const std::string& job_id);
  void clear_completing(const std::string& job_id);
  bool completing(const std::string& job_id);
  // Small named values of the daemon's own (the meta table), e.g. the boot the store was last
  // opened in. nullopt when unset.
  std::optional<std::string> meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);
  // A file's tail-cut mark (docs/durability.md): in boot `boot_id` the daemon cut the file's
  // temporary file back to what its record says, so that whatever the file holds past its record
  // was written in that boot. A later start in the same boot may adopt those bytes; a file
  // without the mark of the current boot may hold what a power loss left, and never does. Meta
  // rows rather than a column, as for the completing mark: the schema stays as it is.
  void mark_tail_cut(const std::string& job_id, std::uint32_t index, const std::string& boot_id);
  // The files marked in `boot_id`, as (job id, file index).
  std::set<std::pair<std::string, std::uint32_t>> tails_cut_in(const std::string& boot_id);
  // Drops every tail-cut mark (the daemon starts in a boot the store has not seen).
  void forget_tail_cuts();
  // Every stored job with its files in index order and its credentials.
  std::vector<jobs::job> load_all();

  // Commits are made with synchronous = NORMAL: a crash of the daemon loses none, a power loss
  // the ones since the WAL was last synced. sync() syncs the WAL, which makes every committed
  // transaction survive a power loss: the server calls it once per event-loop turn, before it
  // answers the turn's requests (group commit, docs/durability.md). Throws opendo::error.
  void sync();
  // The rows changed since the store was opened: whether something was written since a count.
  std::int64_t changes() const;

  // Groups the writes made while it lives into one transaction (committed by commit() or the
  // destructor; rolled back if the destructor runs during stack unwinding). Batches nest: only
  // the outermost one commits. Inside a turn (below) the outermost batch is a savepoint of the
  // turn's transaction: its writes stay all or nothing, and they commit with the turn's.
  class batch {
   public:
    explicit batch(job_store& store);
    ~batch();
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    void commit();

   private:
    void roll_back();
    job_store* store_;
    bool outermost_;
    bool savepoint_ = false;
    bool done_ = false;
    int uncaught_;
  };

  // One transaction for the batches of a stretch of work that makes many small ones (the
  // transfers' records of one poll of the engine: a small file's response and end are two, for
  // each file): each commit costs WAL writes and lock calls whatever it holds. The transaction
  // begins with the first batch and commits at end() (or in the destructor, which cannot report
  // a failure), or at commit_so_far(), which whoever is about to tell a client what the batches
  // recorded calls first. A failed commit rolls the turn's writes back and throws; callers
  // inside a turn only log failed batches too. Not for client requests, which must learn whether
  // their own change was recorded.
  class turn {
   public:
    explicit turn(job_store& store);
    ~turn();
    void end();
    turn(const turn&) = delete;
    turn& operator=(const turn&) = delete;

   private:
    job_store* store_;
    bool outer_;  // a turn opened inside another one leaves the commit to the outer one
  };
  // Commits what the open turn has written so far; the turn goes on. Does nothing outside one.
  // Throws opendo::error after rolling back, like a batch's commit().
  void commit_so_far();

 private:
  // The jobs row and its limits and policy columns.
  void save_job_row(const jobs::job& j);
  // One file's row, its segments and (once) its content row.
  void save_file_row(const jobs::job& j, std::uint32_t index);
  void save_file_content(const std::string& job_id, std::uint32_t index,
                         const jobs::file_record& file);
  // The meta rows whose key starts with `prefix` (which ends in a space).
  void delete_meta_with_prefix(std::string_view prefix);
  struct statements;
  sqlite3* db_ = nullptr;
  std::unique_ptr<statements> stmts_;
  int batch_depth_ = 0;
  bool in_turn_ = false;     // a turn is open
  bool turn_began_ = false;  // ... and its transaction has begun
  // The totals as the open transaction (or the database) holds them, once save_totals wrote them
  // all; reset by a rollback.
  std::optional<jobs::machine_totals> saved_totals_;
  void rolled_back();
  void exec(const char* sql);
  std::vector<jobs::job> load_all_in_transaction();
};

}  // namespace opendo::store
