// access_log: the line format (every field, nulls, timestamps, escaping of
// hostile bytes: every line is parsed back with a strict JSON parser), and the
// writer (real thread, real files): lines from several producers arrive
// exactly once, full rings drop and count instead of blocking, reopen() while
// writing loses and duplicates nothing, off writes nothing. Tests wait on
// flush()/stop(), which block until the lines are written; nothing sleeps.
#include "observe/access_log.h"

#include <gtest/gtest.h>

#include "unit/observe/json_lines.h"
#include "unit/temp_dir.h"
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace bulwark::observe {
namespace {

using namespace std::chrono;
using namespace std::string_literals;
using nlohmann::json;
using test::parse_line;

const std::vector<std::string> all_fields = {
    "ts",          "request_id", "client_ip",    "method",      "path",     "route",
    "status",      "bytes_in",   "bytes_out",    "duration_ms", "upstream", "endpoint",
    "upstream_ms", "attempts",   "error_source", "ratelimit",   "cache",    "auth"};

system_clock::time_point at(sys_days day, nanoseconds since_midnight) {
  return system_clock::time_point(
      duration_cast<system_clock::duration>(day.time_since_epoch() + since_midnight));
}

access_record minimal_record() {
  access_record r;
  r.finished = at(sys_days{2026y / 11 / 21}, 22h + 42min + 45s + 123ms);
  r.request_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.client_ip = "203.0.113.7";
  r.method = "GET";
  r.path = "/"s;  // not "/": GCC 12 reports a false -Wrestrict once this is inlined
  r.status = 404;
  return r;
}

access_record full_record() {
  access_record r = minimal_record();
  r.path = "/api/v1/items?page=2";
  r.route = "items";
  r.status = 502;
  r.bytes_in = 1234;
  r.bytes_out = 5678901234;
  r.duration = 1'234'567ns;
  r.upstream = "api";
  r.endpoint = "127.0.0.1:9000";
  r.upstream_time = 1'200'999ns;
  r.attempts = 3;
  r.error = error_source::upstream;
  r.ratelimit = "per-ip";
  r.cache = "miss";
  r.auth = "key:k1";
  return r;
}


// --- format ----------------------------------------------------------------------------

TEST(access_line, every_field_is_written_in_order) {
  const std::string line = format_access_line(full_record());
  EXPECT_EQ(line,
            R"({"ts":"2026-11-21T22:42:45.123Z","request_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
            R"("client_ip":"203.0.113.7","method":"GET","path":"/api/v1/items?page=2",)"
            R"("route":"items","status":502,"bytes_in":1234,"bytes_out":5678901234,)"
            R"("duration_ms":1.234,"upstream":"api","endpoint":"127.0.0.1:9000",)"
            R"("upstream_ms":1.200,"attempts":3,"error_source":"upstream","ratelimit":"per-ip",)"
            R"("cache":"miss","auth":"key:k1"})"
            "\n");
  const json parsed = parse_line(line);
  std::vector<std::string> keys;
  for (const auto& item : parsed.items()) keys.push_back(item.key());
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> expected = all_fields;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(keys, expected);
  EXPECT_DOUBLE_EQ(parsed["duration_ms"].get<double>(), 1.234);
  EXPECT_EQ(parsed["bytes_out"].get<uint64_t>(), 5678901234u);
}

TEST(access_line, fields_without_a_value_are_null) {
  const json parsed = parse_line(format_access_line(minimal_record()));
  EXPECT_EQ(parsed.size(), all_fields.size());
  for (const std::string field : {"route", "upstream", "endpoint", "upstream_ms", "attempts",
                                  "error_source", "ratelimit", "cache", "auth"}) {
    ASSERT_TRUE(parsed.contains(field)) << field;
    EXPECT_TRUE(parsed[field].is_null()) << field;
  }
  EXPECT_EQ(parsed["status"], 404);
  EXPECT_EQ(parsed["bytes_in"], 0);
  EXPECT_TRUE(parsed["duration_ms"].is_number());
}

TEST(access_line, error_sources_have_their_names) {
  access_record r = minimal_record();
  r.error = error_source::client;
  EXPECT_EQ(parse_line(format_access_line(r))["error_source"], "client");
  r.error = error_source::upstream;
  EXPECT_EQ(parse_line(format_access_line(r))["error_source"], "upstream");
  r.error = error_source::gateway;
  EXPECT_EQ(parse_line(format_access_line(r))["error_source"], "gateway");
}

TEST(access_line, durations_are_milliseconds_with_microsecond_precision) {
  const auto duration_text = [](nanoseconds d) {
    access_record r = minimal_record();
    r.duration = d;
    const std::string line = format_access_line(r);
    const auto start = line.find("\"duration_ms\":") + 14;
    return line.substr(start, line.find(',', start) - start);
  };
  EXPECT_EQ(duration_text(0ns), "0.000");
  EXPECT_EQ(duration_text(999ns), "0.000");
  EXPECT_EQ(duration_text(5us), "0.005");
  EXPECT_EQ(duration_text(1ms + 40us), "1.040");
  EXPECT_EQ(duration_text(30s), "30000.000");
  EXPECT_EQ(duration_text(-5ms), "0.000");  // a clock step backwards is not a negative time
}

TEST(access_line, timestamps_are_rfc3339_utc_with_milliseconds) {
  EXPECT_EQ(format_rfc3339_millis(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_millis(at(sys_days{2024y / 2 / 29}, 23h + 59min + 59s + 999'999us)),
            "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339_millis(system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339_millis(at(sys_days{2000y / 1 / 1}, 7ms)), "2000-01-01T00:00:00.007Z");
}

TEST(access_line, hostile_strings_stay_one_valid_line) {
  access_record r = minimal_record();
  r.path = "/a\"b\\c\nd\re\tf\x01g\x7fh\0i"s;
  r.method = "G\xffT";           // invalid UTF-8
  r.request_id = "caf\xc3\xa9";  // valid UTF-8 is kept
  r.route = "\xe2\x82";          // truncated sequence
  r.auth = "\xed\xa0\x80";       // an encoded surrogate is invalid UTF-8
  const json parsed = parse_line(format_access_line(r));
  EXPECT_EQ(parsed["path"], "/a\"b\\c\nd\re\tf\x01g\x7fh\0i"s);
  EXPECT_EQ(parsed["method"], "G\xef\xbf\xbdT");  // U+FFFD stands for the bad byte
  EXPECT_EQ(parsed["request_id"], "caf\xc3\xa9");
  EXPECT_EQ(parsed["route"], "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(parsed["auth"], "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(access_line, random_bytes_in_every_string_still_parse) {
  std::mt19937_64 random(7);
  const auto random_bytes = [&] {
    std::string text(random() % 40, '\0');
    for (char& c : text) c = char(random() % 256);
    return text;
  };
  for (int i = 0; i < 2000; ++i) {
    access_record r = minimal_record();
    r.path = random_bytes();
    r.method = random_bytes();
    r.request_id = random_bytes();
    r.client_ip = random_bytes();
    r.route = random_bytes();
    r.endpoint = random_bytes();
    const std::string line = format_access_line(r);
    ASSERT_NO_THROW(parse_line(line)) << line;
  }
}

// --- the writer ------------------------------------------------------------------------

class access_log_files : public testing::Test {
 protected:
  std::filesystem::path file(const std::string& name) const { return dir_ / name; }

  static access_log::options to_file(const std::filesystem::path& path,
                                     std::size_t ring_bytes = 1 << 20) {
    access_log::options o;
    o.to = access_log::destination::file;
    o.path = path;
    o.ring_bytes = ring_bytes;
    return o;
  }

  static std::vector<std::string> lines_of(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
    return lines;
  }

  // request_id of every line of the files, each line parsed.
  static std::map<std::string, int> ids_in(const std::vector<std::filesystem::path>& files) {
    std::map<std::string, int> seen;
    for (const auto& path : files) {
      for (const std::string& line : lines_of(path)) ++seen[parse_line(line)["request_id"]];
    }
    return seen;
  }

  static access_record numbered(std::size_t worker, std::size_t i) {
    access_record r = full_record();
    r.request_id = std::to_string(worker) + "-" + std::to_string(i);
    r.path = "/items/\x01\"" + std::to_string(i);  // escaping on the threaded path too
    return r;
  }

  bulwark::test::temp_dir scratch_;
  std::filesystem::path dir_ = scratch_.path();
};

TEST_F(access_log_files, flush_writes_every_queued_line) {
  const auto path = file("access.log");
  access_log log(to_file(path), 1);
  ASSERT_TRUE(log.enabled());
  for (int i = 0; i < 3; ++i) log.write(0, numbered(0, i));
  log.flush();
  EXPECT_EQ(log.written(), 3u);
  EXPECT_EQ(log.dropped(), 0u);
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], format_access_line(numbered(0, 0)));
  EXPECT_EQ(parse_line(lines[2])["request_id"], "0-2");
}

TEST_F(access_log_files, appends_to_an_existing_file) {
  const auto path = file("access.log");
  std::ofstream(path) << "earlier line\n";
  {
    access_log log(to_file(path), 1);
    log.write(0, numbered(0, 0));
  }  // the destructor stops, which writes what is queued
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "earlier line\n");
  EXPECT_EQ(parse_line(lines[1])["request_id"], "0-0");
}

TEST_F(access_log_files, four_producers_each_line_exactly_once) {
  constexpr std::size_t workers = 4;
  constexpr std::size_t per_worker = 100'000;
  // Rings that hold a whole producer's output: no drop can happen, however
  // slowly the writer runs on a loaded machine.
  const std::size_t ring_bytes = std::size_t{64} << 20;
  ASSERT_LT(format_access_line(numbered(workers, per_worker)).size() * per_worker, ring_bytes);
  const auto path = file("access.log");
  access_log log(to_file(path, ring_bytes), workers);
  std::vector<std::thread> producers;
  for (std::size_t w = 0; w < workers; ++w) {
    producers.emplace_back([&log, w] {
      for (std::size_t i = 0; i < per_worker; ++i) log.write(w, numbered(w, i));
    });
  }
  for (auto& p : producers) p.join();
  log.stop();
  EXPECT_EQ(log.dropped(), 0u);
  EXPECT_EQ(log.written(), workers * per_worker);
  const auto seen = ids_in({path});
  ASSERT_EQ(seen.size(), workers * per_worker);
  for (const auto& [id, count] : seen) ASSERT_EQ(count, 1) << id;
  EXPECT_EQ(seen.count("3-99999"), 1u);
}

TEST_F(access_log_files, small_rings_drop_and_count_but_never_block) {
  constexpr std::size_t workers = 4;
  constexpr std::size_t per_worker = 20'000;
  const auto path = file("access.log");
  access_log log(to_file(path, 4096), workers);
  std::vector<std::thread> producers;
  for (std::size_t w = 0; w < workers; ++w) {
    producers.emplace_back([&log, w] {
      for (std::size_t i = 0; i < per_worker; ++i) log.write(w, numbered(w, i));
    });
  }
  for (auto& p : producers) p.join();
  log.stop();
  EXPECT_EQ(log.written() + log.dropped(), workers * per_worker);
  const auto seen = ids_in({path});
  EXPECT_EQ(seen.size(), log.written());
  for (const auto& [id, count] : seen) ASSERT_EQ(count, 1) << id;
}

TEST_F(access_log_files, a_line_larger_than_the_ring_is_dropped) {
  const auto path = file("access.log");
  access_log log(to_file(path, 64), 1);
  access_record big = numbered(0, 0);
  big.path.assign(200, 'x');
  log.write(0, big);
  log.flush();
  EXPECT_EQ(log.dropped(), 1u);
  EXPECT_EQ(log.written(), 0u);
  EXPECT_TRUE(lines_of(path).empty());
}

TEST_F(access_log_files, reopen_moves_later_lines_to_the_new_file) {
  const auto path = file("access.log");
  const auto rotated = file("access.log.1");
  access_log log(to_file(path), 1);
  log.write(0, numbered(0, 0));
  log.write(0, numbered(0, 1));
  std::filesystem::rename(path, rotated);
  log.reopen();
  log.write(0, numbered(0, 2));
  log.flush();  // the reopen is done once flush() returns
  log.write(0, numbered(0, 3));
  log.flush();
  const auto old_ids = ids_in({rotated});
  const auto new_ids = ids_in({path});
  EXPECT_EQ(old_ids.count("0-0") + new_ids.count("0-0"), 1u);
  EXPECT_EQ(old_ids.count("0-2") + new_ids.count("0-2"), 1u);
  EXPECT_EQ(new_ids.count("0-3"), 1u);
  EXPECT_EQ(old_ids.size() + new_ids.size(), 4u);
}

TEST_F(access_log_files, reopen_while_writing_loses_and_duplicates_nothing) {
  constexpr std::size_t workers = 4;
  constexpr std::size_t per_worker = 25'000;
  const std::size_t ring_bytes = std::size_t{16} << 20;
  const auto path = file("access.log");
  access_log log(to_file(path, ring_bytes), workers);
  std::vector<std::thread> producers;
  for (std::size_t w = 0; w < workers; ++w) {
    producers.emplace_back([&log, w] {
      for (std::size_t i = 0; i < per_worker; ++i) log.write(w, numbered(w, i));
    });
  }
  std::vector<std::filesystem::path> files;
  for (int rotation = 1; rotation <= 3; ++rotation) {
    files.push_back(file("access.log." + std::to_string(rotation)));
    std::filesystem::rename(path, files.back());
    log.reopen();
    log.flush();  // the new file exists once this returns
  }
  for (auto& p : producers) p.join();
  log.stop();
  files.push_back(path);
  EXPECT_EQ(log.dropped(), 0u);
  const auto seen = ids_in(files);
  ASSERT_EQ(seen.size(), workers * per_worker);
  for (const auto& [id, count] : seen) ASSERT_EQ(count, 1) << id;
}

TEST_F(access_log_files, a_failed_reopen_keeps_the_old_file) {
  const auto path = file("access.log");
  access_log log(to_file(path), 1);
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);  // the path can no longer be opened as a file
  log.reopen();
  log.write(0, numbered(0, 0));
  log.flush();
  EXPECT_EQ(log.written(), 1u);  // into the old (unlinked) file, still open
  EXPECT_EQ(log.dropped(), 0u);
}

TEST_F(access_log_files, off_writes_nothing) {
  access_log::options o;
  o.to = access_log::destination::off;
  o.path = file("access.log");
  access_log log(o, 2);
  EXPECT_FALSE(log.enabled());
  log.write(0, numbered(0, 0));
  log.reopen();
  log.flush();
  log.stop();
  EXPECT_EQ(log.written(), 0u);
  EXPECT_EQ(log.dropped(), 0u);
  EXPECT_FALSE(std::filesystem::exists(o.path));
}

TEST_F(access_log_files, lines_after_stop_are_dropped) {
  const auto path = file("access.log");
  access_log log(to_file(path), 1);
  log.write(0, numbered(0, 0));
  log.stop();
  log.write(0, numbered(0, 1));
  log.flush();  // returns at once: the writer is gone
  log.stop();   // idempotent
  EXPECT_EQ(log.written(), 1u);
  EXPECT_EQ(log.dropped(), 1u);
  EXPECT_EQ(lines_of(path).size(), 1u);
}

TEST_F(access_log_files, write_errors_count_the_lines_as_dropped) {
  access_log log(to_file("/dev/full"), 1);  // every write fails with ENOSPC
  for (int i = 0; i < 5; ++i) log.write(0, numbered(0, i));
  log.flush();
  EXPECT_EQ(log.written(), 0u);
  EXPECT_EQ(log.dropped(), 5u);
}

TEST_F(access_log_files, a_file_that_cannot_be_opened_is_a_startup_error) {
  EXPECT_THROW(access_log(to_file(file("missing-dir") / "access.log"), 1), std::system_error);
}

TEST_F(access_log_files, stdout_destination_writes_to_file_descriptor_1) {
  const auto path = file("stdout.log");
  std::fflush(stdout);
  const int saved = dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  {
    std::FILE* capture = std::fopen(path.c_str(), "w");
    ASSERT_NE(capture, nullptr);
    dup2(fileno(capture), STDOUT_FILENO);
    std::fclose(capture);
    access_log log(access_log::options{}, 1);
    log.write(0, numbered(0, 0));
    log.stop();
    dup2(saved, STDOUT_FILENO);
  }
  close(saved);
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(parse_line(lines[0])["request_id"], "0-0");
}

}  // namespace
}  // namespace bulwark::observe
