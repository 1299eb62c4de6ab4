// A plain HTTP GET with libcurl for tests that read the daemon's own HTTP endpoints (metrics,
// activity page) as a browser or Prometheus would: status, content type, headers and body.
#pragma once

#include <curl/curl.h>

#include <string>
#include <vector>

namespace opendo::test {

struct http_reply {
  long status = 0;
  std::string content_type;
  std::string headers;  // the response's header lines, as received
  std::string body;
  CURLcode code = CURLE_OK;
};

// GET `url` with the given extra request header lines ("Name: value"); no proxy, 30 s at most.
http_reply http_get(const std::string& url, const std::vector<std::string>& request_headers = {});

}  // namespace opendo::test
