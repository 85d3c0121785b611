// Requests run through an http::Handler (the pipeline) on an io_context, without a socket: the
// unit tests of the pipeline and the API build a request, run handle() until it answers, and read
// the response.
//
//   asio::io_context io;
//   auto reply = unit::handle(io, pipeline, unit::request(verb::post, "/get_ticket", {{"Authorization", "Bearer k"}}));
//   EXPECT_EQ(reply.response.result(), http::Status::ok);
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "http/server.hpp"

namespace waitline::unit {

using boost::beast::http::verb;

// A file of API key lines in the temporary directory, removed with it.
class KeyFile {
 public:
  explicit KeyFile(const std::string& lines) {
    std::string pattern = (std::filesystem::temp_directory_path() / "waitline-keys-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw std::runtime_error("mkstemp");
    ::close(fd);
    path_ = pattern;
    std::ofstream(path_) << lines;
  }
  ~KeyFile() { std::filesystem::remove(path_); }
  KeyFile(const KeyFile&) = delete;
  KeyFile& operator=(const KeyFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline http::Request request(verb method, std::string_view target,
                             const std::map<std::string, std::string>& headers = {}) {
  http::Request request{method, target, 11};
  request.set(boost::beast::http::field::host, "waitline.test");
  for (const auto& [name, value] : headers) request.set(name, value);
  return request;
}

// Runs `task` on `io` (with whatever else runs there: a Redis connection) until it completes or
// `patience` passes.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task,
      std::chrono::milliseconds patience = std::chrono::seconds(30)) {
  std::optional<T> result;
  std::exception_ptr failure;
  bool done = false;
  // Through a coroutine of its own: co_spawn would need a default-constructible T.
  auto keep = [](boost::asio::awaitable<T> awaited, std::optional<T>& out) -> boost::asio::awaitable<void> {
    out.emplace(co_await std::move(awaited));
  };
  boost::asio::co_spawn(io, keep(std::move(task), result), [&](std::exception_ptr error) {
    failure = error;
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(50));
  }
  if (failure) std::rethrow_exception(failure);
  if (!result) throw std::runtime_error("no answer in time");
  return std::move(*result);
}

// One request through `handler`, from the client address `client`.
inline http::Reply handle(boost::asio::io_context& io, http::Handler& handler, http::Request request,
                          std::string client = "192.0.2.10") {
  auto task = [](http::Handler& h, http::Request r, std::string c) -> boost::asio::awaitable<http::Reply> {
    co_return co_await h.handle(r, c);
  };
  return run(io, task(handler, std::move(request), std::move(client)));
}

// The error body every failure carries: {"error":{"code":"<code>","message":"<non-empty>"}},
// as JSON, with the status.
inline ::testing::AssertionResult is_error(const http::Response& response, http::Status status, std::string_view code) {
  const auto what = [&] {
    return " (status " + std::to_string(response.result_int()) + ", body " + response.body() + ")";
  };
  if (response.result() != status) return ::testing::AssertionFailure() << "expected " << status << what();
  if (response[boost::beast::http::field::content_type] != "application/json") {
    return ::testing::AssertionFailure() << "not application/json" << what();
  }
  boost::system::error_code ec;
  const auto body = boost::json::parse(response.body(), ec);
  const auto* outer = ec ? nullptr : body.if_object();
  const auto* error = outer && outer->size() == 1 ? outer->if_contains("error") : nullptr;
  const auto* inner = error ? error->if_object() : nullptr;
  if (!inner || inner->size() != 2 || !inner->contains("code") || !inner->contains("message") ||
      !inner->at("code").is_string() || !inner->at("message").is_string() || inner->at("message").as_string().empty()) {
    return ::testing::AssertionFailure() << "not {\"error\":{\"code\",\"message\"}}" << what();
  }
  if (inner->at("code").as_string() != code) return ::testing::AssertionFailure() << "expected " << code << what();
  return ::testing::AssertionSuccess();
}

inline boost::json::object body_of(const http::Response& response) {
  return boost::json::parse(response.body()).as_object();
}

}  // namespace waitline::unit
