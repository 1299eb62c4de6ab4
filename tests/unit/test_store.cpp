// The job store against real SQLite files: what is saved is what a restarted daemon loads, a
// committed batch survives a killed process, and a file that is not our store is refused.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "jobs/job.hpp"
#include "opendo/hresult.hpp"
#include "store/store.hpp"

namespace {

using opendo::auth_scheme;
using opendo::auth_target;
using opendo::error_context;
using opendo::job_priority;
using opendo::job_state;
using opendo::proxy_usage;
namespace peer_caching = opendo::peer_caching;
using opendo::size_unknown;
using opendo::jobs::credential_record;
using opendo::jobs::error_record;
using opendo::jobs::file_record;
using opendo::jobs::job;
using opendo::store::job_store;

file_record make_file(const std::string& name, std::uint64_t total, std::uint64_t done) {
  file_record f;
  f.remote_url = "https://example.org/" + name;
  f.local_name = "/srv/downloads/" + name;
  f.temp_name = "BIT" + name + ".tmp";
  f.bytes_total = total;
  f.bytes_transferred = done;
  f.completed = total != size_unknown && done == total;
  f.sources.bytes_from_origin = done;
  return f;
}

job make_job(const std::string& id, std::int64_t creation, std::size_t files = 1) {
  job j;
  j.id = id;
  j.owner_uid = 1000;
  j.creator_uid = 1000;
  j.display_name = "job " + id;
  j.times.creation = creation;
  j.times.modification = creation;
  for (std::size_t i = 0; i < files; ++i) {
    j.files.push_back(make_file("file" + std::to_string(i), 100 * (i + 1), 0));
  }
  return j;
}

void expect_same_file(const file_record& a, const file_record& b) {
  EXPECT_EQ(a.remote_url, b.remote_url);
  EXPECT_EQ(a.local_name, b.local_name);
  EXPECT_EQ(a.temp_name, b.temp_name);
  EXPECT_EQ(a.bytes_total, b.bytes_total);
  EXPECT_EQ(a.bytes_transferred, b.bytes_transferred);
  EXPECT_EQ(a.segments, b.segments);
  EXPECT_EQ(a.completed, b.completed);
  EXPECT_EQ(a.sources, b.sources);
  EXPECT_EQ(a.etag, b.etag);
  EXPECT_EQ(a.last_modified, b.last_modified);
  EXPECT_EQ(a.remote_mtime, b.remote_mtime);
  EXPECT_EQ(a.delivered, b.delivered);
  EXPECT_EQ(a.validated, b.validated);
  EXPECT_EQ(a.origin_only, b.origin_only);
  EXPECT_EQ(a.ranges, b.ranges);
  EXPECT_EQ(a.layout, b.layout);
  EXPECT_EQ(a.remote_size, b.remote_size);
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.metainfo, b.metainfo);
  EXPECT_EQ(a.magnet, b.magnet);
  EXPECT_EQ(a.content_id, b.content_id);
  EXPECT_EQ(a.metainfo_url, b.metainfo_url);
  EXPECT_EQ(a.metainfo_note, b.metainfo_note);
}

void expect_same_job(const job& a, const job& b) {
  SCOPED_TRACE("job " + a.id);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.owner_uid, b.owner_uid);
  EXPECT_EQ(a.creator_uid, b.creator_uid);
  EXPECT_EQ(a.display_name, b.display_name);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.notify_flags, b.notify_flags);
  EXPECT_EQ(a.minimum_retry_delay, b.minimum_retry_delay);
  EXPECT_EQ(a.no_progress_timeout, b.no_progress_timeout);
  EXPECT_EQ(a.error_count, b.error_count);
  EXPECT_EQ(a.peer_caching_flags, b.peer_caching_flags);
  EXPECT_EQ(a.cost_flags, b.cost_flags);
  EXPECT_EQ(a.cost_policy, b.cost_policy);
  EXPECT_EQ(a.disallow_on_cellular, b.disallow_on_cellular);
  EXPECT_EQ(a.client_certificate, b.client_certificate);
  ASSERT_EQ(a.error.has_value(), b.error.has_value());
  if (a.error) {
    EXPECT_EQ(a.error->code, b.error->code);
    EXPECT_EQ(a.error->context, b.error->context);
    EXPECT_EQ(a.error->file_index, b.error->file_index);
    EXPECT_EQ(a.error->message, b.error->message);
    EXPECT_EQ(a.error->protocol, b.error->protocol);
  }
  EXPECT_EQ(a.times.creation, b.times.creation);
  EXPECT_EQ(a.times.modification, b.times.modification);
  EXPECT_EQ(a.times.transfer_completion, b.times.transfer_completion);
  EXPECT_EQ(a.current_file, b.current_file);
  EXPECT_EQ(a.proxy.usage, b.proxy.usage);
  EXPECT_EQ(a.proxy.proxy_list, b.proxy.proxy_list);
  EXPECT_EQ(a.proxy.bypass_list, b.proxy.bypass_list);
  EXPECT_EQ(a.notify_command.program, b.notify_command.program);
  EXPECT_EQ(a.notify_command.parameters, b.notify_command.parameters);
  EXPECT_EQ(a.max_download_time, b.max_download_time);
  EXPECT_EQ(a.download_time_spent, b.download_time_spent);
  EXPECT_EQ(a.max_download_size, b.max_download_size);
  EXPECT_EQ(a.resumed, b.resumed);
  EXPECT_EQ(a.dynamic_content, b.dynamic_content);
  EXPECT_EQ(a.high_performance, b.high_performance);
  EXPECT_EQ(a.minimum_notification_interval_ms, b.minimum_notification_interval_ms);
  ASSERT_EQ(a.files.size(), b.files.size());
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    SCOPED_TRACE("file " + std::to_string(i));
    expect_same_file(a.files[i], b.files[i]);
  }
  ASSERT_EQ(a.credentials.size(), b.credentials.size());
  for (std::size_t i = 0; i < a.credentials.size(); ++i) {
    SCOPED_TRACE("credential " + std::to_string(i));
    EXPECT_EQ(a.credentials[i].target, b.credentials[i].target);
    EXPECT_EQ(a.credentials[i].scheme, b.credentials[i].scheme);
    EXPECT_EQ(a.credentials[i].user_name, b.credentials[i].user_name);
    EXPECT_EQ(a.credentials[i].password, b.credentials[i].password);
  }
  EXPECT_EQ(a.custom_headers, b.custom_headers);
  EXPECT_EQ(a.custom_auth_headers, b.custom_auth_headers);
  EXPECT_EQ(a.allow_https_to_http_redirect, b.allow_https_to_http_redirect);
}

// The layout of version 1, as opendo created it before proxy settings, notify command lines and
// credentials were stored.
constexpr const char* kSchemaVersion1 = R"sql(
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
  transfer_completion_time INTEGER NOT NULL
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
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('schema_version', 1);
)sql";

// One job with one half-done file and an error, as version 1 stored it; version1_job() is what
// it loads as.
constexpr const char* kVersion1Rows = R"sql(
INSERT INTO jobs VALUES ('{11111111-0000-0000-0000-000000000001}', 1000, 'old job ü', 'kept',
                         1, 5, 3, 60, 3600, 2, 2149122452, 5, 0, 'not found', 'https',
                         1500000000, 1500000100, 0);
INSERT INTO files VALUES ('{11111111-0000-0000-0000-000000000001}', 0,
                          'https://example.org/old.iso', '/srv/downloads/old.iso', 'BITold.tmp',
                          1000, 400, 0, 400, '"e1"', 'Wed, 21 Oct 2015 07:28:00 GMT',
                          1445412480, 0);
)sql";

job version1_job() {
  job j;
  j.id = "{11111111-0000-0000-0000-000000000001}";
  j.owner_uid = 1000;
  j.creator_uid = 1000;  // migrated stores take the owner for the creator
  j.display_name = "old job ü";
  j.description = "kept";
  j.priority = job_priority::high;
  j.state = job_state::transient_error;
  j.notify_flags = 3;
  j.minimum_retry_delay = 60;
  j.no_progress_timeout = 3600;
  j.error_count = 2;
  j.error = error_record{0x80190194U, error_context::remote_file, 0U, "not found", "https"};
  j.times = {1500000000, 1500000100, 0};
  file_record f;
  f.remote_url = "https://example.org/old.iso";
  f.local_name = "/srv/downloads/old.iso";
  f.temp_name = "BITold.tmp";
  f.bytes_total = 1000;
  j.resumed = true;      // version 4 infers it: the job is not SUSPENDED
  f.remote_size = 1000;  // version 3 takes it from bytes_total
  f.bytes_transferred = 400;
  f.sources.bytes_from_origin = 400;
  f.etag = "\"e1\"";
  f.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  f.remote_mtime = 1445412480;
  j.files = {f};
  j.current_file = 0;
  return j;  // proxy, notify command and credentials: the defaults
}

// The layout of version 3, as opendo created it before the limits (maximum download time and
// size, minimum notification interval) were stored.
constexpr const char* kSchemaVersion3 = R"sql(
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
  notify_parameters TEXT NOT NULL DEFAULT ''
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
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE credentials (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  target INTEGER NOT NULL,
  scheme INTEGER NOT NULL,
  user_name TEXT NOT NULL,
  password TEXT NOT NULL,
  PRIMARY KEY (job_id, target, scheme)
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('schema_version', 3);
)sql";

