#include "support/replication.hpp"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "support/temp_dir.hpp"

namespace waitline::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool in_private_network = false;

void bring_loopback_up() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  const bool up = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0 &&
                  (request.ifr_flags |= IFF_UP, ::ioctl(fd, SIOCSIFFLAGS, &request) == 0);
  const int error = errno;
  ::close(fd);
  if (!up) throw std::system_error(error, std::generic_category(), "bringing lo up");
}

std::string without_newline(std::string text) {
  while (text.ends_with('\n')) text.pop_back();
  return text;
}

}  // namespace

void private_network() {
  if (in_private_network) return;
  if (::unshare(CLONE_NEWNET) != 0)
    throw std::system_error(errno, std::generic_category(), "unshare(CLONE_NEWNET) (the failover tests run as root)");
  bring_loopback_up();
  in_private_network = true;
}

Sentinel::Sentinel(std::uint16_t primary_port, Options options)
    : port_(free_port()), dir_(make_temp_dir("waitline-sentinel")) {
  const fs::path config = dir_ / "sentinel.conf";
  {
    std::ofstream out(config);
    out << "port " << port_ << "\nbind 127.0.0.1\ndir " << dir_.string() << "\nprotected-mode no\n"
        << "sentinel announce-ip 127.0.0.1\n";
    if (!options.source.empty()) out << "bind-source-addr " << options.source << "\n";
    out << "sentinel monitor " << options.name << " 127.0.0.1 " << primary_port << " " << options.quorum << "\n"
        << "sentinel down-after-milliseconds " << options.name << " " << options.down_after.count() << "\n"
        << "sentinel failover-timeout " << options.name << " " << options.failover_timeout.count() << "\n";
    if (!out) throw std::runtime_error("cannot write " + config.string());
  }
  process_ = std::make_unique<Process>(std::vector<std::string>{"redis-server", config.string(), "--sentinel"});
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (cli({"PING"}) != "PONG") {
    if (!process_->running())
      throw std::runtime_error("redis-server --sentinel exited:\n" + process_->stdout_text() + process_->stderr_text());
    if (std::chrono::steady_clock::now() >= deadline) throw std::runtime_error("the sentinel did not answer PING");
    std::this_thread::sleep_for(10ms);
  }
}

Sentinel::~Sentinel() {
  process_.reset();
  remove_dir(dir_);
}

std::string Sentinel::cli(std::vector<std::string> args) const {
  std::vector<std::string> argv{"redis-cli", "-p", std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  return without_newline(run(argv).output);
}

std::string Sentinel::primary() const {
  const std::string answer = cli({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "waitline"});
  const auto newline = answer.find('\n');
  if (newline == std::string::npos) return {};
  return answer.substr(0, newline) + ":" + answer.substr(newline + 1);
}

Partition::Partition(std::uint16_t port, std::string side) {
  if (!in_private_network) throw std::logic_error("a Partition changes the firewall: call private_network() first");
  const std::string p = std::to_string(port);
  rules_ = {{"INPUT", "-p", "tcp", "-s", side, "-d", "127.0.0.1", "--dport", p, "-j", "DROP"},
            {"INPUT", "-p", "tcp", "-s", "127.0.0.1", "-d", side, "--sport", p, "-j", "DROP"}};
  for (const auto& rule : rules_) {
    std::vector<std::string> argv{"iptables", "-I"};
    argv.insert(argv.end(), rule.begin(), rule.end());
    if (const auto r = run(argv); r.status != 0) throw std::runtime_error("iptables -I failed: " + r.output);
  }
}

Partition::~Partition() { heal(); }

void Partition::heal() {
  for (const auto& rule : rules_) {
    std::vector<std::string> argv{"iptables", "-D"};
    argv.insert(argv.end(), rule.begin(), rule.end());
    run(argv);
  }
  rules_.clear();
}

}  // namespace waitline::test
