// The BITS job life cycle, rule by rule: every transition of the reference and every clause of
// src/jobs/lifecycle.hpp has its own test. Time is injected; nothing sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "jobs/job.hpp"
#include "jobs/lifecycle.hpp"
#include "opendo/hresult.hpp"

namespace {

using namespace opendo::jobs;
using namespace std::chrono_literals;
using opendo::hr;
using opendo::job_priority;
using opendo::job_state;
using opendo::size_unknown;
using opendo::value_of;
namespace notify = opendo::notify;

const mono_time t0 = mono_time{} + 1000h;  // an arbitrary monotonic "now"
constexpr std::int64_t wall0 = 1'700'000'000;
constexpr std::int64_t wall1 = wall0 + 100;

const std::uint32_t s_ok = value_of(hr::ok);
const std::uint32_t invalid_state = value_of(hr::bg_e_invalid_state);

const std::vector<job_state> all_states = {
    job_state::queued,      job_state::connecting,   job_state::transferring,
    job_state::suspended,   job_state::error,        job_state::transient_error,
    job_state::transferred, job_state::acknowledged, job_state::cancelled};
const std::vector<job_state> non_final_states = {
    job_state::queued, job_state::connecting,      job_state::transferring, job_state::suspended,
    job_state::error,  job_state::transient_error, job_state::transferred};
const std::vector<job_state> final_states = {job_state::acknowledged, job_state::cancelled};

std::string name_of(job_state s) {
  return "state " + std::to_string(static_cast<int>(s));
}

file_record make_file(std::uint32_t n, std::uint64_t size = 1000) {
  file_record f;
  f.remote_url = "https://example.com/file" + std::to_string(n);
  f.local_name = "/home/user/file" + std::to_string(n);
  f.temp_name = ".opendo-file" + std::to_string(n);
  f.bytes_total = size;
  return f;
}

job new_job() {
  return make_job("{00000000-0000-0000-0000-000000000001}", 1000, "job", wall0);
}

job job_with_files(std::uint32_t count) {
  job j = new_job();
  for (std::uint32_t i = 0; i < count; ++i) add_file(j, make_file(i), limits{}, wall0);
  return j;
}

opendo::jobs::error_record make_error(std::uint32_t code = 0x80190194U) {
  error_record e;
  e.code = code;
  e.context = opendo::error_context::remote_file;
  e.file_index = 0;
  e.message = "HTTP 404 Not Found";
  e.protocol = "https";
  return e;
}

// A job with two files brought to `state` through the life cycle itself, at monotonic time t0.
job job_in(job_state state) {
  job j = job_with_files(2);
  const auto go_active = [&] {
    resume(j, t0, wall0);
    on_connecting(j, t0, wall0);
    on_transferring(j, wall0);
  };
  switch (state) {
    case job_state::suspended:
      break;
    case job_state::queued:
      resume(j, t0, wall0);
      break;
    case job_state::connecting:
      resume(j, t0, wall0);
      on_connecting(j, t0, wall0);
      break;
    case job_state::transferring:
      go_active();
      break;
    case job_state::error:
      go_active();
      on_error(j, make_error(), false, t0, wall0);
      break;
    case job_state::transient_error:
      go_active();
      on_error(j, make_error(), true, t0, wall0);
      break;
    case job_state::transferred:
      go_active();
      on_file_completed(j, 0, wall0);
      on_file_completed(j, 1, wall0);
      break;
    case job_state::acknowledged:
      go_active();
      on_file_completed(j, 0, wall0);
      on_file_completed(j, 1, wall0);
      mark_acknowledged(j, wall0);
      break;
    case job_state::cancelled:
      cancel(j, wall0);
      break;
  }
  EXPECT_EQ(j.state, state) << "setup failed for " << name_of(state);
  return j;
}

std::string dump(const std::optional<mono_time>& t) {
  return t ? std::to_string((*t - t0).count()) : std::string("none");
}

// Every field of a job as text: equal dumps mean nothing changed, and a diff says what did.
std::string dump(const job& j) {
  std::ostringstream o;
  o << "id=" << j.id << " owner=" << j.owner_uid << " name=" << j.display_name
    << " desc=" << j.description << " prio=" << static_cast<int>(j.priority)
    << " state=" << static_cast<int>(j.state) << " notify=" << j.notify_flags
    << " retry=" << j.minimum_retry_delay << " timeout=" << j.no_progress_timeout
    << " errors=" << j.error_count << " times=" << j.times.creation << "/" << j.times.modification
    << "/" << j.times.transfer_completion << " current=" << j.current_file
    << " retry_at=" << dump(j.retry_at) << " progress_at=" << dump(j.progress_at)
    << " max_time=" << j.max_download_time << " spent=" << j.download_time_spent.count()
    << " clock=" << dump(j.download_clock_at) << " max_size=" << j.max_download_size
    << " resumed=" << j.resumed << " interval=" << j.minimum_notification_interval_ms;
  if (j.error) {
    o << " error=" << j.error->code << "/" << static_cast<int>(j.error->context) << "/"
      << (j.error->file_index ? static_cast<long>(*j.error->file_index) : -1L) << "/"
      << j.error->message << "/" << j.error->protocol;
  }
  for (const auto& f : j.files) {
    o << "\n file " << f.remote_url << " " << f.local_name << " " << f.temp_name << " "
      << f.bytes_total << " " << f.bytes_transferred << " " << f.completed << " "
      << f.sources.bytes_from_origin << " " << f.etag << " " << f.last_modified << " "
      << f.remote_mtime << " " << f.delivered;
  }
  return o.str();
}

// ---- the job model ----------------------------------------------------------------------------

TEST(Job, BytesTotalIsZeroWithNoFiles) {
  EXPECT_EQ(new_job().bytes_total(), 0U);
}

TEST(Job, BytesTotalSumsFileSizes) {
  job j = new_job();
  j.files = {make_file(0, 100), make_file(1, 250)};
  EXPECT_EQ(j.bytes_total(), 350U);
}

TEST(Job, BytesTotalIsUnknownWhenAnyFileSizeIsUnknown) {
  job j = new_job();
  j.files = {make_file(0, 100), make_file(1, size_unknown), make_file(2, 5)};
  EXPECT_EQ(j.bytes_total(), size_unknown);
}

TEST(Job, BytesTransferredSumsFiles) {
  job j = new_job();
  j.files = {make_file(0, 100), make_file(1, size_unknown)};
  j.files[0].bytes_transferred = 40;
  j.files[1].bytes_transferred = 2;
  EXPECT_EQ(j.bytes_transferred(), 42U);
}

TEST(Job, FilesTransferredCountsCompletedFiles) {
  job j = new_job();
  j.files = {make_file(0), make_file(1), make_file(2)};
  j.files[0].completed = true;
  j.files[2].completed = true;
  EXPECT_EQ(j.files_transferred(), 2U);
}

TEST(Job, AllFilesCompletedIsFalseWithNoFiles) {
  EXPECT_FALSE(new_job().all_files_completed());
}

TEST(Job, AllFilesCompletedRequiresEveryFile) {
  job j = new_job();
  j.files = {make_file(0), make_file(1)};
  j.files[0].completed = true;
  EXPECT_FALSE(j.all_files_completed());
  j.files[1].completed = true;
  EXPECT_TRUE(j.all_files_completed());
}

TEST(Job, ToInfoCopiesEveryField) {
  job j = job_in(job_state::transient_error);
  j.owner_uid = 1234;
  j.display_name = "name";
  j.description = "description";
  j.priority = job_priority::low;
  j.notify_flags = notify::job_modification;
  j.minimum_retry_delay = 60;
  j.no_progress_timeout = 3600;
  j.times = {1, 2, 3};
  j.files[0].bytes_transferred = 300;
  j.files[0].sources.bytes_from_origin = 280;
  j.files[1].completed = true;
  j.files[1].bytes_transferred = 1000;

  const opendo::job_info info = to_info(j);
  EXPECT_EQ(info.id, j.id);
  EXPECT_EQ(info.owner_uid, 1234U);
  EXPECT_EQ(info.display_name, "name");
  EXPECT_EQ(info.description, "description");
  EXPECT_EQ(info.priority, job_priority::low);
  EXPECT_EQ(info.state, job_state::transient_error);
  EXPECT_EQ(info.bytes_total, 2000U);
  EXPECT_EQ(info.bytes_transferred, 1300U);
  EXPECT_EQ(info.files_total, 2U);
  EXPECT_EQ(info.files_transferred, 1U);
  EXPECT_EQ(info.notify_flags, notify::job_modification);
  EXPECT_EQ(info.minimum_retry_delay, 60U);
  EXPECT_EQ(info.no_progress_timeout, 3600U);
  EXPECT_EQ(info.error_count, 1U);
  ASSERT_TRUE(info.error.has_value());
  EXPECT_EQ(info.error->code, 0x80190194U);
  EXPECT_EQ(info.error->context, opendo::error_context::remote_file);
  EXPECT_EQ(info.error->file_index, std::optional<std::uint32_t>(0));
  EXPECT_EQ(info.error->message, "HTTP 404 Not Found");
  EXPECT_EQ(info.error->protocol, "https");
  EXPECT_EQ(info.times.creation, 1);
  EXPECT_EQ(info.times.modification, 2);
  EXPECT_EQ(info.times.transfer_completion, 3);
  ASSERT_EQ(info.files.size(), 2U);
  EXPECT_EQ(info.files[0].remote_url, "https://example.com/file0");
  EXPECT_EQ(info.files[0].local_name, "/home/user/file0");
  EXPECT_EQ(info.files[0].progress.bytes_total, 1000U);
  EXPECT_EQ(info.files[0].progress.bytes_transferred, 300U);
  EXPECT_FALSE(info.files[0].progress.completed);
  EXPECT_EQ(info.files[0].sources.bytes_from_origin, 280U);
  EXPECT_TRUE(info.files[1].progress.completed);
}

TEST(Job, ToInfoShowsErrorOnlyInErrorStates) {
  for (const auto state : all_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    j.error = make_error();  // even a stale record must stay hidden outside the error states
    const bool shown = state == job_state::error || state == job_state::transient_error;
    EXPECT_EQ(to_info(j).error.has_value(), shown);
  }
}

// ---- creation ---------------------------------------------------------------------------------

TEST(Lifecycle, NewJobIsSuspendedWithDefaults) {
  const job j = make_job("{id}", 42, "display", wall0);
  EXPECT_EQ(j.id, "{id}");
  EXPECT_EQ(j.owner_uid, 42U);
  EXPECT_EQ(j.display_name, "display");
  EXPECT_EQ(j.description, "");
  EXPECT_EQ(j.state, job_state::suspended);
  EXPECT_EQ(j.priority, job_priority::normal);
  EXPECT_EQ(j.minimum_retry_delay, 600U);
  EXPECT_EQ(j.no_progress_timeout, 1209600U);
  EXPECT_EQ(j.error_count, 0U);
  EXPECT_FALSE(j.error.has_value());
  EXPECT_TRUE(j.files.empty());
  EXPECT_EQ(j.current_file, 0U);
  EXPECT_EQ(j.times.creation, wall0);
  EXPECT_EQ(j.times.modification, wall0);
  EXPECT_EQ(j.times.transfer_completion, 0);
  EXPECT_FALSE(j.retry_at.has_value());
  EXPECT_FALSE(j.progress_at.has_value());
}

TEST(Lifecycle, NewJobNotifiesOnTransferredAndError) {
  EXPECT_EQ(new_job().notify_flags, notify::job_transferred | notify::job_error);
}

TEST(Lifecycle, CreateIsAllowedBelowTheLimits) {
  EXPECT_EQ(check_create(299, 59, std::string(256, 'n'), limits{}), s_ok);
}

TEST(Lifecycle, CreateFailsWhenTheMachineIsAtItsJobLimit) {
  EXPECT_EQ(check_create(300, 0, "job", limits{}), value_of(hr::bg_e_too_many_jobs_per_machine));
}

TEST(Lifecycle, CreateFailsWhenTheUserIsAtTheirJobLimit) {
  EXPECT_EQ(check_create(0, 60, "job", limits{}), value_of(hr::bg_e_too_many_jobs_per_user));
}

TEST(Lifecycle, CreateChecksTheMachineLimitBeforeTheUserLimit) {
  EXPECT_EQ(check_create(300, 60, "job", limits{}), value_of(hr::bg_e_too_many_jobs_per_machine));
}

TEST(Lifecycle, CreateFailsForADisplayNameOverTheLimit) {
  EXPECT_EQ(check_create(0, 0, std::string(257, 'n'), limits{}),
            value_of(hr::bg_e_string_too_long));
}

TEST(Lifecycle, CreateUsesTheConfiguredLimits) {
  limits lim;
  lim.max_jobs_per_machine = 2;
  lim.max_jobs_per_user = 1;
  lim.max_display_name = 3;
  EXPECT_EQ(check_create(1, 0, "abc", lim), s_ok);
  EXPECT_EQ(check_create(2, 0, "abc", lim), value_of(hr::bg_e_too_many_jobs_per_machine));
  EXPECT_EQ(check_create(1, 1, "abc", lim), value_of(hr::bg_e_too_many_jobs_per_user));
  EXPECT_EQ(check_create(1, 0, "abcd", lim), value_of(hr::bg_e_string_too_long));
}

// ---- properties -------------------------------------------------------------------------------

TEST(Lifecycle, SetDisplayNameAcceptsANameAtTheLimit) {
  job j = new_job();
  const std::string name(256, 'n');
  EXPECT_EQ(set_display_name(j, name, limits{}, wall1), s_ok);
  EXPECT_EQ(j.display_name, name);
}

TEST(Lifecycle, SetDisplayNameRejectsANameOverTheLimitAndKeepsTheOldOne) {
  job j = new_job();
  EXPECT_EQ(set_display_name(j, std::string(257, 'n'), limits{}, wall1),
            value_of(hr::bg_e_string_too_long));
  EXPECT_EQ(j.display_name, "job");
}

TEST(Lifecycle, StringLimitsCountCharactersNotBytes) {
  job j = new_job();
  std::string name;
  for (int i = 0; i < 256; ++i) name += "\xC3\xA9";  // 256 x U+00E9, 512 bytes
  EXPECT_EQ(set_display_name(j, name, limits{}, wall1), s_ok);
  EXPECT_EQ(check_create(0, 0, name, limits{}), s_ok);
  EXPECT_EQ(set_display_name(j, name + "\xC3\xA9", limits{}, wall1),
            value_of(hr::bg_e_string_too_long));
}

TEST(Lifecycle, SetDescriptionAcceptsTextAtTheLimit) {
  job j = new_job();
  const std::string text(1024, 'd');
  EXPECT_EQ(set_description(j, text, limits{}, wall1), s_ok);
  EXPECT_EQ(j.description, text);
}

TEST(Lifecycle, SetDescriptionRejectsTextOverTheLimitAndKeepsTheOldOne) {
  job j = new_job();
  set_description(j, "old", limits{}, wall0);
  EXPECT_EQ(set_description(j, std::string(1025, 'd'), limits{}, wall1),
            value_of(hr::bg_e_string_too_long));
  EXPECT_EQ(j.description, "old");
}

TEST(Lifecycle, SetPriorityAcceptsEveryBgJobPriority) {
  job j = new_job();
  for (std::uint32_t p = 0; p <= 3; ++p) {
    EXPECT_EQ(set_priority(j, p, wall1), s_ok);
    EXPECT_EQ(j.priority, static_cast<job_priority>(p));
  }
}

TEST(Lifecycle, SetPriorityRejectsValuesAboveLow) {
  job j = new_job();
  EXPECT_EQ(set_priority(j, 4, wall1), value_of(hr::e_invalidarg));
  EXPECT_EQ(set_priority(j, 0xFFFFFFFFU, wall1), value_of(hr::e_invalidarg));
  EXPECT_EQ(j.priority, job_priority::normal);
}

TEST(Lifecycle, MinimumRetryDelayReadsBackAsSet) {
  job j = new_job();
  EXPECT_EQ(set_minimum_retry_delay(j, 2, wall1), s_ok);
  EXPECT_EQ(j.minimum_retry_delay, 2U);
  EXPECT_EQ(to_info(j).minimum_retry_delay, 2U);
}

TEST(Lifecycle, NoProgressTimeoutReadsBackAsSet) {
  job j = new_job();
  EXPECT_EQ(set_no_progress_timeout(j, 0, wall1), s_ok);
  EXPECT_EQ(j.no_progress_timeout, 0U);
  EXPECT_EQ(set_no_progress_timeout(j, 77, wall1), s_ok);
  EXPECT_EQ(j.no_progress_timeout, 77U);
}

TEST(Lifecycle, SetNotifyFlagsAcceptsEveryKnownBit) {
  job j = new_job();
  for (const std::uint32_t flags :
       {0U, notify::job_transferred, notify::job_error, notify::disable, notify::job_modification,
        notify::file_transferred, notify::file_ranges_transferred, notify::all}) {
    EXPECT_EQ(set_notify_flags(j, flags, wall1), s_ok);
    EXPECT_EQ(j.notify_flags, flags);
  }
}

TEST(Lifecycle, SetNotifyFlagsRejectsUnknownBitsWithNotImpl) {
  job j = new_job();
  EXPECT_EQ(set_notify_flags(j, 0x40, wall1), value_of(hr::e_notimpl));
  EXPECT_EQ(set_notify_flags(j, notify::job_error | 0x80000000U, wall1), value_of(hr::e_notimpl));
  EXPECT_EQ(j.notify_flags, notify::job_transferred | notify::job_error);
}

// Every successful client call is a modification; a failed one is not.
struct client_call {
  const char* name;
  std::function<std::uint32_t(job&, std::int64_t)> call;
};

std::vector<client_call> client_calls() {
  const limits lim;
  return {
      {"SetDisplayName", [=](job& j, std::int64_t w) { return set_display_name(j, "x", lim, w); }},
      {"SetDescription", [=](job& j, std::int64_t w) { return set_description(j, "x", lim, w); }},
      {"SetPriority", [](job& j, std::int64_t w) { return set_priority(j, 1, w); }},
      {"SetMinimumRetryDelay",
       [](job& j, std::int64_t w) { return set_minimum_retry_delay(j, 9, w); }},
      {"SetNoProgressTimeout",
       [](job& j, std::int64_t w) { return set_no_progress_timeout(j, 9, w); }},
      {"SetNotifyFlags", [](job& j, std::int64_t w) { return set_notify_flags(j, 0x8, w); }},
      {"AddFile", [=](job& j, std::int64_t w) { return add_file(j, make_file(9), lim, w); }},
      {"Resume", [](job& j, std::int64_t w) { return resume(j, t0 + 1s, w); }},
      {"Suspend", [](job& j, std::int64_t w) { return suspend(j, w); }},
      {"Cancel", [](job& j, std::int64_t w) { return cancel(j, w); }},
      {"Complete", [](job& j, std::int64_t) { return plan_complete(j).result; }},
  };
}

TEST(Lifecycle, SuccessfulChangesSetTheModificationTime) {
  for (const auto& c : client_calls()) {
    if (std::string(c.name) == "Complete") continue;  // a plan; mark_acknowledged changes the job
    SCOPED_TRACE(c.name);
    // Suspending a suspended job is no change, so Suspend starts from a queued one.
    job j = std::string(c.name) == "Suspend" ? job_in(job_state::queued) : job_with_files(1);
    ASSERT_EQ(c.call(j, wall1), s_ok);
    EXPECT_EQ(j.times.modification, wall1);
  }
}

TEST(Lifecycle, FailedCallsLeaveTheModificationTime) {
  job j = new_job();
  EXPECT_NE(set_priority(j, 9, wall1), s_ok);
  EXPECT_NE(set_notify_flags(j, 0x100, wall1), s_ok);
  EXPECT_NE(set_display_name(j, std::string(300, 'x'), limits{}, wall1), s_ok);
  EXPECT_NE(resume(j, t0, wall1), s_ok);
  EXPECT_EQ(j.times.modification, wall0);
}

// ---- files ------------------------------------------------------------------------------------

TEST(Lifecycle, CheckFileAcceptsAUrlAndAnAbsoluteFilePath) {
  EXPECT_EQ(check_file("https://example.com/a.iso", "/home/user/a.iso", limits{}), s_ok);
  EXPECT_EQ(check_file("http://h/x", "/a/.hidden", limits{}), s_ok);
  EXPECT_EQ(check_file("http://h/x", "/a/..x", limits{}), s_ok);
}

TEST(Lifecycle, CheckFileRejectsAnEmptyUrl) {
  EXPECT_EQ(check_file("", "/home/user/a", limits{}), value_of(hr::e_invalidarg));
}

TEST(Lifecycle, CheckFileAcceptsAUrlAtTheLimitAndRejectsALongerOne) {
  const std::string base = "https://example.com/";
  const std::string at_limit = base + std::string(2200 - base.size(), 'a');
  EXPECT_EQ(check_file(at_limit, "/a", limits{}), s_ok);
  EXPECT_EQ(check_file(at_limit + "a", "/a", limits{}), value_of(hr::bg_e_string_too_long));
}

TEST(Lifecycle, CheckFileAcceptsAPathAtTheLimitAndRejectsALongerOne) {
  const std::string at_limit = "/" + std::string(4095, 'p');
  EXPECT_EQ(check_file("http://h/x", at_limit, limits{}), s_ok);
  EXPECT_EQ(check_file("http://h/x", at_limit + "p", limits{}), value_of(hr::bg_e_string_too_long));
}

TEST(Lifecycle, CheckFileReportsLengthBeforeForm) {
  EXPECT_EQ(check_file("http://h/x", std::string(5000, 'p'), limits{}),
            value_of(hr::bg_e_string_too_long));
}

TEST(Lifecycle, CheckFileRejectsARelativeOrEmptyPath) {
  EXPECT_EQ(check_file("http://h/x", "a/b", limits{}), value_of(hr::e_invalidarg));
  EXPECT_EQ(check_file("http://h/x", "./b", limits{}), value_of(hr::e_invalidarg));
  EXPECT_EQ(check_file("http://h/x", "", limits{}), value_of(hr::e_invalidarg));
}

TEST(Lifecycle, CheckFileRejectsAPathEndingInASlash) {
  EXPECT_EQ(check_file("http://h/x", "/", limits{}), value_of(hr::e_invalidarg));
  EXPECT_EQ(check_file("http://h/x", "/home/user/", limits{}), value_of(hr::e_invalidarg));
}

TEST(Lifecycle, CheckFileRejectsAPathWithANul) {
  using namespace std::string_view_literals;
  EXPECT_EQ(check_file("http://h/x", "/home/a\0b"sv, limits{}), value_of(hr::e_invalidarg));
}

TEST(Lifecycle, CheckFileRejectsDotAndDotDotAsTheLastComponent) {
  for (const char* path : {"/.", "/..", "/home/.", "/home/.."}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(check_file("http://h/x", path, limits{}), value_of(hr::e_invalidarg));
  }
}

TEST(Lifecycle, AddFileAppendsToASuspendedJob) {
  job j = new_job();
  EXPECT_EQ(add_file(j, make_file(0), limits{}, wall1), s_ok);
  EXPECT_EQ(add_file(j, make_file(1), limits{}, wall1), s_ok);
  ASSERT_EQ(j.files.size(), 2U);
  EXPECT_EQ(j.files[0].remote_url, "https://example.com/file0");
  EXPECT_EQ(j.files[1].remote_url, "https://example.com/file1");
  EXPECT_EQ(j.state, job_state::suspended);
  EXPECT_EQ(j.current_file, 0U);
}

TEST(Lifecycle, AddFileFailsAtTheFilesPerJobLimit) {
  job j = new_job();
  for (std::uint32_t i = 0; i < 200; ++i)
    ASSERT_EQ(add_file(j, make_file(i), limits{}, wall0), s_ok);
  EXPECT_EQ(add_file(j, make_file(200), limits{}, wall1), value_of(hr::bg_e_too_many_files_in_job));
  EXPECT_EQ(j.files.size(), 200U);
  EXPECT_EQ(j.times.modification, wall0);
}

TEST(Lifecycle, AddFileUsesTheConfiguredFilesPerJobLimit) {
  limits lim;
  lim.max_files_per_job = 1;
  job j = new_job();
  EXPECT_EQ(add_file(j, make_file(0), lim, wall0), s_ok);
  EXPECT_EQ(add_file(j, make_file(1), lim, wall0), value_of(hr::bg_e_too_many_files_in_job));
}

TEST(Lifecycle, AddFileIsAllowedInEveryNonFinalState) {
  for (const auto state : non_final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    EXPECT_EQ(add_file(j, make_file(7), limits{}, wall1), s_ok);
    EXPECT_EQ(j.files.size(), 3U);
    const auto expected = state == job_state::transferred ? job_state::suspended : state;
    EXPECT_EQ(j.state, expected);
  }
}

TEST(Lifecycle, AddFileToATransferredJobReturnsItToSuspended) {
  job j = job_in(job_state::transferred);
  EXPECT_EQ(add_file(j, make_file(2), limits{}, wall1), s_ok);
  EXPECT_EQ(j.state, job_state::suspended);
  EXPECT_EQ(j.current_file, 2U);
  EXPECT_FALSE(j.all_files_completed());
}

TEST(Lifecycle, AddedFileOfATransferredJobTransfersAfterResume) {
  job j = job_in(job_state::transferred);
  add_file(j, make_file(2), limits{}, wall1);
  EXPECT_EQ(resume(j, t0, wall1), s_ok);
  EXPECT_EQ(j.state, job_state::queued);
  on_connecting(j, t0, wall1);
  on_transferring(j, wall1);
  EXPECT_TRUE(on_file_completed(j, 2, wall1));
  EXPECT_EQ(j.state, job_state::transferred);
}

// ---- resume -----------------------------------------------------------------------------------

TEST(Lifecycle, ResumeWithNoFilesIsEmptyAndStaysSuspended) {
  job j = new_job();
  const std::string before = dump(j);
  EXPECT_EQ(resume(j, t0, wall1), value_of(hr::bg_e_empty));
  EXPECT_EQ(j.state, job_state::suspended);
  EXPECT_EQ(dump(j), before);
}

TEST(Lifecycle, ResumeQueuesASuspendedJob) {
  job j = job_with_files(1);
  EXPECT_EQ(resume(j, t0, wall1), s_ok);
  EXPECT_EQ(j.state, job_state::queued);
}

TEST(Lifecycle, ResumeStartsTheProgressTimer) {
  job j = job_with_files(1);
  j.progress_at = t0 - 1h;
  resume(j, t0, wall1);
  EXPECT_EQ(j.progress_at, t0);
}

TEST(Lifecycle, ResumeFromErrorRequeuesAndClearsTheError) {
  job j = job_in(job_state::error);
  EXPECT_EQ(resume(j, t0 + 10s, wall1), s_ok);
  EXPECT_EQ(j.state, job_state::queued);
  EXPECT_FALSE(j.error.has_value());
  EXPECT_FALSE(j.retry_at.has_value());
  EXPECT_EQ(j.progress_at, t0 + 10s);
  EXPECT_EQ(j.error_count, 1U);  // the count is history, not state
}

TEST(Lifecycle, ResumeFromTransientErrorRequeuesAndClearsErrorAndRetryTimer) {
  job j = job_in(job_state::transient_error);
  ASSERT_TRUE(j.retry_at.has_value());
  EXPECT_EQ(resume(j, t0 + 10s, wall1), s_ok);
  EXPECT_EQ(j.state, job_state::queued);
  EXPECT_FALSE(j.error.has_value());
  EXPECT_FALSE(j.retry_at.has_value());
  EXPECT_EQ(j.progress_at, t0 + 10s);
}

TEST(Lifecycle, ResumeOfAnActiveOrTransferredJobChangesNothing) {
  for (const auto state : {job_state::queued, job_state::connecting, job_state::transferring,
                           job_state::transferred}) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    // Nothing changes but the download time, which starts again (Windows: "Calling Resume
    // resets the elapsed time"); see MaxDownloadTime.ResumeOfARunningJobResetsTheElapsedTime.
    job expected = j;
    if (expected.download_clock_at) expected.download_clock_at = t0 + 1h;
    EXPECT_EQ(resume(j, t0 + 1h, wall1), s_ok);
    EXPECT_EQ(dump(j), dump(expected));
  }
}

