#include "ratelimit/ratelimit.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

namespace waitline::ratelimit {

namespace {

std::uint32_t whole_seconds(double seconds) {
  return static_cast<std::uint32_t>(std::max(1.0, std::ceil(seconds - 1e-9)));
}

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

double TokenBucket::refilled(const Rate& rate, Clock::time_point now) const {
  // Threads read the clock before taking the lock: a time point older than the last is no time.
  const double elapsed = std::max(0.0, std::chrono::duration<double>(now - updated_).count());
  return std::min(static_cast<double>(rate.burst), tokens_ + elapsed * rate.per_second);
}

bool TokenBucket::full(const Rate& rate, Clock::time_point now) const { return refilled(rate, now) >= rate.burst; }

Decision TokenBucket::take(const Rate& rate, Clock::time_point now) {
  tokens_ = refilled(rate, now);
  updated_ = std::max(updated_, now);
  if (tokens_ < 1)
    return {.allowed = false, .remaining = 0, .wait_seconds = whole_seconds((1 - tokens_) / rate.per_second)};
  tokens_ -= 1;
  const double next = std::floor(tokens_) + 1 - tokens_;  // fraction of a token until one more
  return {.allowed = true,
          .remaining = static_cast<std::uint32_t>(tokens_),
          .wait_seconds = whole_seconds(next / rate.per_second)};
}

Decision BucketTable::take(std::string_view name, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (auto found = index_.find(name); found != index_.end()) {
    recent_.splice(recent_.begin(), recent_, found->second);
    return found->second->bucket.take(rate_, now);
  }
  // Two refilled buckets forgotten per new one keep the table down to the active names; the cap
  // forgets the least recent one even when it is not full.
  for (int i = 0; i < 2 && !recent_.empty() && recent_.back().bucket.full(rate_, now); ++i) {
    index_.erase(recent_.back().name);
    recent_.pop_back();
  }
  if (recent_.size() >= capacity_ && !recent_.empty()) {
    index_.erase(recent_.back().name);
    recent_.pop_back();
  }
  recent_.push_front(Entry{std::string(name), TokenBucket(rate_, now)});
  index_.emplace(recent_.front().name, recent_.begin());
  return recent_.front().bucket.take(rate_, now);
}

std::size_t BucketTable::size() const {
  std::lock_guard lock(mutex_);
  return recent_.size();
}

bool Network::contains(const std::array<std::uint8_t, 16>& address) const {
  const unsigned whole = prefix / 8;
  if (!std::equal(bytes.begin(), bytes.begin() + whole, address.begin())) return false;
  if (prefix % 8 == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - prefix % 8));
  return (bytes[whole] & mask) == (address[whole] & mask);
}

std::optional<std::array<std::uint8_t, 16>> parse_address(std::string_view text) {
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string copy(text);  // inet_pton wants a terminated string
  std::array<std::uint8_t, 16> address{};
  if (::inet_pton(AF_INET, copy.c_str(), address.data() + 12) == 1) {
    address[10] = address[11] = 0xff;
    return address;
  }
  if (::inet_pton(AF_INET6, copy.c_str(), address.data()) == 1) return address;
  return std::nullopt;
}

std::optional<Network> parse_network(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = parse_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  const bool v4 = text.find(':') == std::string_view::npos;
  Network network{*address, 128};
  if (slash == std::string_view::npos) return network;
  const auto digits = text.substr(slash + 1);
  if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  const unsigned prefix = static_cast<unsigned>(std::stoul(std::string(digits)));
  if (prefix > (v4 ? 32u : 128u)) return std::nullopt;
  network.prefix = v4 ? prefix + 96 : prefix;
  return network;
}

std::optional<std::vector<Network>> parse_networks(std::string_view comma_separated) {
  std::vector<Network> networks;
  while (!trimmed(comma_separated).empty()) {
    const auto comma = comma_separated.find(',');
    const auto network = parse_network(trimmed(comma_separated.substr(0, comma)));
    if (!network) return std::nullopt;
    networks.push_back(*network);
    comma_separated = comma == std::string_view::npos ? std::string_view{} : comma_separated.substr(comma + 1);
  }
  return networks;
}

std::string_view client_address(std::string_view peer, std::string_view forwarded_for,
                                const std::vector<Network>& trusted) {
  const auto is_trusted = [&](std::string_view text) {
    const auto address = parse_address(text);
    return address && std::ranges::any_of(trusted, [&](const Network& n) { return n.contains(*address); });
  };
  std::string_view client = peer;
  while (is_trusted(client)) {
    if (forwarded_for.empty()) break;
    const auto comma = forwarded_for.rfind(',');
    const auto hop = trimmed(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    forwarded_for = comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
    if (!parse_address(hop)) break;
    client = hop;
  }
  return client;
}

}  // namespace waitline::ratelimit
