// Reading and making BitTorrent v2/hybrid metainfo and magnets with libtorrent: libtorrent does
// the bencoding, the hashing and the merkle checks; this file decides what opendo accepts.
#include "transfer/peer/metainfo.hpp"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/torrent_info.hpp>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

namespace opendo::transfer::peer {
namespace {

namespace lt = libtorrent;

std::string hex(const char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    const auto byte = static_cast<unsigned char>(data[i]);
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0xF]);
  }
  return out;
}

template <class Digest>
std::string hex(const Digest& digest) {
  return hex(digest.data(), static_cast<std::size_t>(digest.size()));
}

bool is_web_url(const std::string& url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

void check_web_seed(const std::string& url) {
  if (!is_web_url(url)) {
    throw content_error("the web seed must be an http:// or https:// URL, not \"" +
                        url.substr(0, 200) + "\"");
  }
  if (url.size() > 2200) {
    throw content_error("the web seed URL is " + std::to_string(url.size()) +
                        " characters; at most 2200 are accepted");
  }
}

void check_piece_length(std::uint32_t piece_length) {
  if (!std::has_single_bit(piece_length) || piece_length < min_piece_length ||
      piece_length > max_piece_length) {
    throw content_error(
        "the piece length must be a power of two from " + std::to_string(min_piece_length) +
        " to " + std::to_string(max_piece_length) + " bytes, not " + std::to_string(piece_length));
  }
}

// Closes the descriptor it holds.
struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

// The one file of a metainfo, after checking that there is one; tail padding of a hybrid's v1
// part is allowed after it.
lt::file_index_t single_file(const lt::file_storage& files) {
  std::optional<lt::file_index_t> found;
  for (const lt::file_index_t i : files.file_range()) {
    if (files.pad_file_at(i)) {
      if (!found) throw content_error("the metainfo has padding before its file");
      continue;
    }
    if (found) {
      throw content_error("the metainfo has more than one file (" +
                          std::to_string(files.num_files()) +
                          " entries); opendo takes metainfo of exactly one file");
    }
    found = i;
  }
  if (!found) throw content_error("the metainfo has no file");
  return *found;
}

// Whether a file's piece layer (the SHA-256 roots of its pieces' subtrees, BEP 52) hashes up to
// its pieces root. libtorrent checks this only when a torrent is added to a session; a metainfo
// whose layer does not match is refused here, before it is stored. The tree's width is padded to
// a power of two with the root of a piece of zero leaves.
bool piece_layer_matches_root(lt::span<const char> layer, int piece_length,
                              const lt::sha256_hash& root) {
  std::vector<lt::sha256_hash> level;
  for (std::ptrdiff_t at = 0; at + 32 <= layer.size(); at += 32) {
    level.emplace_back(layer.data() + at);
  }
  lt::sha256_hash pad;  // a 16 KiB leaf of padding: all zeros
  for (int blocks = piece_length / (16 * 1024); blocks > 1; blocks /= 2) {
    pad = lt::hasher256().update(pad.data(), 32).update(pad.data(), 32).final();
  }
  level.resize(std::bit_ceil(level.size()), pad);
  while (level.size() > 1) {
    std::vector<lt::sha256_hash> up;
    up.reserve(level.size() / 2);
    for (std::size_t i = 0; i < level.size(); i += 2) {
      up.push_back(
          lt::hasher256().update(level[i].data(), 32).update(level[i + 1].data(), 32).final());
    }
    level = std::move(up);
  }
  return !level.empty() && level.front() == root;
}

}  // namespace

namespace {
// The multihash of a SHA-256 (0x12, 32 bytes), as in a v2 magnet's xt.
}  // namespace

std::string group_metainfo(std::string_view metainfo, std::string_view group_id) {
  if (const auto problem = group_id_problem(group_id)) throw content_error(*problem);
  if (metainfo.size() > max_metainfo_bytes) {
    throw content_error("the metainfo is larger than " + std::to_string(max_metainfo_bytes) +
                        " bytes");
  }
  lt::error_code ec;
  const lt::bdecode_node root = lt::bdecode(
      lt::span<const char>(metainfo.data(), static_cast<std::ptrdiff_t>(metainfo.size())), ec);
  if (ec || root.type() != lt::bdecode_node::dict_t) {
    throw content_error("the metainfo is not a bencoded dictionary");
  }
  const lt::bdecode_node info = root.dict_find_dict("info");
  if (!info) throw content_error("the metainfo has no info dictionary");
  // The v2 info hash is the SHA-256 of the info dictionary's bytes as they are.
  const lt::sha256_hash v2 = lt::hasher256(info.data_section()).final();
  std::array<unsigned char, EVP_MAX_MD_SIZE> tag{};
  unsigned int tag_length = 0;
  if (HMAC(EVP_sha256(), group_id.data(), static_cast<int>(group_id.size()),
           reinterpret_cast<const unsigned char*>(v2.data()), v2.size(), tag.data(),
           &tag_length) == nullptr) {
    throw content_error("HMAC-SHA256 failed");
  }
  lt::entry whole(root);
  // A key libtorrent and other clients ignore; the entry's dictionaries keep keys sorted, as
  // bencoding requires, so every host makes the same bytes.
  whole["info"]["opendo group"] =
      std::string(reinterpret_cast<const char*>(tag.data()), tag_length);
  std::string out;
  lt::bencode(std::back_inserter(out), whole);
  return out;
}

