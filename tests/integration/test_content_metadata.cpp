// Trusted content metadata end to end, against a real opendod and nginx: `opendo publish` writes
// a metainfo and prints its magnet; a file added with it (or the magnet) shows its content id in
// GetJob and `opendo info --json`, keeps it across a restart of the daemon, and still downloads
// over HTTP; what opendod refuses comes back as E_INVALIDARG with the reason.
#include <gtest/gtest.h>

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "integration/cli_json.hpp"
#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "transfer/peer/metainfo.hpp"

namespace fs = std::filesystem;
namespace lt = libtorrent;
using namespace opendo;
using namespace opendo::test;
using nlohmann::json;

namespace {

constexpr std::uint32_t kInvalidArg = 0x80070057;

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The HRESULT and message of adding `file` to a new job (without the HRESULT's own description,
// which opendo::error appends), or 0 and "" when it is accepted.
std::pair<std::uint32_t, std::string> add_refusal(client& c, const file_spec& file) {
  job j = c.create_job("refused");
  try {
    j.add_file(file);
    return {0, ""};
  } catch (const opendo::error& e) {
    EXPECT_TRUE(j.info().files.empty());  // nothing was added
    std::string message = e.what();
    const std::string description = ": One or more arguments are not valid.";
    if (message.ends_with(description)) message.resize(message.size() - description.size());
    return {e.hresult(), message};
  }
}

class ContentMetadata : public ::testing::Test {
 protected:
  nginx_server origin;
  daemon_process daemon;
  temp_dir out{"opendo-content"};
};

TEST_F(ContentMetadata, PublishWritesTheMetainfoBesideTheFileAndPrintsTheMagnet) {
  origin.make_random_file("pub.bin", 300000, 21);
  const fs::path file = origin.docroot() / "pub.bin";
  const auto printed = daemon.cli({"publish", file.string(), "--web-seed", origin.url("pub.bin")});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const fs::path torrent = file.string() + ".torrent";
  // Two lines: the magnet, then the legacy magnet (the v1 twin's, docs/peers.md).
  const std::string lines = trim(printed.out);
  const auto newline = lines.find('\n');
  ASSERT_NE(newline, std::string::npos) << lines;
  const std::string magnet = lines.substr(0, newline);
  const std::string legacy = lines.substr(newline + 1);
  EXPECT_EQ(magnet.rfind("magnet:?xt=urn:btih:", 0), 0U) << magnet;
  const auto meta = transfer::peer::read_metainfo(read_file(torrent));
  EXPECT_EQ(meta.size, 300000U);
  EXPECT_NE(magnet.find("xt=urn:btmh:1220" + meta.info_hash_v2), std::string::npos) << magnet;
  EXPECT_NE(magnet.find("dn=pub.bin"), std::string::npos) << magnet;
  EXPECT_NE(magnet.find("&ws=http"), std::string::npos) << magnet;
  const auto twin =
      transfer::peer::make_v1_twin(file, "pub.bin", meta.piece_length, origin.url("pub.bin"));
  EXPECT_EQ(legacy, twin.magnet);
  EXPECT_EQ(legacy.rfind("magnet:?xt=urn:btih:" + twin.info_hash + "&dn=pub.bin&ws=http", 0), 0U)
      << legacy;
  EXPECT_EQ(legacy.find("btmh"), std::string::npos) << "v1 only";

  // An existing metainfo is kept unless --force; --json tells everything about what was written.
  const auto again = daemon.cli({"publish", file.string(), "--web-seed", origin.url("pub.bin")});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("opendo: error 0x80070057: " + torrent.string() +
                           " exists; give --force to replace it"),
            std::string::npos)
      << again.err;
  const json described =
      cli_json(daemon, {"publish", file.string(), "--web-seed", origin.url("pub.bin"), "--force",
                        "--piece-length", "16384"});
  EXPECT_EQ(described["metainfo"], torrent.string());
  EXPECT_EQ(described["size"], 300000);
  EXPECT_EQ(described["piece_length"], 16384);
  EXPECT_EQ(described["piece_count"], 19);  // ceil(300000 / 16384)
  EXPECT_EQ(described["info_hash_v2"].get<std::string>().size(), 64U);
  EXPECT_EQ(described["info_hash_v1"].get<std::string>().size(), 40U);
  EXPECT_EQ(described["content_id"],
            "urn:btmh:1220" + described["info_hash_v2"].get<std::string>());
  EXPECT_EQ(described["web_seed"], origin.url("pub.bin"));
  EXPECT_EQ(described["legacy_info_hash"],
            transfer::peer::make_v1_twin(file, "pub.bin", 16384, origin.url("pub.bin")).info_hash);
  EXPECT_EQ(described["legacy_magnet"].get<std::string>().rfind(
                "magnet:?xt=urn:btih:" + described["legacy_info_hash"].get<std::string>(), 0),
            0U);
  EXPECT_EQ(transfer::peer::read_metainfo(read_file(torrent)).piece_length, 16384U);
  // --output elsewhere.
  const auto elsewhere = daemon.cli({"publish", file.string(), "--web-seed", origin.url("pub.bin"),
                                     "-o", (out / "x.torrent").string()});
  EXPECT_EQ(elsewhere.exit_code, 0) << elsewhere.err;
  EXPECT_TRUE(fs::exists(out / "x.torrent"));

  // What cannot be published says why, with E_INVALIDARG.
  const auto bad_seed = daemon.cli({"publish", file.string(), "--web-seed", "ftp://h/pub.bin", "-o",
                                    (out / "y.torrent").string()});
  EXPECT_EQ(bad_seed.exit_code, 1);
  EXPECT_NE(bad_seed.err.find("0x80070057: the web seed must be an http:// or https:// URL"),
            std::string::npos)
      << bad_seed.err;
  const auto bad_piece = daemon.cli({"publish", file.string(), "--web-seed", origin.url("pub.bin"),
                                     "--piece-length", "1000", "-o", (out / "y.torrent").string()});
  EXPECT_EQ(bad_piece.exit_code, 1);
  EXPECT_NE(bad_piece.err.find("the piece length must be a power of two"), std::string::npos)
      << bad_piece.err;
  const auto missing =
      daemon.cli({"publish", (out / "none.bin").string(), "--web-seed", origin.url("pub.bin")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot publish " + (out / "none.bin").string()), std::string::npos)
      << missing.err;
  EXPECT_FALSE(fs::exists(out / "y.torrent"));
}

TEST_F(ContentMetadata, FileAddedWithMetainfoShowsItsContentIdKeepsItAcrossRestartAndDownloads) {
  const std::string digest = origin.make_random_file("m.bin", 400000, 22);
  const fs::path torrent = out / "m.bin.torrent";
  const json published =
      cli_json(daemon, {"publish", (origin.docroot() / "m.bin").string(), "--web-seed",
                        origin.url("m.bin"), "-o", torrent.string()});
  const std::string content_id = published["content_id"];
  const std::string id = trim(daemon.cli({"create", "with metainfo"}).out);
  const auto added = daemon.cli({"addfile", id, origin.url("m.bin"), (out / "m.bin").string(),
                                 "--metainfo", torrent.string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  // A second file without metadata has no content id.
  origin.make_random_file("plain.bin", 1000, 23);
  ASSERT_EQ(
      daemon.cli({"addfile", id, origin.url("plain.bin"), (out / "plain.bin").string()}).exit_code,
      0);
  client c = connect(daemon);
  EXPECT_EQ(c.open_job(id).info().files.at(0).content_id, content_id);
  json info = cli_json(daemon, {"info", id});
  EXPECT_EQ(info["files"][0]["content_id"], content_id);
  EXPECT_EQ(info["files"][1]["content_id"], "");
  EXPECT_FALSE(info["files"][0].contains("metainfo"));  // never echoed back
  const auto human = daemon.cli({"info", id});
  EXPECT_NE(human.out.find("content " + content_id), std::string::npos) << human.out;

  daemon.restart();
  info = cli_json(daemon, {"info", id});
  EXPECT_EQ(info["files"][0]["content_id"], content_id);
  EXPECT_EQ(info["files"][1]["content_id"], "");

  // Nothing else changes yet: the files come over HTTP as before.
  client after = connect(daemon);
  job j = after.open_job(id);
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.info().files.at(0).sources.bytes_from_origin, 400000U);
  ASSERT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "m.bin"), digest);
}

TEST_F(ContentMetadata, FileAddedWithMagnetShowsItsContentId) {
  origin.make_random_file("g.bin", 50000, 24);
  const json published =
      cli_json(daemon, {"publish", (origin.docroot() / "g.bin").string(), "--web-seed",
                        origin.url("g.bin"), "-o", (out / "g.torrent").string()});
  const std::string magnet = published["magnet"];
  const auto got = daemon.cli({"--json", "get", origin.url("g.bin"), "-o", (out / "g.bin").string(),
                               "--magnet", magnet, "--keep"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(read_file(out / "g.bin"), read_file(origin.docroot() / "g.bin"));
  // The API: the magnet alone, v2 hash only.
  client c = connect(daemon);
  job j = c.create_job("magnet");
  file_spec file;
  file.remote_url = origin.url("g.bin");
  file.local_name = (out / "g2.bin").string();
  file.magnet = "magnet:?xt=urn:btmh:1220" + published["info_hash_v2"].get<std::string>();
  j.add_file(file);
  EXPECT_EQ(j.info().files.at(0).content_id, published["content_id"]);
}

TEST_F(ContentMetadata, GetWithMetainfoDownloadsAndItsFileProblemsAreClearErrors) {
  const std::string digest = origin.make_random_file("t.bin", 100000, 25);
  const fs::path torrent = out / "t.torrent";
  ASSERT_EQ(daemon
                .cli({"publish", (origin.docroot() / "t.bin").string(), "--web-seed",
                      origin.url("t.bin"), "-o", torrent.string()})
                .exit_code,
            0);
  const auto got = daemon.cli(
      {"get", origin.url("t.bin"), "-o", (out / "t.bin").string(), "--metainfo", torrent.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(sha256_file(out / "t.bin"), digest);

  const auto missing = daemon.cli({"get", origin.url("t.bin"), "-o", (out / "u.bin").string(),
                                   "--metainfo", (out / "none.torrent").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("0x80070057: cannot read the metainfo " +
                             (out / "none.torrent").string() + ": No such file or directory"),
            std::string::npos)
      << missing.err;
  write(out / "big.torrent", std::string(max_metainfo_size + 1, 'x'));
  const auto big = daemon.cli({"get", origin.url("t.bin"), "-o", (out / "u.bin").string(),
                               "--metainfo", (out / "big.torrent").string()});
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_NE(big.err.find("is 524289 bytes; at most 524288 are accepted"), std::string::npos)
      << big.err;
  const auto both = daemon.cli({"get", origin.url("t.bin"), "--metainfo", torrent.string(),
                                "--magnet", "magnet:?xt=urn:btmh:1220"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
  // The daemon's refusal of a bad metainfo reaches the CLI with its reason; no job is left.
  write(out / "bad.torrent", "not a torrent");
  const auto bad = daemon.cli({"get", origin.url("t.bin"), "-o", (out / "u.bin").string(),
                               "--metainfo", (out / "bad.torrent").string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("0x80070057: cannot add " + origin.url("t.bin") +
                         " with a metainfo: the metainfo is not a valid torrent file"),
            std::string::npos)
      << bad.err;
  EXPECT_TRUE(connect(daemon).list_jobs().empty());
  EXPECT_FALSE(fs::exists(out / "u.bin"));
}

// --metainfo-url URL and --published-metainfo (URL.torrent) of addfile and get: what the job
// records, shown by `opendo info`; one kind of content metadata at a time.
TEST_F(ContentMetadata, CliNamesAPublishedMetainfoByUrlOrBesideTheFile) {
  client c = connect(daemon);
  job j = c.create_job("published");
  const auto beside = daemon.cli(
      {"addfile", j.id(), origin.url("p.bin"), (out / "p.bin").string(), "--published-metainfo"});
  ASSERT_EQ(beside.exit_code, 0) << beside.err;
  const auto named = daemon.cli({"addfile", j.id(), origin.url("q.bin"), (out / "q.bin").string(),
                                 "--metainfo-url", origin.url("torrents/q")});
  ASSERT_EQ(named.exit_code, 0) << named.err;
  const job_info info = j.info();
  ASSERT_EQ(info.files.size(), 2U);
  EXPECT_EQ(info.files[0].metainfo_url, origin.url("p.bin") + ".torrent");
  EXPECT_EQ(info.files[1].metainfo_url, origin.url("torrents/q"));
  EXPECT_EQ(info.files[0].metainfo_note, "");
  const auto shown = daemon.cli({"info", j.id()});
  EXPECT_NE(shown.out.find("metainfo " + origin.url("p.bin") + ".torrent (not fetched yet)"),
            std::string::npos)
      << shown.out;
  const json as_json = cli_json(daemon, {"info", j.id()});
  EXPECT_EQ(as_json["files"][1]["metainfo_url"], origin.url("torrents/q")) << as_json.dump();

  const auto two = daemon.cli({"addfile", j.id(), origin.url("r.bin"), (out / "r.bin").string(),
                               "--published-metainfo", "--magnet", "magnet:?xt=urn:btmh:1220"});
  EXPECT_EQ(two.exit_code, 1);
  EXPECT_NE(two.err.find("give one of them"), std::string::npos) << two.err;
  const auto many = daemon.cli({"get", origin.url("a.bin"), origin.url("b.bin"), "-d",
                                out.path().string(), "--metainfo-url", origin.url("a.torrent")});
  EXPECT_NE(many.exit_code, 0);
  EXPECT_NE(many.err.find("describe a single file"), std::string::npos) << many.err;
  EXPECT_EQ(j.info().files.size(), 2U);
}

TEST_F(ContentMetadata, DaemonRefusesBadMetadataWithInvalidArgAndTheReason) {
  origin.make_random_file("r.bin", 60000, 26);
  const auto published =
      transfer::peer::publish_file(origin.docroot() / "r.bin", origin.url("r.bin"));
  client c = connect(daemon);
  file_spec file;
  file.remote_url = origin.url("r.bin");
  file.local_name = (out / "r.bin").string();
  const std::string prefix = "cannot add " + origin.url("r.bin") + " with ";

  file_spec ranged = file;
  ranged.metainfo = published.metainfo;
  ranged.ranges = {{0, 100}};
  EXPECT_EQ(add_refusal(c, ranged),
            std::make_pair(kInvalidArg, prefix + "a metainfo and ranges: content metadata "
                                                 "describes a whole file"));
  ranged.metainfo.clear();
  ranged.magnet = published.magnet;
  EXPECT_EQ(
      add_refusal(c, ranged),
      std::make_pair(kInvalidArg,
                     prefix + "a magnet and ranges: content metadata describes a whole file"));

  file_spec both = file;
  both.metainfo = published.metainfo;
  both.magnet = published.magnet;
  const std::string only_one =
      "more than one of a metainfo, a magnet and a metainfo URL: give one of them";
  EXPECT_EQ(add_refusal(c, both), std::make_pair(kInvalidArg, prefix + only_one));

  // A metainfo published beside the file (fetched when the file starts): one of the three, for a
  // whole file, an http(s) URL no longer than a remote URL.
  file_spec by_url = file;
  by_url.metainfo_url = origin.url("r.bin.torrent");
  file_spec url_and_metainfo = by_url;
  url_and_metainfo.metainfo = published.metainfo;
  EXPECT_EQ(add_refusal(c, url_and_metainfo), std::make_pair(kInvalidArg, prefix + only_one));
  file_spec url_and_ranges = by_url;
  url_and_ranges.ranges = {{0, 100}};
  EXPECT_EQ(add_refusal(c, url_and_ranges),
            std::make_pair(kInvalidArg, prefix + "a metainfo URL and ranges: content metadata "
                                                 "describes a whole file"));
  file_spec ftp = by_url;
  ftp.metainfo_url = "ftp://example.com/r.bin.torrent";
  const auto ftp_refused = add_refusal(c, ftp);
  EXPECT_EQ(ftp_refused.first, value_of(hr::winhttp_unrecognized_scheme));
  EXPECT_NE(ftp_refused.second.find("unsupported URL scheme \"ftp\""), std::string::npos)
      << ftp_refused.second;
  file_spec long_url = by_url;
  long_url.metainfo_url = origin.url(std::string(2200, 'x'));
  EXPECT_EQ(add_refusal(c, long_url),
            std::make_pair(kInvalidArg, "cannot add " + origin.url("r.bin") +
                                            ": its metainfo URL is longer than 2200 bytes"));
  EXPECT_EQ(add_refusal(c, by_url), std::make_pair(0U, std::string()));

  file_spec garbage = file;
  garbage.metainfo = "d4:spam4:eggse";
  const auto refused = add_refusal(c, garbage);
  EXPECT_EQ(refused.first, kInvalidArg);
  EXPECT_EQ(
      refused.second.rfind(prefix + "a metainfo: the metainfo is not a valid torrent file: ", 0),
      0U)
      << refused.second;

  // v1-only metainfo, made with libtorrent: no merkle hashes to verify blocks with.
  lt::file_storage storage;
  storage.add_file("r.bin", 60000);
  lt::create_torrent v1(storage, 16384, lt::create_torrent::v1_only);
  lt::set_piece_hashes(v1, origin.docroot().string());
  file_spec old = file;
  lt::bencode(std::back_inserter(old.metainfo), v1.generate());
  EXPECT_EQ(add_refusal(c, old),
            std::make_pair(kInvalidArg,
                           prefix + "a metainfo: the metainfo is BitTorrent v1 only (no v2 file "
                                    "tree); opendo needs v2 or hybrid metainfo, whose merkle "
                                    "hashes verify every 16 KiB block a peer sends"));

  file_spec v1_magnet = file;
  v1_magnet.magnet = "magnet:?xt=urn:btih:" + published.meta.info_hash_v1;
  EXPECT_EQ(add_refusal(c, v1_magnet).second,
            prefix +
                "a magnet: the magnet URI has no BitTorrent v2 info hash (xt=urn:btmh:1220 "
                "and 64 hex digits); opendo needs v2 hashes, whose merkle trees verify every "
                "16 KiB block a peer sends");

  // Over the limits: the library says so before sending (the daemon would refuse the
  // parameter before decoding it, see
  // Codec.FileSpecContentMetadataOverItsLimitOrNotBase64IsRefused).
  file_spec huge = file;
  huge.metainfo.assign(max_metainfo_size + 1, 'd');
  EXPECT_EQ(add_refusal(c, huge),
            std::make_pair(kInvalidArg, "the metainfo of " + origin.url("r.bin") +
                                            " is 524289 bytes; at most 524288 are accepted"));
  file_spec long_magnet = file;
  long_magnet.magnet.assign(max_magnet_size + 1, 'm');
  EXPECT_EQ(add_refusal(c, long_magnet),
            std::make_pair(kInvalidArg, "the magnet URI of " + origin.url("r.bin") +
                                            " is 4097 bytes; at most 4096 are accepted"));

  // Several metainfos in one AddFiles that cannot fit one message: the library says so.
  job many = c.create_job("many");
  std::vector<file_spec> files(3, file);
  for (std::size_t i = 0; i < files.size(); ++i) {
    files[i].local_name = (out / ("many" + std::to_string(i))).string();
    files[i].metainfo.assign(max_metainfo_size, 'x');
  }
  try {
    many.add_files(files);
    ADD_FAILURE() << "three 512 KiB metainfos fit one message";
  } catch (const opendo::error& e) {
    EXPECT_EQ(e.hresult(), kInvalidArg);
    EXPECT_NE(std::string(e.what()).find("(add files with metainfo one at a time)"),
              std::string::npos)
        << e.what();
  }
  // And the daemon is still there.
  EXPECT_TRUE(many.info().files.empty());
}

}  // namespace
