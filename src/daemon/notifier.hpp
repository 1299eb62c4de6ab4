// Job notifications, as SetNotifyInterface and SetNotifyCmdLine define them: one live subscriber
// per job (the last registration wins), events chosen by the job's notify flags, transferred and
// error events delivered again until the subscriber says it handled them, and the job's notify
// command run when no live subscriber took such an event.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "jobs/job.hpp"

namespace opendo::daemon {

struct subscriber_sink {
  // Called once the registration is accepted, before any notification.
  std::function<void()> registered;
  std::function<void(const notification&)> deliver;
  // The stream is over: "replaced" (another registration won) or "ended" (final job).
  std::function<void(const std::string& reason)> end;
};

class notifier {
 public:
  // Looks up a live job by id (nullptr when it is gone or final).
  using job_lookup = std::function<const jobs::job*(const std::string& id)>;
  explicit notifier(job_lookup lookup) : lookup_(std::move(lookup)) {}
  ~notifier();

  // Registers `sink` for the job, ending an earlier subscriber's stream. An event that already
  // happened (TRANSFERRED or ERROR now) is delivered at once. Returns a token for unsubscribe.
  std::uint64_t subscribe(const jobs::job& j, subscriber_sink sink, jobs::mono_time now);
  // The subscriber is gone (its connection closed). A transferred/error event it did not
  // acknowledge falls to the notify command.
  void unsubscribe(std::uint64_t token, jobs::mono_time now);
  // SetNotifyInterface(NULL): ends the job's registration, whoever made it; its stream ends with
  // kind "removed". False when the job had none.
  bool remove(const std::string& job_id, jobs::mono_time now);
  // BG_E_NOT_FOUND-free: an unknown sequence is ignored (it was superseded).
  void acknowledge(const std::string& job_id, std::uint64_t sequence, bool handled,
                   jobs::mono_time now);

  // The job changed (called after every change the manager tells watchers about).
  void on_change(const jobs::job& j, jobs::mono_time now);
  void on_file_transferred(const jobs::job& j, std::uint32_t index);
  // The job reached a final state: its subscriber's stream ends, its command stops.
  void on_final(const std::string& job_id);

  // Re-deliveries and notify commands that are due; reaps finished commands.
  void tick(jobs::mono_time now);
  std::optional<jobs::mono_time> next_deadline() const;

 private:
  enum class pending_kind { none, transferred, error };
  struct subscription {
    std::uint64_t token = 0;
    subscriber_sink sink;
    std::uint64_t awaiting = 0;  // sequence of a transferred/error event not yet acknowledged
    pending_kind awaiting_kind = pending_kind::none;
    std::optional<jobs::mono_time> redeliver_at;
    jobs::mono_time last_modification{};
    bool modification_pending = false;  // coalesced: delivered when the interval has passed
  };
  struct command_state {
    pid_t pid = -1;
    std::optional<jobs::mono_time> run_at;
  };
  struct job_state_seen {
    job_state state = job_state::suspended;
    bool seen = false;
  };

  void deliver(const jobs::job& j, subscription& s, notification_kind kind,
               std::optional<std::uint32_t> file = std::nullopt);
  void event_happened(const jobs::job& j, pending_kind kind, jobs::mono_time now);
  void schedule_command(const jobs::job& j, jobs::mono_time when);
  void run_command(const jobs::job& j, command_state& state);

  job_lookup lookup_;
  std::map<std::string, subscription> subscriptions_;  // by job id
  std::map<std::string, job_state_seen> seen_;         // last state told, by job id
  std::map<std::string, command_state> commands_;      // by job id
  std::uint64_t next_token_ = 1;
  std::uint64_t next_sequence_ = 1;
};

// Splits a Windows-style command line into arguments: whitespace separates, double quotes group,
// a backslash before a quote escapes it.
std::vector<std::string> split_command_line(const std::string& line);

}  // namespace opendo::daemon
