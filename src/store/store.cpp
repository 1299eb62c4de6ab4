// The job store on SQLite: schema, cached prepared statements and transactions.
// Every write goes through bound parameters; every SQLite failure becomes an opendo::error.
#include "store/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/numbers.hpp"
#include "jobs/accounting.hpp"
#include "jobs/headers.hpp"
#include "jobs/segments.hpp"
#include "opendo/hresult.hpp"

namespace opendo::store {

namespace {

constexpr std::int64_t kSchemaVersion = 14;

[[noreturn]] void fail(std::string_view path, std::string_view operation, std::string_view reason,
                       opendo::hr code = opendo::hr::e_fail) {
  std::string message = "job store ";
  message.append(path).append(": ").append(operation).append(": ").append(reason);
  throw opendo::error(opendo::value_of(code), message);
}

std::string db_path(sqlite3* db) {
  const char* name = sqlite3_db_filename(db, "main");
  return name != nullptr ? name : "(unknown)";
}

// A full disk has its own HRESULT: the daemon tells it apart from a broken store.
[[noreturn]] void fail(sqlite3* db, std::string_view operation) {
  const bool full = (sqlite3_extended_errcode(db) & 0xFF) == SQLITE_FULL;
  fail(db_path(db), operation, sqlite3_errmsg(db),
       full ? opendo::hr::disk_full : opendo::hr::e_fail);
}

// Sizes are unsigned but SQLite integers are signed: store the bit pattern, so size_unknown
// (UINT64_MAX) reads back as -1 in the sqlite3 shell and round-trips exactly.
std::int64_t to_db(std::uint64_t value) {
  return std::bit_cast<std::int64_t>(value);
}
std::uint64_t from_db(std::int64_t value) {
  return std::bit_cast<std::uint64_t>(value);
}

// The inverse of encode_ranges; a store that does not parse is reported, never guessed at.
std::vector<byte_range> decode_ranges(std::string_view text, std::string_view path) {
  auto bad = [&] {
    fail(path, "SELECT files", "a file's ranges do not parse: \"" + std::string(text) + "\"");
  };
  auto number = [&](std::string_view& rest) {
    std::uint64_t value = 0;
    if (!numbers::take_number(rest, value)) bad();
    return value;
  };
  auto expect = [&](std::string_view& rest, char c) {
    if (rest.empty() || rest.front() != c) bad();
    rest.remove_prefix(1);
  };
  std::vector<byte_range> ranges;
  std::string_view rest = text;
  while (!rest.empty()) {
    if (!ranges.empty()) expect(rest, ',');
    byte_range r;
    r.offset = number(rest);
    expect(rest, '+');
    if (!rest.empty() && rest.front() == '*') {
      rest.remove_prefix(1);
    } else {
      r.length = number(rest);
    }
    ranges.push_back(r);
  }
  return ranges;
}

std::string encode_ranges(const std::vector<byte_range>& ranges) {
  std::string text;
  for (const byte_range& r : ranges) {
    if (!text.empty()) text += ',';
    text += std::to_string(r.offset) + '+' +
            (r.length == length_to_eof ? std::string("*") : std::to_string(r.length));
  }
  return text;
}

// One prepared statement, finalized with its owner. `operation` names it in error messages.
class statement {
 public:
  statement(sqlite3* db, const char* operation, const char* sql) : db_(db), operation_(operation) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      fail(db, std::string("prepare ") + operation);
    }
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  sqlite3* db() const { return db_; }
  const char* operation() const { return operation_; }

 private:
  sqlite3* db_;
  const char* operation_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One execution of a cached statement. Resetting and clearing the bindings on the way out lets
// text be bound without copying (SQLITE_STATIC): SQLite never sees the caller's buffers again.
class run {
 public:
  explicit run(statement& s) : s_(s) {}
  ~run() {
    sqlite3_reset(s_.get());
    sqlite3_clear_bindings(s_.get());
  }
  run(const run&) = delete;
  run& operator=(const run&) = delete;

  run& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(s_.get(), index, value));
    return *this;
  }
  run& bind(int index, std::string_view text) {
    check(sqlite3_bind_text(s_.get(), index, text.data(), static_cast<int>(text.size()),
                            SQLITE_STATIC));
    return *this;
  }
  run& bind_blob(int index, std::string_view bytes) {
    check(sqlite3_bind_blob(s_.get(), index, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_STATIC));
    return *this;
  }
  run& bind_null(int index) {
    check(sqlite3_bind_null(s_.get(), index));
    return *this;
  }

  // True while there is a row to read.
  bool step() {
    int rc = sqlite3_step(s_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(s_.db(), s_.operation());
  }
  void execute() {
    while (step()) {
    }
  }

  bool is_null(int column) const { return sqlite3_column_type(s_.get(), column) == SQLITE_NULL; }
  std::int64_t integer(int column) const { return sqlite3_column_int64(s_.get(), column); }
  std::uint32_t u32(int column) const { return static_cast<std::uint32_t>(integer(column)); }
  std::uint64_t u64(int column) const { return from_db(integer(column)); }
  bool boolean(int column) const { return integer(column) != 0; }
  std::string blob(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(s_.get(), column));
    const int size = sqlite3_column_bytes(s_.get(), column);
    return data != nullptr ? std::string(data, static_cast<std::size_t>(size)) : std::string();
  }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(s_.get(), column);
    int size = sqlite3_column_bytes(s_.get(), column);
    return data != nullptr ? std::string(reinterpret_cast<const char*>(data), size) : std::string();
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(s_.db(), std::string("bind ") + s_.operation());
  }
  statement& s_;
};

// The counters of source_stats that have columns of their own after `first` (bytes_from_origin
// keeps its older place), in the order of kUpsertFile, kUpdateProgress and kLoadAll.
void bind_sources(run& r, int first, const source_stats& s) {
  r.bind(first, to_db(s.bytes_from_cache_hosts))
      .bind(first + 1, to_db(s.bytes_from_lan_peers))
      .bind(first + 2, to_db(s.bytes_from_group_peers))
      .bind(first + 3, to_db(s.bytes_to_lan_peers))
      .bind(first + 4, to_db(s.bytes_to_group_peers))
      .bind(first + 5, to_db(s.origin_connections))
      .bind(first + 6, to_db(s.cache_host_connections))
      .bind(first + 7, to_db(s.lan_peer_connections))
      .bind(first + 8, to_db(s.group_peer_connections))
      .bind(first + 9, to_db(s.download_duration_ms));
}

// Runs SQL without results (pragmas, schema, transaction control). `operation` names it in error
// messages; by default the SQL itself does.
void exec_sql(sqlite3* db, const char* sql, const char* operation = nullptr) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail(db, operation != nullptr ? operation : sql);
  }
}

