// HTTP robustness of the API listener (issue 2, acceptance 10): garbage, truncated, oversized,
// slow and pipelined requests, and a deterministic fuzz run, against a real waitline process on a
// real redis-server. Every test ends by checking that the process still answers /livez and exits
// 0 on SIGTERM (under the sanitizers, that also means no leak and no undefined behaviour).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <atomic>
#include <cctype>
#include <csignal>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/support.hpp"

namespace waitline::test {
namespace {

using namespace std::chrono_literals;

class HttpRobustness : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--insecure-no-auth"};
    args.insert(args.end(), extra.begin(), extra.end());
    service_.emplace(Service::Options{.redis_port = redis_.port(), .extra_args = args});
  }

  Service& service() { return *service_; }
  std::uint16_t port() { return service_->port(); }

  // The process runs and its admin listener answers /livez.
  ::testing::AssertionResult alive() {
    if (!service_->process().running()) {
      return ::testing::AssertionFailure()
             << "waitline exited with status " << service_->process().wait() << "; stderr:\n"
             << service_->process().stderr_text();
    }
    try {
      const Response livez = HttpClient(service_->admin_port()).get("/livez");
      if (livez.status != 200) return ::testing::AssertionFailure() << "/livez " << livez.status;
    } catch (const std::exception& e) {
      return ::testing::AssertionFailure() << "/livez: " << e.what();
    }
    return ::testing::AssertionSuccess();
  }

  // A request that must work whatever happened before.
  void expect_serving() {
    HttpClient client(port());
    const Response list = client.get("/list_tickets");
    EXPECT_EQ(list.status, 200u) << list.body;
  }

  void TearDown() override {
    if (!service_) return;
    EXPECT_TRUE(alive());
    service_->process().signal(SIGTERM);
    int status = -1;
    try {
      status = service_->process().wait(20s);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
    EXPECT_EQ(status, 0) << service_->process().stderr_text();
  }

  RedisServer redis_;
  std::optional<Service> service_;
};

std::string error_code_of(const Response& response) {
  try {
    return std::string(boost::json::parse(response.body).at("error").at("code").as_string());
  } catch (const std::exception& e) {
    return std::string("<no JSON error: ") + e.what() + ": " + response.body + ">";
  }
}

// Sends `bytes` on a new connection and reads until the server closes it (or 5 s pass).
struct Exchange {
  std::optional<Response> response;  // the first response, when complete
  RawConnection::Read read;
};
Exchange exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout = 5s) {
  RawConnection connection(port);
  connection.send(bytes);
  Exchange result;
  result.read = connection.read_until_close(timeout);
  result.response = parse_response(result.read.bytes);
  return result;
}

// Sends `request` on its own connection; expects the JSON error `status`/`code`, then the close.
void expect_refused(std::uint16_t port, std::string_view request, unsigned status, std::string_view code) {
  const Exchange answer = exchange(port, request);
  ASSERT_TRUE(answer.response) << answer.read.bytes.substr(0, 300);
  EXPECT_EQ(answer.response->status, status);
  EXPECT_EQ(error_code_of(*answer.response), code);
  EXPECT_TRUE(answer.read.closed());
}

TEST_F(HttpRobustness, GarbageBytesGetA400JsonErrorAndTheConnectionIsClosed) {
  start();
  for (std::string garbage : {std::string("\x00\x01\x02\xff garbage\r\n\r\n", 16), std::string("HELLO\r\n\r\n"),
                              std::string("GET\r\n\r\n"), std::string("GET /docs HTTP/1.1 extra\r\n\r\n"),
                              std::string("GET /list_tickets HTTP/1.1\r\nno colon here\r\n\r\n")}) {
    SCOPED_TRACE(garbage);
    const Exchange answer = exchange(port(), garbage);
    ASSERT_TRUE(answer.response) << answer.read.bytes;
    EXPECT_EQ(answer.response->status, 400u);
    EXPECT_EQ(answer.response->header("Content-Type"), "application/json");
    EXPECT_EQ(error_code_of(*answer.response), "bad_request");
    EXPECT_EQ(answer.response->header("Connection"), "close");
    EXPECT_TRUE(answer.read.closed()) << "the server kept the connection open";
  }
  EXPECT_TRUE(alive());
  expect_serving();
}