// ---- the active path --------------------------------------------------------------------------

TEST(Lifecycle, FullActivePathEndsTransferred) {
  job j = job_with_files(1);
  EXPECT_EQ(resume(j, t0, wall0), s_ok);
  EXPECT_EQ(j.state, job_state::queued);
  on_connecting(j, t0, wall0);
  EXPECT_EQ(j.state, job_state::connecting);
  on_transferring(j, wall0);
  EXPECT_EQ(j.state, job_state::transferring);
  on_progress(j, 0, 500, t0 + 1s);
  EXPECT_EQ(j.state, job_state::transferring);
  EXPECT_TRUE(on_file_completed(j, 0, wall1));
  EXPECT_EQ(j.state, job_state::transferred);
  EXPECT_EQ(j.times.transfer_completion, wall1);
  EXPECT_EQ(j.times.modification, wall1);
}

TEST(Lifecycle, OnConnectingMovesAQueuedJobToConnecting) {
  job j = job_in(job_state::queued);
  on_connecting(j, t0, wall1);
  EXPECT_EQ(j.state, job_state::connecting);
  EXPECT_EQ(j.times.modification, wall1);
}

TEST(Lifecycle, OnConnectingIgnoresJobsThatAreNotQueued) {
  for (const auto state : all_states) {
    if (state == job_state::queued) continue;
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const std::string before = dump(j);
    on_connecting(j, t0 + 1h, wall1);
    EXPECT_EQ(dump(j), before);
  }
}

