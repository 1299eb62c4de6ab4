// opendod's configuration file: `key = value` lines in [sections], `#` comments, read at start
// and on SIGHUP (see docs/configuration.md for every key). Parsing is pure; only
// apply_config_file reads the file.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/config.hpp"

namespace opendo::daemon {

// "FILE:LINE: what is wrong" (or "FILE: ..." for the file as a whole).
class config_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t max_config_file_size = std::size_t{64} * 1024;

// Applies the settings of `text`, the contents of the file `name`, over `cfg`. Unknown sections
// and keys, keys given twice, bad values and malformed lines throw config_file_error.
void apply_config_text(std::string_view text, const std::string& name, config& cfg);

// Reads `path` (at most max_config_file_size bytes) and applies it. A missing file is no error
// unless `required`; returns whether a file was read.
bool apply_config_file(const std::string& path, bool required, config& cfg);

// Every key the file knows, as (section, key): for the documentation check.
std::vector<std::pair<std::string, std::string>> config_file_keys();

// The file keys that take effect only at start, by "[section] key", whose values differ between
// the running configuration and a reloaded one.
std::vector<std::string> restart_only_changes(const config& running, const config& reloaded);

}  // namespace opendo::daemon
