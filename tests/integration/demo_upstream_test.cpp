// Tests of demo-upstream, the upstream every proxy test relies on, run as a
// real process over real sockets. They double as tests of the harness: the
// DemoUpstreamHarness suite checks the process control and the raw client's
// parser against canned bytes, so a proxy test that fails points at the proxy.
#include "integration/harness.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace bulwark::test {
namespace {

constexpr std::string_view byte_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string expected_bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = byte_alphabet[i % byte_alphabet.size()];
  return bytes;
}

std::string chunk(std::string_view data) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx", data.size());
  return std::string(size) + "\r\n" + std::string(data) + "\r\n";
}

class DemoUpstream : public ::testing::Test {
 protected:
  std::uint16_t port() const { return upstream_.port; }
  std::string get(std::string_view target, const header_list& headers = {}) const {
    return format_request("GET", target, port(), headers);
  }

  demo_upstream upstream_ = start_demo_upstream({"--name", "demo-a"});
};

TEST_F(DemoUpstream, RootAnswersSmallTextNamingTheUpstream) {
  auto response = http_get(port(), "/");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->version, "HTTP/1.1");
  EXPECT_EQ(response->header("content-type"), "text/plain");
  EXPECT_EQ(response->header("X-Upstream-Name"), "demo-a");
  EXPECT_EQ(response->header("Content-Length"), std::to_string(response->body.size()));
  EXPECT_GE(response->body.size(), 80u);
  EXPECT_LE(response->body.size(), 120u);
}

TEST_F(DemoUpstream, HealthzAnswersOk) {
  auto response = http_get(port(), "/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
}

TEST_F(DemoUpstream, UnknownPathIs404AndBadNumberIs400) {
  auto missing = http_get(port(), "/nowhere");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  for (auto target : {"/bytes/x", "/status/20a", "/delay/-1", "/stream/", "/status/600", "/status/99"}) {
    auto bad = http_get(port(), target);
    ASSERT_TRUE(bad) << target;
    EXPECT_EQ(bad->status, 400) << target;
  }
}

// Were a body sent after the HEAD response, the next response on the
// connection would start with it and fail to parse.
TEST_F(DemoUpstream, HeadAnswersGetHeadersWithoutBody) {
  http_connection connection(port());
  auto full = http_get(port(), "/");
  ASSERT_TRUE(full);
  for (auto target : {"/", "/bytes/100000", "/headers", "/status/201"}) {
    ASSERT_TRUE(connection.send(format_request("HEAD", target, port())));
    auto head = connection.read_response(10s, /*head_request=*/true);
    ASSERT_TRUE(head) << target << ": " << connection.error();
    EXPECT_TRUE(head->body.empty()) << target;
  }
  ASSERT_TRUE(connection.send(format_request("HEAD", "/", port()) + get("/")));
  auto head = connection.read_response(10s, true);
  auto after = connection.read_response();
  ASSERT_TRUE(head && after) << connection.error();
  EXPECT_EQ(head->header("Content-Length"), full->header("Content-Length"));
  EXPECT_EQ(after->body, full->body);
  EXPECT_FALSE(connection.readable(50ms));
}

TEST_F(DemoUpstream, BytesSendsTheKnownPatternWithContentLength) {
  for (std::size_t size : {0u, 1u, 65535u, 65536u, 65537u, 300000u}) {
    auto response = http_get(port(), "/bytes/" + std::to_string(size));
    ASSERT_TRUE(response) << size;
    EXPECT_EQ(response->status, 200);
    EXPECT_FALSE(response->chunked);
    EXPECT_EQ(response->header("Content-Length"), std::to_string(size));
    EXPECT_EQ(response->body, expected_bytes(size)) << size;
  }
  http_connection connection(port());
  ASSERT_TRUE(connection.send(format_request("HEAD", "/bytes/1073741824", port())));
  auto head = connection.read_response(10s, true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("Content-Length"), "1073741824");
}

TEST_F(DemoUpstream, BytesStreamsALargeBodyThenKeepsTheConnection) {
  constexpr std::uint64_t size = 256ull << 20;
  http_connection connection(port());
  ASSERT_TRUE(connection.send(get("/bytes/" + std::to_string(size)) + get("/healthz")));
  auto large = connection.read_response(read_options{.timeout = 60s, .keep_body = false});
  ASSERT_TRUE(large) << connection.error();
  EXPECT_EQ(large->body_size, size);
  EXPECT_TRUE(large->body.empty());
  auto next = connection.read_response();
  ASSERT_TRUE(next) << connection.error();
  EXPECT_EQ(next->body, "ok");
}

TEST_F(DemoUpstream, StatusAnswersTheCodeWithATinyBody) {
  auto teapot = http_get(port(), "/status/418");
  ASSERT_TRUE(teapot);
  EXPECT_EQ(teapot->status, 418);
  EXPECT_EQ(teapot->body, "status 418\n");

  http_connection connection(port());
  for (int code : {204, 304, 503, 200}) {
    ASSERT_TRUE(connection.send(get("/status/" + std::to_string(code))));
    auto response = connection.read_response();
    ASSERT_TRUE(response) << code << ": " << connection.error();
    EXPECT_EQ(response->status, code);
    bool bodiless = code == 204 || code == 304;
    EXPECT_EQ(response->has("Content-Length"), !bodiless) << code;
    EXPECT_EQ(response->body.empty(), bodiless) << code;
  }
}

TEST_F(DemoUpstream, HeadersEchoesRequestHeadersAsJson) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send(
      "POST /headers?x=1 HTTP/1.1\r\n"
      "Host: example.test\r\n"
      "X-Dup: a\r\n"
      "X-Other: \"quoted\\\"\r\n"
      "x-dup: b\r\n"
      "Content-Length: 3\r\n"
      "\r\nabc"));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_EQ(response->header("Content-Type"), "application/json");
  auto json = nlohmann::json::parse(response->body);
  EXPECT_EQ(json["method"], "POST");
  EXPECT_EQ(json["target"], "/headers?x=1");
  EXPECT_EQ(json["headers"]["host"], "example.test");
  EXPECT_EQ(json["headers"]["x-dup"], "a, b");
  EXPECT_EQ(json["headers"]["x-other"], "\"quoted\\\"");
  EXPECT_EQ(json["headers"].size(), 4u);
}

