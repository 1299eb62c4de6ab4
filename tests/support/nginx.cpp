// A real nginx for integration tests; see nginx.hpp.
#include "support/nginx.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "support/files.hpp"
#include "support/net.hpp"
#include "support/netns.hpp"
#include "support/process.hpp"

namespace opendo::test {
namespace {

using namespace std::chrono_literals;

// nginx could not bind the port find_free_port() chose: someone else took it in between.
struct port_taken : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string nginx_binary() {
  const char* over = std::getenv("OPENDO_NGINX");
  return over != nullptr && *over != '\0' ? over : "/usr/sbin/nginx";
}

std::string read_if_exists(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  try {
    return read_file(path);
  } catch (const std::exception&) {
    return {};
  }
}

// Rejects paths that would land outside the docroot.
std::filesystem::path checked_relative(std::string_view relative_path) {
  std::filesystem::path p(relative_path);
  if (p.empty() || p.is_absolute()) {
    throw std::invalid_argument("nginx_server: want a path relative to the docroot, got '" +
                                std::string(relative_path) + "'");
  }
  for (const auto& part : p) {
    if (part == "..") {
      throw std::invalid_argument("nginx_server: path leaves the docroot: " +
                                  std::string(relative_path));
    }
  }
  return p;
}

std::string with_slash(std::string_view path) {
  return path.starts_with('/') ? std::string(path) : "/" + std::string(path);
}

// nginx's default log escaping writes '"', '\' and bytes outside 32..126 as \xHH.
std::string unescape(std::string_view field) {
  if (field == "-") return {};
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] == 'x') {
      const std::string hex(field.substr(i + 2, 2));
      char* end = nullptr;
      const long value = std::strtol(hex.c_str(), &end, 16);
      if (end == hex.c_str() + 2) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  for (;;) {
    const std::size_t tab = line.find('\t');
    fields.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return fields;
    line.remove_prefix(tab + 1);
  }
}

}  // namespace

nginx_server::nginx_server(nginx_options options) : options_(std::move(options)) {
  dir_ = make_temp_dir("opendo-nginx");
  try {
    docroot_ = dir_ / "docroot";
    std::filesystem::create_directories(docroot_);
    std::filesystem::create_directories(dir_ / "logs");
    std::filesystem::create_directories(dir_ / "temp");
    if (options_.tls) {
      make_certificate();
      ca_file_ = dir_ / "tls" / "cert.pem";
    }
    for (int attempt = 0;; ++attempt) {
      port_ = options_.port.value_or(find_free_port());
      write_config();
      try {
        launch();
        return;
      } catch (const port_taken&) {
        if (attempt == 4 || options_.port) throw;
      }
    }
  } catch (...) {
    stop();
    remove_temp_dir(dir_);
    throw;
  }
}

nginx_server::~nginx_server() {
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; the process is gone or unreapable either way.
  }
  remove_temp_dir(dir_);
}

std::string nginx_server::url(std::string_view path) const {
  while (path.starts_with('/')) path.remove_prefix(1);
  return std::string(options_.tls ? "https" : "http") + "://" + options_.listen_address + ":" +
         std::to_string(port_) + "/" + std::string(path);
}

std::filesystem::path nginx_server::write_file(std::string_view relative_path,
                                               std::string_view bytes) {
  auto path = docroot_ / checked_relative(relative_path);
  opendo::test::write_file(path, bytes);
  return path;
}

std::string nginx_server::make_random_file(std::string_view relative_path, std::uint64_t size,
                                           std::uint64_t seed) {
  return write_random_file(docroot_ / checked_relative(relative_path), size, seed);
}

void nginx_server::set_mtime(std::string_view relative_path,
                             std::chrono::system_clock::time_point when) {
  const auto path = docroot_ / checked_relative(relative_path);
  const auto since_epoch = when.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds);
  const timespec times[2] = {{seconds.count(), nanos.count()}, {seconds.count(), nanos.count()}};
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    throw std::system_error(errno, std::generic_category(), "utimensat " + path.string());
  }
}

