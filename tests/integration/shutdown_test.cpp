// Graceful shutdown (issue 2, acceptance 9, lifecycle): on SIGTERM readiness fails at once, the
// listener closes, idle keep-alive connections close, requests in flight finish (answered with
// Connection: close) and the process exits 0; a second signal stops it at once with status 1.
// The load test classifies every request sent around the signal from what the wire shows.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "integration/testkit.hpp"
#include "support/relay.hpp"
#include "support/support.hpp"

namespace waitline::test {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using kit::insecure_service;
using kit::ticket_of;
using kit::tickets_in_redis;

constexpr auto kAnswerTimeout = 30s;  // a request may wait this long for its answer
const std::string kTake = "POST /get_ticket HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
const std::string kList = "GET /list_tickets?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kTakeAndClose =
    "POST /get_ticket HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const std::string kListAndClose = "GET /list_tickets?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

// GET /readyz on a new connection: its status, or 0 when the connection was refused or dropped
// (the process has closed its admin listener on its way out).
unsigned readyz(std::uint16_t admin_port) {
  try {
    RawConnection connection(admin_port, 5s);
    if (connection.send("GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") != 0) return 0;
    std::optional<Response> response;
    connection.read_response(kAnswerTimeout, response);
    return response ? response->status : 0;
  } catch (const std::system_error&) {
    return 0;
  }
}

// Polls until /readyz fails (draining has begun): the status it answered, or 0 if it stopped
// answering at all.
unsigned await_not_ready(std::uint16_t admin_port) {
  const auto deadline = clock::now() + 10s;
  for (;;) {
    const unsigned status = readyz(admin_port);
    if (status != 200 || clock::now() > deadline) return status;
    std::this_thread::sleep_for(5ms);
  }
}

std::string describe(const RawConnection::Read& read, int send_error) {
  std::string text = std::to_string(read.bytes.size()) + " bytes";
  if (send_error) text += ", send: " + std::string(std::strerror(send_error));
  if (read.eof) text += ", EOF";
  if (read.error) text += ", read: " + std::string(std::strerror(read.error));
  if (read.timed_out) text += ", no answer in time";
  if (!read.bytes.empty()) text += ": " + read.bytes.substr(0, 120);
  return text;
}

// What became of the requests of the load test.
struct Tally {
  std::mutex mutex;
  int answered = 0;                   // a complete HTTP response arrived
  int closing = 0;                    // ... of which said Connection: close
  int refused = 0;                    // ECONNREFUSED at connect: the listener was closed
  int idle_closed = 0;                // a reused keep-alive connection ended before any answer byte: the server
                                      // had closed it as idle, before reading the request (clients retry those)
  int not_accepted = 0;               // a new connection reset before any answer byte, or during the
                                      // handshake: it was still in the kernel's listen backlog when the
                                      // listener closed
  std::vector<std::string> failures;  // anything else: a request accepted and dropped
  std::set<std::int64_t> tickets;     // acknowledged by a 200 to a take
  int duplicates = 0;

  void answer(const Response& response, bool take) {
    std::lock_guard lock(mutex);
    ++answered;
    if (response.header("Connection") == "close") ++closing;
    if (response.status != 200) {
      failures.push_back("status " + std::to_string(response.status) + ": " + response.body);
    } else if (take && !tickets.insert(ticket_of(response)).second) {
      ++duplicates;
    }
  }
  void fail(std::string what) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(what));
  }
  void count(int Tally::*field) {
    std::lock_guard lock(mutex);
    ++(this->*field);
  }
};

// Opens a connection, or counts why not: refused (the listener is closed: the expected end of
// every client), reset during the handshake (it was in the listen backlog), or a failure.
std::unique_ptr<RawConnection> connect_or_count(std::uint16_t port, Tally& tally, bool& refused) {
  refused = false;
  try {
    return std::make_unique<RawConnection>(port);
  } catch (const std::system_error& e) {
    if (e.code().value() == ECONNREFUSED) {
      refused = true;
      tally.count(&Tally::refused);
    } else if (e.code().value() == ECONNRESET) {
      tally.count(&Tally::not_accepted);
    } else {
      refused = true;  // stop this client
      tally.fail(std::string("connect: ") + e.what());
    }
    return nullptr;
  }
}