// For paths that are already failing: nothing useful can be done with a failed ROLLBACK.
void rollback_quietly(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

// The first column of the first row of `sql`, if there is a row.
std::optional<std::string> query_text(sqlite3* db, const char* sql) {
  statement s(db, sql, sql);
  run r(s);
  if (!r.step()) return std::nullopt;
  return r.text(0);
}

// jobs, files and credentials hold every field of jobs::job, jobs::file_record and
// jobs::credential_record except the monotonic timers (a restarted daemon starts them afresh) and
// current_file (derived on load). A NULL error_code means no error; a NULL error_file_index an
// error about no particular file. The columns versions 2 to 5 added come last, with defaults, so
// that a migrated store has exactly the layout of a new one. A file's ranges are one text column
// ("OFFSET+LENGTH" items separated by ',', LENGTH '*' for to-the-end; empty for a whole file):
// they are written with the file and never change, and a table of their own would be rewritten
// with every save of the job.
constexpr const char* kCreateSchema = R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY NOT NULL,
  owner_uid INTEGER NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL,
  priority INTEGER NOT NULL,
  state INTEGER NOT NULL,
  notify_flags INTEGER NOT NULL,
  minimum_retry_delay INTEGER NOT NULL,
  no_progress_timeout INTEGER NOT NULL,
  error_count INTEGER NOT NULL,
  error_code INTEGER,
  error_context INTEGER,
  error_file_index INTEGER,
  error_message TEXT,
  error_protocol TEXT,
  creation_time INTEGER NOT NULL,
  modification_time INTEGER NOT NULL,
  transfer_completion_time INTEGER NOT NULL,
  proxy_usage INTEGER NOT NULL DEFAULT 0,
  proxy_list TEXT NOT NULL DEFAULT '',
  proxy_bypass TEXT NOT NULL DEFAULT '',
  notify_program TEXT NOT NULL DEFAULT '',
  notify_parameters TEXT NOT NULL DEFAULT '',
  max_download_time INTEGER NOT NULL DEFAULT 7776000,
  download_time_ms INTEGER NOT NULL DEFAULT 0,
  max_download_size INTEGER NOT NULL DEFAULT 0,
  resumed INTEGER NOT NULL DEFAULT 0,
  notification_interval_ms INTEGER NOT NULL DEFAULT 500,
  dynamic_content INTEGER NOT NULL DEFAULT 0,
  high_performance INTEGER NOT NULL DEFAULT 0,
  peer_caching_flags INTEGER,
  cost_flags INTEGER NOT NULL DEFAULT 2147483903,
  cost_policy INTEGER NOT NULL DEFAULT 0,
  disallow_on_cellular INTEGER NOT NULL DEFAULT 0,
  creator_uid INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE files (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  remote_url TEXT NOT NULL,
  local_name TEXT NOT NULL,
  temp_name TEXT NOT NULL,
  bytes_total INTEGER NOT NULL,
  bytes_transferred INTEGER NOT NULL,
  completed INTEGER NOT NULL,
  bytes_from_origin INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified TEXT NOT NULL,
  remote_mtime INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  ranges TEXT NOT NULL DEFAULT '',
  range_layout INTEGER NOT NULL DEFAULT 0,
  remote_size INTEGER NOT NULL DEFAULT -1,
  digest TEXT NOT NULL DEFAULT '',
  bytes_from_cache_hosts INTEGER NOT NULL DEFAULT 0,
  bytes_from_lan_peers INTEGER NOT NULL DEFAULT 0,
  bytes_from_group_peers INTEGER NOT NULL DEFAULT 0,
  bytes_to_lan_peers INTEGER NOT NULL DEFAULT 0,
  bytes_to_group_peers INTEGER NOT NULL DEFAULT 0,
  origin_connections INTEGER NOT NULL DEFAULT 0,
  cache_host_connections INTEGER NOT NULL DEFAULT 0,
  lan_peer_connections INTEGER NOT NULL DEFAULT 0,
  group_peer_connections INTEGER NOT NULL DEFAULT 0,
  download_duration_ms INTEGER NOT NULL DEFAULT 0,
  segments TEXT NOT NULL DEFAULT '',
  validation INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
)sql";

// The secrets of SetCredentials, at most one per (target, scheme). Created with the schema and by
// the migration from version 1.
constexpr const char* kCreateCredentials = R"sql(
CREATE TABLE credentials (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  target INTEGER NOT NULL,
  scheme INTEGER NOT NULL,
  user_name TEXT NOT NULL,
  password TEXT NOT NULL,
  PRIMARY KEY (job_id, target, scheme)
) WITHOUT ROWID;
)sql";

// Version 1 had no proxy settings, notify command line or credentials. Run inside the transaction
// that checked the version, together with kCreateCredentials: all of it happens or none.
constexpr const char* kMigrateFrom1 = R"sql(
ALTER TABLE jobs ADD COLUMN proxy_usage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN proxy_list TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN proxy_bypass TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN notify_program TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN notify_parameters TEXT NOT NULL DEFAULT '';
)sql";

// A job's HTTP options (version 4): its custom headers and custom auth headers, each a block of
// CRLF-terminated lines (jobs/headers.hpp refuses CR and LF inside a line), and whether https may
// redirect to http, and the certificate errors its requests accept (opendo::tls_exemption bits,
// version 9). A row exists only for a job that changed one of them. The auth headers are
// secrets, kept in this private file like the credentials. Created with the schema and by every
// migration, so that a migrated store has the layout of a new one.
constexpr const char* kCreateHttpOptions = R"sql(
CREATE TABLE http_options (
  job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  custom_headers TEXT NOT NULL,
  custom_auth_headers TEXT NOT NULL,
  allow_https_to_http_redirect INTEGER NOT NULL,
  tls_exemptions INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql";

// Version 2 had whole files only: no byte ranges, and the remote size was bytes_total.
constexpr const char* kMigrateFrom2 = R"sql(
ALTER TABLE files ADD COLUMN ranges TEXT NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN range_layout INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN remote_size INTEGER NOT NULL DEFAULT -1;
UPDATE files SET remote_size = bytes_total;
)sql";

// Version 3 had no limits: the maximum download time, the download time spent, the maximum
// download size (settable until the first Resume, which `resumed` records: a job that is not
// SUSPENDED was resumed; a SUSPENDED one may have been, which version 3 did not record) and the
// minimum notification interval.
constexpr const char* kMigrateFrom3 = R"sql(
ALTER TABLE files ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN max_download_time INTEGER NOT NULL DEFAULT 7776000;
ALTER TABLE jobs ADD COLUMN download_time_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_download_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN notification_interval_ms INTEGER NOT NULL DEFAULT 500;
UPDATE jobs SET resumed = 1 WHERE state <> 3;
)sql";

// Version 4 counted only the bytes from the origin (bytes_from_origin, which stays where it was).
// Version 5 has every source's bytes, the requests and the time transferring per file, and the
// machine's totals (kCreateTotals). Run with kCreateTotals and kSeedTotals.
constexpr const char* kMigrateFrom4 = R"sql(
ALTER TABLE files ADD COLUMN bytes_from_cache_hosts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN bytes_from_lan_peers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN bytes_from_group_peers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN bytes_to_lan_peers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN bytes_to_group_peers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN origin_connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN cache_host_connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN lan_peer_connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN group_peer_connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN download_duration_ms INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 5 had no BITS_JOB_PROPERTY_DYNAMIC_CONTENT.
constexpr const char* kMigrateFrom5 = R"sql(
ALTER TABLE jobs ADD COLUMN dynamic_content INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 6 had no BITS_JOB_PROPERTY_HIGH_PERFORMANCE and no segmented downloads.
constexpr const char* kMigrateFrom6 = R"sql(
ALTER TABLE jobs ADD COLUMN high_performance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN segments TEXT NOT NULL DEFAULT '';
)sql";

// Version 8 had no per-job peer and network policy: SetPeerCachingFlags (NULL: never set, the
// job follows the daemon's download mode), the BITS cost flags (default
// BITS_COST_STATE_TRANSFER_ALWAYS, 0x800000FF), DO's CostPolicy and DisallowOnCellular.
constexpr const char* kMigrateFrom8 = R"sql(
ALTER TABLE jobs ADD COLUMN peer_caching_flags INTEGER;
ALTER TABLE jobs ADD COLUMN cost_flags INTEGER NOT NULL DEFAULT 2147483903;
ALTER TABLE jobs ADD COLUMN cost_policy INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN disallow_on_cellular INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 13 kept only the owner: the creator is who owned the job then (a TakeOwnership before
// the migration is not known; its job is taken to have been created by its present owner).
constexpr const char* kMigrateFrom13 = R"sql(
ALTER TABLE jobs ADD COLUMN creator_uid INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET creator_uid = owner_uid;
)sql";