TEST(Lifecycle, OnConnectingStartsTheProgressTimerWhenUnset) {
  job j = job_in(job_state::queued);
  j.progress_at.reset();
  on_connecting(j, t0 + 5s, wall1);
  EXPECT_EQ(j.progress_at, t0 + 5s);
}

TEST(Lifecycle, OnConnectingKeepsARunningProgressTimer) {
  job j = job_in(job_state::queued);
  on_connecting(j, t0 + 5s, wall1);
  EXPECT_EQ(j.progress_at, t0);
}

TEST(Lifecycle, OnTransferringMovesAConnectingJobToTransferring) {
  job j = job_in(job_state::connecting);
  on_transferring(j, wall1);
  EXPECT_EQ(j.state, job_state::transferring);
  EXPECT_EQ(j.times.modification, wall1);
}

TEST(Lifecycle, OnTransferringIgnoresJobsThatAreNotConnecting) {
  for (const auto state : all_states) {
    if (state == job_state::connecting) continue;
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const std::string before = dump(j);
    on_transferring(j, wall1);
    EXPECT_EQ(dump(j), before);
  }
}

TEST(Lifecycle, FilesTransferInOrder) {
  job j = job_with_files(3);
  resume(j, t0, wall0);
  on_connecting(j, t0, wall0);
  on_transferring(j, wall0);
  EXPECT_EQ(j.current_file, 0U);
  EXPECT_FALSE(on_file_completed(j, 0, wall0));
  EXPECT_EQ(j.current_file, 1U);
  EXPECT_EQ(j.state, job_state::transferring);
  EXPECT_FALSE(on_file_completed(j, 1, wall0));
  EXPECT_EQ(j.current_file, 2U);
  EXPECT_TRUE(on_file_completed(j, 2, wall0));
  EXPECT_EQ(j.current_file, 3U);
  EXPECT_EQ(j.state, job_state::transferred);
}

