#include "transfer/http/engine.hpp"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "common/numbers.hpp"
#include "opendo/hresult.hpp"
#include "transfer/http/token_bucket.hpp"

namespace opendo::transfer::http {

namespace {

using numbers::take_number;

// O_DIRECT writes need their file offset, length and memory aligned (to the logical block size
// of the device: 512 here; 4096 covers the others).
constexpr std::size_t kDirectAlign = 4096;
// A full buffer's aligned middle goes to the disk with O_DIRECT from this size on.
constexpr std::size_t kMinDirect = std::size_t{256} * 1024;

constexpr std::uint64_t align_down(std::uint64_t n) {
  return n - n % kDirectAlign;
}

// The bytes received and not yet written. Each byte sits at an address congruent to its file
// offset modulo kDirectAlign, so that the aligned middle of a full buffer is aligned in memory too
// and goes to the disk as it is (O_DIRECT) without another copy.
class write_buffer {
 public:
  write_buffer() = default;
  ~write_buffer() { std::free(base_); }
  write_buffer(const write_buffer&) = delete;
  write_buffer& operator=(const write_buffer&) = delete;

  // Room for `capacity` bytes from any file offset.
  void allocate(std::size_t capacity) {
    std::free(base_);
    base_ = static_cast<char*>(std::aligned_alloc(kDirectAlign, room(capacity)));
    if (base_ == nullptr) throw std::bad_alloc();
    capacity_ = capacity;
    begin_ = size_ = 0;
  }
  bool allocated() const { return base_ != nullptr; }
  char* data() { return base_ != nullptr ? base_ + begin_ : nullptr; }  // null before allocate()
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  // Empty; the next byte appended is the one of file offset `offset`.
  void reset(std::uint64_t offset) {
    begin_ = static_cast<std::size_t>(offset % kDirectAlign);
    size_ = 0;
  }
  // At most capacity() - size() bytes.
  void append(const char* bytes, std::size_t n) {
    if (begin_ + size_ + n > room(capacity_)) {
      // After consume(): back to the first block, keeping the congruence.
      std::memmove(base_ + begin_ % kDirectAlign, base_ + begin_, size_);
      begin_ %= kDirectAlign;
    }
    std::memcpy(base_ + begin_ + size_, bytes, n);
    size_ += n;
  }
  void consume(std::size_t n) {
    begin_ += n;
    size_ -= n;
  }
  void shrink(std::size_t n) { size_ = n; }
  void swap(write_buffer& other) noexcept {
    std::swap(base_, other.base_);
    std::swap(capacity_, other.capacity_);
    std::swap(begin_, other.begin_);
    std::swap(size_, other.size_);
  }