TEST_F(HttpRobustness, AClientLeavingInTheMiddleOfARequestDoesNotDisturbTheService) {
  start();
  const std::vector<std::string> truncated{
      "GET /list_tic",
      "GET /list_tickets HTTP/1.1\r\nHost: x\r\nAccept: ",
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
  };
  for (const std::string& bytes : truncated) {
    for (bool reset : {false, true}) {
      SCOPED_TRACE(bytes + (reset ? " (reset)" : " (close)"));
      {
        RawConnection connection(port());
        connection.send(bytes);
        std::this_thread::sleep_for(20ms);  // let the server start reading it
        if (reset) connection.reset();
        else connection.close();
      }
      EXPECT_TRUE(alive());
      expect_serving();
    }
  }
  // Half-close: the request stream ends early, the server answers nothing or 400, never crashes.
  RawConnection half(port());
  half.send("GET /list_tickets HTTP/1.1\r\nHost");
  half.shutdown_write();
  const RawConnection::Read read = half.read_until_close(5s);
  EXPECT_TRUE(read.closed());
  EXPECT_TRUE(read.bytes.empty() || read.bytes.starts_with("HTTP/1.1 400")) << read.bytes;
  EXPECT_TRUE(alive());
  expect_serving();
  // Nothing was taken by a request that never arrived whole.
  EXPECT_EQ(redis_.cli({"LLEN", "queue_rubis"}), "0");
}

TEST_F(HttpRobustness, ARequestLineLongerThanTheHeaderLimitGets414) {
  start({"--max-header-bytes", "8192"});
  const std::string target = "/list_tickets?limit=1&pad=" + std::string(10000, 'a');
  for (const std::string& tail : {std::string(" HTTP/1.1\r\nHost: x\r\n\r\n"), std::string()}) {
    expect_refused(port(), "GET " + target + tail, 414, "uri_too_long");
  }
  EXPECT_TRUE(alive());
  expect_serving();
}

TEST_F(HttpRobustness, HugeOrManyHeadersGet431) {
  start({"--max-header-bytes", "8192"});
  std::string many;
  for (int i = 0; i < 300; ++i) many += "X-Header-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  const std::vector<std::string> requests{
      // One header far over the limit, after a short request line.
      "GET /list_tickets HTTP/1.1\r\nHost: x\r\nX-Huge: " + std::string(10000, 'h') + "\r\n\r\n",
      // Many headers that add up to more than the limit.
      "GET /list_tickets HTTP/1.1\r\nHost: x\r\n" + many + "\r\n",
      // A huge header that never ends.
      "GET /list_tickets HTTP/1.1\r\nHost: x\r\nX-Huge: " + std::string(20000, 'h'),
  };
  for (const std::string& request : requests) {
    SCOPED_TRACE(request.substr(0, 60));
    expect_refused(port(), request, 431, "headers_too_large");
  }
  // Just under the limit is fine.
  const Exchange fits = exchange(port(), "GET /list_tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " +
                                             std::string(7000, 'h') + "\r\n\r\n");
  ASSERT_TRUE(fits.response);
  EXPECT_EQ(fits.response->status, 200u);
  EXPECT_TRUE(alive());
  expect_serving();
}

TEST_F(HttpRobustness, ABodyLargerThanTheLimitGets413AndTakesNoTicket) {
  start({"--max-body-bytes", "1024"});
  const std::vector<std::string> requests{
      // Announced far too large: refused from the headers, the body never needs to arrive.
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + std::string(4000, 'b'),
      // Sent for real, just over the limit.
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n" + std::string(1025, 'b'),
      // Chunked, over the limit.
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(2048, 'c') +
          "\r\n0\r\n\r\n",
  };
  for (const std::string& request : requests) {
    SCOPED_TRACE(request.substr(0, 70));
    expect_refused(port(), request, 413, "payload_too_large");
  }
  // At the limit it is accepted.
  const Exchange fits =
      exchange(port(), "POST /get_ticket HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1024\r\n\r\n" +
                           std::string(1024, 'b'));
  ASSERT_TRUE(fits.response);
  EXPECT_EQ(fits.response->status, 200u) << fits.response->body;
  EXPECT_EQ(redis_.cli({"LRANGE", "queue_rubis", "0", "-1"}), "1");  // only that one ticket
  EXPECT_TRUE(alive());
}

