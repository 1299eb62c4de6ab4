#include "daemon/notifier.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/owner_helper.hpp"
#include "jobs/lifecycle.hpp"

namespace opendo::daemon {
namespace {

// JobModification is coalesced to at most one per the job's minimum notification interval
// (BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, 500 ms unless set).
std::chrono::milliseconds modification_interval(const jobs::job& j) {
  return std::chrono::milliseconds{j.minimum_notification_interval_ms};
}

bool wants(const jobs::job& j, std::uint32_t flag) {
  return (j.notify_flags & notify::disable) == 0 && (j.notify_flags & flag) != 0;
}

}  // namespace

std::vector<std::string> split_command_line(const std::string& line) {
  std::vector<std::string> out;
  std::string current;
  bool in_word = false;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && i + 1 < line.size() && line[i + 1] == '"') {
      current.push_back('"');
      in_word = true;
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
      in_word = true;
    } else if ((c == ' ' || c == '\t') && !quoted) {
      if (in_word) out.push_back(std::move(current));
      current.clear();
      in_word = false;
    } else {
      current.push_back(c);
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(current));
  return out;
}

notifier::~notifier() {
  for (auto& [id, command] : commands_) {
    if (command.pid > 0) ::waitpid(command.pid, nullptr, WNOHANG);
  }
}

std::uint64_t notifier::subscribe(const jobs::job& j, subscriber_sink sink, jobs::mono_time now) {
  if (auto old = subscriptions_.find(j.id); old != subscriptions_.end()) {
    auto ended = std::move(old->second.sink.end);
    subscriptions_.erase(old);
    if (ended) ended("replaced");  // the last registration wins
  }
  subscription& s = subscriptions_[j.id];
  s.token = next_token_++;
  s.sink = std::move(sink);
  seen_[j.id] = {j.state, true};
  // An event that already happened is still delivered.
  if (j.state == job_state::transferred && wants(j, notify::job_transferred)) {
    event_happened(j, pending_kind::transferred, now);
  } else if (j.state == job_state::error && wants(j, notify::job_error)) {
    event_happened(j, pending_kind::error, now);
  }
  auto it = subscriptions_.find(j.id);
  return it == subscriptions_.end() ? 0 : it->second.token;
}

void notifier::unsubscribe(std::uint64_t token, jobs::mono_time now) {
  for (auto it = subscriptions_.begin(); it != subscriptions_.end(); ++it) {
    if (it->second.token != token) continue;
    const bool untaken = it->second.awaiting != 0;
    const std::string id = it->first;
    subscriptions_.erase(it);
    // Nobody took the event: the notify command gets it.
    if (untaken) {
      if (const jobs::job* j = lookup_(id)) schedule_command(*j, now);
    }
    return;
  }
}

bool notifier::remove(const std::string& job_id, jobs::mono_time now) {
  auto it = subscriptions_.find(job_id);
  if (it == subscriptions_.end()) return false;
  auto ended = std::move(it->second.sink.end);
  const std::uint64_t token = it->second.token;
  it->second.sink.end = nullptr;
  unsubscribe(token, now);  // an event nobody took goes to the notify command
  if (ended) ended("removed");
  return true;
}

void notifier::acknowledge(const std::string& job_id, std::uint64_t sequence, bool handled,
                           jobs::mono_time now) {
  auto it = subscriptions_.find(job_id);
  if (it == subscriptions_.end() || it->second.awaiting != sequence) return;
  subscription& s = it->second;
  if (handled) {
    s.awaiting = 0;
    s.awaiting_kind = pending_kind::none;
    s.redeliver_at.reset();
    commands_.erase(job_id);  // a live callback took it: the command need not run again
    return;
  }
  if (const jobs::job* j = lookup_(job_id)) {
    s.redeliver_at = now + jobs::effective_retry_delay(*j);
  }
}

void notifier::on_change(const jobs::job& j, jobs::mono_time now) {
  job_state_seen& seen = seen_[j.id];
  const bool entered = !seen.seen || seen.state != j.state;
  seen = {j.state, true};
  if (entered && j.state == job_state::transferred) {
    if (wants(j, notify::job_transferred)) event_happened(j, pending_kind::transferred, now);
    return;
  }
  if (entered && j.state == job_state::error) {
    if (wants(j, notify::job_error)) event_happened(j, pending_kind::error, now);
    return;
  }
  auto it = subscriptions_.find(j.id);
  if (it == subscriptions_.end() || !wants(j, notify::job_modification)) return;
  if (now - it->second.last_modification < modification_interval(j)) {
    it->second.modification_pending = true;  // the last change is told when the interval ends
    return;
  }
  it->second.last_modification = now;
  it->second.modification_pending = false;
  deliver(j, it->second, notification_kind::modification);
}

void notifier::on_file_transferred(const jobs::job& j, std::uint32_t index) {
  auto it = subscriptions_.find(j.id);
  if (it == subscriptions_.end() || !wants(j, notify::file_transferred)) return;
  deliver(j, it->second, notification_kind::file_transferred, index);
}

void notifier::on_final(const std::string& job_id) {
  seen_.erase(job_id);
  commands_.erase(job_id);  // a running command is left to finish; it is not run again
  if (auto it = subscriptions_.find(job_id); it != subscriptions_.end()) {
    auto ended = std::move(it->second.sink.end);
    subscriptions_.erase(it);
    if (ended) ended("ended");
  }
}