 private:
  static std::size_t room(std::size_t capacity) {
    return (capacity + 2 * kDirectAlign - 1) / kDirectAlign * kDirectAlign;
  }
  char* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t size_ = 0;
};

struct direct_result {
  std::size_t done = 0;  // bytes written
  int error = 0;
};

// One O_DIRECT write: the flag is set on the descriptor's open file description for the write
// only (the daemon's other users of that description, and the segments of a file that share it,
// see it cleared again afterwards).
direct_result write_direct(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  direct_result r;
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) {
    r.error = errno;  // EINVAL: the file system has no O_DIRECT (tmpfs, memfd)
    return r;
  }
  while (r.done < size) {
    const ssize_t n =
        ::pwrite(fd, data + r.done, size - r.done, static_cast<off_t>(offset + r.done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r.error = n < 0 ? errno : EIO;
      break;
    }
    r.done += static_cast<std::size_t>(n);
  }
  if (::fcntl(fd, F_SETFL, flags) != 0 && r.error == 0) r.error = errno;
  return r;
}

}  // namespace

// The thread that does the transfers' O_DIRECT writes, so that the event loop receives the next
// buffer meanwhile (started at the first write).
class engine::direct_writer {
 public:
  direct_writer() = default;
  direct_writer(const direct_writer&) = delete;
  direct_writer& operator=(const direct_writer&) = delete;
  ~direct_writer() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // `data` stays valid until the future is ready.
  std::future<direct_result> submit(int fd, const char* data, std::size_t size,
                                    std::uint64_t offset) {
    std::packaged_task<direct_result()> task(
        [fd, data, size, offset] { return write_direct(fd, data, size, offset); });
    auto result = task.get_future();
    {
      const std::lock_guard lock(mutex_);
      queue_.push_back(std::move(task));
      ++pending_;
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    work_.notify_one();
    return result;
  }

  // Until no write is in flight: a buffered write of a description that a direct write of
  // another transfer (a segment of the same file) has in O_DIRECT mode meanwhile fails with
  // EINVAL, and is tried again after this.
  void wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
      --pending_;
      idle_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable idle_;
  std::deque<std::packaged_task<direct_result()>> queue_;
  std::size_t pending_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

struct engine::transfer {
  listener* events = nullptr;
  transfer_id id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  request req;
  std::uint64_t written = 0;         // end of the bytes pwritten to the file
  std::uint64_t end = size_unknown;  // where the body must end in the file, once known
  std::uint64_t synced = 0;          // bytes known to be on disk (fdatasync'd)
  // set_end: the body is cut here; reached_limit once it was (a success, not a failure).
  std::uint64_t limit = size_unknown;
  bool reached_limit = false;
  write_buffer buffer;  // bytes received and not yet written (from written + in_flight_bytes)
  // The buffer's size at most; it is allocated at the first body byte, no larger than the body
  // (a 4 KiB file does not map and unmap 4 MiB).
  std::size_t buffer_capacity = 1;
  // Direct writes (engine_options::direct_writes): a full buffer's aligned middle goes to the
  // writer thread, with O_DIRECT, while the next one fills. `spare` is the buffer being written
  // (`in_flight` valid, in_flight_bytes of it at offset `written`), or the next one.
  engine::direct_writer* writer = nullptr;  // null: direct writes off for this transfer
  write_buffer spare;
  std::future<direct_result> in_flight;
  std::size_t in_flight_bytes = 0;
  // When the buffer's first byte arrived; it is written write_delay later at the latest.
  std::chrono::steady_clock::time_point buffered_since;
  std::chrono::milliseconds write_delay{100};
  bool response_seen = false;
  bool fresh_retry = false;  // sent again on a new connection after a reused one failed
  // When the last body byte (or the start) was: a transfer silent for the stall timeout fails.
  std::chrono::steady_clock::time_point last_data = std::chrono::steady_clock::now();
  std::chrono::seconds stall_timeout{60};
  bool aborted_by_us = false;  // the write callback stopped the transfer; `failure` says why
  // A checkpoint (outside libcurl's callbacks) failed to write: poll() ends the transfer.
  bool failed_outside_callback = false;
  // Bandwidth policy: the body is paced to the bucket's rate; `paused` while the write callback
  // holds the transfer until the bucket's debt is repaid.
  token_bucket pace;
  bool paused = false;
  std::uint64_t* total_received = nullptr;  // the engine's counter of body bytes
  outcome failure;
  std::size_t max_response_headers = 0;
  char error_text[CURL_ERROR_SIZE] = {};
  // Off libcurl (removed from the multi handle) and waiting for the sync of its last bytes;
  // `pending` is the outcome on_finished then reports.
  bool finishing = false;
  outcome pending;
  bool checkpoint_in_flight = false;  // a request_checkpoint() sync is on the worker

  ~transfer() {
    if (in_flight.valid()) in_flight.wait();  // the writer holds `spare` and the descriptor
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
  std::uint64_t received() const { return written + in_flight_bytes + buffer.size(); }
};

// The result of an fdatasync on the sync worker (engine::syncs_). Each sync is of a dup() of the
// transfer's descriptor, which the work closes, so that the transfer may end, be stopped or have
// its file closed meanwhile.
struct engine::sync_result {
  transfer_id id = 0;
  std::uint64_t size = 0;  // bytes [0, size) are durable when error == 0
  int error = 0;
  bool finish = false;  // the sync of a finished transfer (else a checkpoint's)
};

namespace {

// ---- certificate errors a job accepts (request::tls_exemptions) ----------------------------
// libcurl verifies the peer itself after the handshake (SSL_get_verify_result), so the errors a
// job accepts are cleared as OpenSSL meets them, by a verify callback set on the connection's
// SSL_CTX. The exemptions travel in an ex_data slot of that SSL_CTX.

int tls_exemptions_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::uint32_t exemption_for(int error) {
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
      return tls_exemption::unknown_ca;
    case X509_V_ERR_INVALID_PURPOSE:
      return tls_exemption::wrong_usage;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return tls_exemption::name_mismatch;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return tls_exemption::date_invalid;
    default:
      return 0;  // e.g. a bad signature or a revoked certificate: never accepted
  }
}

int verify_with_exemptions(int preverified, X509_STORE_CTX* store) {
  if (preverified == 1) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return 0;
  const auto exemptions = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_exemptions_index())));
  const std::uint32_t needed = exemption_for(X509_STORE_CTX_get_error(store));
  if (needed == 0 || (exemptions & needed) == 0) return 0;
  X509_STORE_CTX_set_error(store, X509_V_OK);  // what libcurl reads after the handshake
  return 1;
}

CURLcode set_tls_exemptions(CURL* /*easy*/, void* ssl_ctx, void* exemptions) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  if (SSL_CTX_set_ex_data(ctx, tls_exemptions_index(), exemptions) != 1) {
    return CURLE_SSL_CERTPROBLEM;
  }
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), &verify_with_exemptions);
  return CURLE_OK;
}

// A connection of the request's own: new, never reused afterwards, HTTP/1.1 (no other request
// multiplexed onto it) and no TLS session resumed from or kept for another (a resumed session
// skips verification, and carries the client certificate it was made with).
void private_connection(CURL* easy) {
  curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 0L);
}

// A request that accepts certificate errors gets a connection of its own.
void apply_tls_exemptions(CURL* easy, std::uint32_t exemptions) {
  if (exemptions == 0) return;
  private_connection(easy);
  // libcurl checks the name itself, apart from OpenSSL's chain verification.
  if ((exemptions & tls_exemption::name_mismatch) != 0) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &set_tls_exemptions);
  // libcurl and OpenSSL carry the callback's data as a void*; the bits travel in its value, no
  // object is pointed to (verify_with_exemptions() turns it back into the integer).
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA,
                   // NOLINTNEXTLINE(performance-no-int-to-ptr)
                   reinterpret_cast<void*>(static_cast<std::uintptr_t>(exemptions)));
}

// A request with a client certificate (DO SecurityContext) presents it to the origin (not to a
// proxy) on a connection of its own: no other job's request is sent on a connection
// authenticated as this job's owner. libcurl copies the blobs.
void apply_client_certificate(CURL* easy, const jobs::client_certificate_pem& cert) {
  if (cert.empty()) return;
  private_connection(easy);
  curl_blob certificate{const_cast<char*>(cert.certificate.data()), cert.certificate.size(),
                        CURL_BLOB_COPY};
  curl_blob key{const_cast<char*>(cert.private_key.data()), cert.private_key.size(),
                CURL_BLOB_COPY};
  curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &certificate);
  curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
  curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key);
  curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
}

std::string header_value(CURL* easy, const char* name) {
  curl_header* header = nullptr;
  if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &header) == CURLHE_OK && header) {
    return header->value;
  }
  return {};
}

// The last response of the transfer (after redirects): status, header lines up to `limit` bytes
// (cut at a line boundary: a server decides how many it sends), peer address, redirect target.
response_record record_response(CURL* easy, std::size_t limit) {
  response_record r;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
  struct curl_header* previous = nullptr;
  while (struct curl_header* h = curl_easy_nextheader(easy, CURLH_HEADER, -1, previous)) {
    previous = h;
    std::string line = std::string(h->name) + ": " + h->value + "\r\n";
    if (r.headers.size() + line.size() > limit) break;
    r.headers += line;
  }
  const char* ip = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != nullptr) {
    r.server_ip = ip;
  }
  long redirects = 0;
  curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &redirects);
  const char* url = nullptr;
  if (redirects > 0 && curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK &&
      url != nullptr) {
    r.redirection_target = url;
  }
  return r;
}

