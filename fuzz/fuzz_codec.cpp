// Fuzz target for the JSON codec (src/ipc/codec.hpp): parse_call on the input as one message, and
// every decoder the daemon and the client use on untrusted JSON (job_from_json,
// file_spec_from_json, notification_from_json, statistics_from_json, the typed parameter getters)
// on what it parses to.
//
// The codec documents one exception for malformed input, ipc::bad_parameter; anything else (a
// nlohmann::json type_error, std::out_of_range...) escapes and libFuzzer reports it as a crash.
// What decodes must survive the round trip: decoding what to_json wrote gives the same JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ipc/codec.hpp"

namespace {

using opendo::ipc::json;
namespace ipc = opendo::ipc;

// The server's limits for URLs and paths in FileSpecs (4x the rules' limits, see server.cpp).
constexpr std::size_t kMaxUrl = 2200 * 4;
constexpr std::size_t kMaxPath = 4096 * 4;

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz_codec: invariant violated: %s\n", what);
    std::abort();
  }
}

// Runs `decode`, ignoring the documented refusal.
template <typename F>
void refused_or_ok(F decode) {
  try {
    decode();
  } catch (const ipc::bad_parameter& e) {
    require(!e.parameter.empty(), "bad_parameter without a parameter name");
  }
}

void decode_job(const json& value) {
  refused_or_ok([&] {
    const json encoded = ipc::to_json(ipc::job_from_json(value));
    require(ipc::to_json(ipc::job_from_json(encoded)) == encoded, "Job round trip");
  });
}

void decode_file_spec(const json& value) {
  refused_or_ok([&] {
    const json encoded = ipc::to_json(ipc::file_spec_from_json(value, kMaxUrl, kMaxPath));
    require(ipc::to_json(ipc::file_spec_from_json(encoded, kMaxUrl, kMaxPath)) == encoded,
            "FileSpec round trip");
  });
}

void decode_statistics(const json& value) {
  refused_or_ok([&] {
    const json encoded = ipc::to_json(ipc::statistics_from_json(value));
    require(ipc::to_json(ipc::statistics_from_json(encoded)) == encoded, "Statistics round trip");
  });
}

void decode_notification(const json& value) {
  refused_or_ok([&] {
    const json encoded = ipc::to_json(ipc::notification_from_json(value));
    require(ipc::to_json(ipc::notification_from_json(encoded)) == encoded,
            "notification round trip");
  });
}

// Everything a handler or a client may decode from one JSON value.
void decode_all(const json& value) {
  decode_job(value);
  decode_file_spec(value);
  decode_notification(value);
  decode_statistics(value);
  for (const char* name : {"id", "display_name", "remote_url", "all_users", "file_index",
                           "sequence", "handled", "target", "progress_interval_ms"}) {
    refused_or_ok([&] { ipc::required_string(value, name, 64); });
    refused_or_ok([&] { ipc::optional_string(value, name, 1 << 20); });
    refused_or_ok([&] { ipc::optional_uint(value, name); });
    refused_or_ok([&] { ipc::optional_uint32(value, name); });
    refused_or_ok([&] { ipc::optional_bool(value, name); });
  }
  if (!value.is_object()) return;
  // Nested shapes: GetJob's and Watch's job, ListJobs' jobs, AddFiles' files, GetStatistics'
  // statistics.
  if (auto it = value.find("job"); it != value.end()) decode_job(*it);
  if (auto it = value.find("statistics"); it != value.end()) decode_statistics(*it);
  if (auto it = value.find("jobs"); it != value.end() && it->is_array()) {
    for (const json& entry : *it) decode_job(entry);
  }
  if (auto it = value.find("files"); it != value.end() && it->is_array()) {
    for (const json& entry : *it) decode_file_spec(entry);
  }
  // Replies never throw, whatever the strings hold.
  ipc::reply(value, true);
  ipc::error_reply("org.varlink.service.InvalidParameter", value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string message(reinterpret_cast<const char*>(data), size);
  try {
    const ipc::call call = ipc::parse_call(message);
    require(call.parameters.is_object(), "parameters that are not an object");
    decode_all(call.parameters);
  } catch (const ipc::bad_parameter& e) {
    require(!e.parameter.empty(), "bad_parameter without a parameter name");
  }
  // The decoders on any JSON value, not only on a call's parameters.
  const json value = json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (!value.is_discarded()) decode_all(value);
  return 0;
}
