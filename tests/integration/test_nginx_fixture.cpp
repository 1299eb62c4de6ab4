// The nginx fixture itself, checked with libcurl: it serves the bytes it says it wrote, logs
// Range and If-Range, honours limit_rate, serves TLS that its own certificate verifies, and
// comes back on the same port after stop().
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/files.hpp"
#include "support/nginx.hpp"

namespace {

using opendo::test::nginx_options;
using opendo::test::nginx_server;
using opendo::test::random_bytes;
using opendo::test::sha256_hex;

struct response {
  CURLcode result = CURLE_OK;
  long status = 0;
  std::string body;
};

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Set by name: GCC 12 warns (-Wmissing-field-initializers) on designated initializers that
// leave members out.
struct fetch_options {
  std::string range;     // CURLOPT_RANGE, e.g. "100-199"
  std::string if_range;  // sent as an If-Range header
  std::string ca_file;   // CURLOPT_CAINFO
};

fetch_options with_range(std::string range, std::string if_range = {}) {
  fetch_options o;
  o.range = std::move(range);
  o.if_range = std::move(if_range);
  return o;
}

fetch_options with_ca(const std::filesystem::path& ca_file) {
  fetch_options o;
  o.ca_file = ca_file.string();
  return o;
}

response fetch(const std::string& url, const fetch_options& options = {}) {
  response r;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    r.result = CURLE_FAILED_INIT;
    return r;
  }
  curl_slist* headers = nullptr;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  if (!options.range.empty()) curl_easy_setopt(curl, CURLOPT_RANGE, options.range.c_str());
  if (!options.if_range.empty()) {
    const std::string header = "If-Range: " + options.if_range;
    headers = curl_slist_append(headers, header.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  r.result = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

TEST(nginx_fixture, serves_a_random_file_whose_sha256_matches) {
  nginx_server nginx;
  const std::uint64_t size = std::uint64_t{5} << 20;
  const std::string sha = nginx.make_random_file("data/five.bin", size, 42);
  EXPECT_EQ(sha, opendo::test::sha256_file(nginx.docroot() / "data/five.bin"));

  const response r = fetch(nginx.url("/data/five.bin"));
  ASSERT_EQ(r.result, CURLE_OK) << curl_easy_strerror(r.result);
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), size);
  EXPECT_EQ(sha256_hex(r.body), sha);
  EXPECT_EQ(r.body.substr(1000, 64), random_bytes(42, 1000, 64));
  EXPECT_EQ(r.body.substr(1003, 13), random_bytes(42, 1003, 13));

  const auto log = nginx.wait_for_requests(1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].request, "GET /data/five.bin HTTP/1.1");
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].path, "/data/five.bin");
  EXPECT_EQ(log[0].status, 200);
  EXPECT_EQ(log[0].body_bytes_sent, size);
  EXPECT_EQ(log[0].range, "");
  EXPECT_EQ(log[0].if_range, "");
  EXPECT_EQ(nginx.total_body_bytes_sent("data/five.bin"), size);
}

TEST(nginx_fixture, logs_range_and_if_range_of_each_request) {
  nginx_server nginx;
  nginx.make_random_file("r.bin", 4096, 7);

  const response partial = fetch(nginx.url("r.bin"), with_range("100-199"));
  ASSERT_EQ(partial.result, CURLE_OK) << curl_easy_strerror(partial.result);
  EXPECT_EQ(partial.status, 206);
  EXPECT_EQ(partial.body, random_bytes(7, 100, 100));

  // A stale validator: nginx ignores the Range and sends the whole file.
  const response stale = fetch(nginx.url("r.bin"), with_range("100-", "\"stale\""));
  ASSERT_EQ(stale.result, CURLE_OK) << curl_easy_strerror(stale.result);
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body.size(), 4096u);

  const auto log = nginx.wait_for_requests(2);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].status, 206);
  EXPECT_EQ(log[0].range, "bytes=100-199");
  EXPECT_EQ(log[0].body_bytes_sent, 100u);
  EXPECT_EQ(log[0].if_range, "");
  EXPECT_EQ(log[1].status, 200);
  EXPECT_EQ(log[1].range, "bytes=100-");
  EXPECT_EQ(log[1].if_range, "\"stale\"");
  EXPECT_EQ(log[1].body_bytes_sent, 4096u);
  EXPECT_EQ(nginx.total_body_bytes_sent("/r.bin"), 4196u);
}