void notifier::deliver(const jobs::job& j, subscription& s, notification_kind kind,
                       std::optional<std::uint32_t> file) {
  notification n;
  n.kind = kind;
  n.sequence = next_sequence_++;
  n.file_index = file;
  n.job = jobs::to_info(j);
  if (kind == notification_kind::transferred || kind == notification_kind::error) {
    s.awaiting = n.sequence;
    s.awaiting_kind =
        kind == notification_kind::transferred ? pending_kind::transferred : pending_kind::error;
    s.redeliver_at.reset();
  }
  if (s.sink.deliver) s.sink.deliver(n);
}

void notifier::event_happened(const jobs::job& j, pending_kind kind, jobs::mono_time now) {
  auto it = subscriptions_.find(j.id);
  if (it != subscriptions_.end()) {
    deliver(j, it->second,
            kind == pending_kind::transferred ? notification_kind::transferred
                                              : notification_kind::error);
    return;
  }
  schedule_command(j, now);
}

void notifier::schedule_command(const jobs::job& j, jobs::mono_time when) {
  if (j.notify_command.program.empty()) return;
  command_state& command = commands_[j.id];
  command.run_at = when;
}

void notifier::run_command(const jobs::job& j, command_state& state) {
  state.run_at.reset();
  std::vector<std::string> args = split_command_line(j.notify_command.parameters);
  if (args.empty()) args.push_back(j.notify_command.program);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string program = j.notify_command.program;
  // Never as root on a user's behalf: a daemon running as root drops to the job's owner, with
  // the owner's groups as the user database defines them, and gives the command the owner's
  // environment rather than its own. Looked up now: NSS is not safe between fork and exec.
  std::optional<owner_identity> owner;
  std::vector<std::string> environment;
  if (::geteuid() == 0 && j.owner_uid != 0) {
    owner = lookup_owner(j.owner_uid);
    if (!owner) {
      spdlog::error(
          "job {}: not running the notify command: uid {} has no entry in the user "
          "database, so its groups are unknown",
          j.id, j.owner_uid);
      return;
    }
    environment = {"HOME=" + owner->home, "USER=" + owner->name, "LOGNAME=" + owner->name,
                   "SHELL=" + owner->shell, "PATH=/usr/local/bin:/usr/bin:/bin"};
  }
  std::vector<char*> envp;
  envp.reserve(environment.size() + 1);
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    spdlog::error("job {}: cannot start the notify command: {}", j.id, std::strerror(errno));
    return;
  }
  if (pid == 0) {
    if (owner && (!drop_to_owner(*owner) || ::chdir("/") != 0)) ::_exit(126);
    ::setsid();
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);  // the daemon ignores it; the command gets the usual default
    if (owner) {
      ::execve(program.c_str(), argv.data(), envp.data());
    } else {
      ::execv(program.c_str(), argv.data());
    }
    ::_exit(127);
  }
  state.pid = pid;
  spdlog::info("job {}: notify command {} started (pid {}{})", j.id, program, pid,
               owner ? ", as uid " + std::to_string(owner->uid) : std::string());
}

void notifier::tick(jobs::mono_time now) {
  for (auto it = commands_.begin(); it != commands_.end();) {
    command_state& command = it->second;
    if (command.pid > 0) {
      int status = 0;
      if (::waitpid(command.pid, &status, WNOHANG) == command.pid) {
        command.pid = -1;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        const jobs::job* j = lookup_(it->first);
        spdlog::info("job {}: notify command ended with status {}", it->first,
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        if (ok || j == nullptr) {
          if (!command.run_at) {
            it = commands_.erase(it);
            continue;
          }
        } else if (!command.run_at) {
          command.run_at = now + jobs::effective_retry_delay(*j);  // again while it fails
        }
      }
    }
    if (command.pid <= 0 && command.run_at && now >= *command.run_at) {
      if (const jobs::job* j = lookup_(it->first)) {
        run_command(*j, command);
      } else {
        it = commands_.erase(it);
        continue;
      }
    }
    ++it;
  }
  for (auto& [id, s] : subscriptions_) {
    if (s.modification_pending) {
      const jobs::job* j = lookup_(id);
      if (j == nullptr) {
        s.modification_pending = false;
      } else if (now - s.last_modification >= modification_interval(*j)) {
        s.modification_pending = false;
        s.last_modification = now;
        if (wants(*j, notify::job_modification)) deliver(*j, s, notification_kind::modification);
      }
    }
    if (!s.redeliver_at || now < *s.redeliver_at) continue;
    const jobs::job* j = lookup_(id);
    if (j == nullptr) continue;
    const bool still =
        (s.awaiting_kind == pending_kind::transferred && j->state == job_state::transferred) ||
        (s.awaiting_kind == pending_kind::error && j->state == job_state::error);
    if (!still) {  // the job moved on; nothing to re-deliver
      s.awaiting = 0;
      s.awaiting_kind = pending_kind::none;
      s.redeliver_at.reset();
      continue;
    }
    deliver(*j, s,
            s.awaiting_kind == pending_kind::transferred ? notification_kind::transferred
                                                         : notification_kind::error);
  }
}

std::optional<jobs::mono_time> notifier::next_deadline() const {
  std::optional<jobs::mono_time> next;
  auto consider = [&](std::optional<jobs::mono_time> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  for (const auto& [id, s] : subscriptions_) {
    consider(s.redeliver_at);
    if (s.modification_pending) {
      if (const jobs::job* j = lookup_(id)) {
        consider(s.last_modification + modification_interval(*j));
      }
    }
  }
  for (const auto& [id, c] : commands_) {
    consider(c.run_at);
    if (c.pid > 0) consider(jobs::mono_clock::now() + std::chrono::milliseconds(200));  // reap
  }
  return next;
}

}  // namespace opendo::daemon
