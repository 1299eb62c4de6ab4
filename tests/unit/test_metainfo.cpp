// Content metadata: what publish_file makes, read_metainfo and read_magnet read back, and every
// kind of metainfo or magnet they refuse, with the message that says why.
#include <gtest/gtest.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/torrent_info.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "transfer/peer/metainfo.hpp"

namespace {

namespace fs = std::filesystem;
namespace lt = libtorrent;
using opendo::transfer::peer::content_error;
using opendo::transfer::peer::content_metadata;
using opendo::transfer::peer::make_v1_twin;
using opendo::transfer::peer::max_magnet_bytes;
using opendo::transfer::peer::max_metainfo_bytes;
using opendo::transfer::peer::publish_file;
using opendo::transfer::peer::published;
using opendo::transfer::peer::read_magnet;
using opendo::transfer::peer::read_metainfo;
using opendo::transfer::peer::v1_twin;

// The content_error message of `call`, or "accepted" when it throws none.
template <class Call>
std::string refusal_of(Call call) {
  try {
    call();
    return "accepted";
  } catch (const content_error& e) {
    return e.what();
  }
}

// What `command` prints on stdout, and its exit status.
struct run_result {
  std::string out;
  int status = -1;
};
run_result run(const std::string& command) {
  run_result r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) {
    r.out.append(buffer.data(), n);
  }
  r.status = ::pclose(pipe);
  return r;
}

std::string hex(const lt::sha1_hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : h) {
    out.push_back(kDigits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 0xF]);
  }
  return out;
}

class Metainfo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("opendo-metainfo-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A file of `size` pseudo-random bytes (fixed seed) in the test's directory.
  fs::path make_file(const std::string& name, std::size_t size, unsigned seed = 7) {
    std::mt19937 random(seed);
    std::string bytes(size, '\0');
    for (char& c : bytes) c = static_cast<char>(random() & 0xFF);
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
    return path;
  }

  // A torrent made directly with libtorrent (for the kinds publish_file never makes).
  std::string make_torrent(const std::vector<std::pair<std::string, std::size_t>>& files,
                           lt::create_flags_t flags, bool make_private = false) {
    lt::file_storage storage;
    const fs::path root = dir_ / "tree";
    for (const auto& [name, size] : files) {
      const fs::path path = root / name;
      fs::create_directories(path.parent_path());
      fs::copy_file(make_file("source", size), path, fs::copy_options::overwrite_existing);
      storage.add_file((files.size() == 1 ? fs::path(name) : fs::path("tree") / name).string(),
                       static_cast<std::int64_t>(size));
    }
    lt::create_torrent creator(storage, 16 * 1024, flags);
    creator.set_priv(make_private);
    lt::set_piece_hashes(creator, (files.size() == 1 ? root : dir_).string());
    std::string out;
    lt::bencode(std::back_inserter(out), creator.generate());
    return out;
  }

  // read_metainfo's and read_magnet's messages, or "accepted".
  static std::string refusal(const std::string& metainfo) {
    return refusal_of([&] { read_metainfo(metainfo); });
  }
  static std::string magnet_refusal(const std::string& uri) {
    return refusal_of([&] { read_magnet(uri); });
  }

  fs::path dir_;
};

