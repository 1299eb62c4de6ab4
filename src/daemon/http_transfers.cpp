#include "daemon/http_transfers.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "daemon/modules.hpp"

namespace opendo::daemon {

namespace http = transfer::http;

const http::module_entry& http_transfers::module() {
  static const http::module_entry& entry = load_module_entry<http::module_entry>(
      http::kModuleFile, http::kModuleEntry, http::kModuleVersion);
  return entry;
}

http_transfers::http_transfers(http::listener& events, http::engine_options options)
    : events_(events),
      options_(std::move(options)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_) throw std::system_error(errno, std::system_category(), "eventfd");
}

http_transfers::~http_transfers() = default;

http::transfer_id http_transfers::start(const http::request& req) {
  if (!engine_) engine_ = module().make_engine(events_, options_);
  return engine_->start(req);
}

std::uint64_t http_transfers::received(http::transfer_id id) const {
  return engine_ ? engine_->received(id) : 0;
}

std::optional<std::uint64_t> http_transfers::checkpoint(http::transfer_id id) {
  return engine_ ? engine_->checkpoint(id) : std::nullopt;
}

void http_transfers::request_checkpoint(http::transfer_id id) {
  if (engine_) engine_->request_checkpoint(id);
}

void http_transfers::drain_syncs() {
  if (engine_) engine_->drain_syncs();
}

std::optional<std::uint64_t> http_transfers::stop(http::transfer_id id) {
  return engine_ ? engine_->stop(id) : std::nullopt;
}

void http_transfers::set_end(http::transfer_id id, std::uint64_t local_end) {
  if (engine_) engine_->set_end(id, local_end);
}

void http_transfers::set_rate_limit(http::transfer_id id, std::uint64_t bytes_per_second) {
  if (engine_) engine_->set_rate_limit(id, bytes_per_second);
}

std::uint64_t http_transfers::total_received() const {
  return engine_ ? engine_->total_received() : 0;
}

void http_transfers::poll(std::vector<curl_waitfd>& extra, int timeout_ms) {
  extra.push_back({wake_.get(), CURL_WAIT_POLLIN, 0});
  if (engine_) {
    engine_->poll(extra, timeout_ms);
  } else {
    // The CURL_WAIT_ bits are poll(2)'s POLLIN, POLLPRI and POLLOUT. A hang-up or error counts
    // as readable, so that the descriptor's owner reads and learns of it.
    std::vector<pollfd> fds(extra.size());
    for (std::size_t i = 0; i < extra.size(); ++i) {
      fds[i] = {extra[i].fd, static_cast<short>(extra[i].events), 0};
      extra[i].revents = 0;
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) > 0) {
      for (std::size_t i = 0; i < extra.size(); ++i) {
        short bits = static_cast<short>(fds[i].revents & (POLLIN | POLLPRI | POLLOUT));
        if ((fds[i].revents & (POLLHUP | POLLERR)) != 0) bits |= POLLIN;
        extra[i].revents = bits;
      }
    }
  }
  if ((extra.back().revents & CURL_WAIT_POLLIN) != 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] const auto n = ::read(wake_.get(), &count, sizeof count);
  }
  extra.pop_back();
}

void http_transfers::wakeup() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_.get(), &one, sizeof one);
}

http::url_parts parse_url(const std::string& url) {
  return http_transfers::module().parse_url(url);
}

}  // namespace opendo::daemon