TEST_F(DemoUpstream, StreamSendsOneJsonLinePerChunk) {
  auto response = http_get(port(), "/stream/5");
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->chunked);
  EXPECT_FALSE(response->has("Content-Length"));
  EXPECT_EQ(response->chunk_count, 5u);
  std::istringstream lines(response->body);
  int id = 0;
  for (std::string line; std::getline(lines, line); ++id) {
    auto json = nlohmann::json::parse(line);
    EXPECT_EQ(json["id"], id);
    EXPECT_EQ(json["name"], "demo-a");
  }
  EXPECT_EQ(id, 5);
}

TEST_F(DemoUpstream, StreamToAnHttp10ClientIsDelimitedByTheClose) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send("GET /stream/3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_FALSE(response->chunked);
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_EQ(std::count(response->body.begin(), response->body.end(), '\n'), 3);
}

TEST_F(DemoUpstream, EchoReturnsAContentLengthBodyWithTheSameLength) {
  auto body = expected_bytes(200000);
  http_connection connection(port());
  ASSERT_TRUE(connection.send(format_request("PUT", "/echo", port(), {{"Content-Type", "x/y"}}, body)));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_FALSE(response->chunked);
  EXPECT_EQ(response->header("Content-Length"), "200000");
  EXPECT_EQ(response->header("Content-Type"), "x/y");
  EXPECT_EQ(response->body, body);
}

TEST_F(DemoUpstream, EchoReturnsAChunkedBodyChunked) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  ASSERT_TRUE(connection.send(chunk("hello ") + chunk("chunked ")));
  ASSERT_TRUE(connection.send(chunk("world") + "0\r\nX-Trailer: t\r\n\r\n"));
  ASSERT_TRUE(connection.send(get("/healthz")));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_TRUE(response->chunked);
  EXPECT_EQ(response->body, "hello chunked world");
  auto next = connection.read_response();
  ASSERT_TRUE(next) << connection.error();
  EXPECT_EQ(next->body, "ok");
}

