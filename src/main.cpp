// waitline: a "take a number" queue over HTTP, backed by Redis.
#include <unistd.h>  // environ

#include <cstring>
#include <iostream>
#include <string_view>

#include "app/app.hpp"
#include "config/config.hpp"

int main(int argc, char** argv) {
  using namespace waitline;
  std::string_view command = argc > 1 ? argv[1] : "";
  int skip = 1;  // argv[0]
  if (command == "hash-key") return app::hash_key(argc - 2, argv + 2);
  if (command == "serve" || command == "healthcheck") skip = 2;
  try {
    const bool probe = command == "healthcheck";
    auto cfg = config::parse(argc - skip, argv + skip, environ, probe ? config::Use::probe : config::Use::serve);
    return probe ? app::healthcheck(cfg) : app::serve(cfg);
  } catch (const config::HelpRequested&) {
    std::cout << config::help_text();
    return 0;
  } catch (const config::UsageError& e) {
    std::cerr << "waitline: " << e.what() << "\n";
    return 2;
  }
}
