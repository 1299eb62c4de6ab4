// The process-wide registry of notification callbacks, and the BITS dispatcher (registrations.hpp).
//
// Locking: one mutex guards the map. It is held while the daemon confirms a new subscription (so
// two racing SetNotifyInterface calls end with the registration the daemon kept), but never while a
// callback runs, nor while a subscription thread is joined: a callback may call back into the API
// (Complete inside JobTransferred, SetNotifyInterface(NULL)) and take the mutex itself.
#include "compat/registrations.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "compat/objects.hpp"

namespace opendo::compat {

IUnknown* registration::callback() const {
  if (bits2) return bits2.get();
  if (bits) return bits.get();
  return download.get();
}

namespace {

// A registration as the registry holds it. The subscription's thread sees the registration only
// through a weak pointer, locked for the length of one call: once the registry lets go of it (and
// no call is running) the callback is released at once, not when the thread happens to end.
struct entry {
  std::shared_ptr<const registration> reg;
  opendo::job::subscription subscription;
};

class registry {
 public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // At exit (static destruction) every registration ends: subscription threads are stopped and
  // joined and callbacks released, so no thread of ours outlives the process's other statics.
  ~registry() {
    std::map<std::string, entry> all;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      all.swap(entries_);
    }
    for (auto& [id, e] : all) e.subscription.reset();
  }

  void add(registration reg, dispatcher dispatch) {
    auto shared = std::make_shared<const registration>(std::move(reg));
    std::weak_ptr<const registration> weak = shared;
    std::vector<entry> ended;
    {
      std::lock_guard lock(mutex_);
      if (closed_) fail(E_UNEXPECTED, "the process is exiting");
      sweep_locked(ended);
      opendo::job handle = shared->handle;  // subscribe() is not const
      opendo::job::subscription subscription =
          handle.subscribe([weak, dispatch](const notification& n) -> bool {
            std::shared_ptr<const registration> current = weak.lock();
            if (!current) return false;  // the registration ended while this was on its way
            try {
              return dispatch(*current, n);
            } catch (...) {
              return false;
            }
          });
      const std::string id = shared->job_id;
      auto it = entries_.find(id);
      if (it != entries_.end()) {
        ended.push_back(std::move(it->second));
        it->second = entry{std::move(shared), std::move(subscription)};
      } else {
        entries_.emplace(id, entry{std::move(shared), std::move(subscription)});
      }
    }
    finish(ended);
  }

  void remove(const std::string& job_id) {
    std::vector<entry> ended;
    {
      std::lock_guard lock(mutex_);
      sweep_locked(ended);
      auto it = entries_.find(job_id);
      if (it != entries_.end()) {
        ended.push_back(std::move(it->second));
        entries_.erase(it);
      }
    }
    finish(ended);
  }

  com_ptr<IUnknown> find(const std::string& job_id) {
    std::shared_ptr<const registration> reg;
    std::vector<entry> ended;
    {
      std::lock_guard lock(mutex_);
      sweep_locked(ended);
      auto it = entries_.find(job_id);
      if (it != entries_.end()) reg = it->second.reg;
    }
    finish(ended);
    if (!reg) return nullptr;
    // The object's identity: its IUnknown, as COM compares objects. Asked outside the lock, as
    // QueryInterface is the application's code.
    return query<IUnknown>(reg->callback());
  }

 private:
  // Registrations whose subscription ended by itself (another process registered, the job reached
  // a final state, the daemon went away) are over: they leave the map.
  void sweep_locked(std::vector<entry>& ended) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.subscription.active()) {
        ++it;
      } else {
        ended.push_back(std::move(it->second));
        it = entries_.erase(it);
      }
    }
  }

  // Outside the lock: stops the subscriptions (joining their threads, or detaching when called
  // from one of them) and releases the callbacks.
  static void finish(std::vector<entry>& ended) {
    for (auto& e : ended) e.subscription.reset();
    ended.clear();
  }

  std::mutex mutex_;
  std::map<std::string, entry> entries_;
  bool closed_ = false;
};

registry& the_registry() {
  static registry instance;
  return instance;
}

}  // namespace

void register_callback(registration reg, dispatcher dispatch) {
  the_registry().add(std::move(reg), dispatch);
}

void unregister_callback(const std::string& job_id) {
  the_registry().remove(job_id);
}

com_ptr<IUnknown> registered_callback(const std::string& job_id) {
  return the_registry().find(job_id);
}

bool dispatch_bits(const registration& reg, const notification& n) {
  IBackgroundCopyCallback* callback =
      reg.bits2 ? static_cast<IBackgroundCopyCallback*>(reg.bits2.get()) : reg.bits.get();
  if (callback == nullptr) return false;
  // A fresh job object per call, released after it; the callback AddRefs it to keep it.
  com_ptr<IBackgroundCopyJob> job = make_job(reg.handle);
  HRESULT hr = S_OK;
  switch (n.kind) {
    case notification_kind::transferred:
      hr = callback->JobTransferred(job.get());
      break;
    case notification_kind::error: {
      // The error as it was when the job entered ERROR (the notification's snapshot).
      job_error error;
      if (n.job.error) {
        error = *n.job.error;
      } else {
        error.code = static_cast<std::uint32_t>(E_FAIL);
        error.context = error_context::unknown;
      }
      com_ptr<IBackgroundCopyError> error_object = make_error(reg.handle, error);
      hr = callback->JobError(job.get(), error_object.get());
      break;
    }
    case notification_kind::modification:
      hr = callback->JobModification(job.get(), 0);
      break;
    case notification_kind::file_transferred:
      if (!reg.bits2 || !n.file_index) return true;  // IBackgroundCopyCallback has no such method
      hr = reg.bits2->FileTransferred(job.get(), make_file(reg.handle, *n.file_index).get());
      break;
  }
  return hr == S_OK;
}

}  // namespace opendo::compat