TEST_F(DemoUpstream, DrainCountsAnUploadSentInPieces) {
  constexpr std::size_t size = 32u << 20;
  const std::string piece(64 * 1024, 'x');
  http_connection connection(port());
  ASSERT_TRUE(connection.send("POST /drain HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n"));
  for (std::size_t sent = 0; sent < size; sent += piece.size()) ASSERT_TRUE(connection.send(piece));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_EQ(nlohmann::json::parse(response->body)["bytes"], size);
}

TEST_F(DemoUpstream, ResetDropsTheConnectionWithoutAnswering) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send(get("/reset")));
  EXPECT_FALSE(connection.read_response());
  EXPECT_TRUE(connection.closed_by_peer());
  EXPECT_TRUE(connection.peer_reset());
  EXPECT_TRUE(connection.buffered().empty());
}

TEST_F(DemoUpstream, PipelinedRequestsAreAnsweredInOrder) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send(get("/status/201") + get("/bytes/10") + format_request("HEAD", "/", port()) +
                              get("/stream/2") + get("/healthz")));
  auto created = connection.read_response();
  auto bytes = connection.read_response();
  auto head = connection.read_response(10s, true);
  auto stream = connection.read_response();
  auto health = connection.read_response();
  ASSERT_TRUE(created && bytes && head && stream && health) << connection.error();
  EXPECT_EQ(created->status, 201);
  EXPECT_EQ(bytes->body, expected_bytes(10));
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(stream->chunk_count, 2u);
  EXPECT_EQ(health->body, "ok");
}

TEST_F(DemoUpstream, ExpectContinueGetsTheInterimResponseBeforeTheBody) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = connection.read_response(read_options{.return_interim = true});
  ASSERT_TRUE(interim) << connection.error();
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(connection.send("hello"));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_EQ(response->body, "hello");
  EXPECT_TRUE(response->interim.empty());

  // By default the interim response is skipped and reported with the final one.
  ASSERT_TRUE(connection.send("PUT /drain HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"));
  auto drained = connection.read_response();
  ASSERT_TRUE(drained) << connection.error();
  EXPECT_EQ(drained->interim, std::vector<int>{100});
  EXPECT_EQ(drained->body, "{\"bytes\":3}\n");
}

TEST_F(DemoUpstream, DelayDoesNotBlockOtherConnections) {
  http_connection slow(port());
  http_connection fast(port());
  ASSERT_TRUE(slow.send(get("/delay/2000")));
  ASSERT_TRUE(fast.send(get("/")));
  auto quick = fast.read_response();
  ASSERT_TRUE(quick) << fast.error();
  EXPECT_EQ(quick->status, 200);
  EXPECT_FALSE(slow.readable());
  auto delayed = slow.read_response();
  ASSERT_TRUE(delayed) << slow.error();
  EXPECT_EQ(delayed->body, "delayed 2000 ms\n");
}

TEST_F(DemoUpstream, ConnectionCloseIsHonoured) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send(get("/", {{"Connection", "close"}})));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_TRUE(connection.closed_by_peer());
  EXPECT_FALSE(connection.peer_reset());
}

TEST_F(DemoUpstream, KeepAliveServesManyRequestsOnOneConnection) {
  http_connection connection(port());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(connection.send(get("/bytes/" + std::to_string(i))));
    auto response = connection.read_response();
    ASSERT_TRUE(response) << i << ": " << connection.error();
    ASSERT_EQ(response->body, expected_bytes(static_cast<std::size_t>(i)));
  }
}

TEST_F(DemoUpstream, MalformedRequestGets400AndTheConnectionCloses) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_TRUE(connection.closed_by_peer());
  auto still_serving = http_get(port(), "/healthz");
  ASSERT_TRUE(still_serving);
  EXPECT_EQ(still_serving->status, 200);
}