// A checked header line as libcurl takes it: "Name:" with nothing after it would make libcurl
// remove its own header of that name, so an empty value is written "Name;" (sent as "Name:").
std::string curl_header_line(const std::string& line) {
  const auto colon = line.find(':');
  if (line.find_first_not_of(" \t", colon + 1) != std::string::npos) return line;
  return line.substr(0, colon) + ";";
}

// "bytes 100-199/1000" -> 100, 199, total 1000 (total size_unknown for "*"). A server can send
// anything here, so every part is checked: digits only, first <= last < total.
bool parse_content_range(std::string_view value, remote_range& sent, std::uint64_t& total) {
  constexpr std::string_view prefix = "bytes ";
  if (value.substr(0, prefix.size()) != prefix) return false;
  value.remove_prefix(prefix.size());
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (!take_number(value, first) || value.empty() || value.front() != '-') return false;
  value.remove_prefix(1);
  if (!take_number(value, last) || value.empty() || value.front() != '/' || last < first) {
    return false;
  }
  value.remove_prefix(1);
  if (value == "*") {
    total = size_unknown;
  } else if (!take_number(value, total) || !value.empty() || last >= total) {
    return false;
  }
  sent = {first, last};
  return true;
}

outcome local_failure(int error_number, const std::string& what) {
  outcome out;
  out.code = hresult_from_win32(error_number == ENOSPC || error_number == EDQUOT ? 112U : 29U);
  if (error_number == EACCES || error_number == EPERM) out.code = value_of(hr::e_accessdenied);
  out.transient = error_number == ENOSPC || error_number == EDQUOT;
  out.context = error_context::local_file;
  out.message = what + ": " + std::strerror(error_number);
  return out;
}

// Bytes per pwrite at most. One pwrite of the whole 4 MiB buffer now and then costs the kernel
// many times the CPU of the same bytes in 64 KiB calls (copy_folio_from_iter_atomic under perf;
// 1 GiB took 0.22 to 2.8 s of system time in 4 MiB calls, 0.24 to 0.25 s in 64 KiB ones).
constexpr std::size_t kMaxWrite = std::size_t{64} * 1024;