content_metadata read_metainfo(std::string_view bencoded) {
  if (bencoded.empty()) throw content_error("the metainfo is empty");
  if (bencoded.size() > max_metainfo_bytes) {
    throw content_error("the metainfo is " + std::to_string(bencoded.size()) + " bytes; at most " +
                        std::to_string(max_metainfo_bytes) +
                        " are accepted (publish it with a larger piece length)");
  }
  lt::load_torrent_limits limits;
  limits.max_buffer_size = static_cast<int>(max_metainfo_bytes);
  std::shared_ptr<lt::torrent_info> info;
  try {
    info = std::make_shared<lt::torrent_info>(
        lt::span<const char>(bencoded.data(), static_cast<std::ptrdiff_t>(bencoded.size())), limits,
        lt::from_span);
  } catch (const lt::system_error& e) {
    throw content_error("the metainfo is not a valid torrent file: " + e.code().message());
  } catch (const std::exception& e) {
    throw content_error(std::string("the metainfo is not a valid torrent file: ") + e.what());
  }
  if (!info->v2()) {
    throw content_error(
        "the metainfo is BitTorrent v1 only (no v2 file tree); opendo needs v2 or hybrid "
        "metainfo, whose merkle hashes verify every 16 KiB block a peer sends");
  }
  if (info->priv()) {
    throw content_error(
        "the metainfo is private (BEP 27): its peers may come only from its trackers, which "
        "opendo does not use");
  }
  const lt::file_storage& files = info->files();
  const lt::file_index_t file = single_file(files);
  const std::int64_t size = files.file_size(file);
  if (size <= 0) throw content_error("the metainfo's file is empty");
  // BEP 52: a file larger than a piece has its piece layer in the metainfo, outside the info
  // dictionary; libtorrent has checked it against the file's pieces root.
  const std::int64_t file_pieces = (size + info->piece_length() - 1) / info->piece_length();
  if (file_pieces > 1 && info->piece_layer(file).size() != file_pieces * 32) {
    throw content_error(
        "the metainfo has no piece layer for its file (BEP 52 'piece layers'): it cannot verify "
        "pieces on its own");
  }
  if (file_pieces > 1 &&
      !piece_layer_matches_root(info->piece_layer(file), info->piece_length(), files.root(file))) {
    throw content_error(
        "the metainfo's piece layer does not hash to its file's pieces root: the metainfo is "
        "corrupt");
  }
  content_metadata meta;
  meta.info_hash_v2 = hex(info->info_hashes().v2);
  if (info->info_hashes().has_v1()) meta.info_hash_v1 = hex(info->info_hashes().v1);
  meta.name = info->name();
  meta.size = static_cast<std::uint64_t>(size);
  meta.piece_length = static_cast<std::uint32_t>(info->piece_length());
  meta.piece_count = static_cast<std::uint32_t>(info->num_pieces());
  return meta;
}

content_metadata read_magnet(std::string_view uri) {
  if (uri.empty()) throw content_error("the magnet URI is empty");
  if (uri.size() > max_magnet_bytes) {
    throw content_error("the magnet URI is " + std::to_string(uri.size()) + " bytes; at most " +
                        std::to_string(max_magnet_bytes) + " are accepted");
  }
  if (!uri.starts_with("magnet:?")) {
    throw content_error("a magnet URI starts with \"magnet:?\"");
  }
  lt::error_code ec;
  const lt::add_torrent_params params =
      lt::parse_magnet_uri(lt::string_view(uri.data(), uri.size()), ec);
  if (ec) throw content_error("the magnet URI does not parse: " + ec.message());
  if (!params.info_hashes.has_v2()) {
    throw content_error(
        "the magnet URI has no BitTorrent v2 info hash (xt=urn:btmh:1220 and 64 hex digits); "
        "opendo needs v2 hashes, whose merkle trees verify every 16 KiB block a peer sends");
  }
  content_metadata meta;
  meta.info_hash_v2 = hex(params.info_hashes.v2);
  if (params.info_hashes.has_v1()) meta.info_hash_v1 = hex(params.info_hashes.v1);
  meta.name = params.name;
  return meta;
}

