// The concurrency proof (issue 2, acceptance 4; mission R2, R10): one real redis-server, three
// waitline processes serving the same queue, 64 concurrent keep-alive clients spread over them,
// taking and calling tickets interleaved. No number is issued twice, none is called twice, none
// is lost, each caller sees the queue in FIFO order, and Redis ends empty with the counter at N.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/support.hpp"

namespace waitline::test {
namespace {

using clock = std::chrono::steady_clock;

constexpr int kServices = 3;
constexpr int kClients = 64;
constexpr int kTakesPerClient = 320;  // 64 x 320 = 20,480 takes
constexpr int kCallsPerClient = 320;  // and as many calls

struct ClientLog {
  std::vector<std::int64_t> taken;
  std::vector<std::int64_t> called;  // in the order this client got them
  int empty_calls = 0;               // "ticket": null: the queue was empty at that moment
  std::vector<std::string> failures;
};

// A lean keep-alive HTTP/1.1 client for this test's two requests. The support library's
// HttpClient would do, but under the sanitizers its cost per request dominated the run; this one
// keeps 40,000 requests within the time budget there. Bounded: every read and write times out.
class LeanClient {
 public:
  explicit LeanClient(std::uint16_t port) : port_(port) {}
  ~LeanClient() { disconnect(); }

  struct Answer {
    unsigned status = 0;
    std::string body;
  };

  // POST with an empty body. Like any client, retries once on a new connection when a reused one
  // turns out closed before any answer byte (the server never saw the request).
  Answer post(std::string_view target) {
    const std::string request = "POST " + std::string(target) +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    for (;;) {
      const bool reused = fd_ >= 0;
      if (!reused) connect();
      bool nothing_received = false;
      if (std::optional<Answer> answer = exchange(request, nothing_received)) return *answer;
      disconnect();
      if (!reused || !nothing_received) throw std::runtime_error("POST " + std::string(target) + ": connection lost");
    }
  }

 private:
  void connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    const timeval timeout{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
      const int error = errno;
      disconnect();
      throw std::system_error(error, std::generic_category(), "connect");
    }
    buffer_.clear();
  }

  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // The answer, or nullopt when the connection failed (`nothing_received`: before any byte).
  std::optional<Answer> exchange(const std::string& request, bool& nothing_received) {
    nothing_received = true;
    for (std::size_t sent = 0; sent < request.size();) {
      const ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return std::nullopt;
      sent += static_cast<std::size_t>(n);
    }
    std::size_t head_end = std::string::npos;
    std::size_t length = 0;
    for (;;) {
      if (head_end == std::string::npos && (head_end = buffer_.find("\r\n\r\n")) != std::string::npos) {
        head_end += 4;
        length = content_length(std::string_view(buffer_).substr(0, head_end));
      }
      if (head_end != std::string::npos && buffer_.size() >= head_end + length) break;
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      nothing_received = false;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    Answer answer;
    // "HTTP/1.1 200 OK"
    answer.status = static_cast<unsigned>(std::stoul(buffer_.substr(9, 3)));
    answer.body = buffer_.substr(head_end, length);
    const bool closing = std::string_view(buffer_).substr(0, head_end).find("Connection: close") !=
                         std::string_view::npos;
    buffer_.erase(0, head_end + length);
    if (closing) disconnect();
    return answer;
  }

  static std::size_t content_length(std::string_view head) {
    const std::string_view name = "Content-Length: ";
    const std::size_t at = head.find(name);
    if (at == std::string_view::npos) throw std::runtime_error("an answer without Content-Length");
    return static_cast<std::size_t>(std::stoul(std::string(head.substr(at + name.size(), 12))));
  }

  std::uint16_t port_;
  int fd_ = -1;
  std::string buffer_;
};

// {"ticket": n} or {"ticket": null} from a 200 answer.
std::optional<std::int64_t> ticket_of(const std::string& body) {
  const std::string_view key = "\"ticket\":";
  const std::size_t at = body.find(key);
  if (at == std::string::npos) throw std::runtime_error("no ticket in " + body);
  if (body.compare(at + key.size(), 4, "null") == 0) return std::nullopt;
  return std::stoll(body.substr(at + key.size(), 24));
}

void run_client(int index, std::uint16_t port, std::barrier<>& start, ClientLog& log) {
  // Takes and calls in a random order of this client's own (deterministic per client).
  std::vector<bool> is_take(kTakesPerClient + kCallsPerClient, false);
  std::fill_n(is_take.begin(), kTakesPerClient, true);
  std::mt19937 random(static_cast<std::uint32_t>(1000 + index));
  std::shuffle(is_take.begin(), is_take.end(), random);

  LeanClient client(port);
  start.arrive_and_wait();
  for (const bool take : is_take) {
    try {
      const LeanClient::Answer answer = client.post(take ? "/get_ticket" : "/call_ticket");
      if (answer.status != 200) {
        log.failures.push_back(std::string(take ? "take" : "call") + ": " + std::to_string(answer.status) + " " +
                               answer.body);
        continue;
      }
      const std::optional<std::int64_t> ticket = ticket_of(answer.body);
      if (take && ticket) log.taken.push_back(*ticket);
      else if (take) log.failures.push_back("take without a ticket: " + answer.body);
      else if (ticket) log.called.push_back(*ticket);
      else ++log.empty_calls;
    } catch (const std::exception& e) {
      log.failures.push_back(e.what());
    }
  }
}

TEST(Concurrency, ThreeReplicasNeverIssueOrCallATicketTwiceAndLoseNone) {
  RedisServer redis;
  std::vector<std::unique_ptr<Service>> services;
  for (int i = 0; i < kServices; ++i) {
    // A generous Redis timeout: a 503 here would be a scheduling hiccup, not what is tested.
    services.push_back(std::make_unique<Service>(Service::Options{
        .redis_port = redis.port(), .queue = "rubis", .extra_args = {"--insecure-no-auth", "--redis-timeout", "30s"}}));
  }

  std::vector<ClientLog> logs(kClients);
  std::barrier start(kClients + 1);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(run_client, i, services[static_cast<std::size_t>(i % kServices)]->port(), std::ref(start),
                         std::ref(logs[static_cast<std::size_t>(i)]));
  }
  start.arrive_and_wait();
  const auto started = clock::now();
  for (auto& c : clients) c.join();
  const auto took = clock::now() - started;