// Two jobs as version 3 stored them: one SUSPENDED (never resumed, as far as version 3 knew) and
// one TRANSFERRING (resumed).
constexpr const char* kVersion3Rows = R"sql(
INSERT INTO jobs (id, owner_uid, display_name, description, priority, state, notify_flags,
                  minimum_retry_delay, no_progress_timeout, error_count, creation_time,
                  modification_time, transfer_completion_time)
VALUES ('{33333333-0000-0000-0000-000000000001}', 1000, 'suspended', '', 2, 3, 3, 600, 1209600,
        0, 1600000000, 1600000000, 0),
       ('{33333333-0000-0000-0000-000000000002}', 1000, 'running', '', 2, 2, 3, 600, 1209600,
        0, 1600000001, 1600000001, 0);
INSERT INTO files (job_id, idx, remote_url, local_name, temp_name, bytes_total,
                   bytes_transferred, completed, bytes_from_origin, etag, last_modified,
                   remote_mtime, delivered, remote_size)
VALUES ('{33333333-0000-0000-0000-000000000002}', 0, 'https://example.org/a', '/srv/a',
        '.opendo-a', 1000, 10, 0, 10, '', '', -1, 0, 1000);
)sql";

// The layout of version 4, as opendo created it before the per-source accounting (only
// bytes_from_origin per file, no totals): kCreateSchema, kCreateCredentials and
// kCreateHttpOptions of that version, verbatim.
constexpr const char* kSchemaVersion4 = R"sql(
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
  notification_interval_ms INTEGER NOT NULL DEFAULT 500
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
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE credentials (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  target INTEGER NOT NULL,
  scheme INTEGER NOT NULL,
  user_name TEXT NOT NULL,
  password TEXT NOT NULL,
  PRIMARY KEY (job_id, target, scheme)
) WITHOUT ROWID;
CREATE TABLE http_options (
  job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  custom_headers TEXT NOT NULL,
  custom_auth_headers TEXT NOT NULL,
  allow_https_to_http_redirect INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// A version-4 store in use: a job with a file done (1000 bytes from the origin) and a file under
// way (400 of 1000).
constexpr const char* kVersion4Rows = R"sql(
INSERT INTO meta (key, value) VALUES ('schema_version', 4);
INSERT INTO jobs (id, owner_uid, display_name, description, priority, state, notify_flags,
                  minimum_retry_delay, no_progress_timeout, error_count, creation_time,
                  modification_time, transfer_completion_time, resumed)
VALUES ('{40000000-0000-0000-0000-000000000001}', 1000, 'v4 job', '', 2, 2, 3, 600, 1209600, 0,
        1700000000, 1700000001, 0, 1);
INSERT INTO files (job_id, idx, remote_url, local_name, temp_name, bytes_total, bytes_transferred,
                   completed, bytes_from_origin, etag, last_modified, remote_mtime, delivered,
                   remote_size)
VALUES ('{40000000-0000-0000-0000-000000000001}', 0, 'http://o/a', '/d/a', '.a.part', 1000, 1000,
        1, 1000, '"a"', '', -1, 0, 1000),
       ('{40000000-0000-0000-0000-000000000001}', 1, 'http://o/b', '/d/b', '.b.part', 1000, 400,
        0, 400, '"b"', '', -1, 0, 1000);
)sql";

// Every column of a table as "name type notnull default", in order: the layout to compare.
std::string describe_table(const std::string& table) {
  return "SELECT group_concat(name || ' ' || type || ' ' || \"notnull\" || ' ' || "
         "ifnull(dflt_value, 'NULL') || ' ' || pk, ', ') FROM pragma_table_info('" +
         table + "')";
}

// Runs SQL on the store's file through a connection of its own, as another process would.
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
  }
  ~raw_db() { sqlite3_close_v2(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db_));
    }
    std::string result;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return result;
  }

 private:
  sqlite3* db_ = nullptr;
};

class JobStore : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "opendo-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
    dir_ = pattern;
    path_ = (dir_ / "jobs.db").string();
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // The store at path_ must refuse to open with an E_FAIL error naming the path and `reason`.
  void expect_open_fails(const std::string& reason) {
    try {
      job_store store(path_);
      ADD_FAILURE() << "opened " << path_;
    } catch (const opendo::error& e) {
      EXPECT_EQ(e.hresult(), opendo::value_of(opendo::hr::e_fail));
      std::string what = e.what();
      EXPECT_NE(what.find("jobs.db"), std::string::npos) << what;
      EXPECT_NE(what.find(reason), std::string::npos) << what;
    }
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(JobStore, RoundTripKeepsEveryField) {
  job full = make_job("{B0000000-0000-0000-0000-000000000002}", 1700000000, 0);
  full.owner_uid = 4242;
  full.creator_uid = 1001;  // an administrator took the job from its creator
  full.display_name = "Überweisung — 日本語 📦";
  full.description = "a description\nover two lines, with 'quotes' and \"double quotes\"; --";
  full.priority = job_priority::foreground;
  full.state = job_state::transient_error;
  full.notify_flags = opendo::notify::all;
  full.minimum_retry_delay = 5;
  full.no_progress_timeout = 0;
  full.error_count = 7;
  full.error =
      error_record{0x80190194U, error_context::remote_file, 1U, "not found: ünïcödé", "https"};
  full.times = {1700000000, 1700000100, 1700000200};
  file_record done = make_file("ファイル.iso", 1U << 20, 1U << 20);
  done.etag = "\"abc123\"";
  done.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  done.remote_mtime = 1445412480;
  done.delivered = true;
  file_record unknown = make_file("stream", size_unknown, 12345);
  unknown.sources.bytes_from_origin = 0xFFFFFFFFFFFFULL;
  // Every counter of its own, so that a column mixed up with another shows.
  done.sources = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  full.files = {done, unknown};
  full.current_file = 1;  // the first file is complete

  // Created earlier, so it loads first, though saved last.
  job earlier = make_job("{C0000000-0000-0000-0000-000000000003}", 1600000000, 0);
  earlier.state = job_state::error;
  earlier.error = error_record{0x80004005U, error_context::general_queue_manager, std::nullopt,
                               "no file involved", ""};
  // Same creation time as `full`: the id decides.
  job same_time = make_job("{A0000000-0000-0000-0000-000000000001}", 1700000000, 1);

  {
    job_store store(path_);
    store.save_job(full);
    store.save_job(same_time);
    store.save_job(earlier);
  }
  job_store store(path_);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 3U);
  expect_same_job(earlier, loaded[0]);
  expect_same_job(same_time, loaded[1]);
  expect_same_job(full, loaded[2]);
  EXPECT_FALSE(loaded[0].error->file_index.has_value());
  EXPECT_EQ(loaded[2].files[1].bytes_total, size_unknown);
}

TEST_F(JobStore, RoundTripKeepsProxyNotifyCommandAndCredentials) {
  job full = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  full.proxy = {proxy_usage::override, "http://прокси.example:8080;http://[::1]:3128",
                "<local>;*.日本.example"};
  full.notify_command = {"/usr/local/bin/notify—ü",
                         "\"C:\\Program Files\\n.exe\" /job:{x} 'quoted' \"ünïcödé\""};
  // Saved out of order: they load ordered by target, then scheme.
  full.credentials = {
      credential_record{auth_target::proxy, auth_scheme::ntlm, "DOMAIN\\ユーザー", "pässwörd 🔑"},
      credential_record{auth_target::server, auth_scheme::basic, "alice", ""},
      credential_record{auth_target::server, auth_scheme::negotiate, "", "s3cret;'--"},
  };
  job expected = full;
  expected.credentials = {full.credentials[1], full.credentials[2], full.credentials[0]};

  job empty = make_job("{00000000-0000-0000-0000-000000000002}", 2, 0);
  empty.proxy = {proxy_usage::no_proxy, "", ""};
  job autodetect = make_job("{00000000-0000-0000-0000-000000000003}", 3, 0);
  autodetect.proxy.usage = proxy_usage::autodetect;
  autodetect.notify_command = {"/bin/true", ""};
  autodetect.credentials = {credential_record{auth_target::server, auth_scheme::passport, "", ""}};

  {
    job_store store(path_);
    store.save_job(full);
    store.save_job(empty);
    store.save_job(autodetect);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 3U);
  expect_same_job(expected, loaded[0]);
  expect_same_job(empty, loaded[1]);
  expect_same_job(autodetect, loaded[2]);
}

TEST_F(JobStore, ResavingReplacesTheCredentials) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  j.credentials = {credential_record{auth_target::server, auth_scheme::basic, "a", "1"},
                   credential_record{auth_target::server, auth_scheme::digest, "b", "2"}};
  job other = make_job("{00000000-0000-0000-0000-000000000002}", 2, 1);
  other.credentials = {credential_record{auth_target::proxy, auth_scheme::basic, "p", "3"}};
  job_store store(path_);
  store.save_job(j);
  store.save_job(other);

  j.credentials = {credential_record{auth_target::server, auth_scheme::digest, "b", "changed"}};
  j.proxy = {proxy_usage::override, "http://proxy:3128", ""};
  store.save_job(j);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 2U);
  expect_same_job(j, loaded[0]);
  expect_same_job(other, loaded[1]);  // another job's credentials are left alone

  j.credentials.clear();
  store.save_job(j);
  loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 2U);
  expect_same_job(j, loaded[0]);
  expect_same_job(other, loaded[1]);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM credentials"), "1");
}