TEST_F(Metainfo, PublishedHybridReadsBackWithTheSameHashesAndSize) {
  const fs::path file = make_file("payload.bin", 1000000);
  const published out = publish_file(file, "http://127.0.0.1:8080/payload.bin", 64 * 1024);
  EXPECT_EQ(out.meta.info_hash_v2.size(), 64u);
  EXPECT_EQ(out.meta.info_hash_v1.size(), 40u);  // hybrid: v1 clients can fetch it too
  EXPECT_EQ(out.meta.name, "payload.bin");
  EXPECT_EQ(out.meta.size, 1000000u);
  EXPECT_EQ(out.meta.piece_length, 64u * 1024);
  EXPECT_EQ(out.meta.piece_count, 16u);  // ceil(1000000 / 65536)

  const content_metadata again = read_metainfo(out.metainfo);
  EXPECT_EQ(again, out.meta);
  EXPECT_EQ(opendo::transfer::peer::content_id(again), "urn:btmh:1220" + again.info_hash_v2);

  // The web seed in url-list, no announce (no trackers), nothing private.
  EXPECT_NE(out.metainfo.find("8:url-list33:http://127.0.0.1:8080/payload.bin"), std::string::npos);
  EXPECT_EQ(out.metainfo.find("8:announce"), std::string::npos);
  EXPECT_EQ(out.metainfo.find("7:private"), std::string::npos);

  // The magnet names both hashes, the name and the web seed, and reads back to the same hashes.
  EXPECT_NE(out.magnet.find("xt=urn:btmh:1220" + out.meta.info_hash_v2), std::string::npos);
  EXPECT_NE(out.magnet.find("xt=urn:btih:" + out.meta.info_hash_v1), std::string::npos);
  EXPECT_NE(out.magnet.find("dn=payload.bin"), std::string::npos);
  EXPECT_NE(out.magnet.find("ws=http%3a%2f%2f127.0.0.1%3a8080%2fpayload.bin"), std::string::npos)
      << out.magnet;
  const content_metadata from_magnet = read_magnet(out.magnet);
  EXPECT_EQ(from_magnet.info_hash_v2, out.meta.info_hash_v2);
  EXPECT_EQ(from_magnet.info_hash_v1, out.meta.info_hash_v1);
  EXPECT_EQ(from_magnet.name, "payload.bin");
  EXPECT_EQ(from_magnet.size, 0u);  // a magnet carries no size
  EXPECT_EQ(from_magnet.piece_length, 0u);
}

TEST_F(Metainfo, SameFileSamePieceLengthSameInfoHashes) {
  const fs::path file = make_file("same.bin", 300000);
  const published a = publish_file(file, "http://a.example/same.bin", 16 * 1024);
  const published b = publish_file(file, "https://b.example/other/same.bin", 16 * 1024);
  EXPECT_EQ(a.meta, b.meta);  // the web seed is outside the info dictionary
  const fs::path changed = make_file("same.bin", 300000, 8);
  EXPECT_NE(publish_file(changed, "http://a.example/same.bin", 16 * 1024).meta.info_hash_v2,
            a.meta.info_hash_v2);
}

TEST_F(Metainfo, ChosenPieceLengthIsAPowerOfTwoThatFitsTheLimit) {
  const published out = publish_file(make_file("auto.bin", 3 * 1024 * 1024 + 5), "http://h/a");
  EXPECT_GE(out.meta.piece_length, 16u * 1024);
  EXPECT_EQ(out.meta.piece_length & (out.meta.piece_length - 1), 0u);
  EXPECT_EQ(out.meta.piece_count,
            (out.meta.size + out.meta.piece_length - 1) / out.meta.piece_length);
  EXPECT_LE(out.metainfo.size(), max_metainfo_bytes);
}

TEST_F(Metainfo, SmallFileOfOnePieceHasNoPieceLayerAndIsAccepted) {
  const published out = publish_file(make_file("tiny.txt", 100), "http://h/tiny.txt");
  EXPECT_EQ(out.meta.size, 100u);
  EXPECT_EQ(out.meta.piece_count, 1u);
  EXPECT_EQ(read_metainfo(out.metainfo), out.meta);
}

TEST_F(Metainfo, V1OnlyIsRefused) {
  const std::string v1 = make_torrent({{"old.bin", 100000}}, lt::create_torrent::v1_only);
  EXPECT_EQ(refusal(v1),
            "the metainfo is BitTorrent v1 only (no v2 file tree); opendo needs v2 or hybrid "
            "metainfo, whose merkle hashes verify every 16 KiB block a peer sends");
}

TEST_F(Metainfo, V2OnlyIsAccepted) {
  const std::string v2 = make_torrent({{"new.bin", 100000}}, lt::create_torrent::v2_only);
  const content_metadata meta = read_metainfo(v2);
  EXPECT_EQ(meta.info_hash_v2.size(), 64u);
  EXPECT_TRUE(meta.info_hash_v1.empty());
  EXPECT_EQ(meta.size, 100000u);
  EXPECT_EQ(meta.piece_count, 7u);  // ceil(100000 / 16384)
}

TEST_F(Metainfo, MultiFileIsRefused) {
  const std::string two = make_torrent({{"a.bin", 40000}, {"b.bin", 50000}}, {});
  EXPECT_EQ(refusal(two).rfind("the metainfo has more than one file", 0), 0u) << refusal(two);
}

TEST_F(Metainfo, PrivateIsRefused) {
  const std::string priv = make_torrent({{"p.bin", 40000}}, {}, /*make_private=*/true);
  EXPECT_EQ(refusal(priv).rfind("the metainfo is private (BEP 27)", 0), 0u) << refusal(priv);
}