// The head past the demo's 64 KiB limit: 431, and the connection ends. (The
// flat parser keeps the head's text; the limit bounds what it keeps.)
TEST_F(DemoUpstream, HeadOverItsLimitGets431AndTheConnectionCloses) {
  http_connection connection(port());
  ASSERT_TRUE(connection.send(get("/", {{"X-Filler", std::string(70 * 1024, 'a')}})));
  auto response = connection.read_response();
  ASSERT_TRUE(response) << connection.error();
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_TRUE(connection.closed_by_peer());
}

// Many fields, repeated names among them: each arrives, in order, so the flat
// head (inline room for 8 lines) grows past its inline room intact.
TEST_F(DemoUpstream, HeadersEchoesFortyFieldsInOrder) {
  header_list headers;
  for (int i = 0; i < 40; ++i) {
    headers.emplace_back("X-Many-" + std::to_string(i % 20), std::to_string(i));
  }
  auto response = http_get(port(), "/headers", headers);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->body.find(R"("x-many-0":"0, 20")"), std::string::npos) << response->body;
  EXPECT_NE(response->body.find(R"("x-many-19":"19, 39")"), std::string::npos) << response->body;
}

TEST_F(DemoUpstream, SigtermExitsZero) {
  upstream_.proc.signal(SIGTERM);
  EXPECT_EQ(upstream_.proc.wait_exit(5s), 0) << upstream_.proc.describe();
}

TEST_F(DemoUpstream, SigintExitsZeroWhileAResponseIsPending) {
  http_connection slow(port());
  ASSERT_TRUE(slow.send(get("/delay/60000")));
  ASSERT_TRUE(http_get(port(), "/healthz"));  // the delayed request has been read
  upstream_.proc.signal(SIGINT);
  EXPECT_EQ(upstream_.proc.wait_exit(5s), 0) << upstream_.proc.describe();
  EXPECT_TRUE(slow.closed_by_peer());
}

TEST(DemoUpstreamThreads, SeveralThreadsShareOnePort) {
  auto upstream = start_demo_upstream({"--threads", "3"});
  std::vector<http_connection> connections;
  for (int i = 0; i < 12; ++i) connections.emplace_back(upstream.port);
  for (auto& connection : connections) {
    ASSERT_TRUE(connection.send(format_request("GET", "/healthz", upstream.port)));
  }
  for (auto& connection : connections) {
    auto response = connection.read_response();
    ASSERT_TRUE(response) << connection.error();
    EXPECT_EQ(response->body, "ok");
    EXPECT_FALSE(response->has("X-Upstream-Name"));
  }
}

TEST(DemoUpstreamCommandLine, RefusesAMissingListenAddress) {
  process proc({binary_path("demo-upstream"), "--threads", "2"});
  EXPECT_EQ(proc.wait_exit(5s), 2);
  EXPECT_NE(proc.stderr_text().find("usage"), std::string::npos);
}

// --- the harness itself ---------------------------------------------------------