TEST(nginx_fixture, limit_rate_slows_a_transfer) {
  nginx_options options;
  options.limit_rate = std::uint64_t{256} << 10;
  nginx_server nginx(options);
  nginx.make_random_file("slow.bin", std::uint64_t{768} << 10, 1);

  const auto started = std::chrono::steady_clock::now();
  const response r = fetch(nginx.url("slow.bin"));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.result, CURLE_OK) << curl_easy_strerror(r.result);
  EXPECT_EQ(r.body.size(), std::size_t{768} << 10);
  // 3 s at 256 KiB/s, less the second's worth that nginx sends up front, less up to one more:
  // nginx measures the time for limit_rate in whole seconds, so a transfer that starts late in
  // a second gets that second's allowance almost at once. At least 1 s, then; without the limit
  // the same fetch takes milliseconds (measured on the same server below).
  EXPECT_GE(elapsed, std::chrono::milliseconds(950));
  nginx_server fast;
  fast.make_random_file("fast.bin", std::uint64_t{768} << 10, 1);
  const auto fast_started = std::chrono::steady_clock::now();
  ASSERT_EQ(fetch(fast.url("fast.bin")).result, CURLE_OK);
  EXPECT_LT(std::chrono::steady_clock::now() - fast_started, elapsed / 2);
}

TEST(nginx_fixture, serves_https_that_its_own_certificate_verifies) {
  nginx_options options;
  options.tls = true;
  nginx_server nginx(options);
  ASSERT_FALSE(nginx.ca_file().empty());
  const std::string sha = nginx.make_random_file("secure.bin", std::uint64_t{256} << 10, 3);
  EXPECT_EQ(nginx.url("secure.bin").rfind("https://127.0.0.1:", 0), 0u);

  const response r = fetch(nginx.url("secure.bin"), with_ca(nginx.ca_file()));
  ASSERT_EQ(r.result, CURLE_OK) << curl_easy_strerror(r.result);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(sha256_hex(r.body), sha);

  const std::string localhost = "https://localhost:" + std::to_string(nginx.port()) + "/secure.bin";
  EXPECT_EQ(fetch(localhost, with_ca(nginx.ca_file())).result, CURLE_OK);

  // Without the fixture's certificate the system's CAs must refuse it.
  EXPECT_EQ(fetch(nginx.url("secure.bin")).result, CURLE_PEER_FAILED_VERIFICATION);
}

TEST(nginx_fixture, comes_back_on_the_same_port_after_stop) {
  nginx_server nginx;
  nginx.write_file("hello.txt", "hello\n");
  const std::uint16_t port = nginx.port();
  nginx.stop();
  EXPECT_FALSE(nginx.running());
  EXPECT_EQ(fetch(nginx.url("hello.txt")).result, CURLE_COULDNT_CONNECT);

  nginx.start();
  EXPECT_EQ(nginx.port(), port);
  const response r = fetch(nginx.url("hello.txt"));
  ASSERT_EQ(r.result, CURLE_OK) << curl_easy_strerror(r.result);
  EXPECT_EQ(r.body, "hello\n");
}

TEST(nginx_fixture, rejects_paths_outside_the_docroot) {
  nginx_server nginx;
  EXPECT_THROW(nginx.write_file("../escape.txt", "x"), std::invalid_argument);
  EXPECT_THROW(nginx.write_file("/etc/passwd", "x"), std::invalid_argument);
}

}  // namespace