// A file's trusted content metadata (version 8): the metainfo (raw bencoded bytes, up to 512
// KiB) or magnet its owner gave, and the content id derived from them. A row exists only for a
// file that has them. A table of its own, not columns of files: files rows are rewritten with
// every save of the job, and these never change once the file is added, so save_job writes a row
// only when it is missing or its content id changed. Not WITHOUT ROWID: its rows may be large.
// Created with the schema and by every migration. metainfo_url (version 12) is the URL of a
// metainfo published beside the file: such a row first has no metainfo and an empty content id,
// and is written once more when the published metainfo was fetched and fills them.
// metainfo_note (version 13) says what became of that metainfo ("used", or why the file went over
// HTTP only), so that `opendo info` still says it after a restart.
constexpr const char* kCreateFileContent = R"sql(
CREATE TABLE file_content (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  metainfo BLOB NOT NULL,
  magnet TEXT NOT NULL,
  content_id TEXT NOT NULL,
  metainfo_url TEXT NOT NULL DEFAULT '',
  metainfo_note TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, idx)
);
)sql";
constexpr const char* kHasFileContent = R"sql(
SELECT content_id, metainfo_note FROM file_content WHERE job_id = ?1 AND idx = ?2
)sql";
constexpr const char* kInsertFileContent = R"sql(
INSERT OR REPLACE INTO file_content
  (job_id, idx, metainfo, magnet, content_id, metainfo_url, metainfo_note)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
)sql";
constexpr const char* kLoadFileContent = R"sql(
SELECT job_id, idx, metainfo, magnet, content_id, metainfo_url, metainfo_note FROM file_content
)sql";
// Version 11 had no published metainfo (stores of versions 1 to 7 get the table above whole).
constexpr const char* kMigrateFileContentFrom11 = R"sql(
ALTER TABLE file_content ADD COLUMN metainfo_url TEXT NOT NULL DEFAULT '';
)sql";
// Version 12 kept no note on a published metainfo.
constexpr const char* kMigrateFileContentFrom12 = R"sql(
ALTER TABLE file_content ADD COLUMN metainfo_note TEXT NOT NULL DEFAULT '';
)sql";

// Version 9 had no IBackgroundCopyFile3::SetValidationState and no DO SecurityFlags (the latter
// only for stores whose http_options table predates this migration: versions 4 to 9).
constexpr const char* kMigrateFrom9 = R"sql(
ALTER TABLE files ADD COLUMN validation INTEGER NOT NULL DEFAULT 0;
)sql";
constexpr const char* kMigrateHttpOptionsFrom9 = R"sql(
ALTER TABLE http_options ADD COLUMN tls_exemptions INTEGER NOT NULL DEFAULT 0;
)sql";

// A job's TLS client certificate (version 11, DO SecurityContext): the certificate chain and its
// private key as PEM text (jobs/client_certificate.hpp). The key is a secret, kept in this private
// file like the credentials. A row exists only for a job that has one. Created with the schema
// and by every migration.
constexpr const char* kCreateClientCertificates = R"sql(
CREATE TABLE client_certificates (
  job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  certificate TEXT NOT NULL,
  private_key TEXT NOT NULL
) WITHOUT ROWID;
)sql";
constexpr const char* kInsertClientCertificate = R"sql(
INSERT INTO client_certificates (job_id, certificate, private_key) VALUES (?1, ?2, ?3)
)sql";
constexpr const char* kLoadClientCertificates = R"sql(
SELECT job_id, certificate, private_key FROM client_certificates
)sql";

// What the owner's application said of a file's content (jobs::encode_validation). A statement of
// its own: save_job leaves it alone (Complete's validation is saved with it, nowhere else).
constexpr const char* kUpdateValidation = R"sql(
UPDATE files SET validation = ?3 WHERE job_id = ?1 AND idx = ?2
)sql";
constexpr const char* kLoadValidation = R"sql(
SELECT job_id, idx, validation FROM files WHERE validation != 0
)sql";

// A segmented file's segments (jobs::encode_segments), written with the file's row and its
// progress (kUpsertFile, kUpdateProgress) and read by a statement of its own after kLoadAll.
constexpr const char* kLoadSegments = R"sql(
SELECT job_id, idx, segments FROM files WHERE segments != ''
)sql";

// The machine's totals (`opendo perfsnap`): one row per counter, named as in
// jobs::kTotalFileCounters and jobs::kSourceCounters, so that a new counter is a new row and not a
// new schema. A counter without a row is 0. Created with the schema and by the migration to 5.
constexpr const char* kCreateTotals = R"sql(
CREATE TABLE totals (
  name TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// A migrated store's totals start from what its files hold: the stores before version 5 kept no
// totals, and the files of jobs that ended are gone, so this is the best that can be known.
constexpr const char* kSeedTotals = R"sql(
INSERT INTO totals (name, value) SELECT 'bytes_from_origin', COALESCE(SUM(bytes_from_origin), 0)
FROM files;
INSERT INTO totals (name, value) SELECT 'files_downloaded', COUNT(*) FROM files WHERE completed;
)sql";

// The columns later versions added are read by statements of their own after kLoadAll (and
// written with kUpsertJob): the limits (version 2 and on), the per-job peer policy (version 9)
// and the job's creator (version 14, never changed by TakeOwnership).
constexpr const char* kLoadPolicy = R"sql(
SELECT id, peer_caching_flags, cost_flags, cost_policy, disallow_on_cellular FROM jobs
)sql";
constexpr const char* kLoadCreator = R"sql(
SELECT id, creator_uid FROM jobs
)sql";
constexpr const char* kLoadLimits = R"sql(
SELECT id, max_download_time, download_time_ms, max_download_size, resumed,
       notification_interval_ms, dynamic_content, high_performance
FROM jobs
)sql";

// An upsert rather than INSERT OR REPLACE: REPLACE deletes the old row first, which would
// cascade to every file row of the job. Every column of a job's row in one statement: the row
// is rewritten once per save, and a job is saved each time one of its files finishes. The
// columns versions 2 to 14 added (limits, policy, creator) have defaults, so a migrated store
// takes this statement as a new one does.
constexpr const char* kUpsertJob = R"sql(
INSERT INTO jobs (id, owner_uid, display_name, description, priority, state, notify_flags,
                  minimum_retry_delay, no_progress_timeout, error_count, error_code,
                  error_context, error_file_index, error_message, error_protocol, creation_time,
                  modification_time, transfer_completion_time, proxy_usage, proxy_list,
                  proxy_bypass, notify_program, notify_parameters, max_download_time,
                  download_time_ms, max_download_size, resumed, notification_interval_ms,
                  dynamic_content, high_performance, peer_caching_flags, cost_flags, cost_policy,
                  disallow_on_cellular, creator_uid)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
        ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35)
ON CONFLICT (id) DO UPDATE SET
  owner_uid = excluded.owner_uid, display_name = excluded.display_name,
  description = excluded.description, priority = excluded.priority, state = excluded.state,
  notify_flags = excluded.notify_flags, minimum_retry_delay = excluded.minimum_retry_delay,
  no_progress_timeout = excluded.no_progress_timeout, error_count = excluded.error_count,
  error_code = excluded.error_code, error_context = excluded.error_context,
  error_file_index = excluded.error_file_index, error_message = excluded.error_message,
  error_protocol = excluded.error_protocol, creation_time = excluded.creation_time,
  modification_time = excluded.modification_time,
  transfer_completion_time = excluded.transfer_completion_time,
  proxy_usage = excluded.proxy_usage, proxy_list = excluded.proxy_list,
  proxy_bypass = excluded.proxy_bypass, notify_program = excluded.notify_program,
  notify_parameters = excluded.notify_parameters,
  max_download_time = excluded.max_download_time, download_time_ms = excluded.download_time_ms,
  max_download_size = excluded.max_download_size, resumed = excluded.resumed,
  notification_interval_ms = excluded.notification_interval_ms,
  dynamic_content = excluded.dynamic_content, high_performance = excluded.high_performance,
  peer_caching_flags = excluded.peer_caching_flags, cost_flags = excluded.cost_flags,
  cost_policy = excluded.cost_policy, disallow_on_cellular = excluded.disallow_on_cellular,
  creator_uid = excluded.creator_uid
)sql";

constexpr const char* kUpsertFile = R"sql(
INSERT INTO files (job_id, idx, remote_url, local_name, temp_name, bytes_total,
                   bytes_transferred, completed, bytes_from_origin, etag, last_modified,
                   remote_mtime, delivered, ranges, range_layout, remote_size, digest,
                   bytes_from_cache_hosts, bytes_from_lan_peers, bytes_from_group_peers,
                   bytes_to_lan_peers, bytes_to_group_peers, origin_connections,
                   cache_host_connections, lan_peer_connections, group_peer_connections,
                   download_duration_ms, segments)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
        ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)