published publish_file(const std::filesystem::path& file, const std::string& web_seed_url,
                       std::uint32_t piece_length) {
  check_web_seed(web_seed_url);
  if (piece_length != 0) check_piece_length(piece_length);
  std::error_code fs_error;
  const auto status = std::filesystem::status(file, fs_error);
  if (fs_error) throw content_error("cannot publish " + file.string() + ": " + fs_error.message());
  if (!std::filesystem::is_regular_file(status)) {
    throw content_error("cannot publish " + file.string() + ": not a regular file");
  }
  const std::uintmax_t size = std::filesystem::file_size(file, fs_error);
  if (fs_error) throw content_error("cannot publish " + file.string() + ": " + fs_error.message());
  if (size == 0) throw content_error("cannot publish " + file.string() + ": the file is empty");
  const std::string name = file.filename().string();
  const std::filesystem::path directory = std::filesystem::absolute(file).parent_path();

  lt::file_storage storage;
  storage.add_file(name, static_cast<std::int64_t>(size));
  if (piece_length == 0) {
    // libtorrent's choice, doubled while the piece hashes (20 + 32 bytes a piece in a hybrid)
    // would not leave 8 KiB of the limit for the rest.
    const lt::create_torrent probe(storage, 0);
    piece_length = static_cast<std::uint32_t>(probe.piece_length());
    while (piece_length < max_piece_length &&
           (size + piece_length - 1) / piece_length * 52 > max_metainfo_bytes - 8192) {
      piece_length *= 2;
    }
  }
  lt::create_torrent creator(storage, static_cast<int>(piece_length));
  creator.add_url_seed(web_seed_url);
  creator.set_creator("opendo");
  lt::error_code ec;
  lt::set_piece_hashes(creator, directory.string(), ec);
  if (ec) throw content_error("cannot publish " + file.string() + ": " + ec.message());
  published out;
  try {
    lt::bencode(std::back_inserter(out.metainfo), creator.generate());
  } catch (const std::exception& e) {
    throw content_error("cannot publish " + file.string() + ": " + e.what());
  }
  if (out.metainfo.size() > max_metainfo_bytes) {
    throw content_error("the metainfo of " + file.string() + " would be " +
                        std::to_string(out.metainfo.size()) + " bytes, more than the " +
                        std::to_string(max_metainfo_bytes) +
                        " accepted: use a larger piece length");
  }
  out.meta = read_metainfo(out.metainfo);
  const lt::torrent_info info(
      lt::span<const char>(out.metainfo.data(), static_cast<std::ptrdiff_t>(out.metainfo.size())),
      lt::from_span);
  out.magnet = lt::make_magnet_uri(info);
  // The hybrid's own name (as libtorrent read it back) and piece length: what a daemon that has
  // only the hybrid metainfo and the file rebuilds the twin from.
  out.legacy = make_v1_twin(file, out.meta.name, out.meta.piece_length, web_seed_url);
  return out;
}

v1_twin make_v1_twin(const std::filesystem::path& file, const std::string& name,
                     std::uint32_t piece_length, const std::string& web_seed_url,
                     const std::stop_token& stop) {
  check_web_seed(web_seed_url);
  check_piece_length(piece_length);
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw content_error("the v1 twin's name must be a file name, not \"" + name.substr(0, 200) +
                        "\"");
  }
  const auto cannot = [&](const std::string& why) {
    return content_error("cannot hash " + file.string() + " for its v1 twin: " + why);
  };
  const fd_closer fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) throw cannot(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) throw cannot(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw cannot("not a regular file");
  if (st.st_size <= 0) throw cannot("the file is empty");
  const auto size = static_cast<std::uint64_t>(st.st_size);

  lt::file_storage storage;
  storage.add_file(name, static_cast<std::int64_t>(size));
  // v1_only: no file tree (whose empty key Debian 12's clients cannot parse), no piece layers,
  // no padding after the one file.
  lt::create_torrent creator(storage, static_cast<int>(piece_length), lt::create_torrent::v1_only);
  // Nothing that differs between two makers of the same file: no date, creator or comment.
  creator.set_creation_date(0);
  creator.add_url_seed(web_seed_url);
  std::vector<char> buffer(piece_length);
  for (const lt::piece_index_t piece : creator.piece_range()) {
    if (stop.stop_requested()) throw cannot("stopped");
    const std::uint64_t offset =
        std::uint64_t{static_cast<std::uint32_t>(static_cast<int>(piece))} * piece_length;
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(piece_length, size - offset));
    std::size_t got = 0;
    while (got < want) {
      const ssize_t n =
          ::pread(fd.fd, buffer.data() + got, want - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw cannot(std::strerror(errno));
      if (n == 0) throw cannot("the file became shorter while it was hashed");
      got += static_cast<std::size_t>(n);
    }
    creator.set_hash(piece, lt::hasher(buffer.data(), static_cast<int>(want)).final());
  }
  v1_twin out;
  try {
    lt::bencode(std::back_inserter(out.metainfo), creator.generate());
  } catch (const std::exception& e) {
    throw cannot(e.what());
  }
  const lt::torrent_info info(
      lt::span<const char>(out.metainfo.data(), static_cast<std::ptrdiff_t>(out.metainfo.size())),
      lt::from_span);
  out.info_hash = hex(info.info_hashes().v1);
  out.magnet = lt::make_magnet_uri(info);
  return out;
}

}  // namespace opendo::transfer::peer