  // Drain what is left, through one of the replicas, until the queue says it is empty.
  std::vector<std::int64_t> drained;
  {
    LeanClient client(services[0]->port());
    for (;;) {
      const LeanClient::Answer answer = client.post("/call_ticket");
      ASSERT_EQ(answer.status, 200u) << answer.body;
      const std::optional<std::int64_t> ticket = ticket_of(answer.body);
      if (!ticket) break;
      drained.push_back(*ticket);
      ASSERT_LE(drained.size(), static_cast<std::size_t>(kClients * kTakesPerClient)) << "the queue never empties";
    }
  }

  std::size_t failures = 0;
  for (const ClientLog& log : logs) {
    for (const std::string& failure : log.failures) {
      if (++failures <= 10) ADD_FAILURE() << failure;
    }
  }
  ASSERT_EQ(failures, 0u);

  // Issued numbers: exactly 1..N, no duplicate.
  std::vector<std::int64_t> issued;
  for (const ClientLog& log : logs) issued.insert(issued.end(), log.taken.begin(), log.taken.end());
  std::sort(issued.begin(), issued.end());
  const auto n = static_cast<std::int64_t>(issued.size());
  ASSERT_EQ(n, kClients * kTakesPerClient);
  std::vector<std::int64_t> one_to_n(issued.size());
  std::iota(one_to_n.begin(), one_to_n.end(), 1);
  EXPECT_TRUE(std::adjacent_find(issued.begin(), issued.end()) == issued.end()) << "a number was issued twice";
  EXPECT_TRUE(issued == one_to_n) << "the issued numbers are not exactly 1.." << n;

  // Called tickets, the drain included: each issued ticket exactly once.
  std::vector<std::int64_t> called(drained);
  int calls = 0, empty_calls = 0;
  for (const ClientLog& log : logs) {
    called.insert(called.end(), log.called.begin(), log.called.end());
    calls += static_cast<int>(log.called.size()) + log.empty_calls;
    empty_calls += log.empty_calls;
  }
  std::sort(called.begin(), called.end());
  EXPECT_TRUE(std::adjacent_find(called.begin(), called.end()) == called.end()) << "a ticket was called twice";
  EXPECT_TRUE(called == issued) << called.size() << " tickets called, " << issued.size() << " issued";

  // FIFO: each caller sees strictly increasing numbers across its own calls.
  for (std::size_t i = 0; i < logs.size(); ++i) {
    const std::vector<std::int64_t>& seen = logs[i].called;
    const auto wrong = std::adjacent_find(seen.begin(), seen.end(), std::greater_equal<>());
    EXPECT_TRUE(wrong == seen.end()) << "client " << i << " was called " << *wrong << " then " << *(wrong + 1);
  }
  EXPECT_TRUE(std::is_sorted(drained.begin(), drained.end()));

  EXPECT_EQ(redis.cli({"LLEN", "queue_rubis"}), "0");
  EXPECT_EQ(redis.cli({"GET", "ticket_number_rubis"}), std::to_string(n));
  EXPECT_EQ(calls, kClients * kCallsPerClient);

  const double seconds = std::chrono::duration<double>(took).count();
  std::cout << "concurrency: " << kServices << " replicas, " << kClients << " clients: " << n << " takes and " << calls
            << " calls (" << calls - empty_calls << " called a ticket, " << empty_calls << " found the queue empty) in "
            << seconds << " s; drained " << drained.size() << " more; issued 1.." << n << " once each, all "
            << called.size() << " called once each\n";

  for (auto& service : services) {
    EXPECT_TRUE(service->process().running());
    service->process().signal(SIGTERM);
    EXPECT_EQ(service->process().wait(std::chrono::seconds(20)), 0) << service->process().stderr_text();
  }
}

}  // namespace
}  // namespace waitline::test