TEST_F(Metainfo, GarbageEmptyAndTooLargeAreRefused) {
  EXPECT_EQ(refusal(""), "the metainfo is empty");
  EXPECT_EQ(refusal("this is not bencode").rfind("the metainfo is not a valid torrent file: ", 0),
            0u)
      << refusal("this is not bencode");
  EXPECT_EQ(refusal("d4:infod4:name1:xee").rfind("the metainfo is not a valid torrent file: ", 0),
            0u);
  const std::string big(max_metainfo_bytes + 1, 'd');
  EXPECT_EQ(refusal(big), "the metainfo is " + std::to_string(max_metainfo_bytes + 1) +
                              " bytes; at most " + std::to_string(max_metainfo_bytes) +
                              " are accepted (publish it with a larger piece length)");
}

TEST_F(Metainfo, AlteredPieceLayerOrMissingPieceLayersAreRefused) {
  const published out = publish_file(make_file("layers.bin", 200000), "http://h/l", 16 * 1024);
  const std::string key = "12:piece layers";
  const std::size_t at = out.metainfo.find(key);
  ASSERT_NE(at, std::string::npos);
  // A piece hash that does not add up to the pieces root.
  // "12:piece layersd32:<pieces root>416:<13 piece hashes>": flip a bit of the first hash.
  const std::size_t first_hash = at + key.size() + 1 + 3 + 32 + 4;
  ASSERT_EQ(out.metainfo.substr(first_hash - 4, 4), "416:");
  std::string altered = out.metainfo;
  altered[first_hash] = static_cast<char>(altered[first_hash] ^ 0x01);
  EXPECT_EQ(refusal(altered),
            "the metainfo's piece layer does not hash to its file's pieces root: the metainfo is "
            "corrupt");
  // The same metainfo with its piece layers renamed away: nothing to verify pieces with.
  std::string stripped = out.metainfo;
  stripped.replace(at, key.size(), "12:piece_layerz");
  EXPECT_EQ(refusal(stripped),
            "the metainfo has no piece layer for its file (BEP 52 'piece layers'): it cannot "
            "verify pieces on its own");
}

TEST_F(Metainfo, MagnetWithV2HashAloneIsAcceptedAndTrackersIgnored) {
  const std::string hash(64, 'a');
  const content_metadata meta =
      read_magnet("magnet:?xt=urn:btmh:1220" + hash +
                  "&dn=file.iso&tr=http%3a%2f%2ftracker.example%2fannounce&x.pe=10.0.0.1:6881");
  EXPECT_EQ(meta.info_hash_v2, hash);
  EXPECT_TRUE(meta.info_hash_v1.empty());
  EXPECT_EQ(meta.name, "file.iso");
  EXPECT_EQ(meta.size, 0u);
  EXPECT_EQ(meta.piece_count, 0u);
}

TEST_F(Metainfo, MagnetsWithoutV2HashOrMalformedAreRefused) {
  EXPECT_EQ(magnet_refusal("magnet:?xt=urn:btih:" + std::string(40, 'b') + "&dn=x"),
            "the magnet URI has no BitTorrent v2 info hash (xt=urn:btmh:1220 and 64 hex "
            "digits); opendo needs v2 hashes, whose merkle trees verify every 16 KiB block a "
            "peer sends");
  EXPECT_EQ(magnet_refusal(""), "the magnet URI is empty");
  EXPECT_EQ(magnet_refusal("http://example.org/file"), "a magnet URI starts with \"magnet:?\"");
  EXPECT_EQ(magnet_refusal("magnet:?dn=nothing").rfind("the magnet URI does not parse: ", 0), 0u)
      << magnet_refusal("magnet:?dn=nothing");
  EXPECT_EQ(magnet_refusal("magnet:?xt=urn:btmh:1220abc").rfind("the magnet URI", 0), 0u);
  const std::string longest =
      "magnet:?xt=urn:btmh:1220" + std::string(64, 'c') + "&dn=" + std::string(5000, 'n');
  EXPECT_EQ(magnet_refusal(longest), "the magnet URI is " + std::to_string(longest.size()) +
                                         " bytes; at most " + std::to_string(max_magnet_bytes) +
                                         " are accepted");
}