// Two credentials for one (target, scheme) break the job's invariant: the whole save fails and
// the stored job stays as it was.
TEST_F(JobStore, DuplicateCredentialFailsTheWholeSave) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  j.credentials = {credential_record{auth_target::server, auth_scheme::basic, "a", "1"}};
  job_store store(path_);
  store.save_job(j);

  job bad = j;
  bad.display_name = "changed";
  bad.credentials = {credential_record{auth_target::proxy, auth_scheme::basic, "a", "1"},
                     credential_record{auth_target::proxy, auth_scheme::basic, "b", "2"}};
  EXPECT_THROW(store.save_job(bad), opendo::error);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
}

TEST_F(JobStore, LoadAllInsideABatchSeesTheBatch) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  j.credentials = {credential_record{auth_target::server, auth_scheme::basic, "a", "1"}};
  job_store store(path_);
  job_store::batch batch(store);
  store.save_job(j);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  batch.commit();
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM credentials"), "1");
}

TEST_F(JobStore, SizeUnknownIsStoredAsMinusOne) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  j.files[0].bytes_total = size_unknown;
  job_store(path_).save_job(j);
  EXPECT_EQ(raw_db(path_).text("SELECT bytes_total FROM files"), "-1");
}

TEST_F(JobStore, CurrentFileIsTheFirstIncompleteFile) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 3);
  j.files[0].completed = true;
  j.files[2].completed = true;
  job all_done = make_job("{00000000-0000-0000-0000-000000000002}", 2, 2);
  for (auto& f : all_done.files) f.completed = true;
  job_store store(path_);
  store.save_job(j);
  store.save_job(all_done);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 2U);
  EXPECT_EQ(loaded[0].current_file, 1U);
  EXPECT_EQ(loaded[1].current_file, 2U);  // past the end: nothing left to transfer
}

TEST_F(JobStore, ResavingWithFewerFilesDropsTheRest) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 5);
  job_store store(path_);
  store.save_job(j);
  j.files.resize(2);
  j.files[1].remote_url = "https://example.org/changed";
  store.save_job(j);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM files"), "2");
}

// What the daemon saves when one file of a job finishes (or its response arrives): the job's
// row and that file's, and nothing else, so a job of N files costs O(1) rows per file.
TEST_F(JobStore, SaveJobFileWritesTheJobRowAndOnlyThatFile) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 3);
  job_store store(path_);
  store.save_job(j);

  job changed = j;
  changed.state = job_state::transferred;
  changed.times.modification = 42;
  changed.times.transfer_completion = 43;
  changed.download_time_spent = std::chrono::milliseconds(1234);
  changed.files[1].bytes_total = 777;
  changed.files[1].bytes_transferred = 777;
  changed.files[1].completed = true;
  changed.files[1].etag = "\"e1\"";
  changed.files[1].segments = {{0, 400, 400}, {400, 777, 377}};
  changed.files[0].remote_url = "https://example.org/not-saved";  // another file: left alone
  store.save_job_file(changed, 1);

  job expected = changed;
  expected.files[0] = j.files[0];
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(expected, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM files"), "3");
}

// What Resume and Suspend save: the job's row, every column of it, and none of its files.
TEST_F(JobStore, SaveJobStateWritesTheJobRowAlone) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 3);
  j.state = job_state::error;
  j.error = error_record{0x80190194U, error_context::remote_file, 1U, "HTTP 404", "http"};
  j.error_count = 2;
  job_store store(path_);
  store.save_job(j);

  job changed = j;
  changed.state = job_state::queued;
  changed.error.reset();
  changed.resumed = true;
  changed.download_time_spent = std::chrono::milliseconds(0);
  changed.times.modification = 99;
  changed.files[2].bytes_transferred = 5;  // not saved: only the job's own fields changed
  store.save_job_state(changed);

  job expected = changed;
  expected.files[2] = j.files[2];
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(expected, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM files"), "3");
}

// What AddFiles saves: the job's row and the files it appended, not the files before them.
TEST_F(JobStore, SaveAddedFilesWritesTheJobRowAndTheNewFiles) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 2);
  job_store store(path_);
  store.save_job(j);

  job added = make_job(j.id, 1, 4);  // files 2 and 3 are new
  added.files[0] = j.files[0];
  added.files[1] = j.files[1];
  added.files[0].bytes_transferred = 7;  // not saved: an earlier file
  added.state = job_state::suspended;
  added.times.modification = 77;
  store.save_added_files(added, 2);

  job expected = added;
  expected.files[0] = j.files[0];
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(expected, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM files"), "4");
}

TEST_F(JobStore, SaveFileProgressPersistsOnlyProgress) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 2);
  job_store store(path_);
  store.save_job(j);

  file_record f = j.files[1];
  f.bytes_total = 999;
  f.bytes_transferred = 999;
  f.completed = true;
  f.sources = {500, 20, 30, 40, 50, 60, 3, 4, 5, 6, 1234};
  f.etag = "W/\"v2\"";
  f.last_modified = "Thu, 01 Jan 2015 00:00:00 GMT";
  f.remote_mtime = 1420070400;
  f.delivered = true;
  // Not progress: must stay as saved.
  f.remote_url = "https://elsewhere.example/";
  f.local_name = "/elsewhere";
  f.temp_name = "other.tmp";
  store.save_file_progress(j.id, 1, f);

  job expected = j;
  file_record& e = expected.files[1];
  e.bytes_total = 999;
  e.bytes_transferred = 999;
  e.completed = true;
  e.sources = f.sources;
  e.etag = f.etag;
  e.last_modified = f.last_modified;
  e.remote_mtime = f.remote_mtime;
  e.delivered = true;
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(expected, loaded[0]);
}

TEST_F(JobStore, SaveFileProgressOfAnUnsavedFileFails) {
  job j = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  job_store store(path_);
  store.save_job(j);
  EXPECT_THROW(store.save_file_progress(j.id, 1, j.files[0]), opendo::error);
  EXPECT_THROW(store.save_file_progress("{missing}", 0, j.files[0]), opendo::error);
}

TEST_F(JobStore, RemoveJobRemovesItsFiles) {
  job gone = make_job("{00000000-0000-0000-0000-000000000001}", 1, 3);
  gone.credentials = {credential_record{auth_target::server, auth_scheme::basic, "a", "1"},
                      credential_record{auth_target::proxy, auth_scheme::ntlm, "b", "2"}};
  job kept = make_job("{00000000-0000-0000-0000-000000000002}", 2, 2);
  kept.credentials = {credential_record{auth_target::server, auth_scheme::digest, "c", "3"}};
  job_store store(path_);
  store.save_job(gone);
  store.save_job(kept);
  store.remove_job(gone.id);
  store.remove_job("{not-there}");  // removing nothing is not an error

  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(kept, loaded[0]);
  raw_db raw(path_);
  EXPECT_EQ(raw.text("SELECT count(*) FROM files WHERE job_id = '" + gone.id + "'"), "0");
  EXPECT_EQ(raw.text("SELECT count(*) FROM files"), "2");
  EXPECT_EQ(raw.text("SELECT count(*) FROM credentials WHERE job_id = '" + gone.id + "'"), "0");
  EXPECT_EQ(raw.text("SELECT count(*) FROM credentials"), "1");
}

// The mark of a Complete in progress survives a reopen, is per job, and leaves with its job.
TEST_F(JobStore, CompletingMarkIsKeptUntilClearedOrTheJobIsRemoved) {
  job first = make_job("{00000000-0000-0000-0000-000000000001}", 1, 2);
  job second = make_job("{00000000-0000-0000-0000-000000000002}", 1, 1);
  {
    job_store store(path_);
    store.save_job(first);
    store.save_job(second);
    EXPECT_FALSE(store.completing(first.id));
    store.mark_completing(first.id);
    store.mark_completing(second.id);
    store.mark_completing(second.id);  // marking twice is one mark
  }
  job_store store(path_);
  EXPECT_TRUE(store.completing(first.id));
  EXPECT_TRUE(store.completing(second.id));
  store.clear_completing(second.id);
  EXPECT_FALSE(store.completing(second.id));
  EXPECT_EQ(store.load_all().size(), 2U);  // clearing the mark keeps the job
  store.remove_job(first.id);
  EXPECT_FALSE(store.completing(first.id));
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM meta WHERE key LIKE 'completing %'"), "0");
}

// Tail-cut marks (docs/durability.md): per file and boot, kept over a reopen, gone with their job
// or all at once when the daemon starts in a boot the store has not seen.
TEST_F(JobStore, TailCutMarksArePerFileAndBootAndLeaveWithTheirJob) {
  job first = make_job("{00000000-0000-0000-0000-000000000001}", 1, 2);
  job second = make_job("{00000000-0000-0000-0000-000000000002}", 1, 1);
  using marks = std::set<std::pair<std::string, std::uint32_t>>;
  {
    job_store store(path_);
    store.save_job(first);
    store.save_job(second);
    EXPECT_TRUE(store.tails_cut_in("boot-a").empty());
    store.mark_tail_cut(first.id, 1, "boot-a");
    store.mark_tail_cut(second.id, 0, "boot-b");
    store.mark_tail_cut(second.id, 0, "boot-a");  // a later boot's mark replaces the earlier one
    store.set_meta("boot_id", "boot-a");
  }
  job_store store(path_);
  EXPECT_EQ(store.tails_cut_in("boot-a"), (marks{{first.id, 1}, {second.id, 0}}));
  EXPECT_TRUE(store.tails_cut_in("boot-b").empty());
  store.remove_job(first.id);
  EXPECT_EQ(store.tails_cut_in("boot-a"), (marks{{second.id, 0}}));
  store.forget_tail_cuts();
  EXPECT_TRUE(store.tails_cut_in("boot-a").empty());
  EXPECT_EQ(store.meta("boot_id"), "boot-a");  // other meta rows stay
  EXPECT_EQ(store.load_all().size(), 1U);
}