ON CONFLICT (job_id, idx) DO UPDATE SET
  remote_url = excluded.remote_url, local_name = excluded.local_name,
  temp_name = excluded.temp_name, bytes_total = excluded.bytes_total,
  bytes_transferred = excluded.bytes_transferred, completed = excluded.completed,
  bytes_from_origin = excluded.bytes_from_origin, etag = excluded.etag,
  last_modified = excluded.last_modified, remote_mtime = excluded.remote_mtime,
  delivered = excluded.delivered, ranges = excluded.ranges,
  range_layout = excluded.range_layout, remote_size = excluded.remote_size,
  digest = excluded.digest, bytes_from_cache_hosts = excluded.bytes_from_cache_hosts,
  bytes_from_lan_peers = excluded.bytes_from_lan_peers,
  bytes_from_group_peers = excluded.bytes_from_group_peers,
  bytes_to_lan_peers = excluded.bytes_to_lan_peers,
  bytes_to_group_peers = excluded.bytes_to_group_peers,
  origin_connections = excluded.origin_connections,
  cache_host_connections = excluded.cache_host_connections,
  lan_peer_connections = excluded.lan_peer_connections,
  group_peer_connections = excluded.group_peer_connections,
  download_duration_ms = excluded.download_duration_ms, segments = excluded.segments
)sql";

constexpr const char* kUpdateProgress = R"sql(
UPDATE files SET bytes_total = ?3, bytes_transferred = ?4, completed = ?5,
                 bytes_from_origin = ?6, etag = ?7, last_modified = ?8, remote_mtime = ?9,
                 delivered = ?10, remote_size = ?11, bytes_from_cache_hosts = ?12,
                 bytes_from_lan_peers = ?13, bytes_from_group_peers = ?14,
                 bytes_to_lan_peers = ?15, bytes_to_group_peers = ?16, origin_connections = ?17,
                 cache_host_connections = ?18, lan_peer_connections = ?19,
                 group_peer_connections = ?20, download_duration_ms = ?21, segments = ?22
WHERE job_id = ?1 AND idx = ?2
)sql";

constexpr const char* kInsertCredential = R"sql(
INSERT INTO credentials (job_id, target, scheme, user_name, password) VALUES (?1, ?2, ?3, ?4, ?5)
)sql";

// The jobs with their files. load_all reads it and kLoadCredentials in one read transaction, so
// that both come from the same snapshot of the database.
constexpr const char* kLoadAll = R"sql(
SELECT j.id, j.owner_uid, j.display_name, j.description, j.priority, j.state, j.notify_flags,
       j.minimum_retry_delay, j.no_progress_timeout, j.error_count, j.error_code,
       j.error_context, j.error_file_index, j.error_message, j.error_protocol, j.creation_time,
       j.modification_time, j.transfer_completion_time, j.proxy_usage, j.proxy_list,
       j.proxy_bypass, j.notify_program, j.notify_parameters,
       f.idx, f.remote_url, f.local_name, f.temp_name, f.bytes_total, f.bytes_transferred,
       f.completed, f.bytes_from_origin, f.etag, f.last_modified, f.remote_mtime, f.delivered,
       f.ranges, f.range_layout, f.remote_size, f.digest, f.bytes_from_cache_hosts,
       f.bytes_from_lan_peers, f.bytes_from_group_peers, f.bytes_to_lan_peers,
       f.bytes_to_group_peers, f.origin_connections, f.cache_host_connections,
       f.lan_peer_connections, f.group_peer_connections, f.download_duration_ms
FROM jobs AS j LEFT JOIN files AS f ON f.job_id = j.id
ORDER BY j.creation_time, j.id, f.idx
)sql";
// The first column of kLoadAll that belongs to files.
constexpr int kFileColumn = 23;

constexpr const char* kInsertHttpOptions = R"sql(
INSERT INTO http_options (job_id, custom_headers, custom_auth_headers,
                          allow_https_to_http_redirect, tls_exemptions)
VALUES (?1, ?2, ?3, ?4, ?5)
)sql";

constexpr const char* kLoadHttpOptions = R"sql(
SELECT job_id, custom_headers, custom_auth_headers, allow_https_to_http_redirect, tls_exemptions
FROM http_options
)sql";

constexpr const char* kLoadCredentials = R"sql(
SELECT job_id, target, scheme, user_name, password FROM credentials
ORDER BY job_id, target, scheme
)sql";

// Creates the file ourselves so that it is never readable by others, not even for the moment
// between SQLite creating it and anyone fixing its mode; SQLite gives its -wal and -shm files
// the mode of the database. A symbolic link is refused (here by O_EXCL, in SQLite by NOFOLLOW).
void create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  if (errno == EEXIST) return;
  fail(path, "create", std::strerror(errno));
}

// A stored schema version as a number: versions are small whole numbers, and anything else (-1)
// is not one this opendo knows.
int schema_version_number(const std::string& text) {
  if (text.empty() || text.size() > 2 || !std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return -1;
  }
  return std::stoi(text);
}

// Checks the schema version of an existing store and migrates it from an older version, or
// creates the schema in an empty one; in one transaction, so that a failure changes nothing.
void prepare_schema(sqlite3* db) {
  exec_sql(db, "BEGIN IMMEDIATE");
  try {
    if (query_text(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'")) {
      auto version = query_text(db, "SELECT value FROM meta WHERE key = 'schema_version'");
      if (!version) fail(db_path(db), "open", "the meta table has no schema_version");
      const int from = schema_version_number(*version);
      if (from >= 1 && from < kSchemaVersion) {
        const std::string operation =
            "migrate schema version " + *version + " to " + std::to_string(kSchemaVersion);
        if (from <= 1) {
          exec_sql(db, kMigrateFrom1, operation.c_str());
          exec_sql(db, kCreateCredentials, operation.c_str());
        }
        if (from <= 2) exec_sql(db, kMigrateFrom2, operation.c_str());
        if (from <= 3) {
          exec_sql(db, kMigrateFrom3, operation.c_str());
          exec_sql(db, kCreateHttpOptions, operation.c_str());
        }
        if (from <= 4) {
          exec_sql(db, kMigrateFrom4, operation.c_str());
          exec_sql(db, kCreateTotals, operation.c_str());
          exec_sql(db, kSeedTotals, operation.c_str());
        }
        if (from <= 5) exec_sql(db, kMigrateFrom5, operation.c_str());
        if (from <= 6) exec_sql(db, kMigrateFrom6, operation.c_str());
        if (from <= 7) exec_sql(db, kCreateFileContent, operation.c_str());  // no content metadata
        if (from <= 8) exec_sql(db, kMigrateFrom8, operation.c_str());
        if (from <= 9) {
          exec_sql(db, kMigrateFrom9, operation.c_str());
          // Versions 1 to 3 had no http_options: it was made above, with the column.
          if (from >= 4) exec_sql(db, kMigrateHttpOptionsFrom9, operation.c_str());
        }
        if (from <= 10) exec_sql(db, kCreateClientCertificates, operation.c_str());
        if (from <= 11 && from >= 8) exec_sql(db, kMigrateFileContentFrom11, operation.c_str());
        if (from <= 12 && from >= 8) exec_sql(db, kMigrateFileContentFrom12, operation.c_str());
        if (from <= 13) exec_sql(db, kMigrateFrom13, operation.c_str());
        statement update(db, operation.c_str(),
                         "UPDATE meta SET value = ?1 WHERE key = 'schema_version'");
        run(update).bind(1, kSchemaVersion).execute();
      } else if (*version != std::to_string(kSchemaVersion)) {
        fail(db_path(db), "open",
             "the store has schema version " + *version + "; this opendo reads version " +
                 std::to_string(kSchemaVersion));
      }
    } else if (query_text(db, "SELECT name FROM sqlite_master LIMIT 1")) {
      fail(db_path(db), "open", "the database is not an opendo job store (no meta table)");
    } else {
      exec_sql(db, kCreateSchema, "create schema");
      exec_sql(db, kCreateCredentials, "create schema");
      exec_sql(db, kCreateHttpOptions, "create schema");
      exec_sql(db, kCreateTotals, "create schema");
      exec_sql(db, kCreateFileContent, "create schema");
      exec_sql(db, kCreateClientCertificates, "create schema");
      statement insert(db, "INSERT meta", "INSERT INTO meta (key, value) VALUES (?1, ?2)");
      run(insert).bind(1, "schema_version").bind(2, kSchemaVersion).execute();
    }
    exec_sql(db, "COMMIT");
  } catch (...) {
    rollback_quietly(db);
    throw;
  }
}

}  // namespace