TEST_F(HttpRobustness, ASlowClientIsCutOffAfterTheHeaderTimeout) {
  start({"--header-timeout", "500ms"});
  const std::vector<std::string> partial{
      "GET /list_tic",                                                         // half a request line
      "GET /list_tickets HTTP/1.1\r\nHost: x\r\n",                             // headers never end
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12",  // body never ends
  };
  for (const std::string& bytes : partial) {
    SCOPED_TRACE(bytes);
    RawConnection slow(port());
    slow.send(bytes);
    const RawConnection::Read read = slow.read_until_close(10s);
    EXPECT_TRUE(read.closed()) << "the slow connection is still open after 10 s";
    if (!read.bytes.empty()) {
      const std::optional<Response> response = parse_response(read.bytes);
      ASSERT_TRUE(response) << read.bytes;
      EXPECT_EQ(response->status, 408u);
      EXPECT_EQ(error_code_of(*response), "request_timeout");
    }
  }
  EXPECT_TRUE(alive());
  expect_serving();
  EXPECT_EQ(redis_.cli({"LLEN", "queue_rubis"}), "0");
}

TEST_F(HttpRobustness, SlowClientsDoNotHoldUpOtherClients) {
  // One worker thread: a slow client may hold nothing but its own connection.
  start({"--header-timeout", "20s", "--threads", "1"});
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 50; ++i) {
    slow.push_back(std::make_unique<RawConnection>(port()));
    slow.back()->send(i % 2 ? "GET /list_tic" : "POST /get_ticket HTTP/1.1\r\nContent-Length: 5\r\n\r\n1");
  }
  HttpClient client(port());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(client.post("/get_ticket").status, 200u);
    EXPECT_EQ(client.get("/list_tickets").status, 200u);
  }
  // The slow clients were still connected while the others were served.
  for (auto& connection : slow) {
    const RawConnection::Read read = connection->read_some(0ms);
    EXPECT_TRUE(read.timed_out && read.bytes.empty()) << "a slow client was answered or cut early";
  }
  slow.clear();
  EXPECT_TRUE(alive());
}

TEST_F(HttpRobustness, AnswersLargerThanTheSocketTakesArriveWholeToAClientThatReadsLate) {
  // Four answers of more than a megabyte each, asked at once by a client that reads nothing for a
  // while: the socket takes some megabytes at once (loopback grows its buffer), then the server
  // writes the rest as the client reads, while its only worker serves others.
  start({"--threads", "1"});
  HttpClient client(port());
  const Response whole = client.get("/docs/swagger-ui-bundle.js");
  ASSERT_EQ(whole.status, 200u);
  ASSERT_GT(whole.body.size(), 1'000'000u);
  constexpr int asked = 4;
  RawConnection late(port(), 10s, 4096);
  std::string requests;
  for (int i = 0; i < asked; ++i) requests += "GET /docs/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(late.send(requests), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(client.get("/list_tickets").status, 200u);
  for (int i = 0; i < asked; ++i) {
    std::optional<Response> response;
    late.read_response(10s, response);
    ASSERT_TRUE(response) << "answer " << i;
    EXPECT_EQ(response->status, 200u);
    EXPECT_EQ(response->body.size(), whole.body.size()) << "answer " << i;
    EXPECT_TRUE(response->body == whole.body) << "answer " << i << ": the body differs";
  }
  EXPECT_TRUE(alive());
}