// Writes the buffer's first `size` bytes at `written` (buffered, in kMaxWrite calls) and drops
// them from the buffer. A failure keeps counted what did fit (a full disk takes part of a write):
// keep_written() syncs it.
bool write_front(engine::transfer& t, std::size_t size) {
  std::size_t done = 0;
  bool retried = false;
  while (done < size) {
    ssize_t n = ::pwrite(t.req.fd, t.buffer.data() + done, std::min(size - done, kMaxWrite),
                         static_cast<off_t>(t.written + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && t.writer != nullptr && !retried) {
      // Another transfer's direct write has the shared description in O_DIRECT mode.
      t.writer->wait_idle();
      retried = true;
      continue;
    }
    if (n < 0) {
      const int error = errno;
      t.written += done;
      t.buffer.consume(done);
      t.failure = local_failure(error, "writing the temporary file failed");
      t.aborted_by_us = true;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  t.written += done;
  t.buffer.consume(done);
  return true;
}

// Waits for the transfer's direct write in flight, if any, and counts its bytes as written. A
// file system without O_DIRECT (EINVAL) has the bytes written buffered instead, and the transfer
// writes buffered from then on. Any other failure ends the transfer like a failed flush; the
// bytes received after the failed ones are dropped (they come again from the server).
bool complete_direct(engine::transfer& t) {
  if (!t.in_flight.valid()) return true;
  const direct_result r = t.in_flight.get();
  const std::size_t size = t.in_flight_bytes;
  t.in_flight_bytes = 0;
  t.written += r.done;
  if (r.error == 0) return true;
  if (r.error == EINVAL) {
    t.writer = nullptr;
    // The rest of the in-flight bytes, then the buffer's, written buffered from `spare`.
    t.buffer.swap(t.spare);  // buffer: the in-flight bytes; spare: what came after them
    t.buffer.consume(r.done);
    t.buffer.shrink(size - r.done);
    if (!write_front(t, t.buffer.size())) {
      t.buffer.reset(t.written);
      return false;
    }
    t.buffer.swap(t.spare);
    return true;
  }
  t.failure = local_failure(r.error, "writing the temporary file failed");
  t.aborted_by_us = true;
  t.buffer.reset(t.written);
  return false;
}

// Writes every byte received: after it, written == received().
bool flush(engine::transfer& t) {
  if (!complete_direct(t)) return false;
  if (!write_front(t, t.buffer.size())) return false;
  t.buffer.reset(t.written);
  return true;
}

// A full buffer: its aligned middle goes to the writer thread (O_DIRECT) while the next bytes
// are received into the spare buffer; the unaligned head is written buffered here and the tail
// (less than kDirectAlign) moves to the spare buffer, ahead of the next bytes. Without direct
// writes, or for a small middle, the buffer is written buffered (flush).
bool write_full(engine::transfer& t, std::chrono::steady_clock::time_point now) {
  if (t.writer == nullptr) return flush(t);
  if (!complete_direct(t)) return false;     // the previous buffer's (the spare one)
  if (t.writer == nullptr) return flush(t);  // just turned off (no O_DIRECT here)
  const std::uint64_t start = t.written;
  const std::size_t head = static_cast<std::size_t>(std::min<std::uint64_t>(
      t.buffer.size(), (kDirectAlign - start % kDirectAlign) % kDirectAlign));
  const std::size_t middle = static_cast<std::size_t>(align_down(t.buffer.size() - head));
  if (middle < kMinDirect) return flush(t);
  if (head > 0 && !write_front(t, head)) return false;
  if (!t.spare.allocated()) t.spare.allocate(t.buffer.capacity());
  const std::size_t tail = t.buffer.size() - middle;
  t.spare.reset(t.written + middle);
  t.spare.append(t.buffer.data() + middle, tail);
  t.buffer.shrink(middle);
  t.buffer.swap(t.spare);
  t.in_flight_bytes = middle;
  t.in_flight = t.writer->submit(t.req.fd, t.spare.data(), middle, t.written);
  if (tail > 0) t.buffered_since = now;
  return true;
}

// After a local write error: the bytes that reached the file before it are valid, so they are
// synced and kept (a full disk must not cost what was already fetched). What is still in the
// buffer is dropped; it comes again from the server.
void keep_written(engine::transfer& t) {
  complete_direct(t);
  t.buffer.reset(t.written);
  if (t.written > t.synced && ::fdatasync(t.req.fd) == 0) t.synced = t.written;
}

bool sync(engine::transfer& t) {
  if (!flush(t)) return false;
  // Nothing written since the last sync: a transfer stopped before its first byte (a job
  // cancelled or suspended right after Resume) costs no journal commit.
  if (t.written == t.synced) return true;
  if (::fdatasync(t.req.fd) != 0) {
    t.failure = local_failure(errno, "syncing the temporary file failed");
    t.aborted_by_us = true;
    return false;
  }
  t.synced = t.written;
  return true;
}

void fail_protocol(engine::transfer& t, std::uint32_t code, const std::string& message) {
  t.failure.code = code;
  t.failure.transient = true;
  t.failure.context = error_context::remote_file;
  t.failure.message = message;
  t.aborted_by_us = true;
}

bool truncate_file(engine::transfer& t, std::uint64_t size) {
  complete_direct(t);  // its bytes are cut off with the rest
  t.written = t.synced = size;
  t.buffer.reset(size);
  if (::ftruncate(t.req.fd, static_cast<off_t>(size)) == 0) return true;
  t.failure = local_failure(errno, "truncating the temporary file failed");
  t.aborted_by_us = true;
  return false;
}

// A 206: the range must be the one asked for, of a file of the size known (if one is).
bool check_partial_body(engine::transfer& t, response_info& info) {
  const std::string content_range = header_value(t.easy, "Content-Range");
  remote_range sent;
  const remote_range asked = t.req.range.value_or(remote_range{t.req.offset, size_unknown});
  if (!parse_content_range(content_range, sent, info.total) || sent.first != asked.first ||
      (asked.last != size_unknown && sent.last != asked.last) ||
      (asked.last == size_unknown && info.total != size_unknown && sent.last + 1 != info.total)) {
    fail_protocol(
        t, value_of(hr::bg_e_insufficient_range_support),
        "the server answered a range request with a different range (" + content_range + ")");
    return false;
  }
  if (t.req.expected_total != size_unknown && info.total != t.req.expected_total) {
    // Same validators but another size: the file changed under us; it starts again.
    fail_protocol(t, value_of(hr::winhttp_invalid_server_response),
                  "the file on the server changed size from " +
                      std::to_string(t.req.expected_total) + " to " + std::to_string(info.total) +
                      " bytes; it is fetched again from the start");
    t.failure.restart_file = true;
    return false;
  }
  info.accepts_ranges = true;
  t.end = t.req.offset + (sent.last - sent.first + 1);
  return true;
}

// A 200 (the whole file) where a range was asked for.
bool check_whole_body(engine::transfer& t, response_info& info) {
  curl_off_t length = -1;
  curl_easy_getinfo(t.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  info.total = length >= 0 ? static_cast<std::uint64_t>(length) : size_unknown;
  t.end = info.total == size_unknown ? size_unknown : t.req.offset + info.total;
  if (t.req.range) {
    const remote_range& asked = *t.req.range;
    const bool whole_file_asked =
        asked.first == 0 && (asked.last == size_unknown ||
                             (info.total != size_unknown && asked.last + 1 == info.total));
    if (whole_file_asked) return true;
    if (info.validators_changed) {
      fail_protocol(t, value_of(hr::winhttp_invalid_server_response),
                    "the file on the server changed; its ranges are fetched again");
      t.failure.restart_file = true;
      return false;
    }
    fail_protocol(t, value_of(hr::bg_e_insufficient_range_support),
                  "the server sent the whole file instead of the byte range asked for: it does "
                  "not support ranges");
    t.failure.transient = false;
    return false;
  }
  if (t.req.offset > 0) {
    // A full body although we asked to resume: start the file again from byte 0.
    info.restarted = true;
    t.req.offset = 0;
    t.end = info.total;
    return truncate_file(t, 0);
  }
  return true;
}

// Called before the first body byte: decides whether the body continues the file or restarts it.
bool begin_body(engine::transfer& t, listener& events) {
  t.response_seen = true;
  response_info info;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &info.status);
  info.etag = header_value(t.easy, "ETag");
  info.last_modified = header_value(t.easy, "Last-Modified");
  info.accepts_ranges = header_value(t.easy, "Accept-Ranges") == "bytes";
  info.validators_changed =
      (!t.req.etag.empty() && info.etag != t.req.etag) ||
      (!t.req.last_modified.empty() && info.last_modified != t.req.last_modified);
  info.record = record_response(t.easy, t.max_response_headers);
  const bool body_ok = info.status == 206 ? check_partial_body(t, info) : check_whole_body(t, info);
  if (!body_ok) return false;
  if (auto refused = events.on_response(t.id, info)) {
    t.failure = *refused;
    t.aborted_by_us = true;
    return false;
  }
  return true;
}

// The write buffer, once the body's size is known: the whole body when it is smaller than the
// transfer's buffer.
void allocate_buffer(engine::transfer& t) {
  std::size_t capacity = t.buffer_capacity;
  if (t.end != size_unknown && t.end > t.written && t.end - t.written < capacity) {
    capacity = static_cast<std::size_t>(t.end - t.written);
  }
  t.buffer.allocate(capacity);
  t.buffer.reset(t.written);
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<engine::transfer*>(user);
  const std::size_t bytes = size * count;
  if (t.aborted_by_us) return CURL_WRITEFUNC_ERROR;  // a checkpoint failed to write
  const auto now = std::chrono::steady_clock::now();
  if (!t.pace.ready(now)) {
    // libcurl keeps the chunk and delivers it again after engine::poll unpauses the transfer.
    t.paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  t.pace.take(bytes);
  *t.total_received += bytes;
  t.last_data = now;
  if (!t.response_seen) {
    if (!begin_body(t, *t.events)) return CURL_WRITEFUNC_ERROR;
    allocate_buffer(t);
  }
  if (t.end != size_unknown && t.received() + bytes > t.end) {
    fail_protocol(t, value_of(hr::winhttp_invalid_server_response),
                  "the server sent more bytes than it announced");
    return CURL_WRITEFUNC_ERROR;
  }
  if (t.limit != size_unknown && t.received() + bytes >= t.limit) {
    // The rest of the body belongs to another connection: keep what is ours and hang up.
    const auto ours = static_cast<std::size_t>(t.limit - t.received());
    if (t.buffer.size() + ours > t.buffer.capacity() && !flush(t)) return CURL_WRITEFUNC_ERROR;
    t.buffer.append(data, ours);
    t.reached_limit = true;
    return CURL_WRITEFUNC_ERROR;
  }
  if (t.buffer.size() + bytes > t.buffer.capacity() && !t.buffer.empty() && !write_full(t, now)) {
    return CURL_WRITEFUNC_ERROR;
  }
  if (t.buffer.size() + bytes > t.buffer.capacity()) {
    // Larger than the buffer: written in its own pieces.
    if (!flush(t)) return CURL_WRITEFUNC_ERROR;
    for (std::size_t done = 0; done < bytes;) {
      const std::size_t piece = std::min(bytes - done, t.buffer.capacity());
      t.buffer.append(data + done, piece);
      if (!flush(t)) return CURL_WRITEFUNC_ERROR;
      done += piece;
    }
    return bytes;
  }
  if (t.buffer.empty()) t.buffered_since = now;
  t.buffer.append(data, bytes);
  if (now - t.buffered_since >= t.write_delay && !flush(t)) return CURL_WRITEFUNC_ERROR;
  return bytes;
}

// libcurl's own low-speed check averages over several seconds, so a burst followed by silence
// passes for longer than the timeout says; this counts from the last byte itself.
int on_xfer_info(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& t = *static_cast<engine::transfer*>(user);
  // A transfer the bandwidth policy holds is not stalled (poll() restarts the clock on resume).
  if (t.paused || std::chrono::steady_clock::now() - t.last_data < t.stall_timeout) return 0;
  t.failure.code = value_of(hr::winhttp_timeout);
  t.failure.transient = true;
  t.failure.context = error_context::general_transport;
  t.failure.message = "the server sent nothing for " + std::to_string(t.stall_timeout.count()) +
                      " s. URL: " + t.req.url;
  t.aborted_by_us = true;
  return 1;
}

outcome classify(CURLcode code, engine::transfer& t) {
  outcome out;
  out.context = error_context::general_transport;
  out.transient = true;
  out.message = t.error_text[0] != '\0' ? std::string(t.error_text) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_HTTP_RETURNED_ERROR: {
      long status = 0;
      curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
      out.code = hresult_from_http_status(status);
      out.context = error_context::remote_file;
      out.transient = status == 408 || status == 429 || status == 500 || status == 502 ||
                      status == 503 || status == 504;
      out.message = describe(out.code) + " URL: " + t.req.url;
      if (status == 416 && !t.req.range && t.req.offset > 0) {
        // The file on the server is now shorter than the bytes we have: it changed.
        out.restart_file = true;
        out.message =
            "the file on the server is shorter than the " + std::to_string(t.req.offset) +
            " bytes already fetched (HTTP 416): it changed and is fetched again. URL: " + t.req.url;
      } else if (status == 416 && t.req.range) {
        out.code = value_of(hr::bg_e_invalid_range);
        out.transient = false;
        out.message = "the server says the byte range " + std::to_string(t.req.range->first) +
                      "- lies beyond the end of the file (HTTP 416). URL: " + t.req.url;
      }
      break;
    }
    case CURLE_COULDNT_CONNECT:
      out.code = value_of(hr::winhttp_cannot_connect);
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      out.code = value_of(hr::winhttp_name_not_resolved);
      break;
    case CURLE_OPERATION_TIMEDOUT:
      out.code = value_of(hr::winhttp_timeout);
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      out.code = value_of(hr::winhttp_secure_failure);
      out.transient = false;
      break;
    case CURLE_SSL_CONNECT_ERROR:
      out.code = value_of(hr::winhttp_secure_failure);
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      out.code = value_of(hr::winhttp_redirect_failed);
      out.context = error_context::remote_file;
      out.transient = false;
      break;
    case CURLE_UNSUPPORTED_PROTOCOL:
      if (long redirects = 0;
          curl_easy_getinfo(t.easy, CURLINFO_REDIRECT_COUNT, &redirects) == CURLE_OK &&
          redirects > 0) {
        // A redirect to a scheme the request may not follow: https to http, unless the job
        // allows it (DO HttpAllowSecureToNonSecureRedirect). WinHTTP's code for a redirect that
        // changes the scheme.
        const char* target = nullptr;
        curl_easy_getinfo(t.easy, CURLINFO_EFFECTIVE_URL, &target);
        out.code = value_of(hr::winhttp_redirect_failed);
        out.context = error_context::remote_file;
        out.transient = false;
        out.message = "the server redirected " + t.req.url + " to " +
                      std::string(target != nullptr ? target : "another scheme") +
                      ": a redirect from https to http is not followed unless the job allows it";
        break;
      }
      if (out.message.find("HTTP/0.9") != std::string::npos) {
        // Not a scheme (those were checked when the file was added, redirects are limited to
        // http and https) but a reply that is not HTTP, e.g. the surplus bytes of a previous
        // response on a reused connection. The retry opens a new connection.
        out.code = value_of(hr::winhttp_invalid_server_response);
        out.context = error_context::remote_file;
        break;
      }
      out.code = value_of(hr::winhttp_unrecognized_scheme);
      out.context = error_context::remote_file;
      out.transient = false;
      break;
    case CURLE_URL_MALFORMAT:
      out.code = value_of(hr::winhttp_invalid_url);
      out.context = error_context::remote_file;
      out.transient = false;
      break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      out.code = value_of(hr::winhttp_invalid_server_response);
      out.context = error_context::remote_file;
      break;
    default:  // resets, truncated bodies, empty replies, receive errors
      out.code = value_of(hr::winhttp_connection_error);
      break;
  }
  return out;
}

long auth_bits(auth_scheme scheme) {
  switch (scheme) {
    case auth_scheme::digest:
      return static_cast<long>(CURLAUTH_DIGEST);
    case auth_scheme::ntlm:
      return static_cast<long>(CURLAUTH_NTLM);
    default:
      return static_cast<long>(CURLAUTH_BASIC);
  }
}

// BG_JOB_PROXY_USAGE. PRECONFIG (and AUTODETECT, which Linux has no protocol for) leave libcurl
// to the environment's http_proxy / https_proxy / no_proxy.
void apply_proxy(CURL* easy, const proxy_settings& proxy) {
  if (proxy.usage == proxy_usage::no_proxy) {
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
  } else if (proxy.usage == proxy_usage::override) {
    // The list may hold several proxies (space or ';' separated); the first one is used.
    const std::string list = proxy.proxy_list;
    const auto end = list.find_first_of(" ;");
    curl_easy_setopt(easy, CURLOPT_PROXY, list.substr(0, end).c_str());
    std::string bypass = proxy.bypass_list;
    for (char& c : bypass) {
      if (c == ';' || c == ' ') c = ',';
    }
    curl_easy_setopt(easy, CURLOPT_NOPROXY, bypass.c_str());
  }
}

}  // namespace

engine::engine(listener& events, engine_options options)
    : events_(events), options_(std::move(options)), multi_(curl_multi_init()) {
  if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  // Connections stay open for reuse across files and jobs; HTTP/2 multiplexes where offered.
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 64L);
}

engine::~engine() {
  syncs_.reset();  // joins its threads, which wake multi_
  for (auto& [id, t] : transfers_) {
    if (!t->finishing) curl_multi_remove_handle(multi_, t->easy);
  }
  transfers_.clear();
  curl_multi_cleanup(multi_);
}

transfer_id engine::start(const request& req) {
  auto t = std::make_unique<transfer>();
  t->events = &events_;
  t->id = next_id_++;
  t->req = req;
  t->written = req.offset;
  t->synced = req.offset;
  t->buffer_capacity =
      std::max<std::size_t>(req.write_buffer != 0 ? req.write_buffer : options_.write_buffer, 1);
  if (options_.direct_writes) {
    if (!writer_) writer_ = std::make_unique<direct_writer>();
    t->writer = writer_.get();
  }
  t->write_delay = options_.write_delay;
  t->max_response_headers = options_.max_response_headers;
  t->total_received = &total_received_;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) throw std::runtime_error("curl_easy_init failed");
  t->easy = easy;
  const bool https = req.url.rfind("https:", 0) == 0 || req.url.rfind("HTTPS:", 0) == 0;
  curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  // Never downgrade from https to http on a redirect, unless the job allows it.
  curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR,
                   https && !req.allow_https_to_http ? "https" : "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(easy, CURLOPT_MAXREDIRS, options_.max_redirects);
  curl_easy_setopt(easy, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(easy, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 512L * 1024L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, options_.low_speed_time_s);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  // https transfers that start together wait for a connection being set up to say (ALPN, in
  // its TLS handshake) whether it multiplexes, instead of each opening one of its own. Not for
  // plain http: it would know only from a response, and transfers would wait for each other.
  if (https) curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error_text);
  t->stall_timeout = std::chrono::seconds(options_.low_speed_time_s);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &on_xfer_info);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, t.get());
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, t.get());
  if (!options_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
  apply_tls_exemptions(easy, req.tls_exemptions);
  apply_client_certificate(easy, req.client_certificate);
  apply_proxy(easy, req.proxy);
  if (req.server_auth) {
    curl_easy_setopt(easy, CURLOPT_USERNAME, req.server_auth->user_name.c_str());
    curl_easy_setopt(easy, CURLOPT_PASSWORD, req.server_auth->password.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, auth_bits(req.server_auth->scheme));
  }
  if (req.proxy_auth) {
    curl_easy_setopt(easy, CURLOPT_PROXYUSERNAME, req.proxy_auth->user_name.c_str());
    curl_easy_setopt(easy, CURLOPT_PROXYPASSWORD, req.proxy_auth->password.c_str());
    curl_easy_setopt(easy, CURLOPT_PROXYAUTH, auth_bits(req.proxy_auth->scheme));
  }
  if (req.offset > 0 || req.range) {
    const remote_range asked = req.range.value_or(remote_range{req.offset, size_unknown});
    const std::string range =
        std::to_string(asked.first) + "-" +
        (asked.last == size_unknown ? std::string() : std::to_string(asked.last));
    curl_easy_setopt(easy, CURLOPT_RANGE, range.c_str());  // curl copies the string
    // If-Range makes a changed file come back whole instead of as a mismatched range. A weak
    // ETag may not be used with If-Range; Last-Modified then serves.
    std::string validator;
    if (!req.etag.empty() && req.etag.rfind("W/", 0) != 0) {
      validator = req.etag;
    } else if (!req.last_modified.empty()) {
      validator = req.last_modified;
    }
    if (!validator.empty())
      t->headers = curl_slist_append(t->headers, ("If-Range: " + validator).c_str());
  }
  // The job's own headers (checked: none of them is one the engine sets above). libcurl drops a
  // custom Authorization header when a redirect leaves the host.
  for (const auto* lines : {&req.headers, &req.auth_headers}) {
    for (const std::string& line : *lines) {
      t->headers = curl_slist_append(t->headers, curl_header_line(line).c_str());
    }
  }
  if (t->headers != nullptr) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
  curl_multi_add_handle(multi_, easy);
  const transfer_id id = t->id;
  transfers_.emplace(id, std::move(t));
  return id;
}