// The marks are found by a range of meta's key: a job whose id extends another's keeps its marks
// when the other leaves, and keys just outside the range ("tail cut!", "tail cut" alone) are
// never taken for marks.
TEST_F(JobStore, TailCutMarksOfOneJobAreExactlyItsOwn) {
  job first = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  job longer = make_job("{00000000-0000-0000-0000-000000000001}x", 1, 1);
  using marks = std::set<std::pair<std::string, std::uint32_t>>;
  job_store store(path_);
  store.save_job(first);
  store.save_job(longer);
  store.mark_tail_cut(first.id, 0, "boot-a");
  store.mark_tail_cut(longer.id, 0, "boot-a");
  store.set_meta("tail cut!", "boot-a");
  store.set_meta("tail cut", "boot-a");
  EXPECT_EQ(store.tails_cut_in("boot-a"), (marks{{first.id, 0}, {longer.id, 0}}));
  store.remove_job(first.id);
  EXPECT_EQ(store.tails_cut_in("boot-a"), (marks{{longer.id, 0}}));
  store.forget_tail_cuts();
  EXPECT_TRUE(store.tails_cut_in("boot-a").empty());
  EXPECT_EQ(store.meta("tail cut!"), "boot-a");
  EXPECT_EQ(store.meta("tail cut"), "boot-a");
}

TEST_F(JobStore, BatchCommits) {
  job a = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  job b = make_job("{00000000-0000-0000-0000-000000000002}", 2, 1);
  {
    job_store store(path_);
    job_store::batch outer(store);
    store.save_job(a);
    {
      job_store::batch inner(store);  // nested: only the outer one commits
      store.save_job(b);
      inner.commit();
    }
    // Nothing is visible to another connection before the outer commit.
    EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM jobs"), "0");
    outer.commit();
    EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM jobs"), "2");
  }
  EXPECT_EQ(job_store(path_).load_all().size(), 2U);
}

TEST_F(JobStore, BatchCommitsWhenItGoesOutOfScope) {
  job a = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  job_store store(path_);
  {
    job_store::batch batch(store);
    store.save_job(a);
  }
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM jobs"), "1");
}

TEST_F(JobStore, BatchRollsBackOnException) {
  job a = make_job("{00000000-0000-0000-0000-000000000001}", 1, 2);
  job b = make_job("{00000000-0000-0000-0000-000000000002}", 2, 1);
  job_store store(path_);
  store.save_job(a);
  try {
    job_store::batch batch(store);
    job changed = a;
    changed.display_name = "changed";
    changed.files.clear();
    store.save_job(changed);
    store.save_job(b);
    store.remove_job(a.id);
    throw std::runtime_error("the daemon failed in the middle");
  } catch (const std::runtime_error&) {
  }
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(a, loaded[0]);

  // The store is usable afterwards, and a new batch starts a new transaction.
  {
    job_store::batch batch(store);
    store.save_job(b);
    batch.commit();
  }
  EXPECT_EQ(job_store(path_).load_all().size(), 2U);
}

// The jobs another connection sees: those committed.
std::string jobs_committed(const std::string& path) {
  return raw_db(path).text("SELECT count(*) FROM jobs");
}

// A turn holds its batches in one transaction: none is visible to another connection before
// the turn ends (or commit_so_far), and a batch that fails undoes its own writes only.
TEST_F(JobStore, ATurnCommitsItsBatchesTogetherAndAFailedOneAlone) {
  job a = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  job b = make_job("{00000000-0000-0000-0000-000000000002}", 2, 1);
  job c = make_job("{00000000-0000-0000-0000-000000000003}", 3, 1);
  job_store store(path_);
  {
    job_store::turn turn(store);
    {
      job_store::batch batch(store);
      store.save_job(a);
      batch.commit();
    }
    EXPECT_EQ(jobs_committed(path_), "0");
    try {
      job_store::batch batch(store);
      store.save_job(b);
      throw std::runtime_error("the save failed half way");
    } catch (const std::runtime_error&) {
    }
    store.commit_so_far();
    EXPECT_EQ(jobs_committed(path_), "1");
    store.save_job(c);  // its own batch: a new transaction of the same turn
    EXPECT_EQ(jobs_committed(path_), "1");
    turn.end();
    EXPECT_EQ(jobs_committed(path_), "2");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 2U);
  expect_same_job(a, loaded[0]);
  expect_same_job(c, loaded[1]);
  // Outside a turn a batch commits at once again.
  store.save_job(b);
  EXPECT_EQ(jobs_committed(path_), "3");
}

// A turn whose owner does not end() it commits when it goes out of scope; one inside another
// leaves the commit to the outer one.
TEST_F(JobStore, ATurnCommitsWhenItGoesOutOfScopeAndANestedOneLeavesItToTheOuter) {
  job a = make_job("{00000000-0000-0000-0000-000000000001}", 1, 1);
  job_store store(path_);
  {
    job_store::turn outer(store);
    {
      job_store::turn inner(store);
      store.save_job(a);
      inner.end();
    }
    EXPECT_EQ(jobs_committed(path_), "0");
  }
  EXPECT_EQ(jobs_committed(path_), "1");
}

// Group commit's two halves: changes() tells whether anything was written since a count (reads
// do not count), and sync() needs no transaction, on a store that wrote nothing yet too. That the
// sync makes the commits survive a power loss is proved with the power-loss model
// (PowerLoss.EveryConcurrentClientsAnsweredCallsSurvive).
TEST_F(JobStore, ChangesCountWritesAndSyncWorksBetweenTransactions) {
  job a = make_job("{00000000-0000-0000-0000-000000000001}", 1, 2);
  job_store store(path_);
  EXPECT_NO_THROW(store.sync());
  const auto start = store.changes();
  store.load_all();
  EXPECT_EQ(store.changes(), start);
  store.save_job(a);
  EXPECT_GT(store.changes(), start);
  EXPECT_NO_THROW(store.sync());
  const auto saved = store.changes();
  store.mark_completing(a.id);  // syncs on its own
  EXPECT_GT(store.changes(), saved);
  EXPECT_TRUE(store.completing(a.id));
}

TEST_F(JobStore, FilesArePrivate) {
  job_store store(path_);
  store.save_job(make_job("{00000000-0000-0000-0000-000000000001}", 1, 1));
  for (const std::string& name : {path_, path_ + "-wal", path_ + "-shm"}) {
    struct stat st {};
    ASSERT_EQ(stat(name.c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, 0600U) << name;
  }
}

TEST_F(JobStore, WalModeIsOn) {
  job_store store(path_);
  store.save_job(make_job("{00000000-0000-0000-0000-000000000001}", 1, 1));
  EXPECT_EQ(raw_db(path_).text("PRAGMA journal_mode"), "wal");
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal"));
}

TEST_F(JobStore, GarbageFileIsRefused) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int i = 0; i < 200; ++i) out << "this is not an SQLite database, just text. ";
  }
  expect_open_fails("not a database");
}

TEST_F(JobStore, NewStoreHasSchemaVersion14) {
  { job_store store(path_); }
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
}

TEST_F(JobStore, LimitsRoundTrip) {
  job j = make_job("{B0000000-0000-0000-0000-000000000004}", 1700000000, 1);
  j.max_download_time = 0;
  j.download_time_spent = std::chrono::milliseconds{123456};
  j.max_download_size = 0xFFFFFFFFFFFFFFF0ULL;  // above INT64_MAX: stored as its bit pattern
  j.resumed = true;
  j.dynamic_content = true;
  j.high_performance = true;
  j.minimum_notification_interval_ms = 4294967295U;
  job other = make_job("{B0000000-0000-0000-0000-000000000005}", 1700000001, 0);  // the defaults
  {
    job_store store(path_);
    store.save_job(j);
    store.save_job(other);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 2U);
  expect_same_job(j, loaded[0]);
  expect_same_job(other, loaded[1]);
  EXPECT_EQ(loaded[1].max_download_time, 7776000U);
  EXPECT_EQ(loaded[1].max_download_size, 0U);
  EXPECT_FALSE(loaded[1].resumed);
  EXPECT_FALSE(loaded[1].dynamic_content);
  EXPECT_FALSE(loaded[1].high_performance);
  EXPECT_EQ(loaded[1].minimum_notification_interval_ms, 500U);
}