TEST_F(Metainfo, PublishRefusesBadInput) {
  const fs::path file = make_file("in.bin", 50000);
  auto refused = [](auto call) { return refusal_of(call); };
  EXPECT_EQ(refused([&] { publish_file(file, "ftp://h/in.bin"); }),
            "the web seed must be an http:// or https:// URL, not \"ftp://h/in.bin\"");
  EXPECT_EQ(refused([&] { publish_file(file, "http://h/in.bin", 3000); }),
            "the piece length must be a power of two from 16384 to 67108864 bytes, not 3000");
  EXPECT_EQ(refused([&] { publish_file(file, "http://h/in.bin", 8192); }),
            "the piece length must be a power of two from 16384 to 67108864 bytes, not 8192");
  EXPECT_EQ(refused([&] { publish_file(dir_ / "missing.bin", "http://h/m"); }),
            "cannot publish " + (dir_ / "missing.bin").string() + ": No such file or directory");
  EXPECT_EQ(refused([&] { publish_file(dir_, "http://h/m"); }),
            "cannot publish " + dir_.string() + ": not a regular file");
  EXPECT_EQ(refused([&] { publish_file(make_file("empty.bin", 0), "http://h/e"); }),
            "cannot publish " + (dir_ / "empty.bin").string() + ": the file is empty");
}

// The v1 twin (docs/peers.md, "Legacy clients"): opendod rebuilds it from the file, the hybrid's
// name and piece length, and must get the info hash `opendo publish` printed in the legacy magnet.
TEST_F(Metainfo, V1TwinOfTheSameFileHasTheSameInfoHashWhoeverMakesIt) {
  const fs::path file = make_file("twin.bin", 1000000);
  const published out = publish_file(file, "http://127.0.0.1:8080/twin.bin", 64 * 1024);
  ASSERT_EQ(out.legacy.info_hash.size(), 40u);
  EXPECT_NE(out.legacy.info_hash, out.meta.info_hash_v1) << "another info dictionary";

  // A daemon's copy of the file lives elsewhere under another file name, and its URL may differ.
  const fs::path cached = dir_ / "cache-copy";
  fs::copy_file(file, cached);
  const v1_twin rebuilt =
      make_v1_twin(cached, out.meta.name, out.meta.piece_length, "https://mirror.example/t.bin");
  EXPECT_EQ(rebuilt.info_hash, out.legacy.info_hash);
  EXPECT_EQ(make_v1_twin(file, "twin.bin", 64 * 1024, "http://127.0.0.1:8080/twin.bin").metainfo,
            out.legacy.metainfo)
      << "byte for byte: no creation date, nothing that changes between runs";

  // Other bytes, name or piece length: another torrent.
  EXPECT_NE(make_v1_twin(make_file("other.bin", 1000000, 8), "twin.bin", 64 * 1024, "http://h/t")
                .info_hash,
            out.legacy.info_hash);
  EXPECT_NE(make_v1_twin(file, "renamed.bin", 64 * 1024, "http://h/t").info_hash,
            out.legacy.info_hash);
  EXPECT_NE(make_v1_twin(file, "twin.bin", 32 * 1024, "http://h/t").info_hash,
            out.legacy.info_hash);
}

TEST_F(Metainfo, V1TwinIsAPlainV1TorrentOfTheFile) {
  const fs::path file = make_file("plain.bin", 300000);
  const v1_twin twin = make_v1_twin(file, "plain.bin", 16 * 1024, "http://h/plain.bin");
  const lt::torrent_info info(twin.metainfo, lt::from_span);
  EXPECT_FALSE(info.v2());
  EXPECT_TRUE(info.v1());
  EXPECT_EQ(info.num_files(), 1);  // no tail padding
  EXPECT_EQ(info.total_size(), 300000);
  EXPECT_EQ(info.piece_length(), 16 * 1024);
  EXPECT_EQ(info.num_pieces(), 19);  // ceil(300000 / 16384)
  EXPECT_EQ(info.name(), "plain.bin");
  // Its hash is the SHA-1 of its info dictionary, and each piece's SHA-1 is the file's.
  const auto section = info.info_section();
  EXPECT_EQ(twin.info_hash,
            hex(lt::hasher(section.data(), static_cast<int>(section.size())).final()));
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const lt::piece_index_t p : info.piece_range()) {
    const auto at = static_cast<std::size_t>(static_cast<int>(p)) * 16 * 1024;
    const auto piece = bytes.substr(at, 16 * 1024);
    EXPECT_EQ(info.hash_for_piece(p),
              lt::hasher(piece.data(), static_cast<int>(piece.size())).final());
  }
  // Nothing that a second maker would not write the same.
  EXPECT_EQ(twin.metainfo.find("13:creation date"), std::string::npos);
  EXPECT_EQ(twin.metainfo.find("10:created by"), std::string::npos);
  EXPECT_EQ(twin.metainfo.find("7:comment"), std::string::npos);
  EXPECT_EQ(twin.metainfo.find("9:file tree"), std::string::npos);
  EXPECT_NE(twin.metainfo.find("8:url-list18:http://h/plain.bin"), std::string::npos);
  EXPECT_EQ(twin.magnet, "magnet:?xt=urn:btih:" + twin.info_hash +
                             "&dn=plain.bin&ws=http%3a%2f%2fh%2fplain.bin");
  // opendo itself refuses it as a job's metainfo: it has no merkle hashes.
  EXPECT_NE(refusal(twin.metainfo).find("BitTorrent v1 only"), std::string::npos);
}