std::uint64_t engine::received(transfer_id id) const {
  auto it = transfers_.find(id);
  return it == transfers_.end() ? 0 : it->second->received();
}

std::optional<std::uint64_t> engine::checkpoint(transfer_id id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return std::nullopt;
  transfer& t = *it->second;
  if (t.aborted_by_us) return std::nullopt;
  if (t.finishing) {
    // Its last sync is on the worker; this one makes the same bytes durable now.
    if (::fdatasync(t.req.fd) != 0) return std::nullopt;
    t.synced = t.written;
    return t.synced;
  }
  if (!sync(t)) {
    // Not inside a libcurl callback, so the transfer cannot fail from here: the next poll()
    // ends it, without waiting for the server's next bytes.
    t.failed_outside_callback = true;
    return std::nullopt;
  }
  return t.synced;
}

void engine::request_checkpoint(transfer_id id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  transfer& t = *it->second;
  if (t.aborted_by_us || t.finishing || t.checkpoint_in_flight) return;
  bool written = true;
  if (t.writer != nullptr && t.spare.allocated()) {
    // Writing directly: the sync is of what is written, without waiting for the write in flight
    // or writing the partial buffer (it fills within milliseconds, or is written write_delay
    // after its first byte at the latest).
    if (t.in_flight.valid() &&
        t.in_flight.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      written = complete_direct(t);
    }
  } else {
    written = flush(t);
  }
  if (!written) {
    // Not inside a libcurl callback, so the transfer cannot fail from here: the next poll()
    // ends it, without waiting for the server's next bytes.
    t.failed_outside_callback = true;
    return;
  }
  if (t.written == t.synced) {
    events_.on_synced(id, t.synced);
    return;
  }
  const int fd = ::fcntl(t.req.fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    // Out of descriptors: sync here, as before the worker.
    if (::fdatasync(t.req.fd) != 0) {
      t.failure = local_failure(errno, "syncing the temporary file failed");
      t.aborted_by_us = true;
      t.failed_outside_callback = true;
      return;
    }
    t.synced = t.written;
    events_.on_synced(id, t.synced);
    return;
  }
  t.checkpoint_in_flight = true;
  sync_off_loop(id, fd, t.written, false);
}

