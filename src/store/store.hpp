// The job store: jobs, their files and progress in one SQLite database (WAL mode), so that a
// daemon killed at any moment restarts with every job where it was recorded.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
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
  // Updates only the progress columns of one file (bytes_total, bytes_transferred, completed,
  // the source counters, etag, last_modified, remote_mtime, delivered, segments).
  void save_file_progress(const std::string& job_id, std::uint32_t index,
                          const jobs::file_record& file);
  // Updates only the download time spent (a checkpoint of a running job's clock).
  void save_download_time(const std::string& job_id, std::chrono::milliseconds spent);
  // Removes the job with its files, credentials and completing mark.
  void remove_job(const std::string& job_id);
  // The machine's totals (`opendo perfsnap`): what load_totals reads is what save_totals last
  // wrote; zeros in a new store.
  jobs::machine_totals load_totals();
  void save_totals(const jobs::machine_totals& totals);
  // The mark of a Complete in progress, set before its first rename (docs/durability.md): a
  // daemon restarted after a crash finishes such a job's Complete instead of leaving some files
  // delivered and others not.
  void mark_completing(const std::string& job_id);
  void clear_completing(const std::string& job_id);
  bool completing(const std::string& job_id);
  // Small named values of the daemon's own (the meta table), e.g. the boot the store was last
  // opened in. nullopt when unset.
  std::optional<std::string> meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);
  // Every stored job with its files in index order and its credentials.
  std::vector<jobs::job> load_all();

  // The client requests of one event-loop turn (docs/durability.md, "Group commit"): their
  // writes go into one transaction, and commit() makes it durable with one sync
  // (synchronous = FULL), so that what a client is told was done survives a power loss while
  // the turn's requests share a single fsync. Outside a group a commit reaches the disk at the
  // next WAL checkpoint (synchronous = NORMAL: a crash of the daemon loses nothing, a power loss
  // the last commits). Batches made inside are savepoints: a request whose writes fail rolls
  // back only its own. Made outside any batch; groups do not nest.
  class group {
   public:
    explicit group(job_store& store);
    ~group();  // commits, if commit() was not called
    group(const group&) = delete;
    group& operator=(const group&) = delete;
    // nullopt once every write of the group is on disk; otherwise why it may not be (the
    // transaction failed, or an error made SQLite roll it back).
    std::optional<std::string> commit();

   private:
    job_store* store_;
    bool done_ = false;
  };

  // The rows changed since the store was opened: a request that changed none wrote nothing.
  std::int64_t changes() const;

  // Groups the writes made while it lives into one transaction (committed by commit() or the
  // destructor; rolled back if the destructor runs during stack unwinding). Batches nest: only
  // the outermost one commits, and an inner one is a savepoint that rolls back alone.
  class batch {
   public:
    explicit batch(job_store& store);
    ~batch();
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    void commit();

   private:
    job_store* store_;
    bool outermost_;  // a transaction; otherwise a savepoint in the enclosing one
    bool done_ = false;
    int uncaught_;
  };

 private:
  void save_segments(const std::string& job_id, std::uint32_t index, const jobs::file_record& file);
  void save_file_content(const std::string& job_id, std::uint32_t index,
                         const jobs::file_record& file);
  struct statements;
  sqlite3* db_ = nullptr;
  std::unique_ptr<statements> stmts_;
  int batch_depth_ = 0;
  bool in_group_ = false;
  void exec(const char* sql);
  // Inside a group: commits what it holds so far (synced) and goes on in a new transaction, for
  // a write that must be on disk before an effect outside the store. Elsewhere writes are
  // already committed.
  void commit_group_so_far();
  std::vector<jobs::job> load_all_in_transaction();
};

}  // namespace opendo::store