std::vector<access_log_entry> nginx_server::access_log() const {
  const std::string text = read_if_exists(dir_ / "logs" / "access.log");
  std::vector<access_log_entry> entries;
  std::size_t start = 0;
  // Only complete lines: nginx may be writing the last one right now.
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string_view line(text.data() + start, end - start);
    const auto fields = split_tabs(line);
    if (fields.size() != 9) {
      throw std::runtime_error("nginx access log: unexpected line: " + std::string(line));
    }
    access_log_entry e;
    e.request = unescape(fields[0]);
    const std::size_t space = e.request.find(' ');
    e.method = e.request.substr(0, space);
    if (space != std::string::npos) {
      const std::size_t target_end = e.request.find(' ', space + 1);
      std::string target = e.request.substr(
          space + 1, target_end == std::string::npos ? std::string::npos : target_end - space - 1);
      e.path = target.substr(0, target.find('?'));
    }
    e.status = std::stoi(std::string(fields[1]));
    e.body_bytes_sent = std::stoull(std::string(fields[2]));
    e.range = unescape(fields[3]);
    e.if_range = unescape(fields[4]);
    e.connection = std::stoull(std::string(fields[5]));
    e.x_opendo_test = unescape(fields[6]);
    e.authorization = unescape(fields[7]);
    e.cache_status = unescape(fields[8]);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::vector<access_log_entry> nginx_server::wait_for_requests(
    std::size_t count, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto entries = access_log();
    if (entries.size() >= count) return entries;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("nginx_server: wanted " + std::to_string(count) +
                               " access log entries, have " + std::to_string(entries.size()));
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::uint64_t nginx_server::total_body_bytes_sent(std::string_view path) const {
  const std::string wanted = with_slash(path);
  std::uint64_t total = 0;
  for (const auto& e : access_log()) {
    if (e.path == wanted) total += e.body_bytes_sent;
  }
  return total;
}

std::string nginx_server::error_log() const {
  return read_if_exists(dir_ / "logs" / "error.log") + read_if_exists(dir_ / "logs" / "nginx.out");
}

void nginx_server::stop() {
  if (pid_ <= 0) return;
  const pid_t pid = pid_;
  pid_ = -1;
  terminate(pid, SIGTERM, 5s);
}

void nginx_server::start() {
  if (running()) throw std::logic_error("nginx_server::start: already running");
  launch();
}

void nginx_server::write_config() const {
  const std::string d = dir_.string();
  std::ostringstream c;
  c << "# Written by the opendo test fixture (tests/support/nginx.cpp) for one test.\n"
    << "daemon off;\n"
    // One process that stays the user we are: as root, workers would switch to nobody and
    // lose the 0700 temp dir.
    << "master_process off;\n"
    << "worker_processes 1;\n"
    << "pid \"" << d << "/nginx.pid\";\n"
    << "lock_file \"" << d << "/nginx.lock\";\n"
    << "error_log \"" << d << "/logs/error.log\" info;\n"
    << "events { worker_connections 1024; }\n"
    << "http {\n"
    << "  default_type application/octet-stream;\n"
    << "  sendfile on;\n"
    << "  keepalive_timeout 30s;\n"
    << "  server_tokens off;\n"
    << "  log_format opendo_test "
       "'$request\\t$status\\t$body_bytes_sent\\t$http_range\\t$http_if_range\\t$connection"
       "\\t$http_x_opendo_test\\t$http_authorization\\t$upstream_cache_status';\n"
    << "  access_log \"" << d << "/logs/access.log\" opendo_test;\n";
  for (const char* kind : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    c << "  " << kind << "_temp_path \"" << d << "/temp/" << kind << "\";\n";
  }
  for (const auto& line : options_.http_config) c << "  " << line << "\n";
  c << "  server {\n"
    << "    listen " << options_.listen_address << ":" << port_ << (options_.tls ? " ssl" : "")
    << (options_.tls && options_.http2 ? " http2" : "") << ";\n"
    << "    server_name 127.0.0.1 localhost;\n"
    << "    root \"" << d << "/docroot\";\n";
  if (options_.tls) {
    c << "    ssl_certificate \"" << d << "/tls/cert.pem\";\n"
      << "    ssl_certificate_key \"" << d << "/tls/key.pem\";\n";
    if (options_.client_certificates) {
      c << "    ssl_client_certificate \"" << d << "/tls/client-ca.pem\";\n"
        << "    ssl_verify_client on;\n";
    }
  }
  if (options_.limit_rate) c << "    limit_rate " << *options_.limit_rate << ";\n";
  for (const auto& line : options_.extra_config) c << "    " << line << "\n";
  c << "  }\n"
    << "}\n";
  opendo::test::write_file(dir_ / "nginx.conf", c.str());
}

namespace {

// Re-signs the certificate at `cert` with a validity of two days ago to yesterday (openssl req
// cannot make a certificate that is already expired).
void expire_certificate(const std::filesystem::path& cert, const std::filesystem::path& key) {
  auto fail = [](const char* what) {
    throw std::runtime_error(std::string("nginx_server: cannot expire the certificate: ") + what);
  };
  std::unique_ptr<FILE, int (*)(FILE*)> key_file(std::fopen(key.c_str(), "r"), &std::fclose);
  std::unique_ptr<FILE, int (*)(FILE*)> cert_file(std::fopen(cert.c_str(), "r"), &std::fclose);
  if (!key_file || !cert_file) fail("open");
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> pkey(
      PEM_read_PrivateKey(key_file.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  std::unique_ptr<X509, void (*)(X509*)> x509(
      PEM_read_X509(cert_file.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!pkey || !x509) fail("read");
  constexpr long kDay = 24L * 3600L;
  if (X509_gmtime_adj(X509_getm_notBefore(x509.get()), -2 * kDay) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x509.get()), -kDay) == nullptr ||
      X509_sign(x509.get(), pkey.get(), EVP_sha256()) == 0) {
    fail("re-sign");
  }
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(cert.c_str(), "w"), &std::fclose);
  if (!out || PEM_write_X509(out.get(), x509.get()) != 1) fail("write");
}

// Runs the openssl command line tool; throws with its error output when it fails.
void openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  const auto result = run(args, 30s);
  if (result.exit_code != 0) {
    throw std::runtime_error("nginx_server: openssl " + args[1] + " failed (exit " +
                             std::to_string(result.exit_code) + "): " + result.err);
  }
}

// A self-signed CA certificate NAME.pem and its key NAME.key in dir.
void make_self_signed_ca(const std::filesystem::path& dir, const std::string& name,
                         const std::string& common_name) {
  opendo::test::write_file(dir / (name + ".cnf"),
                           "[req]\n"
                           "distinguished_name = dn\n"
                           "x509_extensions = v3\n"
                           "prompt = no\n"
                           "[dn]\n"
                           "CN = " +
                               common_name +
                               "\n"
                               "[v3]\n"
                               "basicConstraints = critical, CA:TRUE\n"
                               "keyUsage = critical, keyCertSign, cRLSign\n"
                               "subjectKeyIdentifier = hash\n");
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-days", "7", "-config", (dir / (name + ".cnf")).string(), "-keyout",
           (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string()});
}

}  // namespace

