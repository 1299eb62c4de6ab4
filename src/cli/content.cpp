// `opendo publish` and the --metainfo / --magnet options: the CLI's side of content metadata.
// The metainfo is made and read by transfer/peer/metainfo (libtorrent), linked in statically.
#include "cli/content.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "opendo/hresult.hpp"
#include "transfer/peer/metainfo.hpp"

namespace opendo::cli {
namespace {

namespace peer = opendo::transfer::peer;

[[noreturn]] void invalid(const std::string& what) {
  throw error(value_of(hr::e_invalidarg), what);
}

// Closes the descriptor it holds.
struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

std::string read_metainfo_file(const std::string& path) {
  const fd_closer file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) invalid("cannot read the metainfo " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) {
    invalid("cannot read the metainfo " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) invalid("the metainfo " + path + " is not a regular file");
  if (static_cast<std::uint64_t>(info.st_size) > max_metainfo_size) {
    invalid("the metainfo " + path + " is " + std::to_string(info.st_size) + " bytes; at most " +
            std::to_string(max_metainfo_size) + " are accepted");
  }
  // One byte more than the limit, so that a file that grew since fstat is still caught.
  std::string bytes(max_metainfo_size + 1, '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(file.fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) invalid("cannot read the metainfo " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_metainfo_size) {
    invalid("the metainfo " + path + " is more than " + std::to_string(max_metainfo_size) +
            " bytes, the most accepted");
  }
  if (got == 0) invalid("the metainfo " + path + " is empty");
  bytes.resize(got);
  return bytes;
}

// Writes `bytes` to `path`: a new file, or (with force) in place of an existing one, through a
// temporary file renamed over it so that a reader never sees half of it.
void write_new_file(const std::string& path, const std::string& bytes, bool force) {
  const std::string target = force ? path + ".opendo-tmp" : path;
  const fd_closer file{
      ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)};
  if (file.fd < 0 && errno == EEXIST && !force) {
    invalid(path + " exists; give --force to replace it, or --output another path");
  }
  if (file.fd < 0) invalid("cannot write " + target + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(file.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::unlink(target.c_str());
      invalid("cannot write " + target + ": " + std::strerror(saved));
    }
    done += static_cast<std::size_t>(n);
  }
  if (force && ::rename(target.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(target.c_str());
    invalid("cannot replace " + path + ": " + std::strerror(saved));
  }
}

}  // namespace

void apply_content_options(const content_options& options, file_spec& file) {
  const int given = (options.metainfo_path.empty() ? 0 : 1) + (options.magnet.empty() ? 0 : 1) +
                    (options.metainfo_url.empty() ? 0 : 1) + (options.published ? 1 : 0);
  if (given > 1) {
    invalid(
        "--metainfo, --magnet, --metainfo-url and --published-metainfo each give the file's "
        "content metadata: give one of them");
  }
  if (!options.metainfo_url.empty()) file.metainfo_url = options.metainfo_url;
  if (options.published && !file.remote_url.empty()) {
    file.metainfo_url = file.remote_url + ".torrent";
  }
  if (!options.metainfo_path.empty()) file.metainfo = read_metainfo_file(options.metainfo_path);
  if (!options.magnet.empty()) {
    if (options.magnet.size() > max_magnet_size) {
      invalid("the magnet URI is " + std::to_string(options.magnet.size()) + " bytes; at most " +
              std::to_string(max_magnet_size) + " are accepted");
    }
    file.magnet = options.magnet;
  }
}

int run_publish(const publish_args& args, bool json) {
  const std::string output = args.output.empty() ? args.file + ".torrent" : args.output;
  // Refused before hashing the whole file, when it can be.
  if (!args.force &&
      std::filesystem::symlink_status(output).type() != std::filesystem::file_type::not_found) {
    invalid(output + " exists; give --force to replace it, or --output another path");
  }
  peer::published out;
  try {
    out = peer::publish_file(args.file, args.web_seed, args.piece_length);
  } catch (const peer::content_error& e) {
    invalid(e.what());
  }
  write_new_file(output, out.metainfo, args.force);
  if (json) {
    const nlohmann::json value = {{"magnet", out.magnet},
                                  {"content_id", peer::content_id(out.meta)},
                                  {"info_hash_v2", out.meta.info_hash_v2},
                                  {"info_hash_v1", out.meta.info_hash_v1},
                                  {"name", out.meta.name},
                                  {"size", out.meta.size},
                                  {"piece_length", out.meta.piece_length},
                                  {"piece_count", out.meta.piece_count},
                                  {"web_seed", args.web_seed},
                                  {"metainfo", std::filesystem::absolute(output).string()},
                                  {"legacy_magnet", out.legacy.magnet},
                                  {"legacy_info_hash", out.legacy.info_hash}};
    std::puts(value.dump(2).c_str());
  } else {
    // The magnet first (scripts take the first line), then the v1 twin's for legacy clients.
    std::puts(out.magnet.c_str());
    std::puts(out.legacy.magnet.c_str());
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace opendo::cli