TEST(Lifecycle, CurrentFileIsTheFirstIncompleteFile) {
  job j = job_in(job_state::transferring);
  add_file(j, make_file(2), limits{}, wall0);
  EXPECT_FALSE(on_file_completed(j, 1, wall0));
  EXPECT_EQ(j.current_file, 0U);
  EXPECT_FALSE(on_file_completed(j, 0, wall0));
  EXPECT_EQ(j.current_file, 2U);
}

TEST(Lifecycle, FileCompletionSetsBytesTransferredToTheKnownSize) {
  job j = job_in(job_state::transferring);
  on_progress(j, 0, 900, t0);
  on_file_completed(j, 0, wall0);
  EXPECT_TRUE(j.files[0].completed);
  EXPECT_EQ(j.files[0].bytes_transferred, 1000U);
}

TEST(Lifecycle, FileCompletionMakesAnUnknownSizeKnown) {
  job j = new_job();
  add_file(j, make_file(0, size_unknown), limits{}, wall0);
  resume(j, t0, wall0);
  on_connecting(j, t0, wall0);
  on_transferring(j, wall0);
  on_progress(j, 0, 321, t0);
  EXPECT_TRUE(on_file_completed(j, 0, wall0));
  EXPECT_EQ(j.files[0].bytes_total, 321U);
  EXPECT_EQ(j.bytes_total(), 321U);
}

TEST(Lifecycle, FileCompletionOutOfRangeIsIgnored) {
  job j = job_in(job_state::transferring);
  const std::string before = dump(j);
  EXPECT_FALSE(on_file_completed(j, 2, wall1));
  EXPECT_EQ(dump(j), before);
}

TEST(Lifecycle, FileCompletionOfAnInactiveJobRecordsTheFileButKeepsTheState) {
  for (const auto state : {job_state::suspended, job_state::error, job_state::transient_error}) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    EXPECT_FALSE(on_file_completed(j, 0, wall1));
    EXPECT_FALSE(on_file_completed(j, 1, wall1));
    EXPECT_TRUE(j.all_files_completed());
    EXPECT_EQ(j.state, state);
  }
}

TEST(Lifecycle, ProgressUpdatesTheFileAndRestartsTheTimer) {
  job j = job_in(job_state::transferring);
  on_progress(j, 1, 250, t0 + 30s);
  EXPECT_EQ(j.files[1].bytes_transferred, 250U);
  EXPECT_EQ(j.bytes_transferred(), 250U);
  EXPECT_EQ(j.progress_at, t0 + 30s);
}

TEST(Lifecycle, ProgressWithoutNewBytesKeepsTheTimer) {
  job j = job_in(job_state::transferring);
  on_progress(j, 0, 250, t0 + 30s);
  on_progress(j, 0, 250, t0 + 60s);
  EXPECT_EQ(j.progress_at, t0 + 30s);
  on_progress(j, 0, 0, t0 + 90s);  // the file restarted: its bytes are gone, no progress
  EXPECT_EQ(j.files[0].bytes_transferred, 0U);
  EXPECT_EQ(j.progress_at, t0 + 30s);
}

TEST(Lifecycle, ProgressOutOfRangeIsIgnored) {
  job j = job_in(job_state::transferring);
  const std::string before = dump(j);
  on_progress(j, 5, 250, t0 + 30s);
  EXPECT_EQ(dump(j), before);
}

// ---- complete and cancel ----------------------------------------------------------------------

