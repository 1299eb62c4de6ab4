// JSON encoding of the wire types of org.opendo.Transfer.varlink, shared by daemon and client,
// and the shape of Varlink calls, replies and errors.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "opendo/types.hpp"

namespace opendo::ipc {

using json = nlohmann::json;

inline constexpr const char* interface_name = "org.opendo.Transfer";
inline constexpr const char* hresult_error = "org.opendo.Transfer.HResult";

// With watched_files::none the Job's files list is empty (its counts still count every file).
json to_json(const job_info& job, watched_files files = watched_files::all);
// One of a Job's files, as in its files list.
json to_json(const file_info& file);
// Throws bad_parameter naming the field when the JSON does not have the shape of a Job.
job_info job_from_json(const json& value);

// FileSpec of AddFile / AddFiles: ranges and layout are optional (absent: the whole file).
json to_json(const file_spec& file);
// Throws bad_parameter when the JSON does not have the shape of a FileSpec or a string is longer
// than its limit. The ranges themselves are checked by the daemon (BG_E_INVALID_RANGE...).
file_spec file_spec_from_json(const json& value, std::size_t max_url, std::size_t max_path);

json to_json(const notification& n);

// SourceStats and Statistics; the *_from_json throw bad_parameter naming a missing or bad field.
json to_json(const source_stats& stats);
source_stats source_stats_from_json(const json& value);
json to_json(const machine_statistics& statistics);
machine_statistics statistics_from_json(const json& value);
json to_json(const peer_connection& peer);
peer_connection peer_from_json(const json& value);
notification notification_from_json(const json& value);

std::string_view to_string(job_event_kind kind);
std::optional<job_event_kind> job_event_kind_from_string(std::string_view text);

// A parameter is missing or has the wrong type: becomes org.varlink.service.InvalidParameter.
class bad_parameter : public std::runtime_error {
 public:
  explicit bad_parameter(std::string name)
      : std::runtime_error("invalid parameter: " + name), parameter(std::move(name)) {}
  std::string parameter;
};

// A decoded Varlink call.
struct call {
  std::string method;  // fully qualified: interface.Method
  json parameters = json::object();
  bool more = false;
  bool oneway = false;
};

// Parses one message as a call; throws bad_parameter("method"/"parameters") when it is not one.
call parse_call(const std::string& message);

// Typed access to call parameters with clear errors.
std::string required_string(const json& params, const char* name, std::size_t max_length);
std::optional<std::string> optional_string(const json& params, const char* name,
                                           std::size_t max_length);
std::optional<std::uint64_t> optional_uint(const json& params, const char* name);
// As optional_uint, refusing values that do not fit 32 bits.
std::optional<std::uint32_t> optional_uint32(const json& params, const char* name);
std::optional<bool> optional_bool(const json& params, const char* name);

// Reply messages (without the NUL terminator).
std::string reply(json parameters, bool continues = false);
std::string error_reply(const std::string& error, const json& parameters);
std::string hresult_reply(std::uint32_t code, const std::string& message);

}  // namespace opendo::ipc