TEST_F(HttpRobustness, AnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  start({"--idle-timeout", "500ms"});
  RawConnection connection(port());
  ASSERT_EQ(connection.send("GET /list_tickets HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  std::optional<Response> response;
  connection.read_response(5s, response);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200u);
  EXPECT_NE(response->header("Connection"), "close");
  // A second request in time reuses the connection.
  ASSERT_EQ(connection.send("GET /list_tickets HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  connection.read_response(5s, response);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200u);
  // Then nothing: the server closes it, without sending anything more.
  const RawConnection::Read rest = connection.read_until_close(10s);
  EXPECT_TRUE(rest.closed()) << "the idle connection is still open after 10 s";
  EXPECT_EQ(rest.bytes, "");
  EXPECT_TRUE(alive());
}

TEST_F(HttpRobustness, PipelinedRequestsAreAnsweredInOrder) {
  start();
  const std::string pipelined =
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\nContent-Length: 0\r\n\r\n"
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nX-Request-Id: second\r\nContent-Length: 0\r\n\r\n"
      "GET /list_tickets HTTP/1.1\r\nHost: x\r\nX-Request-Id: third\r\nConnection: close\r\n\r\n";
  RawConnection connection(port());
  ASSERT_EQ(connection.send(pipelined), 0);  // one write
  const RawConnection::Read read = connection.read_until_close(10s);
  EXPECT_TRUE(read.closed());
  std::string rest;
  const std::vector<Response> responses = parse_responses(read.bytes, &rest);
  ASSERT_EQ(responses.size(), 3u) << read.bytes;
  EXPECT_EQ(rest, "");
  EXPECT_EQ(responses[0].header("X-Request-Id"), "first");
  EXPECT_EQ(responses[1].header("X-Request-Id"), "second");
  EXPECT_EQ(responses[2].header("X-Request-Id"), "third");
  for (const Response& r : responses) EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(boost::json::parse(responses[0].body).at("ticket").as_int64(), 1);
  EXPECT_EQ(boost::json::parse(responses[1].body).at("ticket").as_int64(), 2);
  EXPECT_EQ(boost::json::serialize(boost::json::parse(responses[2].body).at("tickets")), "[1,2]");
  EXPECT_EQ(responses[2].header("Connection"), "close");
  EXPECT_TRUE(alive());
}

TEST_F(HttpRobustness, Http10WithoutKeepAliveGetsConnectionCloseAndIsClosed) {
  start();
  const Exchange plain = exchange(port(), "GET /list_tickets HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(plain.response) << plain.read.bytes;
  EXPECT_EQ(plain.response->status, 200u);
  EXPECT_EQ(plain.response->version, 10u);
  EXPECT_EQ(plain.response->header("Connection"), "close");
  EXPECT_TRUE(plain.read.closed());

  // An HTTP/1.0 client that asks for keep-alive gets it.
  RawConnection connection(port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(connection.send("GET /list_tickets HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    std::optional<Response> response;
    const RawConnection::Read read = connection.read_response(5s, response);
    ASSERT_TRUE(response) << read.bytes;
    EXPECT_EQ(response->status, 200u);
    EXPECT_EQ(response->header("Connection"), "keep-alive");
  }
  EXPECT_TRUE(alive());
}

// Deterministic fuzzing: random bytes, and random mutations of valid requests.
class Fuzzer {
 public:
  explicit Fuzzer(std::uint32_t seed) : random_(seed) {}

  std::string next(int index) {
    if (index % 4 == 0) return random_bytes(pick(1, 3000));
    std::string request = valid[pick(0, static_cast<int>(std::size(valid)) - 1)];
    const int mutations = pick(1, 6);
    for (int m = 0; m < mutations; ++m) mutate(request);
    return request;
  }

 private:
  static constexpr const char* valid[] = {
      "GET /list_tickets?limit=5 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
      "POST /call_ticket HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
      "GET /docs HTTP/1.1\r\nHost: x\r\nX-Forwarded-Prefix: /rubis\r\n\r\n",
      "POST /get_ticket HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "GET /list_tickets HTTP/1.0\r\n\r\nGET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  static constexpr std::string_view tokens[] = {"\r\n",
                                                "\r\n\r\n",
                                                ":",
                                                " ",
                                                "\n",
                                                std::string_view("\0", 1),
                                                "%",
                                                "%zz",
                                                "?",
                                                "&limit=-1",
                                                "HTTP/1.1",
                                                "HTTP/2.0",
                                                "Content-Length: 99999999999999999999\r\n",
                                                "Content-Length: -1\r\n",
                                                "Transfer-Encoding: chunked\r\n",
                                                "ffffffffffffffff\r\n",
                                                "Connection: keep-alive\r\n",
                                                "\xff\xfe",
                                                "Host: \r\n",
                                                "/../../etc/passwd"};

  int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }

  std::string random_bytes(int length) {
    std::string bytes(static_cast<std::size_t>(length), '\0');
    for (char& c : bytes) c = static_cast<char>(pick(0, 255));
    return bytes;
  }

  void mutate(std::string& request) {
    const auto at = [&] { return static_cast<std::size_t>(pick(0, static_cast<int>(request.size()))); };
    switch (pick(0, 6)) {
      case 0:  // flip one byte
        if (!request.empty()) request[at() % request.size()] = static_cast<char>(pick(0, 255));
        break;
      case 1:  // delete a stretch
        if (!request.empty()) request.erase(at() % request.size(), static_cast<std::size_t>(pick(1, 8)));
        break;
      case 2:  // insert random bytes
        request.insert(at(), random_bytes(pick(1, 16)));
        break;
      case 3: {  // insert an HTTP-ish token
        const std::string_view token = tokens[pick(0, static_cast<int>(std::size(tokens)) - 1)];
        request.insert(at(), token.data(), token.size());
        break;
      }
      case 4:  // truncate
        request.resize(at());
        break;
      case 5:  // repeat a stretch many times
        if (!request.empty()) {
          const std::size_t from = at() % request.size();
          const std::string stretch = request.substr(from, static_cast<std::size_t>(pick(1, 20)));
          std::string repeated;
          for (int i = pick(2, 600); i > 0; --i) repeated += stretch;
          request.insert(from, repeated);
        }
        break;
      default:  // swap the case of letters
        for (char& c : request)
          if (pick(0, 9) == 0 && std::isalpha(static_cast<unsigned char>(c))) c ^= 0x20;
        break;
    }
  }

  std::mt19937 random_;
};

TEST_F(HttpRobustness, TwoHundredFuzzedRequestsNeverCrashTheProcess) {
  start({"--header-timeout", "1s", "--max-body-bytes", "4096"});
  constexpr int inputs = 200, batch = 25, threads = 5;
  Fuzzer fuzzer(20240601);
  std::vector<std::string> corpus;
  for (int i = 0; i < inputs; ++i) corpus.push_back(fuzzer.next(i));

  int answered = 0, silent = 0;
  std::map<unsigned, int> statuses;
  for (int first = 0; first < inputs; first += batch) {
    // A batch runs on a few threads at once; each input gets its own connection.
    std::vector<std::string> failures(batch);
    std::vector<std::optional<unsigned>> status(batch);
    std::vector<std::thread> workers;
    std::atomic<int> next{0};
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i; (i = next++) < batch;) {
          const std::string& input = corpus[static_cast<std::size_t>(first + i)];
          try {
            RawConnection connection(port());
            connection.send(input);  // the server may close before taking it all
            // Unfinished requests stay unanswered until the header timeout: do not wait for it.
            const RawConnection::Read read = connection.read_until_close(300ms);
            if (read.bytes.empty()) continue;
            const std::optional<Response> response = parse_response(read.bytes, nullptr, read.closed());
            if (!read.bytes.starts_with("HTTP/1.")) failures[i] = "not an HTTP answer: " + read.bytes.substr(0, 80);
            else if (response) status[i] = response->status;
          } catch (const std::exception& e) {
            failures[i] = e.what();
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    for (int i = 0; i < batch; ++i) {
      EXPECT_EQ(failures[i], "") << "input " << first + i;
      if (status[i]) {
        ++answered;
        ++statuses[*status[i]];
        EXPECT_LT(*status[i], 500u) << "input " << first + i << " got a server error";
      } else {
        ++silent;
      }
    }
    ASSERT_TRUE(alive()) << "after inputs " << first << " to " << first + batch - 1;
    expect_serving();
  }
  std::string summary;
  for (const auto& [code, count] : statuses) summary += " " + std::to_string(code) + "x" + std::to_string(count);
  std::cout << "fuzz: " << inputs << " inputs, " << answered << " answered (" << summary << " ), " << silent
            << " unanswered within 300 ms\n";
}

}  // namespace
}  // namespace waitline::test
