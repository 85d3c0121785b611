// Load generator of `make bench`'s live events section (scripts/bench/events.sh): holds many event
// streams open on one waitline process and measures how long a call's event takes to reach each.
//
//   event_fanout --port 8000 --key wl_... --streams 10000 --kind ticket --calls 20
//
// 1. Takes --calls tickets (the ones the calls will call); with --kind ticket, takes --streams
//    more and keeps each one's link; opens --streams
//    streams (GET /events, or each ticket's /tickets/{n}/events) and waits for every first event.
//    Prints "ready <streams>".
// 2. --calls times: POST /call_ticket on a connection of its own; from the moment its answer is
//    read, the time until each stream has the event that call caused (queue: its `called`;
//    ticket: the `status` with one fewer ahead). Prints "round <i> <p50 ms> <p99 ms> <max ms>"
//    and, at the end, "latency <p50> <p99> <max> over <n> deliveries, <missing> missing", then
//    "answer <p50> <p99> <max>": the calls' own time, request written to answer read (the desk's
//    wait, which its own call's fan-out may delay).
// 3. Prints "holding" and keeps reading every stream until stdin closes (the script measures the
//    service meanwhile), then "held <open streams> open".
// Everything runs on one thread (Asio on epoll); all traffic goes to 127.0.0.1.
#include <boost/asio.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Settings {
  std::uint16_t port = 0;
  std::string key;
  std::size_t streams = 1000;
  std::string kind = "queue";
  int calls = 10;
  int concurrency = 200;  // streams opened (and tickets taken) at once
};

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "event_fanout: " << why << "\n";
  std::exit(2);
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--port") s.port = static_cast<std::uint16_t>(std::stoi(value));
    else if (flag == "--key") s.key = value;
    else if (flag == "--streams") s.streams = std::stoul(value);
    else if (flag == "--kind") s.kind = value;
    else if (flag == "--calls") s.calls = std::stoi(value);
    else fail("unknown flag " + std::string(flag));
  }
  if (s.port == 0 || (s.kind != "queue" && s.kind != "ticket"))
    fail("usage: --port P --key K --streams N --kind queue|ticket --calls C");
  return s;
}

std::string request(std::string_view method, std::string_view target, const std::string& key, bool stream) {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!key.empty()) r += "Authorization: Bearer " + key + "\r\n";
  if (stream) r += "Accept: text/event-stream\r\n";
  if (method == "POST") r += "Content-Length: 0\r\n";
  return r + "\r\n";
}

// One stream: counts the events of the kind it waits for, and when each count was reached.
struct Stream {
  tcp::socket socket;
  std::string marker;                      // "\nevent: called" or "\nevent: status"
  std::string carry;                       // the end of the last read, for a marker cut in two
  std::size_t seen = 0;                    // markers so far
  std::vector<clock_type::time_point> at;  // when the i-th marker arrived
  bool open = true;
  explicit Stream(asio::io_context& io) : socket(io) {}
};

// A blocking-style exchange on a fresh connection: the whole answer (Content-Length bodies only).
asio::awaitable<std::string> exchange(tcp::endpoint to, std::string bytes) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(to, asio::use_awaitable);
  socket.set_option(tcp::no_delay(true));
  co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
  std::string answer;
  char buffer[8192];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), use_tuple);
    answer.append(buffer, n);
    const auto head = answer.find("\r\n\r\n");
    if (head != std::string::npos) {
      const auto cl = answer.find("Content-Length: ");
      if (cl != std::string::npos && cl < head) {
        const auto length = std::stoul(answer.substr(cl + 16));
        if (answer.size() >= head + 4 + length) co_return answer;
      }
    }
    if (ec) co_return answer;
  }
}

asio::awaitable<void> read_stream(Stream& s) {
  char buffer[16384];
  for (;;) {
    auto [ec, n] = co_await s.socket.async_read_some(asio::buffer(buffer), use_tuple);
    if (ec) {
      s.open = false;
      co_return;
    }
    const auto now = clock_type::now();
    std::string text = s.carry + std::string(buffer, n);
    for (std::size_t at = text.find(s.marker); at != std::string::npos; at = text.find(s.marker, at + 1)) {
      ++s.seen;
      s.at.push_back(now);
    }
    s.carry = text.size() > s.marker.size() ? text.substr(text.size() - s.marker.size() + 1) : text;
  }
}

double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

// "<p50> <p99> <max>" in ms, as every figure of this tool is printed.
std::string spread(const std::vector<double>& v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f %.1f %.1f", quantile(v, 0.5), quantile(v, 0.99),
                v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
  return text;
}

