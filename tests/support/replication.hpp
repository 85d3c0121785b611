// Real Redis replication for integration tests: a network namespace of the test's own, Redis
// Sentinels, and network partitions made by that namespace's firewall.
//
//   test::private_network();   // first: this process and what it starts get their own loopback
//   RedisServer primary({"--protected-mode", "no"});
//   RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(primary.port()),
//                        "--bind-source-addr", test::kCutSide, "--replica-announce-ip", "127.0.0.1"});
//   Sentinel sentinel(primary.port(), {.source = test::kCutSide});
//   { Partition cut(primary.port(), test::kCutSide); ... }   // dropped both ways until destroyed
//
// The processes that a partition cuts from a server (its replicas, the Sentinels) make their
// connections from kCutSide (Redis's bind-source-addr), the others (the service under test,
// redis-cli) from 127.0.0.1: both are loopback, so only the firewall tells them apart.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace waitline::test {

inline constexpr const char* kCutSide = "127.0.0.2";

// Moves this process into a new network namespace with its loopback up; the processes it starts
// from then on share it. Needs root (CAP_SYS_ADMIN); throws otherwise. Idempotent.
void private_network();

// redis-server --sentinel on a free port, its configuration in a private temp directory.
class Sentinel {
 public:
  struct Options {
    std::string name = "waitline";  // the primary's name
    int quorum = 2;
    std::chrono::milliseconds down_after{1000};
    std::chrono::milliseconds failover_timeout{5000};
    std::string source{};  // bind-source-addr; empty: the system's choice
  };
  Sentinel(std::uint16_t primary_port, Options options);
  ~Sentinel();
  Sentinel(const Sentinel&) = delete;
  Sentinel& operator=(const Sentinel&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // redis-cli against this Sentinel; its stdout without the trailing newline.
  std::string cli(std::vector<std::string> args) const;
  // "host:port" of the primary this Sentinel names now.
  std::string primary() const;

 private:
  std::uint16_t port_;
  std::filesystem::path dir_;
  std::unique_ptr<Process> process_;
};

// Drops every TCP packet between port `port` on 127.0.0.1 and the address `side`, both ways,
// while it lives. Only inside private_network().
class Partition {
 public:
  Partition(std::uint16_t port, std::string side);
  ~Partition();
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;
  void heal();  // removes the rules now (the destructor then does nothing)

 private:
  std::vector<std::vector<std::string>> rules_;
};

}  // namespace waitline::test
