// A programmable HTTP/1.1 origin for fault-injection tests; see fault_origin.hpp.
//
// One thread accepts; each connection gets a thread of its own that reads a request, answers it
// (misbehaving as told) and loops for the next one (keep-alive). Blocking logic per connection
// keeps the faults readable: a trickle is a loop with a pause. Every wait polls an eventfd as
// well, so the destructor can stop threads that are stalled or streaming forever.
#include "support/fault_origin.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "support/files.hpp"

namespace opendo::test {

fault fault::reset_after(std::uint64_t body_bytes, int times) {
  fault f;
  f.what = kind::reset;
  f.bytes = body_bytes;
  f.times = times;
  return f;
}
fault fault::truncate_after(std::uint64_t body_bytes, int times) {
  fault f = reset_after(body_bytes, times);
  f.what = kind::truncate;
  return f;
}
fault fault::http_status(int status, std::string retry_after, int times) {
  fault f;
  f.what = kind::status;
  f.status = status;
  f.retry_after = std::move(retry_after);
  f.times = times;
  return f;
}
fault fault::content_length_smaller(std::uint64_t by, int times) {
  fault f = reset_after(by, times);
  f.what = kind::short_length;
  return f;
}
fault fault::content_length_larger(std::uint64_t by, int times) {
  fault f = reset_after(by, times);
  f.what = kind::long_length;
  return f;
}
fault fault::ignore_ranges(int times) {
  fault f;
  f.ranges = false;
  f.times = times;
  return f;
}
fault fault::wrong_range_answer(int times) {
  fault f;
  f.what = kind::wrong_range;
  f.times = times;
  return f;
}
fault fault::redirect_to(std::string path, int times) {
  fault f;
  f.what = kind::redirect;
  f.location = std::move(path);
  f.times = times;
  return f;
}
fault fault::trickle_after(std::uint64_t body_bytes, std::chrono::milliseconds every, int times) {
  fault f = reset_after(body_bytes, times);
  f.what = kind::trickle;
  f.interval = every;
  return f;
}
fault fault::stall_after(std::uint64_t body_bytes, int times) {
  fault f = reset_after(body_bytes, times);
  f.what = kind::stall;
  return f;
}
fault fault::endless(bool chunked, int times) {
  fault f;
  f.what = chunked ? kind::endless_chunked : kind::endless_close;
  f.times = times;
  return f;
}

std::string http_date(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char text[64];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return text;
}

fault fault::ntlm_authentication(bool as_proxy, int times) {
  fault f;
  f.what = as_proxy ? kind::ntlm_proxy : kind::ntlm;
  f.times = times;
  return f;
}

fault fault::digest_authentication(std::string user, std::string password, int times) {
  fault f;
  f.what = kind::digest;
  f.user = std::move(user);
  f.password = std::move(password);
  f.times = times;
  return f;
}

namespace {

std::string normalized(std::string_view path) {
  std::string out(path);
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---- NTLM messages (MS-NLMP): just enough to run a handshake and read who authenticated.

std::string base64_decode(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  // EVP_DecodeBlock counts the padding's zero bytes too.
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) out.pop_back();
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::uint32_t le32(std::string_view m, std::size_t at) {
  if (at + 4 > m.size()) return 0;
  return static_cast<std::uint32_t>(static_cast<unsigned char>(m[at])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(m[at + 1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(m[at + 2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(m[at + 3])) << 24;
}

void put_le(std::string& m, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) m.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

constexpr const char* kDigestRealm = "opendo test";
constexpr const char* kDigestNonce = "5b0d1f0e3c2a4f6e8d7c9b1a0f2e4d6c";

std::string md5_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

// The parameters of a "Digest a=b, c=\"d\"" header value (names in lower case); empty when it is
// not a Digest one.
std::map<std::string, std::string> digest_parameters(std::string_view value) {
  std::map<std::string, std::string> out;
  if (value.size() < 7 || lower(value.substr(0, 7)) != "digest ") return out;
  std::size_t at = 7;
  while (at < value.size()) {
    while (at < value.size() && (value[at] == ' ' || value[at] == ',')) ++at;
    const std::size_t eq = value.find('=', at);
    if (eq == std::string_view::npos) break;
    const std::string name = lower(value.substr(at, eq - at));
    at = eq + 1;
    std::string text;
    if (at < value.size() && value[at] == '"') {
      for (++at; at < value.size() && value[at] != '"'; ++at) {
        if (value[at] == '\\' && at + 1 < value.size()) ++at;
        text.push_back(value[at]);
      }
      ++at;
    } else {
      const std::size_t end = std::min(value.find(',', at), value.size());
      text = std::string(value.substr(at, end - at));
      at = end;
    }
    out[name] = text;
  }
  return out;
}

// The NTLM message in an "NTLM <base64>" header value; empty when it is not one.
std::string ntlm_message(std::string_view header_value) {
  if (header_value.size() < 5 || lower(header_value.substr(0, 5)) != "ntlm ") return {};
  std::string m = base64_decode(header_value.substr(5));
  if (m.size() < 12 || m.compare(0, 8, std::string("NTLMSSP\0", 8)) != 0) return {};
  return m;
}

// A field (length, max length, offset) of a Type 3 message, decoded from UTF-16LE (ASCII only).
std::string ntlm_field(std::string_view m, std::size_t at) {
  if (at + 8 > m.size()) return {};
  const std::uint32_t length = le32(m, at) & 0xFFFF;
  const std::uint32_t offset = le32(m, at + 4);
  if (offset + length > m.size()) return {};
  std::string out;
  for (std::uint32_t i = 0; i + 1 < length; i += 2) out.push_back(m[offset + i]);
  return out;
}

// A Type 2 (challenge) message: Unicode, NTLM, target info with the domain name TESTDOMAIN.
std::string ntlm_challenge() {
  std::string info;
  const std::string domain = "TESTDOMAIN";
  put_le(info, 2, 2);  // MsvAvNbDomainName
  put_le(info, domain.size() * 2, 2);
  for (char ch : domain) put_le(info, static_cast<unsigned char>(ch), 2);
  put_le(info, 0, 4);  // MsvAvEOL
  std::string m("NTLMSSP\0", 8);
  put_le(m, 2, 4);                                          // message type
  put_le(m, 0, 4);                                          // target name: none (length, max)
  put_le(m, 48, 4);                                         // ... and its offset
  put_le(m, 0x00000001 | 0x00000200 | 0x00800000, 4);       // UNICODE | NTLM | TARGET_INFO
  m += std::string("\x01\x23\x45\x67\x89\xab\xcd\xef", 8);  // server challenge
  put_le(m, 0, 8);                                          // reserved
  put_le(m, info.size(), 2);  // target info: length, max length, offset
  put_le(m, info.size(), 2);
  put_le(m, 48, 4);
  return m + info;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 302:
      return "Found";
    case 404:
      return "Not Found";
    case 401:
      return "Unauthorized";
    case 407:
      return "Proxy Authentication Required";
    case 416:
      return "Range Not Satisfiable";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// "bytes=N-" or "bytes=N-M" -> first, last (last = UINT64_MAX for "N-"). Anything else (suffix
// ranges, several ranges) is not a range we serve: the whole body goes out, as RFC 9110 allows.
bool parse_range(std::string_view value, std::uint64_t& first, std::uint64_t& last) {
  constexpr std::string_view prefix = "bytes=";
  if (value.substr(0, prefix.size()) != prefix) return false;
  value.remove_prefix(prefix.size());
  const char* end = value.data() + value.size();
  auto [p, ec] = std::from_chars(value.data(), end, first);
  if (ec != std::errc() || p == end || *p != '-') return false;
  ++p;
  if (p == end) {
    last = UINT64_MAX;
    return true;
  }
  auto [q, ec2] = std::from_chars(p, end, last);
  return ec2 == std::errc() && q == end && last >= first;
}

enum class wait_result { ready, stopped, timeout };

// Waits for `events` on fd, the stop event, or the timeout (-1: none).
wait_result wait_for(int fd, short events, int stop_fd, int timeout_ms) {
  pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return wait_result::timeout;
    if (n < 0 || (fds[1].revents & POLLIN) != 0) return wait_result::stopped;
    return wait_result::ready;
  }
}

}  // namespace

struct fault_origin::connection {
  int fd = -1;
  std::uint64_t serial = 0;
  std::string pending;  // bytes read past the end of the last request head
  bool reset = false;   // end with RST instead of FIN
  std::size_t record = 0;
  bool ntlm_challenged = false;  // a Type 2 message went out on this connection
};

fault_origin::fault_origin() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (listen_fd_ < 0 || stop_fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "fault_origin socket");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    const int error = errno;
    ::close(listen_fd_);
    ::close(stop_fd_);
    throw std::system_error(error, std::generic_category(), "fault_origin bind/listen");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

fault_origin::~fault_origin() {
  const std::uint64_t one = 1;
  // The counter is never read back: the eventfd stays readable for every poll from now on.
  (void)!::write(stop_fd_, &one, sizeof one);
  acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
}

std::string fault_origin::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + normalized(path);
}

void fault_origin::serve(std::string_view path, resource r) {
  std::lock_guard lock(mutex_);
  entries_[normalized(path)].current = std::move(r);
}

std::string fault_origin::serve_random(std::string_view path, std::uint64_t size,
                                       std::uint64_t seed) {
  resource r;
  r.body = random_bytes(seed, 0, size);
  r.etag = "\"" + std::to_string(seed) + "-" + std::to_string(size) + "\"";
  r.last_modified = http_date(1700000000 + static_cast<std::int64_t>(seed));
  std::string digest = sha256_hex(r.body);
  serve(path, std::move(r));
  return digest;
}

void fault_origin::set_fault(std::string_view path, fault f) {
  std::lock_guard lock(mutex_);
  auto& script = entries_[normalized(path)].script;
  script.clear();
  script.push_back(std::move(f));
}

void fault_origin::add_fault(std::string_view path, fault f) {
  std::lock_guard lock(mutex_);
  entries_[normalized(path)].script.push_back(std::move(f));
}

void fault_origin::change_after(std::string_view path, std::size_t requests, resource r) {
  std::lock_guard lock(mutex_);
  entries_[normalized(path)].change = std::make_pair(requests, std::move(r));
}

std::vector<request_record> fault_origin::requests() const {
  std::lock_guard lock(mutex_);
  return log_;
}

std::vector<request_record> fault_origin::requests_for(std::string_view path) const {
  const std::string key = normalized(path);
  std::vector<request_record> out;
  for (auto& r : requests()) {
    if (r.path == key) out.push_back(std::move(r));
  }
  return out;
}

std::vector<request_record> fault_origin::wait_for_requests(
    std::string_view path, std::size_t count, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto found = requests_for(path);
  while (found.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    found = requests_for(path);
  }
  return found;
}

void fault_origin::accept_loop() {
  std::uint64_t serial = 0;
  while (wait_for(listen_fd_, POLLIN, stop_fd_, -1) == wait_result::ready) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // Only this thread adds to threads_, and the destructor joins it before reading threads_.
    threads_.emplace_back([this, fd, s = ++serial] { serve_connection(fd, s); });
  }
}

void fault_origin::serve_connection(int fd, std::uint64_t serial) {
  connection c;
  c.fd = fd;
  c.serial = serial;
  for (;;) {
    // Read one request head (GET requests have no body).
    std::size_t end = 0;
    while ((end = c.pending.find("\r\n\r\n")) == std::string::npos) {
      if (c.pending.size() > 65536 || wait_for(fd, POLLIN, stop_fd_, -1) != wait_result::ready) {
        end = std::string::npos;
        break;
      }
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;  // the client closed (or reset) the connection
      c.pending.append(buffer, static_cast<std::size_t>(n));
    }
    if (end == std::string::npos) break;
    const std::string head = c.pending.substr(0, end + 2);
    c.pending.erase(0, end + 4);
    if (!respond(c, head)) break;
  }
  if (c.reset) {
    // SO_LINGER with a zero timeout: close() sends RST and drops anything unsent.
    linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
  ::close(fd);
}

bool fault_origin::respond(connection& c, const std::string& head) {
  // Parse the request line and the headers we care about.
  request_record record;
  record.connection = c.serial;
  record.time = std::chrono::steady_clock::now();
  bool client_closes = false;
  std::string authorization;
  std::string proxy_authorization;
  {
    const std::size_t line_end = head.find("\r\n");
    const std::string line = head.substr(0, line_end);
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
    record.method = line.substr(0, sp1);
    record.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    // A request to a proxy names the whole URL: keep its path.
    if (const auto scheme = record.path.find("://"); scheme != std::string::npos) {
      record.absolute_form = true;
      const auto path_start = record.path.find('/', scheme + 3);
      record.path = path_start == std::string::npos ? "/" : record.path.substr(path_start);
    }
    record.path = record.path.substr(0, record.path.find('?'));
    std::size_t pos = line_end + 2;
    while (pos < head.size()) {
      const std::size_t next = head.find("\r\n", pos);
      const std::string header = head.substr(pos, next - pos);
      pos = next == std::string::npos ? head.size() : next + 2;
      const std::size_t colon = header.find(':');
      if (colon == std::string::npos) continue;
      const std::string name = lower(header.substr(0, colon));
      std::string value = header.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      if (name == "range") record.range = value;
      if (name == "if-range") record.if_range = value;
      if (name == "connection" && lower(value) == "close") client_closes = true;
      if (name == "authorization") authorization = value;
      if (name == "proxy-authorization") proxy_authorization = value;
    }
  }

  // Log the request, and take the resource and the fault that apply to it.
  resource res;
  fault f;
  bool found = false;
  {
    std::lock_guard lock(mutex_);
    c.record = log_.size();
    log_.push_back(record);
    auto it = entries_.find(record.path);
    if (it != entries_.end()) {
      entry& e = it->second;
      found = true;
      ++e.requests;
      if (e.change && e.requests > e.change->first) {
        e.current = std::move(e.change->second);
        e.change.reset();
      }
      res = e.current;
      // The fault whose turn it is: each one of the script covers its `times` requests.
      std::size_t covered = 0;
      for (const fault& candidate : e.script) {
        if (candidate.times < 0 ||
            e.requests <= covered + static_cast<std::size_t>(candidate.times)) {
          f = candidate;
          break;
        }
        covered += static_cast<std::size_t>(candidate.times);
      }
    }
  }
  auto set_status = [&](int status) {
    std::lock_guard lock(mutex_);
    log_[c.record].status = status;
  };
  // Sends bytes; counts them as body bytes when `body`. False once the client is gone.
  auto send = [&](std::string_view data, bool body) {
    while (!data.empty()) {
      if (wait_for(c.fd, POLLOUT, stop_fd_, -1) != wait_result::ready) return false;
      const ssize_t n = ::send(c.fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
      if (body) {
        std::lock_guard lock(mutex_);
        log_[c.record].body_bytes_sent += static_cast<std::uint64_t>(n);
      }
    }
    return true;
  };
  // Waits `ms` (-1: forever); false when the origin stops or the client closes or writes.
  auto pause = [&](int ms) { return wait_for(c.fd, POLLIN, stop_fd_, ms) == wait_result::timeout; };
  auto bodiless = [&](int status, const std::string& extra) {
    set_status(status);
    return send("HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n" + extra +
                    "Content-Length: 0\r\n\r\n",
                false) &&
           !client_closes;
  };

  if (!found) return bodiless(404, "");
  if (f.what == fault::kind::ntlm || f.what == fault::kind::ntlm_proxy) {
    const bool proxy = f.what == fault::kind::ntlm_proxy;
    const std::string m = ntlm_message(proxy ? proxy_authorization : authorization);
    const std::uint32_t type = m.empty() ? 0 : le32(m, 8);
    {
      std::lock_guard lock(mutex_);
      log_[c.record].ntlm_message = static_cast<int>(type);
      if (type == 3) {
        log_[c.record].ntlm_domain = ntlm_field(m, 28);
        log_[c.record].ntlm_user = ntlm_field(m, 36);
      }
    }
    const int refusal = proxy ? 407 : 401;
    const std::string challenge_header = proxy ? "Proxy-Authenticate: " : "WWW-Authenticate: ";
    if (type == 1) {
      c.ntlm_challenged = true;
      return bodiless(refusal,
                      challenge_header + "NTLM " + base64_encode(ntlm_challenge()) + "\r\n");
    }
    // NTLM authenticates the connection: a Type 3 message counts only after our challenge on
    // it, and with a response (24 bytes at least).
    const bool authenticated = type == 3 && c.ntlm_challenged && (le32(m, 20) & 0xFFFF) >= 24;
    if (!authenticated) return bodiless(refusal, challenge_header + "NTLM\r\n");
  }
  if (f.what == fault::kind::digest) {
    const auto p = digest_parameters(authorization);
    auto get = [&](const char* name) {
      const auto it = p.find(name);
      return it == p.end() ? std::string() : it->second;
    };
    // RFC 7616 with qop=auth: MD5(HA1:nonce:nc:cnonce:qop:HA2).
    const std::string ha1 = md5_hex(f.user + ":" + kDigestRealm + ":" + f.password);
    const std::string ha2 = md5_hex(record.method + ":" + get("uri"));
    const std::string expected =
        md5_hex(ha1 + ":" + kDigestNonce + ":" + get("nc") + ":" + get("cnonce") + ":auth:" + ha2);
    const std::string uri_path = get("uri").substr(0, get("uri").find('?'));
    const bool verified = !p.empty() && get("username") == f.user && get("realm") == kDigestRealm &&
                          get("nonce") == kDigestNonce && get("qop") == "auth" &&
                          uri_path == record.path && get("response") == expected;
    {
      std::lock_guard lock(mutex_);
      log_[c.record].digest_user = get("username");
      log_[c.record].digest_verified = verified;
    }
    if (!verified) {
      return bodiless(401, std::string("WWW-Authenticate: Digest realm=\"") + kDigestRealm +
                               "\", qop=\"auth\", nonce=\"" + kDigestNonce +
                               "\", algorithm=MD5\r\n");
    }
  }
  if (f.what == fault::kind::status) {
    return bodiless(f.status,
                    f.retry_after.empty() ? "" : "Retry-After: " + f.retry_after + "\r\n");
  }
  if (f.what == fault::kind::redirect)
    return bodiless(302, "Location: " + url(f.location) + "\r\n");

  // The response a correct server gives: a range when asked for one and If-Range matches.
  const std::uint64_t size = res.body.size();
  std::uint64_t first = 0;
  std::uint64_t last = size == 0 ? 0 : size - 1;
  int status = 200;
  std::uint64_t asked_first = 0;
  std::uint64_t asked_last = 0;
  const bool ranged =
      f.ranges && !record.range.empty() && parse_range(record.range, asked_first, asked_last);
  const bool if_range_holds = record.if_range.empty() ||
                              (!res.etag.empty() && record.if_range == res.etag) ||
                              (!res.last_modified.empty() && record.if_range == res.last_modified);
  if (ranged && if_range_holds) {
    if (asked_first >= size) {
      return bodiless(416, "Content-Range: bytes */" + std::to_string(size) + "\r\n");
    }
    status = 206;
    first = asked_first;
    last = std::min(asked_last, size - 1);
  }
  if (f.what == fault::kind::wrong_range && !record.range.empty()) {
    status = 206;  // the whole file, whatever was asked
    first = 0;
    last = size - 1;
  }
  const std::string_view body =
      size == 0 ? std::string_view() : std::string_view(res.body).substr(first, last - first + 1);

  std::string headers = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  if (status == 206) {
    headers += "Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
               std::to_string(size) + "\r\n";
  }
  if (!res.etag.empty()) headers += "ETag: " + res.etag + "\r\n";
  if (!res.last_modified.empty()) headers += "Last-Modified: " + res.last_modified + "\r\n";
  if (f.ranges) headers += "Accept-Ranges: bytes\r\n";
  switch (f.what) {
    case fault::kind::short_length:
      headers += "Content-Length: " + std::to_string(body.size() - std::min(f.bytes, body.size()));
      headers += "\r\n";
      break;
    case fault::kind::long_length:
      headers += "Content-Length: " + std::to_string(body.size() + f.bytes) + "\r\n";
      break;
    case fault::kind::endless_close:
      headers += "Connection: close\r\n";
      break;
    case fault::kind::endless_chunked:
      headers += "Transfer-Encoding: chunked\r\n";
      break;
    default:
      headers += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      break;
  }
  headers += "\r\n";
  set_status(status);
  if (!send(headers, false)) return false;

  const std::string_view head_part = body.substr(0, std::min<std::uint64_t>(f.bytes, body.size()));
  switch (f.what) {
    case fault::kind::reset:
      send(head_part, true);
      // Give the client time to read those bytes: an RST makes the kernel drop unsent data, and
      // the test wants to know exactly how many arrived.
      pause(300);
      c.reset = true;
      return false;
    case fault::kind::truncate:
      send(head_part, true);
      return false;
    case fault::kind::trickle:
      if (!send(head_part, true)) return false;
      for (std::size_t i = head_part.size(); i < body.size(); ++i) {
        if (!pause(static_cast<int>(f.interval.count())) || !send(body.substr(i, 1), true)) {
          return false;
        }
      }
      return !client_closes;
    case fault::kind::stall:
      send(head_part, true);
      pause(-1);  // until the client gives up or the origin stops
      return false;
    case fault::kind::endless_close:
    case fault::kind::endless_chunked: {
      const bool chunked = f.what == fault::kind::endless_chunked;
      auto chunk = [&](std::string_view data) {
        if (!chunked) return send(data, true);
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
        return send(size_line, false) && send(data, true) && send("\r\n", false);
      };
      if (!body.empty() && !chunk(body)) return false;
      // Then filler for ever, at ~1.3 MB/s so that a test cannot fill the disk.
      const std::string filler(64 * 1024, 'x');
      while (pause(50) && chunk(filler)) {
      }
      return false;
    }
    default:  // none, wrong_range, short_length, long_length: the whole body
      if (!send(body, true)) return false;
      return !client_closes;
  }
}

}  // namespace opendo::test