// One keep-alive client: requests back to back on one connection, a new one when it is closed.
void keep_alive_client(std::uint16_t port, Tally& tally, const std::atomic<bool>& stop, int seed) {
  std::unique_ptr<RawConnection> connection;
  bool reused = false;
  for (int i = seed; !stop; ++i) {
    if (!connection) {
      bool refused = false;
      connection = connect_or_count(port, tally, refused);
      if (refused) return;
      if (!connection) continue;
      reused = false;
    }
    const bool take = i % 4 != 3;
    const int send_error = connection->send(take ? kTake : kList);
    std::optional<Response> response;
    RawConnection::Read read;
    if (send_error == 0) read = connection->read_response(kAnswerTimeout, response);
    if (response) {
      tally.answer(*response, take);
      if (response->header("Connection") == "close") connection.reset();
      else reused = true;
      continue;
    }
    const bool nothing = read.bytes.empty() && (send_error != 0 || read.closed());
    if (nothing && reused) tally.count(&Tally::idle_closed);
    else if (nothing && (read.error == ECONNRESET || send_error == ECONNRESET || send_error == EPIPE))
      tally.count(&Tally::not_accepted);
    else tally.fail(std::string(reused ? "reused" : "new") + " keep-alive connection: " + describe(read, send_error));
    connection.reset();
  }
}

// One client that opens a new connection for every request.
void one_shot_client(std::uint16_t port, Tally& tally, const std::atomic<bool>& stop, int seed) {
  for (int i = seed; !stop; ++i) {
    bool refused = false;
    auto connection = connect_or_count(port, tally, refused);
    if (refused) return;
    if (!connection) continue;
    const bool take = i % 4 != 3;
    const int send_error = connection->send(take ? kTakeAndClose : kListAndClose);
    RawConnection::Read read;
    if (send_error == 0) read = connection->read_until_close(kAnswerTimeout);
    std::optional<Response> response;
    try {
      response = parse_response(read.bytes, nullptr, read.closed());
    } catch (const std::exception& e) {
      tally.fail(e.what());
      continue;
    }
    if (response) {
      tally.answer(*response, take);
      continue;
    }
    const bool nothing = read.bytes.empty() && (send_error != 0 || read.closed());
    if (nothing && (read.error == ECONNRESET || send_error == ECONNRESET || send_error == EPIPE))
      tally.count(&Tally::not_accepted);
    else tally.fail("new connection: " + describe(read, send_error));
  }
}

TEST(Shutdown, SigtermUnderLoadDropsNoAcceptedRequestAndExitsZero) {
  RedisServer redis;
  Service service = insecure_service(redis);
  Tally tally;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  // Clients end by themselves when refused; on an early failure this stops and joins them.
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{stop, clients};
  for (int i = 0; i < 8; ++i)
    clients.emplace_back(keep_alive_client, service.port(), std::ref(tally), std::ref(stop), i);
  for (int i = 0; i < 8; ++i) clients.emplace_back(one_shot_client, service.port(), std::ref(tally), std::ref(stop), i);

  // Let the load build up, then signal in the middle of it.
  const auto load_deadline = clock::now() + 20s;
  for (;;) {
    std::this_thread::sleep_for(20ms);
    std::lock_guard lock(tally.mutex);
    if (tally.answered >= 400 || clock::now() > load_deadline) break;
  }
  int answered_before = 0;
  {
    std::lock_guard lock(tally.mutex);
    answered_before = tally.answered;
  }
  ASSERT_GT(answered_before, 0);
  service.process().signal(SIGTERM);

  // Readiness fails as soon as the process has handled the signal, and never comes back.
  const auto signalled = clock::now();
  std::vector<unsigned> readiness;
  std::optional<clock::duration> first_failure;
  while (service.process().running() && readiness.size() < 100000) {
    readiness.push_back(readyz(service.admin_port()));
    if (readiness.back() != 200 && !first_failure) first_failure = clock::now() - signalled;
    if (readiness.back() == 0) break;  // the admin listener is gone: the process is exiting
  }
  int status = -1;
  ASSERT_NO_THROW(status = service.process().wait(15s)) << "still running 15 s after SIGTERM";
  EXPECT_EQ(status, 0) << service.process().stderr_text();

  stop = true;  // a backstop: every client has been refused by now
  for (auto& client : clients) client.join();

  // The signal reaches the process asynchronously: a poll that raced it may still see 200.
  // Once /readyz has failed it must never answer 200 again.
  const auto first_not_ready = std::find_if(readiness.begin(), readiness.end(), [](unsigned s) { return s != 200; });
  const auto raced = first_not_ready - readiness.begin();
  EXPECT_EQ(std::count(first_not_ready, readiness.end(), 200u), 0) << "/readyz answered 200 again after failing";
  EXPECT_TRUE(first_failure.has_value()) << "/readyz never failed before the process exited";
  const int not_ready = static_cast<int>(std::count(readiness.begin(), readiness.end(), 503u));
  std::cout << "shutdown under load: " << tally.answered << " answered (" << answered_before << " before SIGTERM, "
            << tally.closing << " with Connection: close), " << tally.refused << " refused at connect, "
            << tally.idle_closed << " idle keep-alive closes, " << tally.not_accepted
            << " reset in the listen backlog, " << tally.failures.size()
            << " dropped; /readyz after SIGTERM: " << readiness.size() << " polls, " << raced
            << " x 200 while the signal was on its way, then " << not_ready << " x 503 from "
            << std::chrono::duration<double, std::milli>(first_failure.value_or(clock::duration{})).count()
            << " ms after kill()\n";
  EXPECT_EQ(tally.failures.size(), 0u);
  for (std::size_t i = 0; i < tally.failures.size() && i < 10; ++i) ADD_FAILURE() << tally.failures[i];
  EXPECT_EQ(tally.refused, 16) << "every client ends on a refused connection";
  EXPECT_EQ(tally.duplicates, 0);

  // Every take Redis executed was acknowledged, and every acknowledged one is stored.
  const std::vector<std::int64_t> listed = tickets_in_redis(redis, "rubis");
  const std::set<std::int64_t> stored(listed.begin(), listed.end());
  EXPECT_EQ(listed.size(), stored.size()) << "a ticket is stored twice";
  EXPECT_EQ(stored, tally.tickets) << "Redis holds " << stored.size() << " tickets, clients got "
                                   << tally.tickets.size();
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), std::to_string(tally.tickets.size()));
}