// A segmented file's segments come back from a save of the job and from a progress save.
TEST_F(JobStore, SegmentsRoundTrip) {
  job j = make_job("{B0000000-0000-0000-0000-000000000007}", 1700000000, 2);
  j.files[1].segments = {{0, 100, 60}, {100, 300, 0}};
  {
    job_store store(path_);
    store.save_job(j);
    j.files[1].segments = {{0, 100, 100}, {100, 200, 50}, {200, 300, 7}};
    store.save_file_progress(j.id, 1, j.files[1]);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_TRUE(loaded[0].files[0].segments.empty());
  raw_db(path_).exec("UPDATE files SET segments = '5-1:0' WHERE idx = 1");
  EXPECT_THROW(job_store(path_).load_all(), opendo::error);
}

TEST_F(JobStore, SaveDownloadTimeUpdatesOnlyTheDownloadTime) {
  job j = make_job("{B0000000-0000-0000-0000-000000000006}", 1700000000, 1);
  j.max_download_time = 30;
  {
    job_store store(path_);
    store.save_job(j);
    store.save_download_time(j.id, std::chrono::milliseconds{2500});
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  j.download_time_spent = std::chrono::milliseconds{2500};
  expect_same_job(j, loaded[0]);
}

TEST_F(JobStore, MetaValuesAreKeptAndReplaced) {
  {
    job_store store(path_);
    EXPECT_FALSE(store.meta("boot_id").has_value());
    store.set_meta("boot_id", "1f0e-boot");
    EXPECT_EQ(store.meta("boot_id"), "1f0e-boot");
    store.set_meta("boot_id", "2a7c-boot");
  }
  job_store store(path_);
  EXPECT_EQ(store.meta("boot_id"), "2a7c-boot");
  EXPECT_EQ(store.meta("schema_version"), "14");
}

TEST_F(JobStore, RoundTripKeepsHttpOptions) {
  job full = make_job("{00000000-0000-0000-0000-0000000000A1}", 1, 1);
  full.custom_headers = {"X-Opendo-Test: ünïcödé value", "Accept-Language: en;q=0.5", "X-Empty:"};
  full.custom_auth_headers = {"Authorization: Bearer s3cret;'--"};
  full.allow_https_to_http_redirect = true;
  job only_flag = make_job("{00000000-0000-0000-0000-0000000000A2}", 2, 0);
  only_flag.allow_https_to_http_redirect = true;
  job only_auth = make_job("{00000000-0000-0000-0000-0000000000A3}", 3, 0);
  only_auth.custom_auth_headers = {"X-Api-Key: k1", "X-Api-Secret: k2"};
  job plain = make_job("{00000000-0000-0000-0000-0000000000A4}", 4, 0);
  {
    job_store store(path_);
    for (const job* j : {&full, &only_flag, &only_auth, &plain}) store.save_job(*j);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 4U);
  expect_same_job(full, loaded[0]);
  expect_same_job(only_flag, loaded[1]);
  expect_same_job(only_auth, loaded[2]);
  expect_same_job(plain, loaded[3]);
  // Defaults take no row; removing the options removes the row.
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM http_options"), "3");
  full.custom_headers.clear();
  full.custom_auth_headers.clear();
  full.allow_https_to_http_redirect = false;
  job_store(path_).save_job(full);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM http_options"), "2");
  expect_same_job(full, job_store(path_).load_all()[0]);
  // Removing the job removes its options (and their secrets) with it.
  job_store(path_).remove_job(only_auth.id);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM http_options WHERE custom_auth_headers "
                               "LIKE '%k1%'"),
            "0");
}

TEST_F(JobStore, UnparsableHeadersAreReportedNotGuessed) {
  job j = make_job("{00000000-0000-0000-0000-0000000000A5}", 1, 0);
  j.custom_headers = {"X-A: 1"};
  { job_store(path_).save_job(j); }
  raw_db(path_).exec("UPDATE http_options SET custom_headers = 'X-A: 1\nX-B: 2'");
  job_store store(path_);
  EXPECT_THROW(store.load_all(), opendo::error);
}

// A version-3 store (before HTTP options and limits) gains the http_options table.
TEST_F(JobStore, Version3StoreGainsHttpOptions) {
  {
    raw_db old(path_);
    old.exec(kSchemaVersion3);
    old.exec(kVersion3Rows);
  }
  job after;
  {
    job_store store(path_);
    auto loaded = store.load_all();
    ASSERT_EQ(loaded.size(), 2U);
    EXPECT_TRUE(loaded[0].custom_headers.empty());
    EXPECT_TRUE(loaded[0].custom_auth_headers.empty());
    EXPECT_FALSE(loaded[0].allow_https_to_http_redirect);
    after = loaded[0];
    after.custom_headers = {"X-After: migration"};
    after.custom_auth_headers = {"Authorization: Bearer t"};
    after.allow_https_to_http_redirect = true;
    store.save_job(after);
  }
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 2U);
  expect_same_job(after, loaded[0]);
}

TEST_F(JobStore, RangesAndLayoutRoundTrip) {
  job j = version1_job();
  j.files[0].ranges = {{0, 10}, {900, 100}, {400, opendo::length_to_eof}};
  j.files[0].remote_size = opendo::size_unknown;
  file_record second = j.files[0];
  second.local_name = "/srv/downloads/second.iso";
  second.ranges = {{5, 1}};
  second.layout = opendo::range_layout::in_place;
  second.digest = "sha256:" + std::string(64, 'e');
  j.files.push_back(second);
  {
    job_store store(path_);
    store.save_job(j);
    j.files[1].remote_size = 12345;
    store.save_file_progress(j.id, 1, j.files[1]);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT ranges FROM files WHERE idx = 0"), "0+10,900+100,400+*");
}

TEST_F(JobStore, UnparsableRangesAreReportedNotGuessed) {
  job j = version1_job();
  j.files[0].ranges = {{0, 10}};
  { job_store(path_).save_job(j); }
  for (const char* text : {"0+", "+5", "0+10,", "0-10", "0+10;5+1", "x+1", "1+2+3"}) {
    SCOPED_TRACE(text);
    raw_db(path_).exec(std::string("UPDATE files SET ranges = '") + text + "'");
    job_store store(path_);
    EXPECT_THROW(store.load_all(), std::exception);
  }
}

TEST_F(JobStore, OtherSchemaVersionIsRefused) {
  { job_store store(path_); }
  for (const char* version : {"15", "0"}) {
    SCOPED_TRACE(version);
    raw_db(path_).exec(std::string("UPDATE meta SET value = ") + version +
                       " WHERE key = 'schema_version'");
    expect_open_fails(std::string("schema version ") + version);
    // Refused, not touched.
    EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), version);
  }
}

