#include "support/relay.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <system_error>

namespace waitline::test {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The peer has closed its end (EOF waiting to be read, or an error): nothing sent now reaches it.
bool peer_closed(int fd) {
  pollfd peer{fd, POLLIN, 0};
  if (::poll(&peer, 1, 0) <= 0) return false;
  char byte = 0;
  return (peer.revents & (POLLHUP | POLLERR)) != 0 || ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

}  // namespace

Relay::Relay(std::uint16_t target_port) : target_port_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw std::system_error(errno, std::generic_category(), "relay socket");
  auto address = loopback(0);
  socklen_t length = sizeof address;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    ::close(listener_);
    throw std::system_error(error, std::generic_category(), "relay listen");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

Relay::~Relay() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  ::close(listener_);
  std::lock_guard lock(mutex_);
  for (auto& thread : threads_) thread.join();
}

void Relay::accept_loop() {
  for (;;) {
    pollfd waiting{listener_, POLLIN, 0};
    if (::poll(&waiting, 1, 50) < 0 && errno != EINTR) return;
    if (stopping_) return;
    if (!(waiting.revents & POLLIN)) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto target = loopback(target_port_);
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      continue;
    }
    const int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mutex_);
    threads_.emplace_back([this, client, server] { relay(client, server); });
  }
}

void Relay::relay(int client, int server) {
  std::array<char, 16384> buffer;
  std::string held;  // Redis's replies kept back, in order
  int held_reads = 0;
  for (bool open = true; open && !stopping_;) {
    if (!held.empty() && mode_ != Mode::hold_replies) {
      // Late, but on the connection they belong to and before anything newer.
      open = !peer_closed(client) && send_all(client, held.data(), held.size());
      (open ? late_ : lost_) += held_reads;
      held.clear();
      held_reads = 0;
      if (!open) break;
    }
    std::array<pollfd, 2> fds{pollfd{client, POLLIN, 0}, pollfd{server, POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), 20) < 0 && errno != EINTR) break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(client, buffer.data(), buffer.size(), 0);
      if (n <= 0 || !send_all(server, buffer.data(), static_cast<std::size_t>(n))) break;
      if (mode_ == Mode::drop_after_command) {
        ++drops_;
        break;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(server, buffer.data(), buffer.size(), 0);
      if (n <= 0) break;
      if (mode_ == Mode::hold_replies) {
        held.append(buffer.data(), static_cast<std::size_t>(n));
        ++held_reads;
        ++held_;
      } else {
        open = send_all(client, buffer.data(), static_cast<std::size_t>(n));
      }
    }
  }
  lost_ += held_reads;  // the connection ended with replies still held
  ::close(client);
  ::close(server);
}

}  // namespace waitline::test