TEST(Shutdown, AConnectionAcceptedBeforeTheSignalGetsItsFirstRequestAnswered) {
  RedisServer redis;
  Service service = insecure_service(redis);
  RawConnection early(service.port());  // accepted, but its request comes later
  std::this_thread::sleep_for(200ms);
  service.process().signal(SIGTERM);
  ASSERT_EQ(await_not_ready(service.admin_port()), 503u);

  ASSERT_EQ(early.send(kTake), 0);
  std::optional<Response> response;
  const RawConnection::Read read = early.read_response(kAnswerTimeout, response);
  ASSERT_TRUE(response) << "the connection accepted before SIGTERM was dropped: " << describe(read, 0);
  EXPECT_EQ(response->status, 200u) << response->body;
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_EQ(ticket_of(*response), 1);
  EXPECT_EQ(service.process().wait(15s), 0) << service.process().stderr_text();
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), std::vector<std::int64_t>{1});
}

TEST(Shutdown, ASlowRequestInFlightStillGetsItsAnswerAndItsTicketIsStored) {
  RedisServer redis({"--enable-debug-command", "yes"});
  Service service = insecure_service(redis, {"--redis-timeout", "5s"});
  HttpClient(service.port()).post("/get_ticket");  // ticket 1; the take script is now cached

  // Redis sleeps for a second in a separate redis-cli; wait until it is asleep (a PING hangs).
  Process sleeper({"redis-cli", "-p", std::to_string(redis.port()), "DEBUG", "SLEEP", "1"});
  const auto deadline = clock::now() + 10s;
  for (;;) {
    RawConnection ping(redis.port());
    ping.send("PING\r\n");
    if (ping.read_some(50ms).timed_out) break;
    ASSERT_LT(clock::now(), deadline) << "redis never went to sleep: " << sleeper.stdout_text();
  }
  RawConnection slow(service.port());
  ASSERT_EQ(slow.send(kTake), 0);  // waits on Redis
  std::this_thread::sleep_for(100ms);
  service.process().signal(SIGTERM);
  EXPECT_EQ(await_not_ready(service.admin_port()), 503u);

  std::optional<Response> response;
  const RawConnection::Read read = slow.read_response(kAnswerTimeout, response);
  ASSERT_TRUE(response) << describe(read, 0);
  EXPECT_EQ(response->status, 200u) << response->body;
  EXPECT_EQ(response->header("Connection"), "close") << "the take was not in flight at SIGTERM";
  EXPECT_EQ(ticket_of(*response), 2);
  EXPECT_EQ(service.process().wait(15s), 0) << service.process().stderr_text();
  EXPECT_EQ(sleeper.wait(), 0);
  EXPECT_EQ(tickets_in_redis(redis, "rubis"), (std::vector<std::int64_t>{2, 1}));  // newest first
}