// What the twin is for: Debian 12's own BitTorrent clients read it and see the same info hash
// (they cannot read the hybrid; docs/architecture.md).
TEST_F(Metainfo, V1TwinIsReadByTransmissionAndAria2WithTheSameInfoHash) {
  const fs::path file = make_file("legacy.bin", 700000);
  const published out = publish_file(file, "http://127.0.0.1:8080/legacy.bin", 16 * 1024);
  const fs::path twin = dir_ / "legacy.v1.torrent";
  std::ofstream(twin, std::ios::binary) << out.legacy.metainfo;
  const fs::path hybrid = dir_ / "legacy.torrent";
  std::ofstream(hybrid, std::ios::binary) << out.metainfo;

  const run_result shown = run("transmission-show " + twin.string() + " 2>&1");
  ASSERT_EQ(shown.status, 0) << shown.out;
  EXPECT_NE(shown.out.find("Hash: " + out.legacy.info_hash), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("legacy.bin"), std::string::npos) << shown.out;
  const run_result refused = run("transmission-show " + hybrid.string() + " 2>&1");
  EXPECT_NE(refused.out.find("Error parsing .torrent file"), std::string::npos)
      << "transmission 3.00 reads hybrids now; the twin may no longer be needed:\n"
      << refused.out;

  const run_result listed = run("aria2c -S " + twin.string() + " 2>&1");
  ASSERT_EQ(listed.status, 0) << listed.out;
  EXPECT_NE(listed.out.find("Info Hash: " + out.legacy.info_hash), std::string::npos) << listed.out;
}

TEST_F(Metainfo, V1TwinRefusesBadInputAndStops) {
  const fs::path file = make_file("in.bin", 50000);
  auto refused = [](auto call) { return refusal_of(call); };
  EXPECT_EQ(refused([&] { make_v1_twin(file, "in.bin", 3000, "http://h/in.bin"); }),
            "the piece length must be a power of two from 16384 to 67108864 bytes, not 3000");
  EXPECT_EQ(refused([&] { make_v1_twin(file, "in.bin", 16384, "file:///in.bin"); }),
            "the web seed must be an http:// or https:// URL, not \"file:///in.bin\"");
  EXPECT_EQ(refused([&] { make_v1_twin(file, "a/b", 16384, "http://h/in.bin"); }),
            "the v1 twin's name must be a file name, not \"a/b\"");
  EXPECT_EQ(refused([&] { make_v1_twin(file, "", 16384, "http://h/in.bin"); }),
            "the v1 twin's name must be a file name, not \"\"");
  EXPECT_EQ(refused([&] { make_v1_twin(dir_ / "none.bin", "in.bin", 16384, "http://h/i"); }),
            "cannot hash " + (dir_ / "none.bin").string() +
                " for its v1 twin: No such file or directory");
  EXPECT_EQ(refused([&] { make_v1_twin(make_file("e.bin", 0), "e.bin", 16384, "http://h/e"); }),
            "cannot hash " + (dir_ / "e.bin").string() + " for its v1 twin: the file is empty");
  std::stop_source stop;
  stop.request_stop();
  EXPECT_EQ(
      refused([&] { make_v1_twin(file, "in.bin", 16384, "http://h/in.bin", stop.get_token()); }),
      "cannot hash " + file.string() + " for its v1 twin: stopped");
}

}  // namespace

