// The wire protocol's framing and JSON codec: limits hold, malformed input is refused with the
// parameter named, and a Job survives the round trip exactly.
#include <gtest/gtest.h>

#include "ipc/codec.hpp"
#include "ipc/framing.hpp"

using namespace opendo;

TEST(Framing, SplitsMessagesOnNul) {
  ipc::frame_decoder decoder;
  decoder.feed(std::string("{\"a\":1}\0{\"b\":", 13));
  auto first = decoder.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "{\"a\":1}");
  EXPECT_FALSE(decoder.next());
  decoder.feed(std::string("2}\0", 3));
  auto second = decoder.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, "{\"b\":2}");
  EXPECT_EQ(decoder.pending(), 0U);
}

TEST(Framing, MessageOverTheLimitIsRefusedWithoutBuffering) {
  ipc::frame_decoder decoder(16);
  decoder.feed(std::string(17, 'x'));
  EXPECT_FALSE(decoder.next());
  EXPECT_TRUE(decoder.overflow());
}

TEST(Framing, CompleteMessageOverTheLimitIsRefused) {
  ipc::frame_decoder decoder(4);
  decoder.feed(std::string("12345\0", 6));
  EXPECT_FALSE(decoder.next());
  EXPECT_TRUE(decoder.overflow());
}

TEST(Framing, MessageAtTheLimitIsAccepted) {
  ipc::frame_decoder decoder(4);
  decoder.feed(std::string("1234\0", 5));
  EXPECT_EQ(decoder.next().value_or(""), "1234");
}

TEST(Framing, ManySmallMessagesDoNotGrowTheBuffer) {
  ipc::frame_decoder decoder(64);
  for (int i = 0; i < 10000; ++i) {
    decoder.feed(std::string("{}\0", 3));
    ASSERT_TRUE(decoder.next());
  }
  EXPECT_EQ(decoder.pending(), 0U);
}

TEST(Codec, ParseCallReadsMethodParametersAndFlags) {
  auto call = ipc::parse_call(
      R"({"method":"org.opendo.Transfer.Watch","parameters":{"id":"x"},"more":true})");
  EXPECT_EQ(call.method, "org.opendo.Transfer.Watch");
  EXPECT_EQ(call.parameters["id"], "x");
  EXPECT_TRUE(call.more);
  EXPECT_FALSE(call.oneway);
}