// Takes ownership of `fd`.
void engine::sync_off_loop(transfer_id id, int fd, std::uint64_t size, bool finish) {
  if (!syncs_) {
    syncs_ = std::make_unique<background_work<sync_result>>(kSyncThreads,
                                                            [this] { curl_multi_wakeup(multi_); });
  }
  syncs_->submit([id, fd, size, finish] {
    sync_result done{id, size, 0, finish};
    if (::fdatasync(fd) != 0) done.error = errno;
    ::close(fd);
    return done;
  });
}

void engine::drain_syncs() {
  if (!syncs_) return;
  syncs_->wait_all();
  deliver_syncs();
}

// Results of the worker's syncs, in the order they completed. A transfer stopped meanwhile is
// gone (stop() synced it itself): its result is dropped. Listener calls may start or stop
// transfers, so each result looks its transfer up afresh.
void engine::deliver_syncs() {
  if (!syncs_) return;
  for (const sync_result& r : syncs_->take()) {
    auto it = transfers_.find(r.id);
    if (it == transfers_.end()) continue;
    transfer& t = *it->second;
    if (r.error == 0) t.synced = std::max(t.synced, r.size);
    if (r.finish) {
      outcome result = std::move(t.pending);
      if (r.error != 0) {
        // The same failure as a sync on the loop: the bytes synced before stay counted.
        outcome failed = local_failure(r.error, "syncing the temporary file failed");
        failed.response = std::move(result.response);
        result = std::move(failed);
        keep_written(t);
      }
      deliver(t, std::move(result));
      continue;
    }
    t.checkpoint_in_flight = false;
    if (t.finishing) continue;  // its on_finished reports the bytes
    if (r.error != 0) {
      if (!t.aborted_by_us) {
        t.failure = local_failure(r.error, "syncing the temporary file failed");
        t.aborted_by_us = true;
      }
      t.failed_outside_callback = true;
      continue;
    }
    events_.on_synced(r.id, r.size);
  }
}