namespace {

// The root of the one file of `metainfo` and its piece layer, as libtorrent reads them.
struct merkle_view {
  lt::sha256_hash root;
  std::string layer;
  lt::info_hash_t hashes;
};
merkle_view merkle_of(const std::string& metainfo) {
  const lt::torrent_info info(metainfo, lt::from_span);
  const lt::file_index_t file(0);
  const auto layer = info.piece_layer(file);
  return {info.files().root(file),
          std::string(layer.data(), static_cast<std::size_t>(layer.size())), info.info_hashes()};
}

}  // namespace

TEST_F(Metainfo, GroupMetainfoKeepsTheMerkleTreeUnderInfoHashesOnlyTheGroupCanCompute) {
  using opendo::transfer::peer::group_metainfo;
  const fs::path file = make_file("group.bin", 1000000);
  const published out = publish_file(file, "http://127.0.0.1:8080/group.bin", 64 * 1024);
  const std::string a = group_metainfo(out.metainfo, "group-a");
  // Every host of the group makes the same bytes; another group, other ones.
  EXPECT_EQ(group_metainfo(out.metainfo, "group-a"), a);
  const std::string b = group_metainfo(out.metainfo, "group-b");
  EXPECT_NE(b, a);

  // Still trusted metadata of the same file, with the same merkle tree...
  const content_metadata meta_a = read_metainfo(a);
  EXPECT_EQ(meta_a.size, out.meta.size);
  EXPECT_EQ(meta_a.piece_length, out.meta.piece_length);
  EXPECT_EQ(meta_a.piece_count, out.meta.piece_count);
  EXPECT_EQ(meta_a.name, out.meta.name);
  const merkle_view original = merkle_of(out.metainfo);
  const merkle_view keyed_a = merkle_of(a);
  const merkle_view keyed_b = merkle_of(b);
  EXPECT_EQ(keyed_a.root, original.root);
  EXPECT_EQ(keyed_a.layer, original.layer);
  EXPECT_EQ(keyed_b.root, original.root);
  ASSERT_EQ(original.layer.size(), 16u * 32u);
  // ...under info hashes (v2 and v1) that are neither the original's nor the other group's.
  EXPECT_NE(meta_a.info_hash_v2, out.meta.info_hash_v2);
  EXPECT_NE(meta_a.info_hash_v1, out.meta.info_hash_v1);
  EXPECT_NE(keyed_a.hashes, original.hashes);
  EXPECT_NE(keyed_a.hashes, keyed_b.hashes);
  EXPECT_NE(read_metainfo(b).info_hash_v2, meta_a.info_hash_v2);

  // The added key holds HMAC-SHA256(group id, the original v2 info hash): the group id itself
  // is not in the metainfo a peer can fetch.
  std::array<unsigned char, 32> tag{};
  unsigned int tag_length = 0;
  ASSERT_NE(HMAC(EVP_sha256(), "group-a", 7,
                 reinterpret_cast<const unsigned char*>(original.hashes.v2.data()), 32, tag.data(),
                 &tag_length),
            nullptr);
  const std::string expected = "12:opendo group32:" + std::string(tag.begin(), tag.end());
  EXPECT_NE(a.find(expected), std::string::npos);
  EXPECT_EQ(a.find("group-a"), std::string::npos);
}

TEST_F(Metainfo, GroupIdsThatAreEmptyTooLongOrHoldControlCharactersAreRefused) {
  using opendo::transfer::peer::group_id_problem;
  using opendo::transfer::peer::group_metainfo;
  const published out =
      publish_file(make_file("g.bin", 100000), "http://127.0.0.1:8080/g.bin", 16 * 1024);
  EXPECT_EQ(group_id_problem("6f1c9a7e-0b2d-4c3e-9f10-2a3b4c5d6e7f"), std::nullopt);
  EXPECT_EQ(group_id_problem(std::string(256, 'x')), std::nullopt);
  EXPECT_EQ(refusal_of([&] { group_metainfo(out.metainfo, ""); }), "the group id is empty");
  EXPECT_EQ(refusal_of([&] { group_metainfo(out.metainfo, std::string(257, 'x')); }),
            "the group id is 257 bytes; at most 256 are accepted");
  EXPECT_EQ(refusal_of([&] { group_metainfo(out.metainfo, "a\nb"); }),
            "the group id holds a control character");
  EXPECT_EQ(refusal_of([&] { group_metainfo("not bencode", "g"); }),
            "the metainfo is not a bencoded dictionary");
  EXPECT_EQ(refusal_of([&] { group_metainfo("d4:name1:xe", "g"); }),
            "the metainfo has no info dictionary");
}