TEST(Codec, MalformedCallsNameTheProblem) {
  auto parameter_of = [](const std::string& text) {
    try {
      ipc::parse_call(text);
    } catch (const ipc::bad_parameter& e) {
      return e.parameter;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(parameter_of("not json"), "message");
  EXPECT_EQ(parameter_of("[1,2]"), "message");
  EXPECT_EQ(parameter_of("{}"), "method");
  EXPECT_EQ(parameter_of(R"({"method":7})"), "method");
  EXPECT_EQ(parameter_of(R"({"method":"a.B","parameters":[]})"), "parameters");
  EXPECT_EQ(parameter_of(R"({"method":"a.B","more":"yes"})"), "more");
  EXPECT_EQ(parameter_of("{\"method\":\"a.B\xff\"}"), "message");
  EXPECT_EQ(parameter_of(std::string(100000, '[')), "message");
}

TEST(Codec, TypedParametersRefuseWrongTypesAndLengths) {
  const ipc::json params = {{"s", "abc"}, {"n", -1}, {"u", 5}, {"b", true}};
  EXPECT_EQ(ipc::required_string(params, "s", 3), "abc");
  EXPECT_THROW(ipc::required_string(params, "s", 2), ipc::bad_parameter);
  EXPECT_THROW(ipc::required_string(params, "missing", 10), ipc::bad_parameter);
  EXPECT_THROW(ipc::required_string(params, "u", 10), ipc::bad_parameter);
  EXPECT_THROW(ipc::optional_uint(params, "n"), ipc::bad_parameter);
  EXPECT_EQ(ipc::optional_uint(params, "u").value(), 5U);
  EXPECT_FALSE(ipc::optional_uint(params, "missing"));
  EXPECT_TRUE(ipc::optional_bool(params, "b").value());
}

TEST(Codec, JobRoundTripsExactly) {
  job_info job;
  job.id = "{00000000-0000-4000-8000-000000000001}";
  job.owner_uid = 1000;
  job.creator_uid = 1001;
  job.display_name = "naïve ✓";
  job.description = "d";
  job.priority = job_priority::high;
  job.state = job_state::transient_error;
  job.bytes_total = size_unknown;
  job.bytes_transferred = 1ULL << 40;
  job.files_total = 2;
  job.files_transferred = 1;
  job.notify_flags = 0x3B;
  job.minimum_retry_delay = 5;
  job.no_progress_timeout = 0;
  job.error_count = 3;
  job.error = job_error{0x80072EFDU, error_context::general_transport, 1, "refused", "http"};
  job.times = {1, 2, 3};
  job.files.push_back({"http://h/a",
                       "/tmp/a",
                       {},
                       range_layout::concatenated,
                       "",
                       {100, 100, true},
                       source_stats{100, 20, 30, 40, 50, 60, 2, 3, 4, 5, 1234}});
  job.files.push_back({"http://h/b",
                       "/tmp/b",
                       {{10, 5}, {400, length_to_eof}},
                       range_layout::in_place,
                       "sha256:" + std::string(64, 'a'),
                       {size_unknown, 7, false},
                       source_stats{7}});
  const job_info back = ipc::job_from_json(ipc::to_json(job));
  EXPECT_EQ(ipc::to_json(back), ipc::to_json(job));
  EXPECT_EQ(back.bytes_total, size_unknown);
  EXPECT_EQ(back.creator_uid, 1001U);
  EXPECT_EQ(back.error->file_index, 1U);
  EXPECT_EQ(back.error->context, error_context::general_transport);
  EXPECT_EQ(back.files[1].progress.bytes_total, size_unknown);
  EXPECT_EQ(ipc::to_json(job)["bytes_total"], -1);
  EXPECT_EQ(back.files[1].ranges, (std::vector<byte_range>{{10, 5}, {400, length_to_eof}}));
  EXPECT_EQ(back.files[1].layout, range_layout::in_place);
  EXPECT_EQ(ipc::to_json(job)["files"][1]["ranges"][1]["length"], -1);
  EXPECT_EQ(back.files[0].sources, job.files[0].sources);
  EXPECT_EQ(ipc::to_json(job)["files"][0]["sources"]["bytes_from_cache_hosts"], 20);
  EXPECT_EQ(ipc::to_json(job)["files"][0]["content_id"], "");

  // Without its files (Watch with files: false): the list is empty, everything else the same.
  const ipc::json totals = ipc::to_json(job, watched_files::none);
  EXPECT_EQ(totals["files"], ipc::json::array());
  ipc::json without_files = ipc::to_json(job);
  without_files["files"] = ipc::json::array();
  EXPECT_EQ(totals, without_files);
  const job_info totals_back = ipc::job_from_json(totals);
  EXPECT_TRUE(totals_back.files.empty());
  EXPECT_EQ(totals_back.files_total, 2U);
  EXPECT_EQ(totals_back.bytes_transferred, 1ULL << 40);
}

TEST(Codec, FileContentIdRoundTripsAndMayBeAbsent) {
  job_info job;
  job.id = "{00000000-0000-4000-8000-000000000002}";
  file_info file;
  file.remote_url = "http://h/a";
  file.local_name = "/tmp/a";
  file.content_id = "urn:btmh:1220" + std::string(64, 'e');
  job.files.push_back(file);
  ipc::json wire = ipc::to_json(job);
  EXPECT_EQ(wire["files"][0]["content_id"], file.content_id);
  EXPECT_EQ(ipc::job_from_json(wire).files[0].content_id, file.content_id);
  // An opendod older than content metadata sends none: no content id.
  wire["files"][0].erase("content_id");
  EXPECT_EQ(ipc::job_from_json(wire).files[0].content_id, "");
  wire["files"][0]["content_id"] = 7;
  EXPECT_THROW(ipc::job_from_json(wire), ipc::bad_parameter);
}

// The metainfo is raw bytes (NULs and all 256 values) and travels as base64; the magnet as is.
TEST(Codec, FileSpecMetainfoTravelsAsBase64AndMagnetAsIs) {
  file_spec spec;
  spec.remote_url = "http://h/a";
  spec.local_name = "/tmp/a";
  for (int length : {0, 1, 2, 3, 4, 5, 300}) {
    SCOPED_TRACE(length);
    spec.metainfo.clear();
    for (int i = 0; i < length; ++i) spec.metainfo.push_back(static_cast<char>((i * 37) & 0xFF));
    const ipc::json wire = ipc::to_json(spec);
    EXPECT_EQ(wire.contains("metainfo"), length > 0);
    EXPECT_EQ(ipc::file_spec_from_json(wire, 100, 100).metainfo, spec.metainfo);
  }
  spec.metainfo = "d4:infoe";
  EXPECT_EQ(ipc::to_json(spec)["metainfo"], "ZDQ6aW5mb2U=");
  spec.metainfo = std::string("\0\xff", 2);
  EXPECT_EQ(ipc::to_json(spec)["metainfo"], "AP8=");
  spec.metainfo.clear();
  spec.magnet = "magnet:?xt=urn:btmh:1220" + std::string(64, 'a');
  EXPECT_EQ(ipc::to_json(spec)["magnet"], spec.magnet);
  EXPECT_FALSE(ipc::to_json(spec).contains("metainfo"));
  EXPECT_EQ(ipc::file_spec_from_json(ipc::to_json(spec), 100, 100).magnet, spec.magnet);
}

// A published metainfo's URL goes as is, limited like the remote URL; the daemon's report of it
// (URL and note) may be absent, from an opendod older than it.
TEST(Codec, PublishedMetainfoUrlAndNoteRoundTripAndMayBeAbsent) {
  file_spec spec;
  spec.remote_url = "http://h/a";
  spec.local_name = "/tmp/a";
  EXPECT_FALSE(ipc::to_json(spec).contains("metainfo_url"));
  spec.metainfo_url = "http://h/a.torrent";
  EXPECT_EQ(ipc::to_json(spec)["metainfo_url"], spec.metainfo_url);
  EXPECT_EQ(ipc::file_spec_from_json(ipc::to_json(spec), 100, 100).metainfo_url, spec.metainfo_url);
  EXPECT_THROW(ipc::file_spec_from_json(ipc::to_json(spec), 10, 100), ipc::bad_parameter);

  job_info job;
  job.id = "{00000000-0000-4000-8000-000000000003}";
  file_info file;
  file.remote_url = "http://h/a";
  file.local_name = "/tmp/a";
  file.metainfo_url = "http://h/a.torrent";
  file.metainfo_note = "used";
  job.files.push_back(file);
  ipc::json wire = ipc::to_json(job);
  EXPECT_EQ(ipc::job_from_json(wire).files[0].metainfo_url, file.metainfo_url);
  EXPECT_EQ(ipc::job_from_json(wire).files[0].metainfo_note, "used");
  wire["files"][0].erase("metainfo_url");
  wire["files"][0].erase("metainfo_note");
  EXPECT_EQ(ipc::job_from_json(wire).files[0].metainfo_url, "");
  EXPECT_EQ(ipc::job_from_json(wire).files[0].metainfo_note, "");
}

TEST(Codec, FileSpecContentMetadataOverItsLimitOrNotBase64IsRefused) {
  const ipc::json base{{"remote_url", "http://h/a"}, {"local_name", "/tmp/a"}};
  auto refused = [&](const char* name, ipc::json value) {
    ipc::json wire = base;
    wire[name] = std::move(value);
    try {
      ipc::file_spec_from_json(wire, 100, 100);
      return std::string("accepted");
    } catch (const ipc::bad_parameter& e) {
      return e.parameter;
    }
  };
  for (const char* text : {"abc", "ab=c", "=abc", "a===", "ab\ncd==", "ab-_", "YWJj!"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(refused("metainfo", text), "metainfo");
  }
  EXPECT_EQ(refused("metainfo", 12), "metainfo");
  // The largest metainfo fits; one byte more does not.
  file_spec largest;
  largest.remote_url = "http://h/a";
  largest.local_name = "/tmp/a";
  largest.metainfo.assign(opendo::max_metainfo_size, 'x');
  EXPECT_EQ(ipc::file_spec_from_json(ipc::to_json(largest), 100, 100).metainfo.size(),
            opendo::max_metainfo_size);
  largest.metainfo.push_back('x');
  EXPECT_THROW(ipc::file_spec_from_json(ipc::to_json(largest), 100, 100), ipc::bad_parameter);
  // And with a whole AddFile around it, it fits one Varlink message.
  largest.metainfo.pop_back();
  ipc::json call{{"method", "org.opendo.Transfer.AddFile"}, {"parameters", ipc::to_json(largest)}};
  call["parameters"]["remote_url"] = std::string(2200, 'u');
  call["parameters"]["local_name"] = std::string(4096, 'l');
  call["parameters"]["magnet"] = std::string(4096, 'm');
  call["parameters"]["id"] = "{00000000-0000-4000-8000-000000000002}";
  EXPECT_LT(call.dump().size() + 1, ipc::max_message_size);
  EXPECT_EQ(refused("magnet", std::string(opendo::max_magnet_size + 1, 'm')), "magnet");
  EXPECT_EQ(refused("magnet", true), "magnet");
}

TEST(Codec, FileWithoutSourcesIsRefused) {
  job_info job;
  job.files.push_back({"http://h/a", "/tmp/a", {}, range_layout::concatenated, "", {}, {}});
  ipc::json wire = ipc::to_json(job);
  wire["files"][0]["sources"].erase("download_duration_ms");
  try {
    ipc::job_from_json(wire);
    ADD_FAILURE() << "accepted";
  } catch (const ipc::bad_parameter& e) {
    EXPECT_EQ(e.parameter, "download_duration_ms");
  }
  wire["files"][0].erase("sources");
  EXPECT_THROW(ipc::job_from_json(wire), ipc::bad_parameter);
}

TEST(Codec, StatisticsRoundTripExactly) {
  machine_statistics stats;
  stats.files_downloaded = 12;
  stats.files_uploaded = 1;
  stats.totals = source_stats{1ULL << 40, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  stats.download_rate = 1000;
  stats.upload_rate = 2;
  stats.cache_size = 3;
  stats.peers_connected = 4;
  stats.foreground_downloads = 5;
  stats.background_downloads = 6;
  stats.queued_jobs = 7;
  stats.download_mode = "HttpOnly";
  stats.daemon_cpu_time_ms = 8;
  stats.daemon_rss_bytes = 9;
  stats.daemon_uptime_s = 10;
  const machine_statistics back = ipc::statistics_from_json(ipc::to_json(stats));
  EXPECT_EQ(ipc::to_json(back), ipc::to_json(stats));
  EXPECT_EQ(back.totals, stats.totals);
  EXPECT_EQ(back.queued_jobs, 7U);
  ipc::json wire = ipc::to_json(stats);
  wire["peers_connected"] = -1;
  EXPECT_THROW(ipc::statistics_from_json(wire), ipc::bad_parameter);
}

TEST(Codec, PeerRoundTripsExactly) {
  peer_connection p{
      "urn:btmh:1220ab", "127.0.0.2:7680", "opendo 0.1.0.0", true, false, 1ULL << 40, 2, 3, 4};
  const peer_connection back = ipc::peer_from_json(ipc::to_json(p));
  EXPECT_EQ(ipc::to_json(back), ipc::to_json(p));
  ipc::json wire = ipc::to_json(p);
  wire["seed"] = "yes";
  EXPECT_THROW(ipc::peer_from_json(wire), ipc::bad_parameter);
}

TEST(Codec, HttpOptionsAndLastResponseRoundTrip) {
  job_info job;
  job.id = "{00000000-0000-4000-8000-000000000002}";
  job.custom_headers = {"X-Opendo-Test: ünï", "Accept-Language: en"};
  job.has_custom_auth_headers = true;
  job.has_client_certificate = true;
  job.allow_https_to_http_redirect = true;
  job.last_response = {302, "Location: /other\r\nServer: nginx\r\n", "127.0.0.1",
                       "http://127.0.0.1:8080/other"};
  const ipc::json wire = ipc::to_json(job);
  EXPECT_EQ(wire["custom_headers"][0], "X-Opendo-Test: ünï");
  EXPECT_EQ(wire["has_custom_auth_headers"], true);
  EXPECT_EQ(wire["last_response"]["status"], 302);
  const job_info back = ipc::job_from_json(wire);
  EXPECT_EQ(ipc::to_json(back), wire);
  EXPECT_EQ(back.custom_headers, job.custom_headers);
  EXPECT_TRUE(back.has_custom_auth_headers);
  EXPECT_TRUE(back.has_client_certificate);
  EXPECT_TRUE(back.allow_https_to_http_redirect);
  EXPECT_EQ(back.last_response.status, 302U);
  EXPECT_EQ(back.last_response.headers, job.last_response.headers);
  EXPECT_EQ(back.last_response.server_ip, "127.0.0.1");
  EXPECT_EQ(back.last_response.redirection_target, "http://127.0.0.1:8080/other");
  // Wrong shapes name the field.
  for (const char* field : {"custom_headers", "has_custom_auth_headers", "has_client_certificate",
                            "allow_https_to_http_redirect", "last_response"}) {
    SCOPED_TRACE(field);
    auto bad = wire;
    bad[field] = 42;
    if (std::string(field) == "custom_headers") bad[field] = ipc::json::array({1});
    if (std::string(field) == "last_response") {
      bad[field] = wire[field];
      bad[field]["status"] = -1;
    }
    try {
      ipc::job_from_json(bad);
      ADD_FAILURE() << "accepted " << bad[field];
    } catch (const ipc::bad_parameter& e) {
      EXPECT_NE(std::string(e.what()).size(), 0U);
    }
  }
}

TEST(Codec, FileSpecRangesAreOptionalAndChecked) {
  const file_spec whole = ipc::file_spec_from_json(
      ipc::json{{"remote_url", "http://h/a"}, {"local_name", "/tmp/a"}}, 100, 100);
  EXPECT_TRUE(whole.ranges.empty());
  EXPECT_FALSE(ipc::to_json(whole).contains("ranges"));
  file_spec ranged{
      "http://h/a", "/tmp/a", {{0, 1}, {5, length_to_eof}}, range_layout::in_place, {}};
  const file_spec back = ipc::file_spec_from_json(ipc::to_json(ranged), 100, 100);
  EXPECT_EQ(back.ranges, ranged.ranges);
  EXPECT_EQ(back.layout, range_layout::in_place);
  auto bad = ipc::to_json(ranged);
  bad["layout"] = "sideways";
  EXPECT_THROW(ipc::file_spec_from_json(bad, 100, 100), ipc::bad_parameter);
  bad = ipc::to_json(ranged);
  bad["ranges"][0]["offset"] = -3;
  EXPECT_THROW(ipc::file_spec_from_json(bad, 100, 100), ipc::bad_parameter);
  bad = ipc::to_json(ranged);
  bad["ranges"] = "0-5";
  EXPECT_THROW(ipc::file_spec_from_json(bad, 100, 100), ipc::bad_parameter);
  EXPECT_THROW(ipc::file_spec_from_json(ipc::to_json(ranged), 5, 100), ipc::bad_parameter);
}

TEST(Codec, JobLimitsRoundTrip) {
  job_info job;
  job.id = "x";
  job.max_download_time = 4294967295U;
  job.max_download_size = 0xFFFFFFFFFFFFFFF0ULL;  // above INT64_MAX: exact as an unsigned number
  job.minimum_notification_interval_ms = 0;
  const ipc::json wire = ipc::to_json(job);
  EXPECT_EQ(wire["max_download_time"], 4294967295U);
  EXPECT_EQ(wire["max_download_size"], 0xFFFFFFFFFFFFFFF0ULL);
  EXPECT_EQ(wire["minimum_notification_interval_ms"], 0U);
  const job_info back = ipc::job_from_json(wire);
  EXPECT_EQ(back.max_download_time, 4294967295U);
  EXPECT_EQ(back.max_download_size, 0xFFFFFFFFFFFFFFF0ULL);
  EXPECT_EQ(back.minimum_notification_interval_ms, 0U);
}

// A daemon from before the limits sends a Job without them: the client keeps the defaults.
TEST(Codec, JobWithoutLimitsHasTheDefaults) {
  job_info job;
  job.id = "x";
  job.max_download_time = 1;
  job.max_download_size = 2;
  job.minimum_notification_interval_ms = 3;
  ipc::json wire = ipc::to_json(job);
  wire.erase("max_download_time");
  wire.erase("max_download_size");
  wire.erase("minimum_notification_interval_ms");
  const job_info back = ipc::job_from_json(wire);
  EXPECT_EQ(back.max_download_time, 7776000U);
  EXPECT_EQ(back.max_download_size, 0U);
  EXPECT_EQ(back.minimum_notification_interval_ms, 500U);
  wire = ipc::to_json(job);
  wire["max_download_time"] = 4294967296ULL;  // does not fit 32 bits
  EXPECT_THROW(ipc::job_from_json(wire), ipc::bad_parameter);
  wire = ipc::to_json(job);
  wire["max_download_size"] = -1;
  EXPECT_THROW(ipc::job_from_json(wire), ipc::bad_parameter);
}

TEST(Codec, JobWithoutErrorHasNoErrorField) {
  job_info job;
  job.id = "x";
  EXPECT_FALSE(ipc::to_json(job).contains("error"));
  EXPECT_FALSE(ipc::job_from_json(ipc::to_json(job)).error.has_value());
}

// Found by fuzz_codec: a time that is not an integer threw nlohmann's type_error (a float out of
// range would have been undefined behaviour) instead of the documented bad_parameter.
TEST(Codec, JobTimesThatAreNotIntegersAreRefused) {
  job_info job;
  job.id = "{00000000-0000-0000-0000-000000000001}";
  for (const ipc::json& bad : {ipc::json("soon"), ipc::json(1e300), ipc::json(1.5),
                               ipc::json(18446744073709551615ULL), ipc::json(nullptr)}) {
    ipc::json value = ipc::to_json(job);
    value["times"]["modification"] = bad;
    try {
      ipc::job_from_json(value);
      ADD_FAILURE() << "accepted " << bad.dump();
    } catch (const ipc::bad_parameter& e) {
      EXPECT_EQ(e.parameter, "modification");
    }
  }
  ipc::json value = ipc::to_json(job);
  value["times"]["creation"] = -5;
  EXPECT_EQ(ipc::job_from_json(value).times.creation, -5);
}

TEST(Codec, RepliesAreVarlinkShaped) {
  auto reply = ipc::json::parse(ipc::reply({{"a", 1}}, true));
  EXPECT_EQ(reply["parameters"]["a"], 1);
  EXPECT_TRUE(reply["continues"]);
  auto error = ipc::json::parse(ipc::hresult_reply(0x80200001U, "no job"));
  EXPECT_EQ(error["error"], "org.opendo.Transfer.HResult");
  EXPECT_EQ(error["parameters"]["code"], 0x80200001U);
  EXPECT_EQ(error["parameters"]["message"], "no job");
}

TEST(Codec, InvalidUtf8InRepliesIsReplacedNotFatal) {
  EXPECT_NO_THROW(ipc::hresult_reply(1, "bad \xff byte"));
}