TEST(Shutdown, IdleKeepAliveConnectionsAreClosedAtOnce) {
  RedisServer redis;
  Service service = insecure_service(redis, {"--idle-timeout", "10m"});
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 10; ++i) {
    idle.push_back(std::make_unique<RawConnection>(service.port()));
    ASSERT_EQ(idle.back()->send(kList), 0);
    std::optional<Response> response;
    idle.back()->read_response(kAnswerTimeout, response);
    ASSERT_TRUE(response);
    ASSERT_NE(response->header("Connection"), "close");
  }
  service.process().signal(SIGTERM);
  for (auto& connection : idle) {
    const RawConnection::Read read = connection->read_until_close(10s);
    EXPECT_TRUE(read.closed()) << "an idle connection is still open 10 s after SIGTERM";
    EXPECT_EQ(read.bytes, "");
  }
  EXPECT_EQ(service.process().wait(10s), 0) << service.process().stderr_text();
}

TEST(Shutdown, ASecondSignalDuringTheDrainStopsAtOnceWithStatus1) {
  RedisServer redis;
  Service service = insecure_service(redis, {"--header-timeout", "5m", "--shutdown-timeout", "5m"});
  RawConnection busy(service.port());  // half a request: the drain waits for it
  ASSERT_EQ(busy.send("GET /list_tic"), 0);
  std::this_thread::sleep_for(100ms);
  service.process().signal(SIGTERM);
  ASSERT_EQ(await_not_ready(service.admin_port()), 503u);
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(service.process().running()) << "the drain did not wait for the busy connection";

  service.process().signal(SIGTERM);
  int status = -1;
  ASSERT_NO_THROW(status = service.process().wait(5s)) << "still running 5 s after the second SIGTERM";
  EXPECT_EQ(status, 1);
  EXPECT_NE(service.process().stdout_text().find("second signal"), std::string::npos);
}

TEST(Shutdown, ConnectionsStillBusyAtTheShutdownTimeoutAreCutWithStatus1) {
  RedisServer redis;
  Service service = insecure_service(redis, {"--header-timeout", "5m", "--shutdown-timeout", "1s"});
  RawConnection busy(service.port());
  ASSERT_EQ(busy.send("GET /list_tic"), 0);
  std::this_thread::sleep_for(100ms);
  service.process().signal(SIGTERM);
  int status = -1;
  ASSERT_NO_THROW(status = service.process().wait(20s)) << "the shutdown timeout did not bound the drain";
  EXPECT_EQ(status, 1);
  EXPECT_TRUE(busy.read_until_close(5s).closed());
}

// The process stops while Redis has commands it never answered: each waiting request sits in the
// Redis client's queue when the event loop stops. Under the sanitizers (the ASan build of
// `make test-native`) any memory not freed at exit (a cycle between the client and the requests
// waiting on it leaked once) is reported and changes the exit status.
TEST(Shutdown, StoppingWithCommandsRedisNeverAnsweredFreesEverything) {
  RedisServer redis;
  Relay relay(redis.port());
  Service service({.redis_port = relay.port(),
                   .extra_args = {"--insecure-no-auth", "--redis-timeout", "60s", "--shutdown-timeout", "1s"}});
  ASSERT_EQ(HttpClient(service.port()).post("/get_ticket").status, 200u);  // the take script is cached
  relay.set(Relay::Mode::hold_replies);
  std::vector<std::unique_ptr<RawConnection>> waiting;
  for (int i = 0; i < 8; ++i) {
    waiting.push_back(std::make_unique<RawConnection>(service.port()));
    ASSERT_EQ(waiting.back()->send(i % 2 ? kTake : kList), 0);
  }
  // Replies held back (counted per read from Redis: pipelined commands may share one); then the
  // last requests' commands have time to reach Redis too.
  const auto deadline = clock::now() + 10s;
  while (relay.held() == 0) {
    ASSERT_LT(clock::now(), deadline) << "no command reached Redis";
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(300ms);
  service.process().signal(SIGTERM);
  int status = -1;
  ASSERT_NO_THROW(status = service.process().wait(20s)) << "the shutdown timeout did not bound the drain";
  EXPECT_EQ(status, 1) << service.process().stderr_text();
  EXPECT_EQ(service.process().stderr_text().find("Sanitizer"), std::string::npos) << service.process().stderr_text();
  for (auto& connection : waiting) EXPECT_TRUE(connection->read_until_close(5s).closed());
}

}  // namespace
}  // namespace waitline::test
