// How the objects of the compat layer make each other: one factory per object kind, so that a job
// can hand out files and errors, a manager jobs, and a notification a fresh job, without knowing
// classes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opendo/opendo.hpp"
// After the opendo headers: the compat headers define macros the opendo headers must not see.
#include "compat/com.hpp"
#include "opendo/compat/bits.h"
#include "opendo/compat/deliveryoptimization.h"

namespace opendo::compat {

// The manager: IBackgroundCopyManager, plus IDOManager when `delivery_optimization` (the
// DeliveryOptimization coclass serves the BITS-shaped job API too). Connects to opendod now.
com_ptr<IUnknown> make_manager(const client_options& options, bool delivery_optimization);

// A job object (IBackgroundCopyJob..5, IDeliveryOptimizationJob) for a job handle. It asks the
// daemon for everything it returns: no state is cached in the object.
com_ptr<IBackgroundCopyJob> make_job(const opendo::job& handle);

// A file object (IBackgroundCopyFile, IBackgroundCopyFile2) for file `index` of a job.
com_ptr<IBackgroundCopyFile> make_file(const opendo::job& handle, std::uint32_t index);

// An error object (IBackgroundCopyError) for a job's error as it was when read.
com_ptr<IBackgroundCopyError> make_error(const opendo::job& handle, const job_error& error);

// Enumerators over a snapshot: the list is fixed when the enumerator is made; clones share it.
com_ptr<IEnumBackgroundCopyJobs> make_job_enumerator(std::vector<com_ptr<IBackgroundCopyJob>> jobs);
com_ptr<IEnumBackgroundCopyFiles> make_file_enumerator(
    std::vector<com_ptr<IBackgroundCopyFile>> files);
com_ptr<IEnumUnknown> make_unknown_enumerator(std::vector<com_ptr<IUnknown>> items);

// A Delivery Optimization download (IDODownload) on a job of at most one file.
com_ptr<IDODownload> make_download(const opendo::job& handle);

// IDODownload::GetStatus of a job snapshot (also what OnStatusChange is given).
DO_DOWNLOAD_STATUS download_status(const job_info& info);

// The Uri and LocalPath properties of a download: its file's, or before Start what SetProperty
// stored in this process; empty when neither.
std::string download_uri(const job_info& info);
std::string download_local_path(const job_info& info);
// The content id ("urn:btmh:1220" and 64 lower-case hex digits) a DO ContentId names: the v2 info
// hash of a magnet URI (its xt=urn:btmh:1220... parameter), or that urn itself; nullopt when it
// names none.
std::optional<std::string> content_id_of(std::string_view text);

// The HRESULT a DO caller sees for a BITS one: where DO documents its own code for the same
// condition (job not found, invalid state, empty job, no file, no error information, ranges),
// that code; anything else unchanged.
HRESULT do_hresult(HRESULT bits);

// The job states in which IBackgroundCopyJob::GetError has something to say.
inline bool has_error_state(job_state state) {
  return state == job_state::error || state == job_state::transient_error;
}

}  // namespace opendo::compat
