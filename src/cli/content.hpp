// The CLI's content metadata: `opendo publish` (a hybrid metainfo and magnet for a file), and the
// --metainfo / --magnet options of `addfile` and `get` that give a file trusted hashes.
#pragma once

#include <cstdint>
#include <string>

#include "opendo/types.hpp"

namespace opendo::cli {

// --metainfo PATH, --magnet URI, --metainfo-url URL and --published-metainfo, at most one of
// them.
struct content_options {
  std::string metainfo_path;
  std::string magnet;
  std::string metainfo_url;
  bool published = false;  // the metainfo is file.remote_url + ".torrent"
};

// Sets file.metainfo (the bytes of the file at metainfo_path, at most max_metainfo_size),
// file.magnet or file.metainfo_url (--published-metainfo: file.remote_url + ".torrent", nothing
// when file.remote_url is empty). What they mean is checked by opendod. Throws opendo::error
// (E_INVALIDARG) naming the file and the reason when it cannot be read or is too large.
void apply_content_options(const content_options& options, file_spec& file);

struct publish_args {
  std::string file;
  std::string web_seed;
  std::string output;  // default: FILE.torrent
  std::uint32_t piece_length = 0;
  bool force = false;
};

// Writes the metainfo of args.file and prints its magnet, then on a second line the legacy
// magnet of its v1 twin (with json: the magnets, the info hashes, size, piece length and where
// the metainfo went). Throws opendo::error.
int run_publish(const publish_args& args, bool json);

}  // namespace opendo::cli