struct job_store::statements {
  explicit statements(sqlite3* db)
      : begin(db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE"),
        begin_read(db, "BEGIN", "BEGIN"),
        commit(db, "COMMIT", "COMMIT"),
        savepoint(db, "SAVEPOINT", "SAVEPOINT turn_batch"),
        release(db, "RELEASE", "RELEASE turn_batch"),
        upsert_job(db, "INSERT jobs", kUpsertJob),
        trim_files(db, "DELETE files", "DELETE FROM files WHERE job_id = ?1 AND idx >= ?2"),
        upsert_file(db, "INSERT files", kUpsertFile),
        update_progress(db, "UPDATE files", kUpdateProgress),
        delete_credentials(db, "DELETE credentials", "DELETE FROM credentials WHERE job_id = ?1"),
        insert_credential(db, "INSERT credentials", kInsertCredential),
        delete_job(db, "DELETE jobs", "DELETE FROM jobs WHERE id = ?1"),
        load_all(db, "SELECT jobs", kLoadAll),
        load_credentials(db, "SELECT credentials", kLoadCredentials),
        update_download_time(db, "UPDATE jobs download time",
                             "UPDATE jobs SET download_time_ms = ?2 WHERE id = ?1"),
        load_limits(db, "SELECT jobs limits", kLoadLimits),
        load_policy(db, "SELECT jobs policy", kLoadPolicy),
        load_creator(db, "SELECT jobs creator", kLoadCreator),
        load_segments(db, "SELECT files segments", kLoadSegments),
        update_validation(db, "UPDATE files validation", kUpdateValidation),
        load_validation(db, "SELECT files validation", kLoadValidation),
        delete_http_options(db, "DELETE http_options",
                            "DELETE FROM http_options WHERE job_id = ?1"),
        insert_http_options(db, "INSERT http_options", kInsertHttpOptions),
        load_http_options(db, "SELECT http_options", kLoadHttpOptions),
        delete_client_certificate(db, "DELETE client_certificates",
                                  "DELETE FROM client_certificates WHERE job_id = ?1"),
        insert_client_certificate(db, "INSERT client_certificates", kInsertClientCertificate),
        load_client_certificates(db, "SELECT client_certificates", kLoadClientCertificates),
        trim_file_content(db, "DELETE file_content",
                          "DELETE FROM file_content WHERE job_id = ?1 AND idx >= ?2"),
        has_file_content(db, "SELECT file_content", kHasFileContent),
        insert_file_content(db, "INSERT file_content", kInsertFileContent),
        load_file_content(db, "SELECT file_content", kLoadFileContent),
        load_totals(db, "SELECT totals", "SELECT name, value FROM totals"),
        save_total(db, "INSERT totals",
                   "INSERT INTO totals (name, value) VALUES (?1, ?2) "
                   "ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
        upsert_meta(db, "INSERT meta",
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
        select_meta(db, "SELECT meta", "SELECT value FROM meta WHERE key = ?1"),
        delete_meta(db, "DELETE meta", "DELETE FROM meta WHERE key = ?1"),
        // A range of the primary key rather than substr(): a search of the index, where
        // substr() read every row of meta, each time a job left (3 ms with 20,000 marks).
        delete_meta_prefix(db, "DELETE tail cut marks",
                           "DELETE FROM meta WHERE key >= ?1 AND key < ?2") {}

  statement begin;
  statement begin_read;  // deferred: takes no write lock
  statement commit;
  statement savepoint;  // a batch inside a turn
  statement release;
  statement upsert_job;
  statement trim_files;
  statement upsert_file;
  statement update_progress;
  statement delete_credentials;
  statement insert_credential;
  statement delete_job;
  statement load_all;
  statement load_credentials;
  statement update_download_time;
  statement load_limits;
  statement load_policy;
  statement load_creator;
  statement load_segments;
  statement update_validation;
  statement load_validation;
  statement delete_http_options;
  statement insert_http_options;
  statement load_http_options;
  statement delete_client_certificate;
  statement insert_client_certificate;
  statement load_client_certificates;
  statement trim_file_content;
  statement has_file_content;
  statement insert_file_content;
  statement load_file_content;
  statement load_totals;
  statement save_total;
  statement upsert_meta;  // prepared once: a tail-cut mark is set each time a file starts
  // Each Complete and each job's removal reads or drops meta rows: prepared once too.
  statement select_meta;
  statement delete_meta;
  statement delete_meta_prefix;
};

job_store::job_store(const std::string& path) {
  create_private_file(path);
  int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
  try {
    if (rc != SQLITE_OK) {
      fail(path, "open", db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
    // The first read of the file: a file that is not a database fails here.
    auto mode = query_text(db_, "PRAGMA journal_mode = WAL");
    if (mode != "wal")
      fail(path, "PRAGMA journal_mode = WAL",
           "the journal mode stayed " + mode.value_or("unknown"));
    // In WAL mode NORMAL loses no committed transaction when the process dies, only on power
    // loss, and saves an fsync per commit; the WAL is synced once per turn of client requests
    // (sync()).
    exec(
        "PRAGMA synchronous = NORMAL;"
        "PRAGMA foreign_keys = ON");
    prepare_schema(db_);
    stmts_ = std::make_unique<statements>(db_);
  } catch (...) {
    stmts_.reset();
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

job_store::~job_store() {
  stmts_.reset();
  sqlite3_close_v2(db_);
}

void job_store::exec(const char* sql) {
  exec_sql(db_, sql);
}

void job_store::save_job_row(const jobs::job& j) {
  run r(stmts_->upsert_job);
  r.bind(1, j.id)
      .bind(2, j.owner_uid)
      .bind(3, j.display_name)
      .bind(4, j.description)
      .bind(5, static_cast<std::int64_t>(j.priority))
      .bind(6, static_cast<std::int64_t>(j.state))
      .bind(7, j.notify_flags)
      .bind(8, j.minimum_retry_delay)
      .bind(9, j.no_progress_timeout)
      .bind(10, j.error_count)
      .bind(16, j.times.creation)
      .bind(17, j.times.modification)
      .bind(18, j.times.transfer_completion)
      .bind(19, static_cast<std::int64_t>(j.proxy.usage))
      .bind(20, j.proxy.proxy_list)
      .bind(21, j.proxy.bypass_list)
      .bind(22, j.notify_command.program)
      .bind(23, j.notify_command.parameters)
      .bind(24, j.max_download_time)
      .bind(25, static_cast<std::int64_t>(j.download_time_spent.count()))
      .bind(26, to_db(j.max_download_size))
      .bind(27, j.resumed)
      .bind(28, j.minimum_notification_interval_ms)
      .bind(29, j.dynamic_content)
      .bind(30, j.high_performance)
      .bind(32, j.cost_flags)
      .bind(33, static_cast<std::int64_t>(j.cost_policy))
      .bind(34, j.disallow_on_cellular)
      .bind(35, j.creator_uid);
  if (j.error) {
    r.bind(11, j.error->code)
        .bind(12, static_cast<std::int64_t>(j.error->context))
        .bind(14, j.error->message)
        .bind(15, j.error->protocol);
    if (j.error->file_index) r.bind(13, *j.error->file_index);
  }
  if (j.peer_caching_flags) r.bind(31, *j.peer_caching_flags);
  // Unbound parameters are NULL: no error, an error about no particular file, or no peer
  // caching flags of the job's own.
  r.execute();
}

void job_store::save_file_row(const jobs::job& j, std::uint32_t i) {
  const auto& f = j.files[i];
  // Bound without a copy (SQLITE_STATIC): it must live until the statement ran.
  const std::string ranges = encode_ranges(f.ranges);
  const std::string segments = jobs::encode_segments(f.segments);
  run r(stmts_->upsert_file);
  r.bind(1, j.id)
      .bind(2, static_cast<std::int64_t>(i))
      .bind(3, f.remote_url)
      .bind(4, f.local_name)
      .bind(5, f.temp_name)
      .bind(6, to_db(f.bytes_total))
      .bind(7, to_db(f.bytes_transferred))
      .bind(8, f.completed)
      .bind(9, to_db(f.sources.bytes_from_origin))
      .bind(10, f.etag)
      .bind(11, f.last_modified)
      .bind(12, f.remote_mtime)
      .bind(13, f.delivered)
      .bind(14, ranges)
      .bind(15, static_cast<std::int64_t>(f.layout))
      .bind(16, to_db(f.remote_size))
      .bind(17, f.digest);
  bind_sources(r, 18, f.sources);
  r.bind(28, segments);
  r.execute();
  save_file_content(j.id, i, f);
}

void job_store::save_job_file(const jobs::job& j, std::uint32_t index) {
  batch b(*this);
  save_job_row(j);
  save_file_row(j, index);
  b.commit();
}

void job_store::save_job_state(const jobs::job& j) {
  batch b(*this);
  save_job_row(j);
  b.commit();
}

void job_store::save_added_files(const jobs::job& j, std::uint32_t first) {
  batch b(*this);
  save_job_row(j);
  for (std::uint32_t i = first; i < j.files.size(); ++i) save_file_row(j, i);
  b.commit();
}

void job_store::save_job(const jobs::job& j) {
  batch b(*this);
  save_job_row(j);
  run(stmts_->trim_files)
      .bind(1, j.id)
      .bind(2, static_cast<std::int64_t>(j.files.size()))
      .execute();
  run(stmts_->trim_file_content)
      .bind(1, j.id)
      .bind(2, static_cast<std::int64_t>(j.files.size()))
      .execute();
  for (std::size_t i = 0; i < j.files.size(); ++i) save_file_row(j, static_cast<std::uint32_t>(i));
  // Two credentials for the same (target, scheme) break the primary key: the save fails whole.
  run(stmts_->delete_credentials).bind(1, j.id).execute();
  for (const auto& c : j.credentials) {
    run(stmts_->insert_credential)
        .bind(1, j.id)
        .bind(2, static_cast<std::int64_t>(c.target))
        .bind(3, static_cast<std::int64_t>(c.scheme))
        .bind(4, c.user_name)
        .bind(5, c.password)
        .execute();
  }
  run(stmts_->delete_http_options).bind(1, j.id).execute();
  if (!j.custom_headers.empty() || !j.custom_auth_headers.empty() ||
      j.allow_https_to_http_redirect || j.tls_exemptions != 0) {
    run(stmts_->insert_http_options)
        .bind(1, j.id)
        .bind(2, jobs::join_header_block(j.custom_headers))
        .bind(3, jobs::join_header_block(j.custom_auth_headers))
        .bind(4, j.allow_https_to_http_redirect)
        .bind(5, std::int64_t{j.tls_exemptions})
        .execute();
  }
  run(stmts_->delete_client_certificate).bind(1, j.id).execute();
  if (!j.client_certificate.empty()) {
    run(stmts_->insert_client_certificate)
        .bind(1, j.id)
        .bind(2, j.client_certificate.certificate)
        .bind(3, j.client_certificate.private_key)
        .execute();
  }
  b.commit();
}

jobs::machine_totals job_store::load_totals() {
  jobs::machine_totals totals;
  run r(stmts_->load_totals);
  while (r.step()) {
    const std::string name = r.text(0);
    // Rows of counters this opendo does not know (a newer one wrote them) are left alone.
    for (const auto& [counter_name, counter] : jobs::kTotalFileCounters) {
      if (name == counter_name) totals.*counter = r.u64(1);
    }
    for (const auto& [counter_name, counter] : jobs::kSourceCounters) {
      if (name == counter_name) totals.sources.*counter = r.u64(1);
    }
  }
  return totals;
}

// Only the counters that changed since the last save are written: a job saves the totals each
// time one of its files finishes, and most of the 13 counters stay as they were.
void job_store::save_totals(const jobs::machine_totals& totals) {
  batch b(*this);
  const auto save = [&](std::string_view name, std::uint64_t value, std::uint64_t saved) {
    if (saved_totals_ && value == saved) return;
    run(stmts_->save_total).bind(1, name).bind(2, to_db(value)).execute();
  };
  const jobs::machine_totals& saved = saved_totals_ ? *saved_totals_ : totals;
  for (const auto& [name, counter] : jobs::kTotalFileCounters) {
    save(name, totals.*counter, saved.*counter);
  }
  for (const auto& [name, counter] : jobs::kSourceCounters) {
    save(name, totals.sources.*counter, saved.sources.*counter);
  }
  saved_totals_ = totals;
  b.commit();
}

std::optional<std::string> job_store::meta(const std::string& key) {
  run r(stmts_->select_meta);
  r.bind(1, key);
  if (!r.step()) return std::nullopt;
  return r.text(0);
}

void job_store::set_meta(const std::string& key, const std::string& value) {
  run(stmts_->upsert_meta).bind(1, key).bind(2, value).execute();
}

void job_store::save_file_progress(const std::string& job_id, std::uint32_t index,
                                   const jobs::file_record& file) {
  run r(stmts_->update_progress);
  r.bind(1, job_id)
      .bind(2, index)
      .bind(3, to_db(file.bytes_total))
      .bind(4, to_db(file.bytes_transferred))
      .bind(5, file.completed)
      .bind(6, to_db(file.sources.bytes_from_origin))
      .bind(7, file.etag)
      .bind(8, file.last_modified)
      .bind(9, file.remote_mtime)
      .bind(10, file.delivered)
      .bind(11, to_db(file.remote_size));
  bind_sources(r, 12, file.sources);
  const std::string segments = jobs::encode_segments(file.segments);  // bound without a copy
  r.bind(22, segments);
  r.execute();
  // Progress for a file that was never saved would be lost silently: say so.
  if (sqlite3_changes(db_) == 0) {
    fail(db_path(db_), "UPDATE files",
         "job " + job_id + " has no stored file " + std::to_string(index));
  }
}

void job_store::save_validation(const std::string& job_id, std::uint32_t index,
                                const jobs::file_record& file) {
  run(stmts_->update_validation)
      .bind(1, job_id)
      .bind(2, index)
      .bind(3, std::int64_t{jobs::encode_validation(file)})
      .execute();
}

void job_store::save_file_content(const std::string& job_id, std::uint32_t index,
                                  const jobs::file_record& file) {
  if (file.content_id.empty() && file.metainfo_url.empty()) return;
  {
    run existing(stmts_->has_file_content);
    existing.bind(1, job_id).bind(2, index);
    // Written when the file was added; it changes only when a published metainfo arrives or is
    // refused.
    if (existing.step() && existing.text(0) == file.content_id &&
        existing.text(1) == file.metainfo_note) {
      return;
    }
  }
  run(stmts_->insert_file_content)
      .bind(1, job_id)
      .bind(2, index)
      .bind_blob(3, file.metainfo)
      .bind(4, file.magnet)
      .bind(5, file.content_id)
      .bind(6, file.metainfo_url)
      .bind(7, file.metainfo_note)
      .execute();
}

void job_store::save_download_time(const std::string& job_id, std::chrono::milliseconds spent) {
  run(stmts_->update_download_time)
      .bind(1, job_id)
      .bind(2, static_cast<std::int64_t>(spent.count()))
      .execute();
}

// The mark is a meta row rather than a column: it exists only for the moments of a Complete, and
// the schema (and every migration test) stays as it is.
namespace {
std::string completing_key(const std::string& job_id) {
  return "completing " + job_id;
}
}  // namespace

void job_store::mark_completing(const std::string& job_id) {
  set_meta(completing_key(job_id), "1");
  sync();  // the renames that follow must find it after a power loss too
}

void job_store::clear_completing(const std::string& job_id) {
  run(stmts_->delete_meta).bind(1, completing_key(job_id)).execute();
}

bool job_store::completing(const std::string& job_id) {
  return meta(completing_key(job_id)).has_value();
}

// "tail cut JOB INDEX" = the boot id. The job id is what lies between the prefix and the last
// space, so that the marks of one job are the keys that start with "tail cut JOB ".
namespace {
constexpr std::string_view kTailCutPrefix = "tail cut ";

std::string tail_cut_key_prefix(const std::string& job_id) {
  return std::string(kTailCutPrefix) + job_id + " ";
}

// The first key after every key that starts with `prefix` (which ends in a space): the keys
// [prefix, prefix_end(prefix)) are those that start with it, as SQLite compares text bytewise.
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}
}  // namespace

void job_store::delete_meta_with_prefix(std::string_view prefix) {
  run(stmts_->delete_meta_prefix).bind(1, prefix).bind(2, prefix_end(prefix)).execute();
}

void job_store::mark_tail_cut(const std::string& job_id, std::uint32_t index,
                              const std::string& boot_id) {
  set_meta(tail_cut_key_prefix(job_id) + std::to_string(index), boot_id);
}

std::set<std::pair<std::string, std::uint32_t>> job_store::tails_cut_in(
    const std::string& boot_id) {
  statement select(db_, "SELECT tail cut marks",
                   "SELECT key FROM meta WHERE key >= ?1 AND key < ?2 AND value = ?3");
  const std::string end = prefix_end(kTailCutPrefix);  // bound without a copy: kept until the end
  run r(select);
  r.bind(1, kTailCutPrefix).bind(2, end).bind(3, boot_id);
  std::set<std::pair<std::string, std::uint32_t>> marked;
  while (r.step()) {
    const std::string key = r.text(0);
    const auto space = key.rfind(' ');
    const std::optional<std::uint32_t> index =
        space == std::string::npos || space < kTailCutPrefix.size()
            ? std::nullopt
            : numbers::parse_whole<std::uint32_t>(std::string_view(key).substr(space + 1));
    if (!index) continue;  // not a mark of ours: ignored, never adopted
    marked.emplace(key.substr(kTailCutPrefix.size(), space - kTailCutPrefix.size()), *index);
  }
  return marked;
}

void job_store::forget_tail_cuts() {
  delete_meta_with_prefix(kTailCutPrefix);
}

void job_store::remove_job(const std::string& job_id) {
  batch together(*this);  // the job and its marks go at once
  run(stmts_->delete_job).bind(1, job_id).execute();
  clear_completing(job_id);
  delete_meta_with_prefix(tail_cut_key_prefix(job_id));
  together.commit();
}

std::vector<jobs::job> job_store::load_all() {
  // Jobs, files and credentials from one snapshot: a read transaction of its own, unless a batch
  // already holds one.
  const bool own_transaction = batch_depth_ == 0;
  if (own_transaction) run(stmts_->begin_read).execute();
  try {
    auto result = load_all_in_transaction();
    if (own_transaction) run(stmts_->commit).execute();
    return result;
  } catch (...) {
    if (own_transaction) rollback_quietly(db_);
    throw;
  }
}

std::vector<jobs::job> job_store::load_all_in_transaction() {
  std::vector<jobs::job> result;
  {
    run r(stmts_->load_all);
    while (r.step()) {
      std::string id = r.text(0);
      if (result.empty() || result.back().id != id) {
        auto& j = result.emplace_back();
        j.id = std::move(id);
        j.owner_uid = r.u32(1);
        j.display_name = r.text(2);
        j.description = r.text(3);
        j.priority = static_cast<job_priority>(r.u32(4));
        j.state = static_cast<job_state>(r.u32(5));
        j.notify_flags = r.u32(6);
        j.minimum_retry_delay = r.u32(7);
        j.no_progress_timeout = r.u32(8);
        j.error_count = r.u32(9);
        if (!r.is_null(10)) {
          auto& e = j.error.emplace();
          e.code = r.u32(10);
          e.context = static_cast<error_context>(r.u32(11));
          if (!r.is_null(12)) e.file_index = r.u32(12);
          e.message = r.text(13);
          e.protocol = r.text(14);
        }
        j.times.creation = r.integer(15);
        j.times.modification = r.integer(16);
        j.times.transfer_completion = r.integer(17);
        j.proxy.usage = static_cast<proxy_usage>(r.u32(18));
        j.proxy.proxy_list = r.text(19);
        j.proxy.bypass_list = r.text(20);
        j.notify_command.program = r.text(21);
        j.notify_command.parameters = r.text(22);
      }
      constexpr int c = kFileColumn;
      if (r.is_null(c)) continue;  // a job without files
      auto& j = result.back();
      if (r.integer(c) != static_cast<std::int64_t>(j.files.size())) {
        fail(db_path(db_), "SELECT jobs",
             "job " + j.id + " has file " + std::to_string(r.integer(c)) + " but not file " +
                 std::to_string(j.files.size()));
      }
      auto& f = j.files.emplace_back();
      f.remote_url = r.text(c + 1);
      f.local_name = r.text(c + 2);
      f.temp_name = r.text(c + 3);
      f.bytes_total = r.u64(c + 4);
      f.bytes_transferred = r.u64(c + 5);
      f.completed = r.boolean(c + 6);
      f.sources.bytes_from_origin = r.u64(c + 7);
      f.etag = r.text(c + 8);
      f.last_modified = r.text(c + 9);
      f.remote_mtime = r.integer(c + 10);
      f.delivered = r.boolean(c + 11);
      f.ranges = decode_ranges(r.text(c + 12), db_path(db_));
      f.layout = r.u32(c + 13) == 1 ? range_layout::in_place : range_layout::concatenated;
      f.remote_size = r.u64(c + 14);
      f.digest = r.text(c + 15);
      auto& s = f.sources;
      s.bytes_from_cache_hosts = r.u64(c + 16);
      s.bytes_from_lan_peers = r.u64(c + 17);
      s.bytes_from_group_peers = r.u64(c + 18);
      s.bytes_to_lan_peers = r.u64(c + 19);
      s.bytes_to_group_peers = r.u64(c + 20);
      s.origin_connections = r.u64(c + 21);
      s.cache_host_connections = r.u64(c + 22);
      s.lan_peer_connections = r.u64(c + 23);
      s.group_peer_connections = r.u64(c + 24);
      s.download_duration_ms = r.u64(c + 25);
    }
  }
  for (auto& j : result) {
    j.current_file = static_cast<std::uint32_t>(j.files.size());
    for (std::size_t i = 0; i < j.files.size(); ++i) {
      if (!j.files[i].completed) {
        j.current_file = static_cast<std::uint32_t>(i);
        break;
      }
    }
  }

  // result no longer grows: views of its ids stay valid.
  std::unordered_map<std::string_view, jobs::job*> by_id;
  by_id.reserve(result.size());
  for (auto& j : result) by_id.emplace(j.id, &j);
  {
    run limits(stmts_->load_limits);
    while (limits.step()) {
      auto it = by_id.find(limits.text(0));
      if (it == by_id.end()) continue;
      jobs::job& j = *it->second;
      j.max_download_time = limits.u32(1);
      j.download_time_spent = std::chrono::milliseconds{limits.integer(2)};
      j.max_download_size = limits.u64(3);
      j.resumed = limits.boolean(4);
      j.minimum_notification_interval_ms = limits.u32(5);
      j.dynamic_content = limits.boolean(6);
      j.high_performance = limits.boolean(7);
    }
  }
  {
    run policy(stmts_->load_policy);
    while (policy.step()) {
      auto it = by_id.find(policy.text(0));
      if (it == by_id.end()) continue;
      if (!policy.is_null(1)) it->second->peer_caching_flags = policy.u32(1);
      it->second->cost_flags = policy.u32(2);
      const std::uint32_t cost_policy = policy.u32(3);
      if (cost_policy > static_cast<std::uint32_t>(do_cost_policy::no_cellular)) {
        fail(db_path(db_), "SELECT jobs policy",
             "a job's cost policy is not a DODownloadCostPolicy: " + std::to_string(cost_policy));
      }
      it->second->cost_policy = static_cast<do_cost_policy>(cost_policy);
      it->second->disallow_on_cellular = policy.boolean(4);
    }
  }
  {
    run creator(stmts_->load_creator);
    while (creator.step()) {
      auto it = by_id.find(creator.text(0));
      if (it != by_id.end()) it->second->creator_uid = creator.u32(1);
    }
  }
  {
    run segments(stmts_->load_segments);
    while (segments.step()) {
      auto it = by_id.find(segments.text(0));
      const std::int64_t index = segments.integer(1);
      if (it == by_id.end() || index < 0 ||
          index >= static_cast<std::int64_t>(it->second->files.size())) {
        continue;
      }
      auto decoded = jobs::decode_segments(segments.text(2));
      if (!decoded) {
        fail(db_path(db_), "SELECT files segments",
             "the segments of a file do not parse: \"" + std::string(segments.text(2)) + "\"");
      }
      it->second->files[static_cast<std::size_t>(index)].segments = std::move(*decoded);
    }
  }
  {
    run validation(stmts_->load_validation);
    while (validation.step()) {
      auto it = by_id.find(validation.text(0));
      const std::int64_t index = validation.integer(1);
      if (it == by_id.end() || index < 0 ||
          index >= static_cast<std::int64_t>(it->second->files.size())) {
        continue;
      }
      jobs::decode_validation(it->second->files[static_cast<std::size_t>(index)],
                              validation.integer(2));
    }
  }
  {
    run content(stmts_->load_file_content);
    while (content.step()) {
      auto it = by_id.find(content.text(0));
      if (it == by_id.end()) continue;
      const std::int64_t index = content.integer(1);
      if (index < 0 || index >= static_cast<std::int64_t>(it->second->files.size())) {
        fail(db_path(db_), "SELECT file_content",
             "job " + it->second->id + " has content metadata for file " + std::to_string(index) +
                 ", which it does not have");
      }
      auto& f = it->second->files[static_cast<std::size_t>(index)];
      f.metainfo = content.blob(2);
      f.magnet = content.text(3);
      f.content_id = content.text(4);
      f.metainfo_url = content.text(5);
      f.metainfo_note = content.text(6);
    }
  }
  run r(stmts_->load_credentials);
  while (r.step()) {
    auto it = by_id.find(r.text(0));
    // The foreign key keeps credentials of no job out; should one slip in, it has no one to serve.
    if (it == by_id.end()) continue;
    auto& c = it->second->credentials.emplace_back();
    c.target = static_cast<auth_target>(r.u32(1));
    c.scheme = static_cast<auth_scheme>(r.u32(2));
    c.user_name = r.text(3);
    c.password = r.text(4);
  }
  run options(stmts_->load_http_options);
  while (options.step()) {
    auto it = by_id.find(options.text(0));
    if (it == by_id.end()) continue;
    auto& j = *it->second;
    // Never guessed at: a block that does not split is reported (without its secret text).
    if (!jobs::split_header_block(options.text(1), j.custom_headers).ok() ||
        !jobs::split_header_block(options.text(2), j.custom_auth_headers).ok()) {
      fail(db_path(db_), "SELECT http_options", "the headers of job " + j.id + " do not parse");
    }
    j.allow_https_to_http_redirect = options.boolean(3);
    j.tls_exemptions = options.u32(4);
  }
  run certificates(stmts_->load_client_certificates);
  while (certificates.step()) {
    auto it = by_id.find(certificates.text(0));
    if (it == by_id.end()) continue;
    it->second->client_certificate = {certificates.text(1), certificates.text(2)};
  }
  return result;
}

void job_store::sync() {
  // The WAL holds every commit not yet checkpointed, in order; syncing it is what
  // synchronous = FULL does at each commit, done here once for all of them.
  sqlite3_file* wal = nullptr;
  const int rc = sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
  if (rc != SQLITE_OK) fail(db_path(db_), "sync the WAL", sqlite3_errstr(rc));
  // A WAL not open holds no commit: nothing to sync.
  if (wal == nullptr || wal->pMethods == nullptr) return;
  const int synced = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  if (synced != SQLITE_OK) fail(db_path(db_), "sync the WAL", sqlite3_errstr(synced));
}

void job_store::rolled_back() {
  rollback_quietly(db_);
  saved_totals_.reset();  // what the transaction wrote of them is gone: write them all next time
}

job_store::turn::turn(job_store& store) : store_(&store), outer_(!store.in_turn_) {
  store_->in_turn_ = true;
}

job_store::turn::~turn() {
  if (!outer_) return;  // the outer turn commits
  try {
    store_->commit_so_far();
  } catch (...) {
    // Only when the turn's owner did not end() it: the failure was still rolled back.
  }
  store_->in_turn_ = false;
}

void job_store::turn::end() {
  if (outer_) store_->commit_so_far();
}

void job_store::commit_so_far() {
  if (!turn_began_) return;
  turn_began_ = false;
  if (sqlite3_get_autocommit(db_) != 0) {
    saved_totals_.reset();  // SQLite rolled the transaction back on an error: nothing to commit
    return;
  }
  try {
    run(stmts_->commit).execute();
  } catch (...) {
    rolled_back();
    throw;
  }
}

std::int64_t job_store::changes() const {
  return sqlite3_total_changes64(db_);
}

job_store::batch::batch(job_store& store)
    : store_(&store), outermost_(store.batch_depth_ == 0), uncaught_(std::uncaught_exceptions()) {
  if (outermost_ && store_->in_turn_) {
    // SQLite may have rolled the turn's transaction back itself (a full disk under a statement
    // outside any batch): then this batch begins a new one.
    if (!store_->turn_began_ || sqlite3_get_autocommit(store_->db_) != 0) {
      run(store_->stmts_->begin).execute();
      store_->turn_began_ = true;
    }
    run(store_->stmts_->savepoint).execute();
    savepoint_ = true;
  } else if (outermost_) {
    run(store_->stmts_->begin).execute();
  }
  ++store_->batch_depth_;
}

void job_store::batch::commit() {
  if (done_) return;
  done_ = true;
  --store_->batch_depth_;
  if (!outermost_) return;
  try {
    run(savepoint_ ? store_->stmts_->release : store_->stmts_->commit).execute();
  } catch (...) {
    // A failed COMMIT can leave the transaction open, a failed RELEASE the savepoint: close it
    // so the store stays usable.
    roll_back();
    throw;
  }
}

// The savepoint's writes are undone and the turn's transaction goes on, unless SQLite rolled it
// back itself on the error (a full disk, say): then the turn begins a new one at its next batch.
void job_store::batch::roll_back() {
  if (!savepoint_) {
    store_->rolled_back();
    return;
  }
  sqlite3* db = store_->db_;
  if (sqlite3_get_autocommit(db) == 0) {
    sqlite3_exec(db, "ROLLBACK TO turn_batch; RELEASE turn_batch", nullptr, nullptr, nullptr);
  }
  if (sqlite3_get_autocommit(db) != 0) store_->turn_began_ = false;
  store_->saved_totals_.reset();
}

job_store::batch::~batch() {
  if (done_) return;
  if (std::uncaught_exceptions() <= uncaught_) {
    // A destructor cannot report a failed COMMIT; commit() does, so callers that must know use it.
    try {
      commit();
    } catch (...) {
    }
    return;
  }
  done_ = true;
  --store_->batch_depth_;
  // SQLite may already have rolled back on the error that is unwinding the stack.
  if (outermost_) roll_back();
}

}  // namespace opendo::store
