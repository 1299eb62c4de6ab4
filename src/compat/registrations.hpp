// The process-wide registry of notification callbacks (SetNotifyInterface, the DO
// CallbackInterface), keyed by job id, so every object for a job sees the one registration opendod
// knows about.
#pragma once

#include <string>

#include "opendo/opendo.hpp"
// After the opendo headers: the compat headers define macros the opendo headers must not see.
#include "compat/com.hpp"
#include "opendo/compat/bits.h"
#include "opendo/compat/deliveryoptimization.h"

namespace opendo::compat {

// One registration: the callback (exactly one of the three pointers is set, AddRef'd for as long as
// the registration lives) and a handle on the job, from which notifications make fresh job objects.
struct registration {
  std::string job_id;
  opendo::job handle;
  com_ptr<IBackgroundCopyCallback> bits;    // IBackgroundCopyCallback only
  com_ptr<IBackgroundCopyCallback2> bits2;  // IBackgroundCopyCallback2 (FileTransferred too)
  com_ptr<IDODownloadStatusCallback> download;

  // The registered callback as an interface pointer (not AddRef'd).
  IUnknown* callback() const;
};

// Calls the registration's callback for a notification, on the library's notification thread;
// returns whether the notification was handled (transferred and error ones are re-delivered by the
// daemon otherwise). May throw: a throw counts as not handled.
using dispatcher = bool (*)(const registration&, const notification&);

// SetNotifyInterface: registers `reg` with opendod (job::subscribe; the last registration from any
// process wins) and makes it this process's registration for the job, ending an earlier one. Throws
// opendo::error when the daemon refuses (BG_E_INVALID_STATE for a final job, E_ACCESSDENIED...),
// in which case nothing changes. No lock is held while a callback runs.
void register_callback(registration reg, dispatcher dispatch);

// Ends this process's registration for the job (SetNotifyInterface(NULL), Complete, Cancel): the
// subscription stops and the callback is released (after a call in progress returns).
void unregister_callback(const std::string& job_id);

// The registered callback for the job, AddRef'd; null when this process has no live registration
// (none was made, or it ended: replaced by another process, the job reached a final state).
com_ptr<IUnknown> registered_callback(const std::string& job_id);

// Calls the BITS callback of a registration (IBackgroundCopyCallback[2]): the dispatcher of
// IBackgroundCopyJob::SetNotifyInterface.
bool dispatch_bits(const registration& reg, const notification& n);

}  // namespace opendo::compat
