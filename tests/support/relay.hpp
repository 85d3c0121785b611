// A TCP relay between the service and Redis on 127.0.0.1, to make the faults of a real network:
//
//   Relay relay(redis.port());                 // the service connects to relay.port()
//   relay.set(Relay::Mode::hold_replies);      // commands reach Redis; its replies are kept back
//   relay.set(Relay::Mode::pass);              // ... and now arrive, late, on their connection
//   relay.set(Relay::Mode::drop_after_command);// a command reaches Redis, then the link is cut
//
// A held reply is delivered late on the connection it belongs to, before anything newer, once the
// mode leaves hold_replies: the client sees what a slow network shows it, on the connection it
// may have given up on. If the client has closed that connection by then, the reply is lost, as
// it would be. late() and lost() count them.
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
    hold_replies,        // client to Redis at once; Redis's replies are kept back, to be delivered late
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
  // Of those, the ones delivered late on their connection, and the ones whose connection the
  // client (or Redis) had closed first. Once nothing is held any more, late() + lost() == held().
  int late() const noexcept { return late_; }
  int lost() const noexcept { return lost_; }

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
  std::atomic<int> late_{0};
  std::atomic<int> lost_{0};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace waitline::test