std::optional<std::uint64_t> engine::stop(transfer_id id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return std::nullopt;
  transfer& t = *it->second;
  std::optional<std::uint64_t> durable;
  if (t.finishing) {
    // Stopped while its last sync is on the worker (whose result is then dropped): sync here.
    if (::fdatasync(t.req.fd) == 0) t.synced = t.written;
    durable = t.synced;
  } else {
    if (!t.aborted_by_us && sync(t)) durable = t.synced;
    if (t.aborted_by_us && t.failure.context == error_context::local_file) {
      keep_written(t);
      durable = t.synced;
    }
    curl_multi_remove_handle(multi_, t.easy);
  }
  transfers_.erase(it);
  return durable;
}

void engine::set_end(transfer_id id, std::uint64_t local_end) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  transfer& t = *it->second;
  if (t.finishing) return;
  const std::uint64_t natural_end =
      t.end != size_unknown ? t.end
      : t.req.range && t.req.range->last != size_unknown
          ? t.req.offset + (t.req.range->last - t.req.range->first + 1)
          : size_unknown;
  if (local_end <= t.received() || (natural_end != size_unknown && local_end >= natural_end))
    return;
  t.limit = local_end;
}

void engine::set_rate_limit(transfer_id id, std::uint64_t bytes_per_second) {
  auto it = transfers_.find(id);
  if (it == transfers_.end() || it->second->pace.rate() == bytes_per_second) return;
  it->second->pace.set_rate(bytes_per_second, std::chrono::steady_clock::now());
}

std::uint64_t engine::rate_limit(transfer_id id) const {
  auto it = transfers_.find(id);
  return it == transfers_.end() ? 0 : it->second->pace.rate();
}

// Paused transfers whose bucket has refilled go on; the others say when they may.
int engine::resume_paced(int timeout_ms) {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [id, t] : transfers_) {
    if (!t->paused || t->finishing) continue;
    const auto ready_at = t->pace.ready_at(now);
    if (ready_at <= now) {
      t->paused = false;
      t->last_data = now;
      // May deliver the held chunk at once, through on_body (which may pause again).
      curl_easy_pause(t->easy, CURLPAUSE_CONT);
    } else {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(ready_at - now);
      timeout_ms = std::min(timeout_ms, static_cast<int>(wait.count()));
    }
  }
  return timeout_ms;
}