TEST(DemoUpstreamHarness, ProcessCapturesOutputAndExitCode) {
  process proc({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(proc.wait_exit(5s), 3);
  EXPECT_EQ(proc.stdout_text(), "out\n");
  EXPECT_EQ(proc.stderr_text(), "err\n");
  EXPECT_FALSE(proc.alive());
}

TEST(DemoUpstreamHarness, WaitForLineMatchesAndGivesUpWhenTheProcessExits) {
  process proc({"/bin/sh", "-c", "echo 'port 1234'; echo '{\"msg\":\"ready\"}' >&2"});
  EXPECT_EQ(proc.wait_for_line(output::out, "port", 5s), "port 1234");
  auto ready = proc.wait_for_json_line(
      output::err, [](const nlohmann::json& line) { return line["msg"] == "ready"; }, 5s);
  ASSERT_TRUE(ready);
  EXPECT_EQ(*ready, nlohmann::json({{"msg", "ready"}}));
  EXPECT_FALSE(proc.wait_for_line(output::out, "never", 60s));
}

TEST(DemoUpstreamHarness, ProgramThatCannotRunThrows) {
  EXPECT_THROW(process({"/nonexistent/program"}), std::runtime_error);
}

bool gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  // A killed grandchild may linger as a zombie until init reaps it.
  return !(stat >> pid_field >> name >> state) || state == "Z";
}

TEST(DemoUpstreamHarness, DestroyingAProcessKillsItsWholeGroup) {
  pid_t grandchild = 0;
  {
    process proc({"/bin/sh", "-c", "sleep 300 & echo $!; wait"});
    auto line = proc.wait_for_line(output::out, [](std::string_view) { return true; }, 5s);
    ASSERT_TRUE(line);
    grandchild = std::stoi(*line);
    ASSERT_FALSE(gone(grandchild));
  }
  for (int i = 0; i < 500 && !gone(grandchild); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(gone(grandchild));
}

// A one-connection server that answers with canned bytes, to test the raw
// client's parser on responses demo-upstream never sends.
class canned_server {
 public:
  canned_server() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(listener_, 4) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("canned_server: cannot listen");
    }
    port_ = ntohs(address.sin_port);
  }
  ~canned_server() {
    ::close(peer_);
    ::close(listener_);
  }

  std::uint16_t port() const { return port_; }

  // Call after the client connected: the connection waits in the backlog.
  void answer(std::string_view bytes, bool then_close) {
    if (peer_ < 0) peer_ = ::accept(listener_, nullptr, nullptr);
    ASSERT_EQ(::send(peer_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    if (then_close) ::shutdown(peer_, SHUT_WR);
  }

 private:
  int listener_ = -1;
  int peer_ = -1;
  std::uint16_t port_ = 0;
};

TEST(DemoUpstreamHarness, ClientParsesChunksTrailersInterimAndPipelinedResponses) {
  canned_server server;
  http_connection connection(server.port());
  server.answer(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nSet-Cookie: a\r\nset-cookie: b\r\n\r\n"
      "5;ext=1\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Checksum: 42\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK",
      false);
  auto chunked = connection.read_response();
  ASSERT_TRUE(chunked) << connection.error();
  EXPECT_EQ(chunked->interim, (std::vector<int>{100, 103}));
  EXPECT_TRUE(chunked->chunked);
  EXPECT_EQ(chunked->chunk_count, 2u);
  EXPECT_EQ(chunked->body, "helloabcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(chunked->trailers, (header_list{{"X-Checksum", "42"}}));
  EXPECT_EQ(chunked->count("SET-COOKIE"), 2);
  EXPECT_EQ(chunked->header("set-cookie"), "a");
  auto no_content = connection.read_response();
  ASSERT_TRUE(no_content) << connection.error();
  EXPECT_EQ(no_content->status, 204);
  auto fixed = connection.read_response();
  ASSERT_TRUE(fixed) << connection.error();
  EXPECT_EQ(fixed->version, "HTTP/1.0");
  EXPECT_EQ(fixed->body, "abc");
  EXPECT_EQ(connection.buffered(), "HTTP/1.1 200 OK");
  EXPECT_FALSE(connection.read_response(100ms));
  EXPECT_EQ(connection.error(), "timed out waiting for the response head");
}

TEST(DemoUpstreamHarness, ClientReadsCloseDelimitedBodiesAndRefusesBadFraming) {
  {
    canned_server server;
    http_connection connection(server.port());
    server.answer("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", true);
    auto response = connection.read_response();
    ASSERT_TRUE(response) << connection.error();
    EXPECT_EQ(response->body, "until the end");
  }
  for (std::string_view bad : {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                               "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n", "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
                               "HTTP/1.1 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"}) {
    canned_server server;
    http_connection connection(server.port());
    server.answer(bad, true);
    EXPECT_FALSE(connection.read_response(2s)) << bad;
    EXPECT_FALSE(connection.error().empty()) << bad;
  }
}

}  // namespace
}  // namespace bulwark::test