TEST_F(JobStore, Version1StoreIsMigrated) {
  {
    raw_db old(path_);
    old.exec(kSchemaVersion1);
    old.exec(kVersion1Rows);
  }
  job expected = version1_job();
  {
    job_store store(path_);
    auto loaded = store.load_all();
    ASSERT_EQ(loaded.size(), 1U);
    expect_same_job(expected, loaded[0]);
    EXPECT_EQ(loaded[0].proxy.usage, proxy_usage::preconfig);
    EXPECT_TRUE(loaded[0].notify_command.program.empty());
    EXPECT_TRUE(loaded[0].credentials.empty());
  }
  {
    raw_db raw(path_);
    EXPECT_EQ(raw.text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
    EXPECT_EQ(raw.text("SELECT proxy_usage || '|' || proxy_list || '|' || proxy_bypass || '|' || "
                       "notify_program || '|' || notify_parameters FROM jobs"),
              "0||||");
  }

  // Opening again finds version 7 and changes nothing; the migrated store takes the new fields.
  expected.proxy = {proxy_usage::override, "http://proxy:3128", "<local>"};
  expected.notify_command = {"/usr/bin/notify-send", "notify-send done"};
  expected.credentials = {credential_record{auth_target::server, auth_scheme::basic, "u", "p"}};
  {
    job_store store(path_);
    auto loaded = store.load_all();
    ASSERT_EQ(loaded.size(), 1U);
    expect_same_job(version1_job(), loaded[0]);
    store.save_job(expected);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(expected, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
}

// A migrated store has exactly the layout of a new one.
TEST_F(JobStore, MigratedLayoutIsTheNewLayout) {
  std::string fresh_path = (dir_ / "fresh.db").string();
  { job_store store(fresh_path); }
  raw_db(path_).exec(kSchemaVersion1);
  { job_store store(path_); }
  // And from version 3 (no limits, no http_options).
  const std::string from3_path = (dir_ / "from3.db").string();
  raw_db(from3_path).exec(kSchemaVersion3);
  { job_store store(from3_path); }
  raw_db fresh(fresh_path);
  raw_db migrated(path_);
  raw_db from3(from3_path);
  for (const std::string table : {"meta", "jobs", "files", "credentials", "http_options", "totals",
                                  "file_content", "client_certificates"}) {
    SCOPED_TRACE(table);
    std::string layout = fresh.text(describe_table(table));
    EXPECT_FALSE(layout.empty());
    EXPECT_EQ(migrated.text(describe_table(table)), layout);
    EXPECT_EQ(from3.text(describe_table(table)), layout);
  }
  const std::string options_keys =
      "SELECT group_concat(\"table\" || ' ' || \"from\" || ' ' || \"to\" || ' ' || on_delete, "
      "', ') FROM pragma_foreign_key_list('http_options')";
  EXPECT_EQ(fresh.text(options_keys), "jobs job_id id CASCADE");
  EXPECT_EQ(migrated.text(options_keys), "jobs job_id id CASCADE");
  EXPECT_EQ(from3.text(options_keys), "jobs job_id id CASCADE");
  const std::string foreign_keys =
      "SELECT group_concat(\"table\" || ' ' || \"from\" || ' ' || \"to\" || ' ' || on_delete, "
      "', ') FROM pragma_foreign_key_list('credentials')";
  EXPECT_EQ(migrated.text(foreign_keys), "jobs job_id id CASCADE");
  EXPECT_EQ(fresh.text(foreign_keys), "jobs job_id id CASCADE");
  const std::string without_rowid =
      "SELECT wr FROM pragma_table_list WHERE name = 'credentials' AND schema = 'main'";
  EXPECT_EQ(migrated.text(without_rowid), "1");
  EXPECT_EQ(fresh.text(without_rowid), "1");
}

TEST_F(JobStore, Version3StoreIsMigrated) {
  {
    raw_db old(path_);
    old.exec(kSchemaVersion3);
    old.exec(kVersion3Rows);
  }
  {
    job_store store(path_);
    auto loaded = store.load_all();
    ASSERT_EQ(loaded.size(), 2U);
    for (const auto& j : loaded) {
      SCOPED_TRACE(j.display_name);
      EXPECT_EQ(j.max_download_time, 7776000U);  // Windows' default
      EXPECT_EQ(j.download_time_spent, std::chrono::milliseconds{0});
      EXPECT_EQ(j.max_download_size, 0U);
      EXPECT_EQ(j.minimum_notification_interval_ms, 500U);
    }
    EXPECT_FALSE(loaded[0].resumed);  // SUSPENDED
    EXPECT_TRUE(loaded[1].resumed);   // TRANSFERRING: it was resumed
    ASSERT_EQ(loaded[1].files.size(), 1U);
    EXPECT_EQ(loaded[1].files[0].bytes_transferred, 10U);
    job changed = loaded[0];
    changed.max_download_time = 2;
    changed.max_download_size = 1000;
    changed.minimum_notification_interval_ms = 100;
    store.save_job(changed);
  }
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 2U);
  EXPECT_EQ(loaded[0].max_download_time, 2U);
  EXPECT_EQ(loaded[0].max_download_size, 1000U);
  EXPECT_EQ(loaded[0].minimum_notification_interval_ms, 100U);
}

TEST_F(JobStore, MigratedFromVersion3LayoutIsTheNewLayout) {
  std::string fresh_path = (dir_ / "fresh.db").string();
  { job_store store(fresh_path); }
  raw_db(path_).exec(kSchemaVersion3);
  { job_store store(path_); }
  raw_db fresh(fresh_path);
  raw_db migrated(path_);
  for (const std::string table : {"meta", "jobs", "files", "credentials", "http_options", "totals",
                                  "file_content", "client_certificates"}) {
    SCOPED_TRACE(table);
    std::string layout = fresh.text(describe_table(table));
    EXPECT_FALSE(layout.empty());
    EXPECT_EQ(migrated.text(describe_table(table)), layout);
  }
}

// A migration that fails part way leaves the version-1 store exactly as it was.
// Version 5 lacked the jobs' dynamic_content column: made here from a new store by dropping it.
TEST_F(JobStore, Version5StoreGainsDynamicContent) {
  job j = make_job("{00000000-0000-0000-0000-000000000051}", 1, 1);
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("ALTER TABLE jobs DROP COLUMN high_performance");
    old.exec("ALTER TABLE files DROP COLUMN segments");
    old.exec("ALTER TABLE files DROP COLUMN validation");
    old.exec("ALTER TABLE http_options DROP COLUMN tls_exemptions");
    old.exec("ALTER TABLE jobs DROP COLUMN dynamic_content");
    old.exec("DROP TABLE file_content");
    old.exec("ALTER TABLE jobs DROP COLUMN peer_caching_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_policy");
    old.exec("ALTER TABLE jobs DROP COLUMN disallow_on_cellular");
    old.exec("DROP TABLE client_certificates");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 5 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  EXPECT_FALSE(loaded[0].dynamic_content);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  loaded[0].dynamic_content = true;
  { job_store(path_).save_job(loaded[0]); }
  EXPECT_TRUE(job_store(path_).load_all()[0].dynamic_content);
}

// Version 6 lacked the jobs' high_performance column: made here from a new store by dropping it.
TEST_F(JobStore, Version6StoreGainsHighPerformance) {
  job j = make_job("{00000000-0000-0000-0000-000000000061}", 1, 1);
  j.dynamic_content = true;
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("ALTER TABLE jobs DROP COLUMN high_performance");
    old.exec("ALTER TABLE files DROP COLUMN segments");
    old.exec("ALTER TABLE files DROP COLUMN validation");
    old.exec("ALTER TABLE http_options DROP COLUMN tls_exemptions");
    old.exec("DROP TABLE file_content");
    old.exec("ALTER TABLE jobs DROP COLUMN peer_caching_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_policy");
    old.exec("ALTER TABLE jobs DROP COLUMN disallow_on_cellular");
    old.exec("DROP TABLE client_certificates");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 6 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  EXPECT_TRUE(loaded[0].dynamic_content);  // kept: version 6 had it
  EXPECT_FALSE(loaded[0].high_performance);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  loaded[0].high_performance = true;
  { job_store(path_).save_job(loaded[0]); }
  EXPECT_TRUE(job_store(path_).load_all()[0].high_performance);
}

TEST_F(JobStore, FailedMigrationChangesNothing) {
  {
    raw_db old(path_);
    old.exec(kSchemaVersion1);
    old.exec(kVersion1Rows);
    old.exec("CREATE TABLE credentials (x INTEGER)");  // makes the last step fail
  }
  expect_open_fails("migrate schema version 1 to 14");
  raw_db raw(path_);
  EXPECT_EQ(raw.text("SELECT value FROM meta WHERE key = 'schema_version'"), "1");
  EXPECT_EQ(raw.text("SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'proxy_usage'"),
            "0");
  EXPECT_EQ(raw.text("SELECT count(*) FROM jobs"), "1");
  EXPECT_EQ(raw.text("SELECT group_concat(name) FROM pragma_table_info('credentials')"), "x");
}

TEST_F(JobStore, ForeignDatabaseIsRefused) {
  raw_db(path_).exec("CREATE TABLE something_else (x INTEGER)");
  expect_open_fails("not an opendo job store");
}

TEST_F(JobStore, SymbolicLinkIsRefused) {
  std::string real = (dir_ / "real.db").string();
  { job_store store(real); }
  std::filesystem::create_symlink(real, path_);
  EXPECT_THROW(job_store store(path_), opendo::error);
}

// A daemon killed right after a batch committed (no close, no destructors) keeps the batch.
TEST_F(JobStore, CommittedBatchSurvivesAKilledProcess) {
  job a = make_job("{00000000-0000-0000-0000-000000000001}", 1, 3);
  a.files[0].bytes_transferred = 50;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      job_store store(path_);
      job_store::batch batch(store);
      store.save_job(a);
      batch.commit();
      _exit(0);  // like kill -9: no destructor runs, the database is never closed
    } catch (...) {
      _exit(1);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(a, loaded[0]);
}

TEST_F(JobStore, ThousandJobsInOneBatch) {
  std::vector<job> saved;
  for (int i = 0; i < 1000; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "{%08X-0000-0000-0000-000000000000}", i);
    job j = make_job(id, 1000 + i, 1 + i % 3);
    j.files[0].bytes_transferred = static_cast<std::uint64_t>(i);
    saved.push_back(j);
  }
  {
    job_store store(path_);
    job_store::batch batch(store);
    for (const auto& j : saved) store.save_job(j);
    batch.commit();
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), saved.size());
  for (std::size_t i = 0; i < saved.size(); ++i) expect_same_job(saved[i], loaded[i]);
}

}  // namespace

TEST_F(JobStore, NewStoreHasZeroTotals) {
  job_store store(path_);
  EXPECT_EQ(store.load_totals(), opendo::jobs::machine_totals{});
}

