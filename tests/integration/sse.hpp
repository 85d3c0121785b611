// A Server-Sent Events client for the integration tests, on a raw connection: it sends one GET,
// reads the head, then decodes the chunked body into events as they arrive.
//
//   SseClient stream(service.port(), "/events", {{"Last-Event-ID", last}});
//   ASSERT_EQ(stream.status(), 200u);
//   auto events = stream.wait_for(3);          // the first three events (comments are skipped)
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/support.hpp"

namespace waitline::test {

struct SseEvent {
  std::string id;     // empty when the event had no id: line
  std::string event;  // "message" when it had no event: line
  std::string data;
  std::string retry;  // the retry: field, when the block had one
};

class SseClient {
 public:
  SseClient(std::uint16_t port, std::string_view target, const std::map<std::string, std::string>& headers = {},
            int receive_buffer = 0)
      : connection_(port, std::chrono::seconds(10), receive_buffer) {
    std::string request = "GET " + std::string(target) +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "\r\n";
    connection_.send(request);
    std::optional<Response> head;
    // The head arrives alone first (the body follows as events happen): read until it is whole.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto read = connection_.read_some(std::chrono::milliseconds(200));
      raw_ += read.bytes;
      if (const auto end = raw_.find("\r\n\r\n"); end != std::string::npos) {
        head_ = parse_head(raw_.substr(0, end + 4));
        raw_.erase(0, end + 4);
        streaming_ = head_.status == 200 && head_.header("Content-Type").starts_with("text/event-stream");
        // Anything else is an ordinary answer: read its body whole.
        if (!streaming_) {
          std::size_t consumed = 0;
          raw_ = read_rest(std::move(raw_), consumed);
          head_.body = raw_;
        }
        break;
      }
      if (read.closed()) break;
    }
  }

  unsigned status() const { return head_.status; }
  const Response& head() const { return head_; }

  // Waits until `count` events have arrived in all (or the stream ends, or `timeout`); returns
  // every event so far.
  const std::vector<SseEvent>& wait_for(std::size_t count,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (events_.size() < count && !ended_ && std::chrono::steady_clock::now() < deadline)
      pump(std::chrono::milliseconds(100));
    return events_;
  }
  // Reads for `period`, whatever comes; returns every event so far.
  const std::vector<SseEvent>& read_for(std::chrono::milliseconds period) {
    const auto deadline = std::chrono::steady_clock::now() + period;
    while (!ended_ && std::chrono::steady_clock::now() < deadline) pump(std::chrono::milliseconds(50));
    return events_;
  }
  // Until the server ends the stream (true) or `timeout` passes (false).
  bool wait_end(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ended_ && std::chrono::steady_clock::now() < deadline) pump(std::chrono::milliseconds(100));
    return ended_;
  }

  const std::vector<SseEvent>& events() const { return events_; }
  const std::string& text() const { return text_; }  // the decoded body so far, comments included
  bool ended() const { return ended_; }
  bool finished_cleanly() const { return finished_; }  // the last chunk came before the end
  RawConnection& connection() { return connection_; }

 private:
  // The status line and the fields; names lower-cased as Response keeps them.
  static Response parse_head(const std::string& bytes) {
    Response response;
    std::size_t start = 0;
    bool first = true;
    while (start < bytes.size()) {
      const auto end = bytes.find("\r\n", start);
      const std::string line = bytes.substr(start, end - start);
      start = end + 2;
      if (line.empty()) break;
      if (first) {
        if (!line.starts_with("HTTP/1.")) throw std::runtime_error("not an HTTP head: " + bytes);
        response.version = line[7] == '0' ? 10 : 11;
        response.status = static_cast<unsigned>(std::stoul(line.substr(9, 3)));
        first = false;
        continue;
      }
      const auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[name] = value;
    }
    return response;
  }

  std::string read_rest(std::string bytes, std::size_t&) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      if (head_.header("Content-Length").empty() || bytes.size() >= std::stoul(head_.header("Content-Length")))
        return bytes;
      if (std::chrono::steady_clock::now() > deadline) return bytes;
      auto read = connection_.read_some(std::chrono::milliseconds(200));
      bytes += read.bytes;
      if (read.closed()) return bytes;
    }
  }

  void pump(std::chrono::milliseconds wait) {
    auto read = connection_.read_some(wait);
    raw_ += read.bytes;
    decode_chunks();
    parse_events();
    if (read.closed()) ended_ = true;
  }

  void decode_chunks() {
    for (;;) {
      const auto line_end = raw_.find("\r\n");
      if (line_end == std::string::npos) return;
      const std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
      if (raw_.size() < line_end + 2 + size + 2) return;
      if (size == 0) {
        finished_ = true;
        raw_.clear();
        return;
      }
      text_.append(raw_, line_end + 2, size);
      pending_.append(raw_, line_end + 2, size);
      raw_.erase(0, line_end + 2 + size + 2);
    }
  }

  void parse_events() {
    for (std::size_t end; (end = pending_.find("\n\n")) != std::string::npos;) {
      const std::string block = pending_.substr(0, end);
      pending_.erase(0, end + 2);
      SseEvent event{{}, "message", {}, {}};
      bool any = false;
      std::size_t start = 0;
      while (start <= block.size()) {
        const auto nl = std::min(block.find('\n', start), block.size());
        const std::string line = block.substr(start, nl - start);
        start = nl + 1;
        if (line.empty() || line.front() == ':') continue;
        const auto colon = line.find(':');
        const std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (field == "id") event.id = value, any = true;
        else if (field == "event") event.event = value, any = true;
        else if (field == "data") event.data += value, any = true;
        else if (field == "retry") event.retry = value;
      }
      if (any) events_.push_back(std::move(event));
    }
  }

  RawConnection connection_;
  Response head_;
  bool streaming_ = false;
  bool ended_ = false;
  bool finished_ = false;
  std::string raw_;      // bytes read, not decoded yet
  std::string pending_;  // decoded text of events not complete yet
  std::string text_;
  std::vector<SseEvent> events_;
};

}  // namespace waitline::test