TEST(Lifecycle, CompleteWithEveryFileTransferredDeliversAllAndAcknowledges) {
  job j = job_in(job_state::transferred);
  const complete_plan plan = plan_complete(j);
  EXPECT_EQ(plan.result, s_ok);
  EXPECT_EQ(plan.deliver, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_TRUE(plan.drop.empty());
  mark_acknowledged(j, wall1);
  EXPECT_EQ(j.state, job_state::acknowledged);
  EXPECT_EQ(j.times.modification, wall1);
}

TEST(Lifecycle, PartialCompleteDeliversTransferredFilesAndDropsTheRest) {
  job j = job_in(job_state::transferring);
  add_file(j, make_file(2), limits{}, wall0);
  on_file_completed(j, 1, wall0);
  const complete_plan plan = plan_complete(j);
  EXPECT_EQ(plan.result, value_of(hr::bg_s_partial_complete));
  EXPECT_EQ(plan.deliver, (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(plan.drop, (std::vector<std::uint32_t>{0, 2}));
  mark_acknowledged(j, wall1);
  EXPECT_EQ(j.state, job_state::acknowledged);
}

TEST(Lifecycle, PlanningCompleteChangesNothing) {
  job j = job_in(job_state::transferred);
  const std::string before = dump(j);
  plan_complete(j);
  EXPECT_EQ(dump(j), before);
}

TEST(Lifecycle, CompleteIsAllowedInEveryNonFinalState) {
  for (const auto state : non_final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const auto expected =
        state == job_state::transferred ? s_ok : value_of(hr::bg_s_partial_complete);
    EXPECT_EQ(plan_complete(j).result, expected);
    mark_acknowledged(j, wall1);
    EXPECT_EQ(j.state, job_state::acknowledged);
  }
}

TEST(Lifecycle, CompleteOfAnErrorJobClearsTheError) {
  job j = job_in(job_state::error);
  mark_acknowledged(j, wall1);
  EXPECT_FALSE(j.error.has_value());
  EXPECT_FALSE(to_info(j).error.has_value());
}

TEST(Lifecycle, CompleteDoesNotMoveAFileAlreadyDelivered) {
  job j = job_in(job_state::transferred);
  j.files[0].delivered = true;  // a Complete interrupted after the first rename
  const complete_plan plan = plan_complete(j);
  EXPECT_EQ(plan.result, s_ok);
  EXPECT_EQ(plan.deliver, (std::vector<std::uint32_t>{1}));
  EXPECT_TRUE(plan.drop.empty());
}

TEST(Lifecycle, MarkAcknowledgedLeavesAFinalJobAlone) {
  for (const auto state : final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const std::string before = dump(j);
    mark_acknowledged(j, wall1);
    EXPECT_EQ(dump(j), before);
  }
}

TEST(Lifecycle, CancelEndsEveryNonFinalJob) {
  for (const auto state : non_final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    EXPECT_EQ(cancel(j, wall1), s_ok);
    EXPECT_EQ(j.state, job_state::cancelled);
    EXPECT_EQ(j.times.modification, wall1);
    EXPECT_FALSE(j.error.has_value());
    EXPECT_FALSE(j.retry_at.has_value());
  }
}

// ---- final states -----------------------------------------------------------------------------

TEST(Lifecycle, EveryClientCallOnAFinalJobIsInvalidStateAndChangesNothing) {
  for (const auto state : final_states) {
    for (const auto& c : client_calls()) {
      SCOPED_TRACE(name_of(state) + " " + c.name);
      job j = job_in(state);
      const std::string before = dump(j);
      EXPECT_EQ(c.call(j, wall1), invalid_state);
      EXPECT_EQ(dump(j), before);
    }
  }
}

TEST(Lifecycle, CompletePlanOfAFinalJobIsEmpty) {
  for (const auto state : final_states) {
    SCOPED_TRACE(name_of(state));
    const complete_plan plan = plan_complete(job_in(state));
    EXPECT_EQ(plan.result, invalid_state);
    EXPECT_TRUE(plan.deliver.empty());
    EXPECT_TRUE(plan.drop.empty());
  }
}

TEST(Lifecycle, EngineEventsOnAFinalJobChangeNothing) {
  for (const auto state : final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const std::string before = dump(j);
    on_connecting(j, t0 + 1h, wall1);
    on_transferring(j, wall1);
    on_progress(j, 0, 5, t0 + 1h);
    EXPECT_FALSE(on_file_completed(j, 0, wall1));
    EXPECT_EQ(on_error(j, make_error(), true, t0 + 1h, wall1), state);
    EXPECT_EQ(tick(j, t0 + 1000h, wall1), tick_result::none);
    EXPECT_EQ(next_deadline(j), std::nullopt);
    EXPECT_EQ(dump(j), before);
  }
}

// ---- suspend ----------------------------------------------------------------------------------

TEST(Lifecycle, SuspendWorksFromEveryNonFinalState) {
  for (const auto state : non_final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    EXPECT_EQ(suspend(j, wall1), s_ok);
    EXPECT_EQ(j.state, job_state::suspended);
  }
}

TEST(Lifecycle, SuspendClearsTheErrorAndTheRetryTimer) {
  for (const auto state : {job_state::error, job_state::transient_error}) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    suspend(j, wall1);
    EXPECT_FALSE(j.error.has_value());
    EXPECT_FALSE(j.retry_at.has_value());
    EXPECT_EQ(j.times.modification, wall1);
  }
}

TEST(Lifecycle, SuspendOfASuspendedJobChangesNothing) {
  job j = job_with_files(1);
  const std::string before = dump(j);
  EXPECT_EQ(suspend(j, wall1), s_ok);
  EXPECT_EQ(dump(j), before);
}

TEST(Lifecycle, ASuspendedJobResumesWithTheFileItStoppedAt) {
  job j = job_in(job_state::transferring);
  on_file_completed(j, 0, wall0);
  on_progress(j, 1, 400, t0);
  suspend(j, wall0);
  EXPECT_EQ(resume(j, t0 + 1h, wall1), s_ok);
  EXPECT_EQ(j.state, job_state::queued);
  EXPECT_EQ(j.current_file, 1U);
  EXPECT_EQ(j.files[1].bytes_transferred, 400U);
}

TEST(Lifecycle, SuspendedJobIgnoresLateEngineErrors) {
  job j = job_in(job_state::transferring);
  suspend(j, wall0);
  EXPECT_EQ(on_error(j, make_error(), false, t0, wall1), job_state::suspended);
  EXPECT_EQ(j.state, job_state::suspended);
  EXPECT_FALSE(j.error.has_value());
  EXPECT_EQ(j.error_count, 0U);
}

// ---- errors, retries and timeouts -------------------------------------------------------------

TEST(Lifecycle, TransientErrorWaitsForTheRetryDelay) {
  job j = job_in(job_state::transferring);
  EXPECT_EQ(on_error(j, make_error(), true, t0 + 10s, wall1), job_state::transient_error);
  EXPECT_EQ(j.state, job_state::transient_error);
  EXPECT_EQ(j.retry_at, t0 + 10s + 600s);
  EXPECT_EQ(j.times.modification, wall1);
}

TEST(Lifecycle, ConnectionFailureWhileConnectingIsTransient) {
  job j = job_in(job_state::connecting);
  EXPECT_EQ(on_error(j, make_error(value_of(hr::winhttp_cannot_connect)), true, t0, wall1),
            job_state::transient_error);
}

TEST(Lifecycle, ErrorIsRecorded) {
  job j = job_in(job_state::transferring);
  on_error(j, make_error(0x801901F7U), true, t0, wall1);
  ASSERT_TRUE(j.error.has_value());
  EXPECT_EQ(j.error->code, 0x801901F7U);
  EXPECT_EQ(j.error->context, opendo::error_context::remote_file);
  EXPECT_EQ(j.error->file_index, std::optional<std::uint32_t>(0));
  EXPECT_EQ(j.error->message, "HTTP 404 Not Found");
  EXPECT_EQ(j.error->protocol, "https");
}

TEST(Lifecycle, TickBeforeTheRetryTimeDoesNothing) {
  job j = job_in(job_state::transient_error);
  const std::string before = dump(j);
  EXPECT_EQ(tick(j, t0 + 599s, wall1), tick_result::none);
  EXPECT_EQ(dump(j), before);
}

TEST(Lifecycle, TickAtTheRetryTimeRequeuesAndClearsTheError) {
  job j = job_in(job_state::transient_error);
  EXPECT_EQ(tick(j, t0 + 600s, wall1), tick_result::requeued);
  EXPECT_EQ(j.state, job_state::queued);
  EXPECT_FALSE(j.error.has_value());
  EXPECT_FALSE(j.retry_at.has_value());
  EXPECT_EQ(j.times.modification, wall1);
}

TEST(Lifecycle, RetryKeepsTheNoProgressTimerOfTheFirstAttempt) {
  job j = job_in(job_state::transient_error);
  tick(j, t0 + 600s, wall1);
  on_connecting(j, t0 + 600s, wall1);
  EXPECT_EQ(j.progress_at, t0);
}

TEST(Lifecycle, RequeuedJobRunsTheActivePathAgain) {
  job j = job_in(job_state::transient_error);
  ASSERT_EQ(tick(j, t0 + 600s, wall0), tick_result::requeued);
  on_connecting(j, t0 + 600s, wall0);
  EXPECT_EQ(j.state, job_state::connecting);
  on_transferring(j, wall0);
  EXPECT_EQ(j.state, job_state::transferring);
  on_file_completed(j, 0, wall0);
  EXPECT_TRUE(on_file_completed(j, 1, wall1));
  EXPECT_EQ(j.state, job_state::transferred);
  EXPECT_EQ(j.error_count, 1U);
}

TEST(Lifecycle, DefaultRetryDelayIs600Seconds) {
  EXPECT_EQ(effective_retry_delay(new_job()), 600s);
}

TEST(Lifecycle, RetryDelayUnderFiveSecondsBecomesFive) {
  job j = new_job();
  for (std::uint32_t s = 0; s < 5; ++s) {
    j.minimum_retry_delay = s;
    EXPECT_EQ(effective_retry_delay(j), 5s) << s;
  }
  j.minimum_retry_delay = 5;
  EXPECT_EQ(effective_retry_delay(j), 5s);
  j.minimum_retry_delay = 6;
  EXPECT_EQ(effective_retry_delay(j), 6s);
}

TEST(Lifecycle, DaemonFloorReplacesTheFiveSecondFloor) {
  job j = new_job();
  j.retry_delay_floor = 1s;
  j.minimum_retry_delay = 0;
  EXPECT_EQ(effective_retry_delay(j), 1s);
  j.minimum_retry_delay = 3;
  EXPECT_EQ(effective_retry_delay(j), 3s);
  j.retry_delay_floor = 10s;
  EXPECT_EQ(effective_retry_delay(j), 10s);
}

TEST(Lifecycle, TransientErrorRetriesAfterFiveSecondsWhenTheDelayIsShorter) {
  job j = job_in(job_state::transferring);
  set_minimum_retry_delay(j, 1, wall0);
  on_error(j, make_error(), true, t0, wall1);
  EXPECT_EQ(j.retry_at, t0 + 5s);
  EXPECT_EQ(tick(j, t0 + 4s, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 5s, wall1), tick_result::requeued);
}

TEST(Lifecycle, NonTransientErrorGoesStraightToError) {
  job j = job_in(job_state::transferring);
  EXPECT_EQ(on_error(j, make_error(), false, t0, wall1), job_state::error);
  EXPECT_EQ(j.state, job_state::error);
  EXPECT_FALSE(j.retry_at.has_value());
  EXPECT_EQ(j.error_count, 1U);
}

TEST(Lifecycle, NoProgressTimeoutZeroMakesEveryErrorFatal) {
  job j = job_in(job_state::transferring);
  set_no_progress_timeout(j, 0, wall0);
  EXPECT_EQ(on_error(j, make_error(), true, t0, wall1), job_state::error);
  EXPECT_FALSE(j.retry_at.has_value());
}

TEST(Lifecycle, RetryDelayLongerThanTheTimeoutGoesStraightToError) {
  job j = job_in(job_state::transferring);
  set_minimum_retry_delay(j, 601, wall0);
  set_no_progress_timeout(j, 600, wall0);
  EXPECT_EQ(on_error(j, make_error(), true, t0, wall1), job_state::error);
}

TEST(Lifecycle, RetryDelayEqualToTheTimeoutIsStillTransient) {
  job j = job_in(job_state::transferring);
  set_minimum_retry_delay(j, 600, wall0);
  set_no_progress_timeout(j, 600, wall0);
  EXPECT_EQ(on_error(j, make_error(), true, t0, wall1), job_state::transient_error);
}

TEST(Lifecycle, TheFiveSecondFloorCountsAgainstTheTimeout) {
  job j = job_in(job_state::transferring);
  set_minimum_retry_delay(j, 1, wall0);
  set_no_progress_timeout(j, 3, wall0);
  EXPECT_EQ(on_error(j, make_error(), true, t0, wall1), job_state::error);
}

TEST(Lifecycle, ErrorAfterTheTimeoutWithoutProgressIsFatal) {
  job j = job_in(job_state::transferring);  // progress timer started at t0
  set_no_progress_timeout(j, 3600, wall0);
  EXPECT_EQ(on_error(j, make_error(), true, t0 + 3600s, wall1), job_state::error);
}

TEST(Lifecycle, ErrorJustBeforeTheTimeoutIsTransient) {
  job j = job_in(job_state::transferring);
  set_no_progress_timeout(j, 3600, wall0);
  EXPECT_EQ(on_error(j, make_error(), true, t0 + 3599s, wall1), job_state::transient_error);
}

TEST(Lifecycle, TickFailsTheJobWhenTheTimeoutElapsesWithoutProgress) {
  job j = job_in(job_state::transferring);
  set_no_progress_timeout(j, 1000, wall0);
  on_error(j, make_error(), true, t0 + 500s, wall0);  // retry at t0+1100, after the timeout
  EXPECT_EQ(tick(j, t0 + 999s, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 1000s, wall1), tick_result::failed);
  EXPECT_EQ(j.state, job_state::error);
  ASSERT_TRUE(j.error.has_value());  // the last error explains the failure
  EXPECT_EQ(j.error->code, 0x80190194U);
  EXPECT_FALSE(j.retry_at.has_value());
  EXPECT_EQ(j.times.modification, wall1);
}

TEST(Lifecycle, TickReportsTheTimeoutBeforeTheRetry) {
  job j = job_in(job_state::transient_error);
  j.no_progress_timeout = 600;  // both the retry and the timeout are due at t0+600
  EXPECT_EQ(tick(j, t0 + 600s, wall1), tick_result::failed);
}

TEST(Lifecycle, ProgressResetsTheNoProgressTimer) {
  job j = job_in(job_state::transferring);
  set_no_progress_timeout(j, 1000, wall0);
  on_progress(j, 0, 100, t0 + 900s);
  EXPECT_EQ(on_error(j, make_error(), true, t0 + 1500s, wall1), job_state::transient_error);
  EXPECT_EQ(next_deadline(j), t0 + 1900s);  // the timeout, before the retry at t0+2100
  EXPECT_EQ(tick(j, t0 + 1899s, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 1900s, wall1), tick_result::failed);
}

TEST(Lifecycle, TransientErrorStartsTheProgressTimerWhenUnset) {
  job j = job_in(job_state::transferring);
  j.progress_at.reset();
  on_error(j, make_error(), true, t0 + 7s, wall1);
  EXPECT_EQ(j.progress_at, t0 + 7s);
}

TEST(Lifecycle, ErrorCountGrowsWithEveryError) {
  job j = job_in(job_state::transferring);
  for (std::uint32_t n = 1; n <= 3; ++n) {
    on_error(j, make_error(), true, t0 + n * 1s, wall1);
    EXPECT_EQ(j.error_count, n);
    resume(j, t0 + n * 1s, wall1);
    on_connecting(j, t0 + n * 1s, wall1);
  }
  on_error(j, make_error(), false, t0 + 10s, wall1);
  EXPECT_EQ(j.error_count, 4U);
  EXPECT_EQ(to_info(j).error_count, 4U);
}

TEST(Lifecycle, ErrorIsVisibleOnlyInTheTwoErrorStates) {
  job j = job_in(job_state::transferring);
  EXPECT_FALSE(to_info(j).error.has_value());
  on_error(j, make_error(), true, t0, wall1);
  EXPECT_TRUE(to_info(j).error.has_value());
  tick(j, t0 + 600s, wall1);
  EXPECT_FALSE(to_info(j).error.has_value());
  on_connecting(j, t0 + 600s, wall1);
  on_error(j, make_error(), false, t0 + 601s, wall1);
  EXPECT_TRUE(to_info(j).error.has_value());
  resume(j, t0 + 700s, wall1);
  EXPECT_FALSE(to_info(j).error.has_value());
}

TEST(Lifecycle, OnErrorIgnoresJobsTheEngineIsNotRunning) {
  for (const auto state : {job_state::suspended, job_state::error, job_state::transient_error,
                           job_state::transferred}) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const std::string before = dump(j);
    EXPECT_EQ(on_error(j, make_error(1), false, t0 + 1s, wall1), state);
    EXPECT_EQ(dump(j), before);
  }
}

TEST(Lifecycle, TickIgnoresJobsNotInTransientError) {
  for (const auto state : all_states) {
    if (state == job_state::transient_error) continue;
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    j.max_download_time = 0;  // no limit: the maximum download time has tests of its own
    const std::string before = dump(j);
    EXPECT_EQ(tick(j, t0 + 10000h, wall1), tick_result::none);
    EXPECT_EQ(dump(j), before);
  }
}

TEST(Lifecycle, TickRestartsTheTimersOfATransientJobLoadedWithoutThem) {
  job j = job_in(job_state::transient_error);
  j.retry_at.reset();  // timers are not persisted
  j.progress_at.reset();
  EXPECT_EQ(next_deadline(j), mono_time{});  // due at once
  EXPECT_EQ(tick(j, t0 + 1h, wall1), tick_result::none);
  EXPECT_EQ(j.retry_at, t0 + 1h + 600s);
  EXPECT_EQ(j.progress_at, t0 + 1h);
  EXPECT_EQ(tick(j, t0 + 1h + 600s, wall1), tick_result::requeued);
}

TEST(Lifecycle, NextDeadlineIsTheRetryTime) {
  const job j = job_in(job_state::transient_error);
  EXPECT_EQ(next_deadline(j), t0 + 600s);
}

TEST(Lifecycle, NextDeadlineIsTheTimeoutWhenItComesFirst) {
  job j = job_in(job_state::transient_error);
  j.progress_at = t0 - 1209600s + 60s;
  EXPECT_EQ(next_deadline(j), t0 + 60s);
}

TEST(Lifecycle, NextDeadlineIsNoneOutsideTransientError) {
  for (const auto state : all_states) {
    if (state == job_state::transient_error) continue;
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    j.max_download_time = 0;  // no limit: see NextDeadlineIsTheMaximumDownloadTime
    EXPECT_EQ(next_deadline(j), std::nullopt);
  }
}

// ---- maximum download time (IBackgroundCopyJob4::SetMaximumDownloadTime) --------------------
// Windows: the time in CONNECTING or TRANSFERRING counts, QUEUED and TRANSIENT_ERROR do not;
// past the limit the job goes to ERROR with BG_E_MAXDOWNLOAD_TIMEOUT; Resume resets the count.

const std::uint32_t maxdownload_timeout = value_of(hr::bg_e_maxdownload_timeout);

job running_job(std::uint32_t max_seconds, mono_time at = t0) {
  job j = job_with_files(2);
  j.max_download_time = max_seconds;
  resume(j, at, wall0);
  on_connecting(j, at, wall0);
  on_transferring(j, wall0);
  return j;
}

TEST(MaxDownloadTime, DefaultIsNinetyDays) {
  EXPECT_EQ(new_job().max_download_time, 7776000U);
  EXPECT_EQ(to_info(new_job()).max_download_time, 7776000U);
  const job j = running_job(7776000);
  EXPECT_EQ(next_deadline(j), t0 + 7776000s);
}

TEST(MaxDownloadTime, ExceededPutsTheJobInErrorWithMaxDownloadTimeout) {
  job j = running_job(2);
  EXPECT_EQ(next_deadline(j), t0 + 2s);
  EXPECT_EQ(tick(j, t0 + 1999ms, wall1), tick_result::none);
  EXPECT_EQ(j.state, job_state::transferring);
  EXPECT_EQ(tick(j, t0 + 2s, wall1), tick_result::timed_out);
  EXPECT_EQ(j.state, job_state::error);
  ASSERT_TRUE(j.error.has_value());
  EXPECT_EQ(j.error->code, maxdownload_timeout);
  EXPECT_EQ(j.error->context, opendo::error_context::general_queue_manager);
  EXPECT_FALSE(j.error->file_index.has_value());  // GetFile: BG_E_FILE_NOT_AVAILABLE
  EXPECT_EQ(j.error_count, 1U);
  EXPECT_EQ(j.times.modification, wall1);
  EXPECT_EQ(j.download_time_spent, 2s);
  EXPECT_FALSE(j.download_clock_at.has_value());
  EXPECT_EQ(next_deadline(j), std::nullopt);
  const auto info = to_info(j);
  ASSERT_TRUE(info.error.has_value());
  EXPECT_EQ(info.error->code, maxdownload_timeout);
  // ERROR does not count further, and a second tick changes nothing.
  const std::string before = dump(j);
  EXPECT_EQ(tick(j, t0 + 100s, wall1), tick_result::none);
  EXPECT_EQ(dump(j), before);
}

TEST(MaxDownloadTime, ConnectingCountsToo) {
  job j = job_with_files(1);
  j.max_download_time = 5;
  resume(j, t0, wall0);
  on_connecting(j, t0, wall0);
  EXPECT_EQ(tick(j, t0 + 5s, wall1), tick_result::timed_out);
  EXPECT_EQ(j.state, job_state::error);
}

TEST(MaxDownloadTime, NotExceededWhenTheJobFinishesInTime) {
  job j = running_job(100);
  EXPECT_FALSE(on_file_completed(j, 0, wall0));
  EXPECT_TRUE(on_file_completed(j, 1, wall0));
  EXPECT_EQ(j.state, job_state::transferred);
  EXPECT_EQ(next_deadline(j), std::nullopt);
  EXPECT_EQ(tick(j, t0 + 1000s, wall1), tick_result::none);
  EXPECT_EQ(j.state, job_state::transferred);
}

TEST(MaxDownloadTime, ZeroMeansNoLimit) {
  job j = running_job(0);
  EXPECT_EQ(next_deadline(j), std::nullopt);
  EXPECT_EQ(tick(j, t0 + 100000h, wall1), tick_result::none);
  EXPECT_EQ(j.state, job_state::transferring);
}

TEST(MaxDownloadTime, QueuedAndTransientErrorDoNotCount) {
  job j = running_job(20);
  // 10 s transferring, then a transient error: the clock stops.
  EXPECT_EQ(on_error(j, make_error(), true, t0 + 10s, wall0), job_state::transient_error);
  EXPECT_EQ(j.download_time_spent, 10s);
  EXPECT_EQ(download_time(j, t0 + 500s), 10s);
  EXPECT_EQ(next_deadline(j), t0 + 10s + 600s);  // only the retry
  EXPECT_EQ(tick(j, t0 + 610s, wall0), tick_result::requeued);
  EXPECT_EQ(download_time(j, t0 + 900s), 10s);  // QUEUED
  on_connecting(j, t0 + 900s, wall0);
  EXPECT_EQ(download_time(j, t0 + 905s), 15s);
  EXPECT_EQ(next_deadline(j), t0 + 910s);
  EXPECT_EQ(tick(j, t0 + 909s, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 910s, wall1), tick_result::timed_out);
}

TEST(MaxDownloadTime, RequeuedJobStopsTheClock) {
  job j = running_job(10);
  on_requeued(j, t0 + 4s, wall1);  // the scheduler gave its slot to another job
  EXPECT_EQ(j.state, job_state::queued);
  EXPECT_EQ(j.times.modification, wall1);
  EXPECT_EQ(j.download_time_spent, 4s);
  EXPECT_EQ(tick(j, t0 + 1000s, wall1), tick_result::none);
  on_connecting(j, t0 + 1000s, wall1);
  EXPECT_EQ(tick(j, t0 + 1005999ms, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 1006s, wall1), tick_result::timed_out);
}

TEST(MaxDownloadTime, OnRequeuedIgnoresJobsThatAreNotRunning) {
  for (const auto state : all_states) {
    if (state == job_state::connecting || state == job_state::transferring) continue;
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const std::string before = dump(j);
    on_requeued(j, t0 + 1s, wall1);
    EXPECT_EQ(dump(j), before);
  }
}

TEST(MaxDownloadTime, SuspendedTimeDoesNotCountAndResumeStartsAgain) {
  job j = running_job(10);
  ASSERT_EQ(suspend(j, wall0), s_ok);
  EXPECT_EQ(tick(j, t0 + 1000s, wall1), tick_result::none);
  EXPECT_EQ(j.state, job_state::suspended);
  ASSERT_EQ(resume(j, t0 + 1000s, wall1), s_ok);
  EXPECT_EQ(j.download_time_spent, 0s);
  on_connecting(j, t0 + 1000s, wall1);
  EXPECT_EQ(tick(j, t0 + 1009s, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 1010s, wall1), tick_result::timed_out);
}

TEST(MaxDownloadTime, ResumeOfARunningJobResetsTheElapsedTime) {
  job j = running_job(10);
  ASSERT_EQ(resume(j, t0 + 8s, wall1), s_ok);  // S_OK, state unchanged
  EXPECT_EQ(j.state, job_state::transferring);
  EXPECT_EQ(download_time(j, t0 + 8s), 0s);
  EXPECT_EQ(tick(j, t0 + 10s, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 18s, wall1), tick_result::timed_out);
}

TEST(MaxDownloadTime, ResumeFromErrorStartsAgain) {
  job j = running_job(2);
  ASSERT_EQ(tick(j, t0 + 2s, wall1), tick_result::timed_out);
  ASSERT_EQ(resume(j, t0 + 50s, wall1), s_ok);
  EXPECT_EQ(j.state, job_state::queued);
  EXPECT_FALSE(j.error.has_value());
  EXPECT_EQ(j.download_time_spent, 0s);
  on_connecting(j, t0 + 60s, wall1);
  EXPECT_EQ(tick(j, t0 + 61s, wall1), tick_result::none);
  EXPECT_EQ(tick(j, t0 + 62s, wall1), tick_result::timed_out);
}

TEST(MaxDownloadTime, LoweringItBelowTheTimeSpentFailsAtTheNextTick) {
  job j = running_job(100);
  ASSERT_EQ(set_max_download_time(j, 5, wall1), s_ok);
  EXPECT_EQ(j.max_download_time, 5U);
  EXPECT_EQ(j.times.modification, wall1);
  EXPECT_EQ(next_deadline(j), t0 + 5s);
  EXPECT_EQ(tick(j, t0 + 30s, wall1), tick_result::timed_out);
}

TEST(MaxDownloadTime, SetRefusesFinalJobs) {
  for (const auto state : final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    const std::string before = dump(j);
    EXPECT_EQ(set_max_download_time(j, 5, wall1), invalid_state);
    EXPECT_EQ(dump(j), before);
  }
}

// A restarted daemon loads the counter as last recorded (state changes and checkpoints) and
// starts the clock again when the job runs; the time the daemon was down does not count.
TEST(MaxDownloadTime, RecordedTimeSurvivesARestart) {
  job j = running_job(10);
  checkpoint_download_time(j, t0 + 4s);
  EXPECT_EQ(j.download_time_spent, 4s);
  EXPECT_EQ(j.download_clock_at, t0 + 4s);
  EXPECT_EQ(download_time(j, t0 + 5s), 5s);  // a checkpoint loses nothing

  // What the store gives back after a restart: the persisted fields, no monotonic timers.
  job loaded = job_with_files(2);
  loaded.state = job_state::queued;  // it was running: queued again
  loaded.max_download_time = j.max_download_time;
  loaded.download_time_spent = j.download_time_spent;
  loaded.resumed = true;
  const mono_time later = t0 + 50h;  // another boot's clock
  EXPECT_EQ(next_deadline(loaded), std::nullopt);
  EXPECT_EQ(tick(loaded, later, wall1), tick_result::none);
  on_connecting(loaded, later, wall1);
  EXPECT_EQ(next_deadline(loaded), later + 6s);
  EXPECT_EQ(tick(loaded, later + 5999ms, wall1), tick_result::none);
  EXPECT_EQ(tick(loaded, later + 6s, wall1), tick_result::timed_out);
}

TEST(MaxDownloadTime, CheckpointOfAJobThatDoesNotRunChangesNothing) {
  job j = job_in(job_state::queued);
  const std::string before = dump(j);
  checkpoint_download_time(j, t0 + 10s);
  EXPECT_EQ(dump(j), before);
}

// ---- maximum download size (BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE) ----------------------------

TEST(MaxDownloadSize, SetBeforeTheFirstResumeOnly) {
  job j = job_with_files(1);
  EXPECT_FALSE(j.resumed);
  ASSERT_EQ(set_max_download_size(j, 1000, wall1), s_ok);
  EXPECT_EQ(j.max_download_size, 1000U);
  EXPECT_EQ(j.times.modification, wall1);
  EXPECT_EQ(to_info(j).max_download_size, 1000U);
  ASSERT_EQ(resume(j, t0, wall1), s_ok);
  EXPECT_TRUE(j.resumed);
  const std::uint32_t after_resume = value_of(hr::bg_e_read_only_property_after_resume);
  EXPECT_EQ(after_resume, 0x80200062U);
  EXPECT_EQ(set_max_download_size(j, 5, wall1), after_resume);
  ASSERT_EQ(suspend(j, wall1), s_ok);  // suspended again: still after the first Resume
  EXPECT_EQ(set_max_download_size(j, 5, wall1), after_resume);
  EXPECT_EQ(j.max_download_size, 1000U);
}

TEST(DynamicContent, SetBeforeTheFirstResumeAndNotWithRanges) {
  job j = job_with_files(1);
  ASSERT_EQ(set_dynamic_content(j, true, wall1), s_ok);
  EXPECT_TRUE(to_info(j).dynamic_content);
  ASSERT_EQ(set_dynamic_content(j, false, wall1), s_ok);
  j.files[0].ranges = {{0, 10}};
  EXPECT_EQ(set_dynamic_content(j, true, wall1), value_of(hr::e_invalidarg));
  EXPECT_EQ(set_dynamic_content(j, false, wall1), s_ok);  // false is always what it was
  j.files[0].ranges.clear();
  ASSERT_EQ(resume(j, t0, wall1), s_ok);
  EXPECT_EQ(set_dynamic_content(j, true, wall1),
            value_of(hr::bg_e_read_only_property_after_resume));
  EXPECT_FALSE(j.dynamic_content);
}

TEST(HighPerformance, SetAnyTimeBeforeAFinalState) {
  job j = job_with_files(1);
  EXPECT_FALSE(to_info(j).high_performance);
  ASSERT_EQ(set_high_performance(j, true, wall1), s_ok);
  EXPECT_TRUE(to_info(j).high_performance);
  EXPECT_EQ(j.times.modification, wall1);
  ASSERT_EQ(resume(j, t0, wall1), s_ok);
  on_connecting(j, t0, wall1);
  EXPECT_EQ(set_high_performance(j, false, wall1), s_ok);  // also while it runs
  EXPECT_FALSE(j.high_performance);
  ASSERT_EQ(cancel(j, wall1), s_ok);
  EXPECT_EQ(set_high_performance(j, true, wall1), invalid_state);
  EXPECT_FALSE(j.high_performance);
}

TEST(MaxDownloadSize, ResumeOfAnEmptyJobDoesNotCount) {
  job j = new_job();
  EXPECT_EQ(resume(j, t0, wall1), value_of(hr::bg_e_empty));
  EXPECT_FALSE(j.resumed);
  EXPECT_EQ(set_max_download_size(j, 5, wall1), s_ok);
}

TEST(MaxDownloadSize, SetRefusesFinalJobs) {
  for (const auto state : final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    EXPECT_EQ(set_max_download_size(j, 5, wall1), invalid_state);
  }
}

TEST(MaxDownloadSize, CountsKnownSizesAndTheBytesOfUnknownOnes) {
  job j = new_job();
  j.files = {make_file(0, 100), make_file(1, 250), make_file(2, size_unknown)};
  j.files[2].bytes_transferred = 30;
  EXPECT_EQ(download_size(j), 380U);
  EXPECT_EQ(download_size(j, 20), 400U);
  EXPECT_FALSE(exceeds_max_download_size(j, 1000000));  // 0: no limit
  j.max_download_size = 380;
  EXPECT_FALSE(exceeds_max_download_size(j));
  EXPECT_TRUE(exceeds_max_download_size(j, 1));  // bytes that arrived and are not recorded yet
  j.max_download_size = 379;
  EXPECT_TRUE(exceeds_max_download_size(j));
}

// ---- minimum notification interval (BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS) -----

TEST(MinimumNotificationInterval, DefaultIsWindowsFiveHundredMilliseconds) {
  EXPECT_EQ(new_job().minimum_notification_interval_ms, 500U);
  EXPECT_EQ(to_info(new_job()).minimum_notification_interval_ms, 500U);
}

TEST(MinimumNotificationInterval, AnyValueInAnyNonFinalState) {
  for (const auto state : non_final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    for (std::uint32_t ms : {0U, 1U, 2000U, 4294967295U}) {
      ASSERT_EQ(set_minimum_notification_interval(j, ms, wall1), s_ok);
      EXPECT_EQ(j.minimum_notification_interval_ms, ms);
      EXPECT_EQ(j.times.modification, wall1);
    }
  }
  for (const auto state : final_states) {
    SCOPED_TRACE(name_of(state));
    job j = job_in(state);
    EXPECT_EQ(set_minimum_notification_interval(j, 0, wall1), invalid_state);
    EXPECT_EQ(j.minimum_notification_interval_ms, 500U);
  }
}

}  // namespace