TEST_F(JobStore, TotalsRoundTripAndSurviveReopening) {
  opendo::jobs::machine_totals totals;
  totals.files_downloaded = 7;
  totals.files_uploaded = 8;
  // Every counter its own value (one above INT64_MAX, stored as its bit pattern), so that a
  // name mixed up with another shows.
  totals.sources = {0xFFFFFFFFFFFFFFF0ULL, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  {
    job_store store(path_);
    store.save_totals(totals);
    EXPECT_EQ(store.load_totals(), totals);
    totals.sources.bytes_from_origin += 1;  // saving again replaces, not adds
    store.save_totals(totals);
  }
  EXPECT_EQ(job_store(path_).load_totals(), totals);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM totals WHERE name = 'files_downloaded'"), "7");
}

// save_totals writes only the counters that changed since its last save; a rolled-back batch
// takes its saves back with it, so the next save writes every counter again.
TEST_F(JobStore, TotalsSavedInABatchThatRollsBackAreWrittenAgain) {
  job_store store(path_);
  opendo::jobs::machine_totals before;
  before.files_downloaded = 1;
  before.sources.bytes_from_origin = 100;
  store.save_totals(before);
  opendo::jobs::machine_totals after = before;
  after.files_downloaded = 2;
  after.sources.bytes_from_origin = 200;
  try {
    job_store::batch batch(store);
    store.save_totals(after);
    throw std::runtime_error("a later save of the same batch failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(store.load_totals(), before);
  store.save_totals(after);  // the same values as the rolled-back save: written anyway
  EXPECT_EQ(store.load_totals(), after);
  EXPECT_EQ(job_store(path_).load_totals(), after);
  // An unchanged counter is not rewritten: a row changed behind the store's back stays so.
  raw_db(path_).exec("UPDATE totals SET value = 5 WHERE name = 'files_uploaded'");
  after.sources.bytes_from_origin = 300;
  store.save_totals(after);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM totals WHERE name = 'files_uploaded'"), "5");
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM totals WHERE name = 'bytes_from_origin'"), "300");
}

// A newer opendo may keep counters this one does not know: they are left alone, not refused.
TEST_F(JobStore, UnknownTotalsAreIgnored) {
  { job_store store(path_); }
  raw_db(path_).exec(
      "INSERT INTO totals (name, value) VALUES ('bytes_from_moon', 5), ('files_downloaded', 3)");
  opendo::jobs::machine_totals expected;
  expected.files_downloaded = 3;
  EXPECT_EQ(job_store(path_).load_totals(), expected);
}

// Version 4 kept only bytes_from_origin: it stays, the other counters start at 0, and the
// machine's totals start from what the files hold.
TEST_F(JobStore, Version4StoreIsMigrated) {
  {
    raw_db old(path_);
    old.exec(kSchemaVersion4);
    old.exec(kVersion4Rows);
  }
  {
    job_store store(path_);
    auto loaded = store.load_all();
    ASSERT_EQ(loaded.size(), 1U);
    ASSERT_EQ(loaded[0].files.size(), 2U);
    opendo::source_stats done;
    done.bytes_from_origin = 1000;
    EXPECT_EQ(loaded[0].files[0].sources, done);
    EXPECT_EQ(loaded[0].files[1].sources.bytes_from_origin, 400U);
    EXPECT_EQ(loaded[0].files[1].bytes_transferred, 400U);
    EXPECT_EQ(loaded[0].current_file, 1U);
    opendo::jobs::machine_totals seeded;
    seeded.files_downloaded = 1;
    seeded.sources.bytes_from_origin = 1400;
    EXPECT_EQ(store.load_totals(), seeded);

    // The new columns take new figures.
    auto& file = loaded[0].files[1];
    file.sources.origin_connections = 2;
    file.sources.download_duration_ms = 1500;
    file.sources.bytes_from_cache_hosts = 10;
    store.save_file_progress(loaded[0].id, 1, file);
  }
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  EXPECT_EQ(loaded[0].files[1].sources.origin_connections, 2U);
  EXPECT_EQ(loaded[0].files[1].sources.download_duration_ms, 1500U);
  EXPECT_EQ(loaded[0].files[1].sources.bytes_from_cache_hosts, 10U);
  EXPECT_EQ(loaded[0].files[1].sources.bytes_from_origin, 400U);
}

TEST_F(JobStore, MigratedFromVersion4LayoutIsTheNewLayout) {
  std::string fresh_path = (dir_ / "fresh.db").string();
  { job_store store(fresh_path); }
  {
    raw_db old(path_);
    old.exec(kSchemaVersion4);
    old.exec("INSERT INTO meta (key, value) VALUES ('schema_version', 4)");
  }
  { job_store store(path_); }
  raw_db fresh(fresh_path);
  raw_db migrated(path_);
  for (const std::string table : {"meta", "jobs", "files", "credentials", "http_options", "totals",
                                  "file_content", "client_certificates"}) {
    SCOPED_TRACE(table);
    std::string layout = fresh.text(describe_table(table));
    EXPECT_FALSE(layout.empty());
    EXPECT_EQ(migrated.text(describe_table(table)), layout);
  }
  // An empty version-4 store starts its totals at 0.
  EXPECT_EQ(job_store(path_).load_totals(), opendo::jobs::machine_totals{});
}

namespace {

// A file with content metadata as the manager records it: the metainfo holds NUL bytes and
// every other byte value, as a real one does.
file_record with_metainfo(file_record f) {
  for (int i = 0; i < 3 * 256; ++i) f.metainfo.push_back(static_cast<char>(i & 0xFF));
  f.content_id = "urn:btmh:1220" + std::string(64, 'a');
  return f;
}

}  // namespace

TEST_F(JobStore, ContentMetadataRoundTrips) {
  job j = make_job("{00000000-0000-0000-0000-000000000081}", 1, 0);
  file_record plain = make_file("plain", 10, 0);
  file_record magnet = make_file("magnet", 20, 0);
  magnet.magnet = "magnet:?xt=urn:btmh:1220" + std::string(64, 'b') + "&dn=magnet";
  magnet.content_id = "urn:btmh:1220" + std::string(64, 'b');
  j.files = {with_metainfo(make_file("torrent", 30, 0)), plain, magnet};
  { job_store(path_).save_job(j); }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_EQ(loaded[0].files[0].metainfo.size(), 3U * 256);
  EXPECT_TRUE(loaded[0].files[1].content_id.empty());
  // One row per file with metadata; the plain file has none.
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM file_content"), "2");
}

TEST_F(JobStore, ContentMetadataOutlivesProgressAndResavesAndGoesWithItsFile) {
  job j = make_job("{00000000-0000-0000-0000-000000000082}", 1, 0);
  j.files = {make_file("a", 10, 0), with_metainfo(make_file("b", 20, 0))};
  job_store store(path_);
  store.save_job(j);
  // Progress and later saves of the job keep the metadata as it was.
  j.files[1].bytes_transferred = 5;
  store.save_file_progress(j.id, 1, j.files[1]);
  j.state = job_state::queued;
  store.save_job(j);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  // A job saved with fewer files (a refused AddFiles rolled back) drops the file's metadata,
  // and a different file at the same index gets its own.
  j.files.pop_back();
  store.save_job(j);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM file_content"), "0");
  file_record other = make_file("c", 30, 0);
  other.magnet = "magnet:?xt=urn:btmh:1220" + std::string(64, 'c');
  other.content_id = "urn:btmh:1220" + std::string(64, 'c');
  j.files.push_back(other);
  store.save_job(j);
  loaded = store.load_all();
  expect_same_job(j, loaded[0]);
  EXPECT_TRUE(loaded[0].files[1].metainfo.empty());
  // Removing the job removes its metadata (the foreign key cascades).
  store.remove_job(j.id);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM file_content"), "0");
}

// Version 7 had no file_content table: made here from a new store by dropping it.
TEST_F(JobStore, Version7StoreGainsContentMetadata) {
  job j = make_job("{00000000-0000-0000-0000-000000000071}", 1, 1);
  j.high_performance = true;
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("DROP TABLE file_content");
    old.exec("ALTER TABLE files DROP COLUMN validation");
    old.exec("ALTER TABLE http_options DROP COLUMN tls_exemptions");
    old.exec("ALTER TABLE jobs DROP COLUMN peer_caching_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_policy");
    old.exec("ALTER TABLE jobs DROP COLUMN disallow_on_cellular");
    old.exec("DROP TABLE client_certificates");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 7 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  EXPECT_TRUE(loaded[0].high_performance);  // kept: version 7 had it
  EXPECT_TRUE(loaded[0].files[0].content_id.empty());
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  const std::string keys =
      "SELECT group_concat(\"table\" || ' ' || \"from\" || ' ' || \"to\" || ' ' || on_delete, "
      "', ') FROM pragma_foreign_key_list('file_content')";
  EXPECT_EQ(raw_db(path_).text(keys), "jobs job_id id CASCADE");
  loaded[0].files.push_back(with_metainfo(make_file("added", 40, 0)));
  { job_store(path_).save_job(loaded[0]); }
  expect_same_job(loaded[0], job_store(path_).load_all()[0]);
}

// IBackgroundCopyFile3::SetValidationState's flags: written by save_validation only, kept by
// save_job (which rewrites the rest of the row) and by a reopened store.
TEST_F(JobStore, ValidationFlagsRoundTripAndSurviveResaves) {
  job j = make_job("{00000000-0000-0000-0000-000000000090}", 1, 3);
  {
    job_store store(path_);
    store.save_job(j);
    j.files[1].validated = true;
    j.files[2].origin_only = true;
    store.save_validation(j.id, 1, j.files[1]);
    store.save_validation(j.id, 2, j.files[2]);
    store.save_job(j);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  EXPECT_FALSE(loaded[0].files[0].validated || loaded[0].files[0].origin_only);
  EXPECT_TRUE(loaded[0].files[1].validated);
  EXPECT_FALSE(loaded[0].files[1].origin_only);
  EXPECT_FALSE(loaded[0].files[2].validated);
  EXPECT_TRUE(loaded[0].files[2].origin_only);
  // Cleared flags are written too.
  loaded[0].files[1].validated = false;
  { job_store(path_).save_validation(j.id, 1, loaded[0].files[1]); }
  EXPECT_FALSE(job_store(path_).load_all()[0].files[1].validated);
}

// Version 9 had no validation column: made here from a new store by dropping it.
TEST_F(JobStore, Version9StoreGainsValidation) {
  job j = make_job("{00000000-0000-0000-0000-000000000081}", 1, 1);
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("ALTER TABLE files DROP COLUMN validation");
    old.exec("ALTER TABLE http_options DROP COLUMN tls_exemptions");
    old.exec("DROP TABLE client_certificates");
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_note");
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_url");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 9 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_FALSE(loaded[0].files[0].validated);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  loaded[0].files[0].validated = true;
  { job_store(path_).save_validation(j.id, 0, loaded[0].files[0]); }
  EXPECT_TRUE(job_store(path_).load_all()[0].files[0].validated);
}

// SetPeerCachingFlags: never set (NULL) and 0 are different things, and both survive a reopen.
TEST_F(JobStore, PeerCachingFlagsRoundTripAndNeverSetStaysNeverSet) {
  job never = make_job("{00000000-0000-0000-0000-000000000091}", 1, 1);
  job zero = make_job("{00000000-0000-0000-0000-000000000092}", 2, 1);
  zero.peer_caching_flags = 0;
  job both = make_job("{00000000-0000-0000-0000-000000000093}", 3, 1);
  both.peer_caching_flags = peer_caching::client | peer_caching::server;
  both.cost_flags = opendo::cost_state::transfer_unrestricted;
  both.cost_policy = opendo::do_cost_policy::no_cellular;
  both.disallow_on_cellular = true;
  {
    job_store store(path_);
    store.save_job(never);
    store.save_job(zero);
    store.save_job(both);
  }
  const auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 3U);
  expect_same_job(never, loaded[0]);
  expect_same_job(zero, loaded[1]);
  expect_same_job(both, loaded[2]);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM jobs WHERE peer_caching_flags IS NULL"), "1");
  // Set back: the row follows.
  auto again = loaded[2];
  again.peer_caching_flags = peer_caching::client;
  { job_store(path_).save_job(again); }
  EXPECT_EQ(job_store(path_).load_all()[2].peer_caching_flags, peer_caching::client);
}

// Version 8 lacked the jobs' peer_caching_flags column: made here from a new store by dropping it.
// Its jobs come back as never set, and the column then holds what is set.
TEST_F(JobStore, Version8StoreGainsPeerCachingFlags) {
  job j = make_job("{00000000-0000-0000-0000-000000000082}", 1, 1);
  j.high_performance = true;
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("ALTER TABLE files DROP COLUMN validation");
    old.exec("ALTER TABLE http_options DROP COLUMN tls_exemptions");
    old.exec("ALTER TABLE jobs DROP COLUMN peer_caching_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_flags");
    old.exec("ALTER TABLE jobs DROP COLUMN cost_policy");
    old.exec("ALTER TABLE jobs DROP COLUMN disallow_on_cellular");
    old.exec("DROP TABLE client_certificates");
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_note");
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_url");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 8 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  EXPECT_TRUE(loaded[0].high_performance);  // kept: version 8 had it
  EXPECT_FALSE(loaded[0].peer_caching_flags.has_value());
  EXPECT_EQ(loaded[0].cost_flags, opendo::cost_state::transfer_always);
  EXPECT_EQ(loaded[0].cost_policy, opendo::do_cost_policy::always);
  EXPECT_FALSE(loaded[0].disallow_on_cellular);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  loaded[0].peer_caching_flags = peer_caching::server;
  { job_store(path_).save_job(loaded[0]); }
  expect_same_job(loaded[0], job_store(path_).load_all()[0]);
}

// DO SecurityContext: the certificate and its key (a secret, like the credentials) are kept per
// job, a job without one has no row, removing it or the job removes the row.
TEST_F(JobStore, ClientCertificateRoundTripsAndLeavesWithItsJob) {
  job with = make_job("{00000000-0000-0000-0000-0000000000C1}", 1, 1);
  with.client_certificate = {"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                             "-----BEGIN PRIVATE KEY-----\ns3cret\n-----END PRIVATE KEY-----\n"};
  job without = make_job("{00000000-0000-0000-0000-0000000000C2}", 2, 0);
  {
    job_store store(path_);
    store.save_job(with);
    store.save_job(without);
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 2U);
  expect_same_job(with, loaded[0]);
  expect_same_job(without, loaded[1]);
  EXPECT_TRUE(loaded[1].client_certificate.empty());
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM client_certificates"), "1");
  // Removed: the row goes.
  loaded[0].client_certificate = {};
  job_store(path_).save_job(loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM client_certificates"), "0");
  EXPECT_TRUE(job_store(path_).load_all()[0].client_certificate.empty());
  // Removing the job removes its certificate and key with it.
  job_store(path_).save_job(with);
  job_store(path_).remove_job(with.id);
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM client_certificates WHERE private_key "
                               "LIKE '%s3cret%'"),
            "0");
}

// Version 10 had no client_certificates table: made here from a new store by dropping it. Its
// jobs come back without a certificate, and the table then holds what is set.
TEST_F(JobStore, Version10StoreGainsClientCertificates) {
  job j = make_job("{00000000-0000-0000-0000-0000000000C3}", 1, 1);
  j.tls_exemptions = 0x3;
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("DROP TABLE client_certificates");
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_note");
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_url");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 10 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_EQ(loaded[0].tls_exemptions, 0x3U);  // kept: version 10 had it
  EXPECT_TRUE(loaded[0].client_certificate.empty());
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  loaded[0].client_certificate = {"cert", "key"};
  { job_store(path_).save_job(loaded[0]); }
  expect_same_job(loaded[0], job_store(path_).load_all()[0]);
}

// A file added with the URL of a published metainfo: its row holds the URL alone, and is written
// again once the metainfo was fetched (metainfo and content id), which later saves keep.
TEST_F(JobStore, PublishedMetainfoUrlRoundTripsAndTheFetchedMetainfoReplacesItsRow) {
  job j = make_job("{00000000-0000-0000-0000-0000000000a1}", 1, 2);
  j.files[1].metainfo_url = "https://example.com/b.bin.torrent";
  job_store store(path_);
  store.save_job(j);
  auto loaded = store.load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_TRUE(loaded[0].files[1].content_id.empty());
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM file_content"), "1");
  // The manager fills metainfo and content id when the published metainfo arrives.
  j.files[1] = with_metainfo(j.files[1]);
  j.files[1].metainfo_note = "used";
  store.save_job(j);
  store.save_job(j);
  loaded = store.load_all();
  EXPECT_EQ(loaded[0].files[1].metainfo, j.files[1].metainfo);
  EXPECT_EQ(loaded[0].files[1].content_id, j.files[1].content_id);
  EXPECT_EQ(loaded[0].files[1].metainfo_url, "https://example.com/b.bin.torrent");
  EXPECT_EQ(loaded[0].files[1].metainfo_note, "used");
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM file_content"), "1");
}

// Why a published metainfo was not used is kept with the file, and rewritten when it changes,
// although the content id stays empty.
TEST_F(JobStore, APublishedMetainfosRefusalNoteRoundTripsAndChanges) {
  job j = make_job("{00000000-0000-0000-0000-0000000000a3}", 1, 1);
  j.files[0].metainfo_url = "https://example.com/a.bin.torrent";
  job_store store(path_);
  store.save_job(j);
  EXPECT_EQ(store.load_all()[0].files[0].metainfo_note, "");
  j.files[0].metainfo_note = "its published metainfo could not be fetched: 404";
  store.save_job_file(j, 0);
  auto loaded = store.load_all();
  expect_same_job(j, loaded[0]);
  EXPECT_EQ(loaded[0].files[0].metainfo_note, j.files[0].metainfo_note);
  j.files[0].metainfo_note.clear();  // tried again at the next start
  store.save_job(j);
  EXPECT_EQ(store.load_all()[0].files[0].metainfo_note, "");
  EXPECT_EQ(raw_db(path_).text("SELECT count(*) FROM file_content"), "1");
}

// Version 12 kept no metainfo note: made here from a new store by dropping the column. Its
// published metainfo URLs are kept, with no note, and notes are kept from then on.
TEST_F(JobStore, Version12StoreGainsMetainfoNotes) {
  job j = make_job("{00000000-0000-0000-0000-0000000000a4}", 1, 1);
  j.files[0].metainfo_url = "https://example.com/a.bin.torrent";
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_note");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 12 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  loaded[0].files[0].metainfo_note = "used";
  { job_store(path_).save_job(loaded[0]); }
  EXPECT_EQ(job_store(path_).load_all()[0].files[0].metainfo_note, "used");
}

// Version 11 had no metainfo_url column: made here from a new store by dropping it. Its content
// metadata is kept, and the column then holds what is added.
TEST_F(JobStore, Version11StoreGainsPublishedMetainfoUrls) {
  job j = make_job("{00000000-0000-0000-0000-0000000000a2}", 1, 1);
  j.files = {with_metainfo(make_file("torrent", 30, 0))};
  { job_store(path_).save_job(j); }
  {
    raw_db old(path_);
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_note");
    old.exec("ALTER TABLE file_content DROP COLUMN metainfo_url");
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 11 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 1U);
  expect_same_job(j, loaded[0]);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  file_record published = make_file("published", 40, 0);
  published.metainfo_url = "http://example.com/published.torrent";
  loaded[0].files.push_back(published);
  { job_store(path_).save_job(loaded[0]); }
  expect_same_job(loaded[0], job_store(path_).load_all()[0]);
}

// Version 13 kept no creator: made here from a new store by dropping the column. Each job's
// creator becomes its owner (the best that can be known: a TakeOwnership before the migration
// left no trace), and the column then keeps a creator that differs from the owner.
TEST_F(JobStore, Version13StoreGainsCreators) {
  job mine = make_job("{00000000-0000-0000-0000-0000000000b1}", 1, 1);
  job taken = make_job("{00000000-0000-0000-0000-0000000000b2}", 2, 1);
  taken.owner_uid = 0;
  taken.creator_uid = 0;
  {
    job_store store(path_);
    store.save_job(mine);
    store.save_job(taken);
  }
  {
    raw_db old(path_);
    old.exec("ALTER TABLE jobs DROP COLUMN creator_uid");
    old.exec("UPDATE meta SET value = 13 WHERE key = 'schema_version'");
  }
  auto loaded = job_store(path_).load_all();
  ASSERT_EQ(loaded.size(), 2U);
  expect_same_job(mine, loaded[0]);
  expect_same_job(taken, loaded[1]);
  EXPECT_EQ(loaded[0].creator_uid, 1000U);
  EXPECT_EQ(loaded[1].creator_uid, 0U);
  EXPECT_EQ(raw_db(path_).text("SELECT value FROM meta WHERE key = 'schema_version'"), "14");
  EXPECT_EQ(raw_db(path_).text("SELECT group_concat(owner_uid || ':' || creator_uid, ',') FROM "
                               "(SELECT owner_uid, creator_uid FROM jobs ORDER BY id)"),
            "1000:1000,0:0");

  // TakeOwnership after the migration: the owner changes, the creator is kept.
  loaded[0].owner_uid = 0;
  { job_store(path_).save_job(loaded[0]); }
  const auto again = job_store(path_).load_all();
  ASSERT_EQ(again.size(), 2U);
  EXPECT_EQ(again[0].owner_uid, 0U);
  EXPECT_EQ(again[0].creator_uid, 1000U);
}
