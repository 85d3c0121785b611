// A TCP relay between the service and Redis on 127.0.0.1, to make the faults of a real network:
//
//   Relay relay(redis.port());                 // the service connects to relay.port()
//   relay.set(Relay::Mode::hold_replies);      // commands reach Redis; its replies never come back
//   relay.set(Relay::Mode::drop_after_command);// a command reaches Redis, then the link is cut
//   relay.set(Relay::Mode::pass);
//
// Every connection gets its own thread; the destructor closes everything and joins them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace waitline::test {

class Relay {
 public:
  enum class Mode {
    pass,                // both ways, at once
    hold_replies,        // client to Redis at once; Redis's replies are kept back, never delivered
    drop_after_command,  // the next bytes from the client reach Redis, then both sides are closed
  };

  explicit Relay(std::uint16_t target_port);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  void set(Mode mode) { mode_ = mode; }
  // Connections cut by drop_after_command so far.
  int drops() const noexcept { return drops_; }
  // Replies (reads from Redis) kept back by hold_replies so far: commands Redis ran unanswered.
  int held() const noexcept { return held_; }

 private:
  void accept_loop();
  void relay(int client, int server);

  std::uint16_t target_port_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<Mode> mode_{Mode::pass};
  std::atomic<bool> stopping_{false};
  std::atomic<int> drops_{0};
  std::atomic<int> held_{0};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace waitline::test