void nginx_server::make_certificate() const {
  const auto tls = dir_ / "tls";
  std::filesystem::create_directories(tls);
  // Our own openssl config, so the system's cannot add or clash with extensions. The cert is
  // its own CA (so clients can trust it with --ca-file) and names both loopback spellings, and
  // the listen address when it is another.
  std::string names = "IP:127.0.0.1, DNS:localhost";
  if (options_.listen_address != "127.0.0.1") names += ", IP:" + options_.listen_address;
  if (!options_.certificate_names.empty()) names = options_.certificate_names;
  const std::string usage =
      options_.certificate_usage.empty() ? "serverAuth" : options_.certificate_usage;
  opendo::test::write_file(tls / "openssl.cnf",
                           "[req]\n"
                           "distinguished_name = dn\n"
                           "x509_extensions = v3\n"
                           "prompt = no\n"
                           "[dn]\n"
                           "CN = 127.0.0.1\n"
                           "[v3]\n"
                           "basicConstraints = critical, CA:TRUE\n"
                           "keyUsage = critical, digitalSignature, keyCertSign\n"
                           "extendedKeyUsage = " +
                               usage +
                               "\n"
                               "subjectKeyIdentifier = hash\n"
                               "subjectAltName = " +
                               names + "\n");
  const auto result =
      run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-days", "7", "-config", (tls / "openssl.cnf").string(), "-keyout",
           (tls / "key.pem").string(), "-out", (tls / "cert.pem").string()},
          30s);
  if (result.exit_code != 0) {
    throw std::runtime_error("nginx_server: openssl req failed (exit " +
                             std::to_string(result.exit_code) + "): " + result.err);
  }
  if (options_.certificate_expired) expire_certificate(tls / "cert.pem", tls / "key.pem");
  if (options_.client_certificates) {
    make_self_signed_ca(tls, "client-ca", "opendo test client CA");
    make_self_signed_ca(tls, "other-ca", "opendo test other CA");
  }
}