// IBackgroundCopyFile3::SetValidationState FALSE on a copy from the origin: the file starts again
// and the job enters ERROR with BG_E_VALIDATION_FAILED about that file.
TEST(FileRejected, ACopyFromTheOriginFailsTheJob) {
  job j = job_in(job_state::transferred);
  j.files[1].validated = true;
  const std::uint32_t errors = j.error_count;
  EXPECT_EQ(on_file_rejected(j, 1, false, t0, wall1), job_state::error);
  const auto& f = j.files[1];
  EXPECT_FALSE(f.completed);
  EXPECT_FALSE(f.validated);
  EXPECT_FALSE(f.origin_only);
  EXPECT_EQ(f.bytes_transferred, 0U);
  EXPECT_EQ(f.bytes_total, size_unknown);
  EXPECT_TRUE(f.etag.empty());
  ASSERT_TRUE(j.error);
  EXPECT_EQ(j.error->code, value_of(hr::bg_e_validation_failed));
  EXPECT_EQ(j.error->context, opendo::error_context::remote_file);
  EXPECT_EQ(j.error->file_index, 1U);
  EXPECT_EQ(j.error_count, errors + 1);
  EXPECT_EQ(j.current_file, 1U);
  EXPECT_TRUE(j.files[0].completed);  // the other file keeps its bytes
  EXPECT_EQ(j.times.modification, wall1);
}

