// The test support library itself, against real redis-server, shell and Python processes.
#include "support/support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace waitline::test {
namespace {

using namespace std::chrono_literals;

TEST(RedisServer, AnswersAndForgetsItsDataWhenRestartedWithoutPersistence) {
  RedisServer redis;
  EXPECT_EQ(redis.cli({"INCR", "x"}), "1");

  redis.stop();
  EXPECT_EQ(redis.cli({"PING"}), "");
  EXPECT_THROW(raw_exchange(redis.port(), "PING\r\n"), std::runtime_error);

  redis.start();
  EXPECT_EQ(redis.cli({"GET", "x"}), "");
  EXPECT_EQ(redis.cli({"INCR", "x"}), "1");
}

TEST(RedisServer, KeepsItsDataAcrossRestartsWithAppendOnlyFile) {
  RedisServer redis({"--appendonly", "yes"});
  EXPECT_EQ(redis.cli({"INCR", "x"}), "1");
  redis.stop();
  redis.start();
  EXPECT_EQ(redis.cli({"INCR", "x"}), "2");
}

TEST(RedisServer, CliAuthenticatesWhenAPasswordIsRequired) {
  RedisServer redis({"--requirepass", "secret"});
  EXPECT_EQ(redis.cli({"PING"}), "PONG");
}

TEST(RedisServer, KillIsACrashAfterWhichStartReplaysTheAppendOnlyFile) {
  RedisServer redis({"--appendonly", "yes", "--appendfsync", "always"});
  const int first = redis.pid();
  EXPECT_GT(first, 0);
  EXPECT_EQ(redis.cli({"INCR", "x"}), "1");
  redis.kill();
  EXPECT_EQ(redis.pid(), -1);
  redis.start();
  EXPECT_NE(redis.pid(), first);
  EXPECT_EQ(redis.cli({"INCR", "x"}), "2");
}

TEST(RedisServer, SigstopStallsItAndSigcontResumesIt) {
  RedisServer redis;
  redis.signal(SIGSTOP);
  RawConnection stalled(redis.port());  // the kernel still accepts: the listen backlog
  ASSERT_EQ(stalled.send("PING\r\n"), 0);
  EXPECT_TRUE(stalled.read_some(200ms).timed_out);
  redis.signal(SIGCONT);
  EXPECT_EQ(stalled.read_some(5s).bytes, "+PONG\r\n");
  redis.signal(SIGSTOP);
  redis.stop();  // resumes it so that it can handle SIGTERM
  EXPECT_EQ(redis.pid(), -1);
}

TEST(ParseResponse, ReadsCompleteResponsesAndWaitsForIncompleteOnes) {
  const std::string two =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nhiHTTP/1.0 404 Not Found\r\nContent-Length: "
      "0\r\n\r\nHTTP/1.1 2";
  std::string rest;
  const std::vector<Response> responses = parse_responses(two, &rest);
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].status, 200u);
  EXPECT_EQ(responses[0].body, "hi");
  EXPECT_EQ(responses[0].header("x-a"), "1");
  EXPECT_EQ(responses[1].status, 404u);
  EXPECT_EQ(responses[1].version, 10u);
  EXPECT_EQ(rest, "HTTP/1.1 2");
  EXPECT_FALSE(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi"));
  // A body delimited by the end of the connection.
  EXPECT_FALSE(parse_response("HTTP/1.1 200 OK\r\n\r\nuntil eof"));
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\n\r\nuntil eof", nullptr, true)->body, "until eof");
  EXPECT_THROW(parse_response("garbage\r\n\r\n"), std::runtime_error);
}

TEST(RawConnection, ReportsARefusedConnectAndWhatTheServerSent) {
  try {
    RawConnection refused(free_port());
    ADD_FAILURE() << "connected to a port nobody listens on";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ECONNREFUSED);
  }
  RedisServer redis;
  RawConnection connection(redis.port());
  ASSERT_EQ(connection.send("PING\r\nQUIT\r\n"), 0);
  const RawConnection::Read read = connection.read_until_close(5s);
  EXPECT_EQ(read.bytes, "+PONG\r\n+OK\r\n");
  EXPECT_TRUE(read.eof);
  EXPECT_FALSE(read.timed_out);
}

TEST(RawExchange, ReturnsWhatArrivedWhenTheServerKeepsTheConnectionOpen) {
  RedisServer redis;
  EXPECT_EQ(raw_exchange(redis.port(), "PING\r\n", 300ms), "+PONG\r\n");
}

TEST(Process, CapturesOutputEnvironmentAndExitCode) {
  Process shell({"sh", "-c", "echo hi; echo \"$GREETING\" >&2; exit 3"}, {{"GREETING", "oops"}});
  EXPECT_EQ(shell.wait(), 3);
  EXPECT_FALSE(shell.running());
  EXPECT_EQ(shell.stdout_text(), "hi\n");
  EXPECT_EQ(shell.stderr_text(), "oops\n");
}

TEST(Process, ReportsAKillingSignalAs128PlusItsNumber) {
  Process sleeper({"sleep", "30"});
  EXPECT_TRUE(sleeper.running());
  sleeper.signal(SIGKILL);
  EXPECT_EQ(sleeper.wait(), 128 + 9);
}

TEST(Process, WaitThrowsWhileStillRunning) {
  Process sleeper({"sleep", "30"});
  EXPECT_THROW(sleeper.wait(50ms), std::runtime_error);
  EXPECT_TRUE(sleeper.running());
}

TEST(Run, FeedsStdinAndCollectsCombinedOutput) {
  const RunResult result = run({"sh", "-c", "cat; echo err >&2; exit 2"}, {}, "input\n");
  EXPECT_EQ(result.status, 2);
  EXPECT_EQ(result.output, "input\nerr\n");
}

// Waits until an HTTP server started by the test accepts requests.
void await_http(std::uint16_t port) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    try {
      HttpClient(port).get("/");
      return;
    } catch (const std::exception&) {
      if (std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(20ms);
    }
  }
}

TEST(Http, TalksToAPythonHttpServer) {
  const std::uint16_t port = free_port();
  Process server({"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                  std::filesystem::temp_directory_path().string(), std::to_string(port)});
  await_http(port);

  EXPECT_TRUE(raw_exchange(port, "GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1."));

  HttpClient client(port);
  for (int i = 0; i < 2; ++i) {
    const Response response = client.get("/");
    EXPECT_EQ(response.status, 200u);
    EXPECT_NE(response.header("Content-Type").find("text/html"), std::string::npos);
    EXPECT_FALSE(response.body.empty());
  }
}

// An HTTP/1.1 server that announces keep-alive but closes every connection after one answer,
// like a server whose idle timeout fired. POST answers with the request's Content-Length.
constexpr const char* kForgetfulServer = R"(
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
    def do_GET(self):
        self.answer(self.path.encode())
    def do_POST(self):
        self.answer(str(self.headers.get("Content-Length")).encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
)";

TEST(Http, RetriesOnceWhenTheServerClosedAKeptAliveConnection) {
  const std::uint16_t port = free_port();
  Process server({"python3", "-c", kForgetfulServer, std::to_string(port)});
  await_http(port);

  HttpClient client(port);
  EXPECT_EQ(client.get("/first").body, "/first");
  EXPECT_EQ(client.get("/second").body, "/second");
  EXPECT_EQ(client.post("/empty").body, "0");
}

TEST(Http, ThrowsWhenNothingListens) {
  HttpClient client(free_port());
  EXPECT_THROW(client.get("/"), std::runtime_error);
}

}  // namespace
}  // namespace waitline::test