std::filesystem::path nginx_server::make_client_certificate(std::string_view name,
                                                            bool trusted) const {
  if (!options_.client_certificates) {
    throw std::logic_error("nginx_server: make_client_certificate needs client_certificates");
  }
  const auto tls = dir_ / "tls";
  const std::string n(name);
  const auto key = tls / (n + ".key");
  const auto csr = tls / (n + ".csr");
  const auto cert = tls / (n + ".crt");
  const std::string ca = trusted ? "client-ca" : "other-ca";
  opendo::test::write_file(tls / (n + ".ext"), "extendedKeyUsage = clientAuth\n");
  openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-subj", "/CN=" + n, "-keyout", key.string(), "-out", csr.string()});
  openssl({"x509", "-req", "-in", csr.string(), "-CA", (tls / (ca + ".pem")).string(), "-CAkey",
           (tls / (ca + ".key")).string(), "-CAcreateserial", "-days", "7", "-extfile",
           (tls / (n + ".ext")).string(), "-out", cert.string()});
  const auto pem = dir_ / (n + ".pem");
  opendo::test::write_file(pem, read_file(cert) + read_file(key));
  return pem;
}

void nginx_server::launch() {
  const std::string binary = nginx_binary();
  if (::access(binary.c_str(), X_OK) != 0) {
    throw std::runtime_error("nginx_server: no nginx at " + binary +
                             " (scripts/deps installs nginx-light; OPENDO_NGINX overrides)");
  }
  const auto pid_file = dir_ / "nginx.pid";
  std::error_code ignored;
  std::filesystem::remove(pid_file, ignored);
  const auto error_file = dir_ / "logs" / "error.log";
  const auto config = dir_ / "nginx.conf";
  const std::vector<std::string> argv = {binary,          "-p", dir_.string() + "/", "-c",
                                         config.string(), "-e", error_file.string()};
  pid_ = spawn(in_netns(options_.netns, argv), {.output = dir_ / "logs" / "nginx.out", .env = {}});

  // Ready when nginx has written its pid file (it does so only after binding the port, so a
  // connection is ours and not a stranger's on a stolen port) and the port accepts.
  const std::string want_pid = std::to_string(pid_);
  // Probed from nginx's namespace: the address may exist nowhere else.
  const auto accepts = [this] {
    if (options_.netns.empty()) return tcp_port_accepts(port_, options_.listen_address);
    bool yes = false;
    call_in_netns(options_.netns, [&] { yes = tcp_port_accepts(port_, options_.listen_address); });
    return yes;
  };
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  for (;;) {
    if (const auto status = try_reap(pid_)) {
      pid_ = -1;
      const std::string why = "nginx exited with status " + std::to_string(*status);
      if (error_log().find("Address already in use") != std::string::npos) {
        throw port_taken(why);
      }
      throw std::runtime_error(start_failure(why));
    }
    std::string pid_text = read_if_exists(pid_file);
    while (!pid_text.empty() && (pid_text.back() == '\n' || pid_text.back() == ' ')) {
      pid_text.pop_back();
    }
    if (pid_text == want_pid && accepts()) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      stop();
      throw std::runtime_error(start_failure("nginx did not accept connections in time"));
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::string nginx_server::start_failure(const std::string& why) const {
  return "nginx_server: " + why + " on " + options_.listen_address + ":" + std::to_string(port_) +
         " (" + dir_.string() + "). Error log:\n" + error_log();
}

}  // namespace opendo::test
