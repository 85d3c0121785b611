#include "app/app.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <iostream>
#include <optional>
#include <system_error>

#include "app/process.hpp"
#include "auth/auth.hpp"
#include "auth/tokens.hpp"

namespace waitline::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

int serve(const config::Config& cfg) {
  std::optional<Process> process;
  try {
    process.emplace(cfg);
  } catch (const StartupError& e) {
    std::cerr << "waitline: " << e.what() << "\n";
    return 2;
  } catch (const auth::KeyFileError& e) {
    std::cerr << "waitline: --api-keys-file: " << e.what() << "\n";
    return 2;
  } catch (const auth::SecretFileError& e) {
    std::cerr << "waitline: --ticket-secret-file: " << e.what() << "\n";
    return 2;
  }
  try {
    return process->run();
  } catch (const std::system_error& e) {
    std::cerr << "waitline: " << e.what() << "\n";
    return 1;
  }
}

int healthcheck(const config::Config& cfg) {
  namespace beast = boost::beast;
  // The admin listener binds all addresses by default; the check goes through loopback then.
  std::string host = cfg.admin_listen.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(3s);
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address(host), cfg.admin_listen.port));
    beast::http::request<beast::http::empty_body> req{beast::http::verb::get, "/readyz", 11};
    req.set(beast::http::field::host, host);
    beast::http::write(stream, req);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(stream, buffer, res);
    if (res.result() == beast::http::status::ok) return 0;
    std::cerr << "waitline healthcheck: not ready: " << res.body() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "waitline healthcheck: " << host << ":" << cfg.admin_listen.port << ": " << e.what() << "\n";
  }
  return 1;
}

int hash_key(int argc, const char* const* argv) {
  std::string name, scopes, key;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (arg.starts_with(std::string(flag) + "=")) return std::string(arg.substr(flag.size() + 1));
      if (arg == flag && i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (auto v = value("--name")) name = *v;
    else if (auto s = value("--scopes")) scopes = *s;
    else if (auto k = value("--key")) key = *k;
    else {
      std::cerr << "waitline hash-key: unexpected argument \"" << arg
                << "\"; usage: waitline hash-key --name NAME --scopes take,call,read [--key KEY|-]\n";
      return 2;
    }
  }
  if (key == "-") std::getline(std::cin, key);
  unsigned parsed = 0;
  try {
    parsed = auth::parse_scopes(scopes);
  } catch (const std::invalid_argument& e) {
    std::cerr << "waitline hash-key: --scopes: " << e.what() << "\n";
    return 2;
  }
  std::string line = auth::key_line(name, parsed, key.empty() ? (key = auth::generate_key()) : key);
  // The line must load: this checks the name with the key file's own rules.
  try {
    auth::KeyTable::parse(line, "--name");
  } catch (const auth::KeyFileError& e) {
    std::cerr << "waitline hash-key: " << e.what() << "\n";
    return 2;
  }
  std::cout << "# key (give it to the client; it is stored nowhere else):\n"
            << key << "\n# line for the keys file:\n"
            << line << "\n";
  return 0;
}

}  // namespace waitline::app