// A transfer whose server pauses (a rate limit, a slow link) would otherwise keep its last bytes
// in memory until the buffer fills or the next checkpoint: those are lost to a kill -9.
int engine::write_waiting_buffers(int timeout_ms) {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [id, t] : transfers_) {
    if (t->buffer.empty() || t->aborted_by_us || t->finishing) continue;
    const auto due = t->buffered_since + t->write_delay;
    if (due <= now) {
      // Outside libcurl's callbacks: a failed write ends the transfer in this poll().
      if (!flush(*t)) t->failed_outside_callback = true;
    } else {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now);
      timeout_ms = std::min(timeout_ms, static_cast<int>(wait.count()));
    }
  }
  return timeout_ms;
}

void engine::poll(std::vector<curl_waitfd>& extra, int timeout_ms) {
  timeout_ms = resume_paced(timeout_ms);
  timeout_ms = write_waiting_buffers(timeout_ms);
  curl_multi_poll(multi_, extra.data(), static_cast<unsigned>(extra.size()), timeout_ms, nullptr);
  resume_paced(0);
  int running = 0;
  curl_multi_perform(multi_, &running);
  process_done();
  deliver_syncs();
  write_waiting_buffers(0);
  finish_failed_checkpoints();
}

void engine::finish_failed_checkpoints() {
  std::vector<transfer_id> failed;
  for (const auto& [id, t] : transfers_) {
    if (t->failed_outside_callback && !t->finishing) failed.push_back(id);
  }
  for (transfer_id id : failed) {
    // on_finished of an earlier one may have stopped this one.
    if (auto it = transfers_.find(id); it != transfers_.end())
      finish(*it->second, it->second->failure);
  }
}

// Reports a transfer's end to the listener and forgets it. A local write error keeps the bytes
// written before it; any other failure keeps everything that did arrive (valid data up to the
// failure).
void engine::finish(transfer& t, outcome result) {
  if (!result.ok && result.context == error_context::local_file) {
    keep_written(t);
  } else if (!result.ok) {
    t.aborted_by_us = false;
    if (!sync(t)) keep_written(t);
  }
  deliver(t, std::move(result));
}

// A transfer that ended well: off libcurl at once (its connection goes back to the pool), and
// reported finished once the worker synced its bytes, while the loop serves the others.
void engine::finish_after_sync(transfer& t, outcome result) {
  if (!flush(t)) {
    finish(t, t.failure);
    return;
  }
  if (t.written == t.synced) {
    deliver(t, std::move(result));
    return;
  }
  const int fd = ::fcntl(t.req.fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    // Out of descriptors: sync here, as before the worker.
    if (sync(t)) {
      deliver(t, std::move(result));
    } else {
      finish(t, t.failure);
    }
    return;
  }
  if (response_record record = record_response(t.easy, t.max_response_headers);
      record.status != 0) {
    result.response = std::move(record);
  }
  t.pending = std::move(result);
  t.finishing = true;
  curl_multi_remove_handle(multi_, t.easy);
  sync_off_loop(t.id, fd, t.written, true);
}

// Reports a transfer's end with the bytes that are durable, and forgets it.
void engine::deliver(transfer& t, outcome result) {
  result.bytes = t.synced;
  if (!result.response) {
    if (response_record record = record_response(t.easy, t.max_response_headers);
        record.status != 0) {
      result.response = std::move(record);
    }
  }
  const transfer_id id = t.id;
  if (!t.finishing) curl_multi_remove_handle(multi_, t.easy);
  transfers_.erase(id);  // destroys t
  events_.on_finished(id, result);
}

void engine::wakeup() {
  curl_multi_wakeup(multi_);
}

// A request that failed before any response on a connection kept from an earlier request is
// sent once more on a new connection, at once, as browsers do: the server may have closed the
// idle connection, or an earlier response left bytes on it (a Content-Length shorter than its
// body). Neither is this file's fault, and a retry delay (600 s by default) would be a high price.
bool engine::retry_on_fresh_connection(transfer& t, CURLcode code) {
  if (code == CURLE_OK || t.aborted_by_us || t.response_seen || t.fresh_retry) return false;
  const bool bad_reply = code == CURLE_GOT_NOTHING || code == CURLE_SEND_ERROR ||
                         code == CURLE_RECV_ERROR || code == CURLE_WEIRD_SERVER_REPLY ||
                         (code == CURLE_UNSUPPORTED_PROTOCOL &&
                          std::string_view(t.error_text).find("HTTP/0.9") != std::string::npos);
  long new_connections = 0;
  curl_easy_getinfo(t.easy, CURLINFO_NUM_CONNECTS, &new_connections);
  if (!bad_reply || new_connections != 0) return false;
  t.fresh_retry = true;
  t.error_text[0] = '\0';
  curl_multi_remove_handle(multi_, t.easy);
  curl_easy_setopt(t.easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_multi_add_handle(multi_, t.easy);
  return true;
}

void engine::process_done() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    transfer* t = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &t);
    const CURLcode code = message->data.result;
    if (retry_on_fresh_connection(*t, code)) continue;
    outcome result;
    // Two branches take t->failure, but they cannot be merged: begin_body() (which has effects)
    // is called only when none of the branches between applies.
    if (t->aborted_by_us) {  // NOLINT(bugprone-branch-clone)
      result = t->failure;
    } else if (t->reached_limit) {
      // The body was cut where set_end said: every byte of it is here.
      result.ok = true;
      finish_after_sync(*t, std::move(result));
      continue;
    } else if (code != CURLE_OK) {
      result = classify(code, *t);
    } else if (!t->response_seen && !begin_body(*t, events_)) {
      result = t->failure;  // an empty body that still had to be checked
    } else {
      result.ok = true;
      curl_off_t mtime = -1;
      curl_easy_getinfo(t->easy, CURLINFO_FILETIME_T, &mtime);
      result.remote_mtime = mtime;
      finish_after_sync(*t, std::move(result));
      continue;
    }
    finish(*t, std::move(result));
  }
}

}  // namespace opendo::transfer::http