asio::awaitable<void> run(Settings settings, asio::io_context& io) {
  const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), settings.port);
  // The tickets the calls will call, taken first: every streamed ticket comes after them.
  for (int i = 0; i < settings.calls; ++i) {
    const std::string answer = co_await exchange(to, request("POST", "/get_ticket", settings.key, false));
    if (answer.rfind("HTTP/1.1 200", 0) != 0) fail("a take failed: " + answer.substr(0, 300));
  }
  // The targets: the queue's stream, or each ticket's, from as many takes.
  std::vector<std::string> targets(settings.streams, "/events");
  if (settings.kind == "ticket") {
    std::size_t next = 0;
    auto taker = [&]() -> asio::awaitable<void> {
      while (next < targets.size()) {
        const std::size_t i = next++;
        const std::string answer = co_await exchange(to, request("POST", "/get_ticket", settings.key, false));
        const auto url = answer.find("\"ticket_url\":\"");
        if (url == std::string::npos) fail("a take gave no ticket_url: " + answer.substr(0, 300));
        const auto start = url + 14, end = answer.find('"', start);
        std::string link = answer.substr(start, end - start);
        const auto question = link.find('?');
        targets[i] = link.substr(0, question) + "/events" + link.substr(question);
      }
    };
    for (int i = 0; i < settings.concurrency; ++i) asio::co_spawn(io, taker(), asio::detached);
    asio::steady_timer pause(io);
    while (next < targets.size() ||
           std::any_of(targets.begin(), targets.end(), [](auto& t) { return t == "/events"; })) {
      pause.expires_after(std::chrono::milliseconds(20));
      co_await pause.async_wait(use_tuple);
    }
  }
  // Open the streams, some at a time, each until its first event.
  std::vector<std::unique_ptr<Stream>> streams;
  const std::string marker = settings.kind == "queue" ? "\nevent: called" : "\nevent: status";
  std::size_t opened = 0, ready = 0;
  auto opener = [&]() -> asio::awaitable<void> {
    while (opened < targets.size()) {
      const std::size_t i = opened++;
      auto s = std::make_unique<Stream>(io);
      s->marker = marker;
      co_await s->socket.async_connect(to, asio::use_awaitable);
      const std::string bytes = request("GET", targets[i], settings.key, true);
      co_await asio::async_write(s->socket, asio::buffer(bytes), asio::use_awaitable);
      // Its head and first event (the snapshot, or the ticket's first status).
      std::string first;
      char buffer[4096];
      while (first.find("\ndata: ") == std::string::npos) {
        auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(buffer), use_tuple);
        if (ec) fail("stream " + std::to_string(i) + " closed before its first event: " + first.substr(0, 200));
        first.append(buffer, n);
      }
      if (first.rfind("HTTP/1.1 200", 0) != 0) fail("stream refused: " + first.substr(0, 300));
      // The first status counts as seen: a round's event is the next one.
      if (settings.kind == "ticket") s->seen = 0;
      Stream& ref = *s;
      streams.push_back(std::move(s));
      asio::co_spawn(io, read_stream(ref), asio::detached);
      ++ready;
    }
  };
  for (int i = 0; i < settings.concurrency; ++i) asio::co_spawn(io, opener(), asio::detached);
  asio::steady_timer pause(io);
  while (ready < targets.size()) {
    pause.expires_after(std::chrono::milliseconds(20));
    co_await pause.async_wait(use_tuple);
  }
  std::cout << "ready " << ready << std::endl;

  // Calls, one at a time, each measured to every stream.
  std::vector<double> all, answers;
  std::size_t missing = 0;
  for (int round = 1; round <= settings.calls; ++round) {
    pause.expires_after(std::chrono::milliseconds(300));
    co_await pause.async_wait(use_tuple);
    const auto asked = clock_type::now();
    const std::string answer = co_await exchange(to, request("POST", "/call_ticket?counter=1", settings.key, false));
    const auto answered = clock_type::now();
    answers.push_back(ms(answered - asked));
    if (answer.rfind("HTTP/1.1 200", 0) != 0) fail("a call failed: " + answer.substr(0, 300));
    const auto deadline = answered + std::chrono::seconds(10);
    for (;;) {
      const bool all_in = std::all_of(streams.begin(), streams.end(),
                                      [&](auto& s) { return s->seen >= static_cast<std::size_t>(round) || !s->open; });
      if (all_in || clock_type::now() > deadline) break;
      pause.expires_after(std::chrono::milliseconds(5));
      co_await pause.async_wait(use_tuple);
    }
    std::vector<double> round_ms;
    for (auto& s : streams) {
      if (s->seen < static_cast<std::size_t>(round)) {
        ++missing;
        continue;
      }
      round_ms.push_back(std::max(0.0, ms(s->at[static_cast<std::size_t>(round) - 1] - answered)));
    }
    std::printf("round %d %s\n", round, spread(round_ms).c_str());
    std::fflush(stdout);
    all.insert(all.end(), round_ms.begin(), round_ms.end());
  }
  std::printf("latency %s over %zu deliveries, %zu missing\n", spread(all).c_str(), all.size(), missing);
  std::printf("answer %s\n", spread(answers).c_str());
  std::cout << "holding" << std::endl;

  // Hold until stdin closes, reading whatever comes.
  asio::posix::stream_descriptor input(io, ::dup(0));
  char sink[64];
  for (;;) {
    auto [ec, n] = co_await input.async_read_some(asio::buffer(sink), use_tuple);
    if (ec) break;
  }
  const auto open = std::count_if(streams.begin(), streams.end(), [](auto& s) { return s->open; });
  std::cout << "held " << open << " open" << std::endl;
  io.stop();
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = parse(argc, argv);
  asio::io_context io(1);
  asio::co_spawn(io, run(settings, io), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      fail(error.what());
    }
  });
  io.run();
  return 0;
}