// A copy that came partly from peers is fetched again from the origin only, without an error:
// a TRANSFERRED job goes back to QUEUED, a SUSPENDED one stays suspended.
TEST(FileRejected, ACopyFromPeersIsFetchedAgainFromTheOriginOnly) {
  job j = job_in(job_state::transferred);
  EXPECT_EQ(on_file_rejected(j, 0, true, t0, wall1), job_state::queued);
  EXPECT_TRUE(j.files[0].origin_only);
  EXPECT_FALSE(j.files[0].completed);
  EXPECT_FALSE(j.error);
  EXPECT_EQ(j.times.transfer_completion, 0);
  EXPECT_EQ(j.current_file, 0U);

  job s = job_in(job_state::transferred);
  suspend(s, wall0);
  ASSERT_EQ(s.state, job_state::suspended);
  EXPECT_EQ(on_file_rejected(s, 1, true, t0, wall1), job_state::suspended);
  EXPECT_TRUE(s.files[1].origin_only);
}

TEST(FileRejected, FinalJobsAndUnknownFilesAreLeftAlone) {
  job j = job_in(job_state::acknowledged);
  EXPECT_EQ(on_file_rejected(j, 0, false, t0, wall1), job_state::acknowledged);
  EXPECT_TRUE(j.files[0].completed);
  job k = job_in(job_state::transferred);
  EXPECT_EQ(on_file_rejected(k, 7, false, t0, wall1), job_state::transferred);
}
