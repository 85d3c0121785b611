// docs/service.md's table of settings, made from the settings themselves (config::describe()):
//
//   build/tests/docs/settings_table --check docs/service.md   # ctest: fails when the table differs
//   build/tests/docs/settings_table --write docs/service.md   # make docs: writes it
//
// The table sits between two marker lines of the page; the rest of the page is the writer's.
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace {

constexpr std::string_view begin_marker =
    "<!-- settings: made from the settings by `make docs` (the test docs.settings_table checks it) -->\n";
constexpr std::string_view end_marker = "<!-- end of settings -->\n";

std::string cell(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    if (c == '|') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

std::string table() {
  std::string text = "| Flag | Environment variable | Default | What it does |\n|---|---|---|---|\n";
  for (const auto& setting : waitline::config::describe()) {
    const std::string flag = setting.flag + (setting.value_name.empty() ? "" : " " + setting.value_name);
    const std::string value = setting.default_value == "(none)" ? "none" : "`" + setting.default_value + "`";
    text += "| `" + flag + "` | `" + setting.variable + "` | " + value + " | " + cell(setting.help) + " |\n";
  }
  return text;
}

int usage() {
  std::cerr << "usage: settings_table --check|--write docs/service.md\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return usage();
  const std::string_view mode = argv[1];
  if (mode != "--check" && mode != "--write") return usage();
  const std::string path = argv[2];
  std::ifstream in(path, std::ios::binary);
  const std::string page{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto begin = page.find(begin_marker);
  const auto end = page.find(end_marker);
  if (!in || begin == std::string::npos || end == std::string::npos || end < begin) {
    std::cerr << path << ": no settings table between the lines\n  " << begin_marker << "and\n  " << end_marker;
    return 1;
  }
  const auto table_at = begin + begin_marker.size();
  const std::string expected = table();
  if (page.compare(table_at, end - table_at, expected) == 0) return 0;
  if (mode == "--check") {
    std::cerr << path << ": the settings table is not the settings' own (waitline --help); run make docs.\n"
              << "Expected:\n"
              << expected;
    return 1;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << page.substr(0, table_at) << expected << page.substr(end);
  if (!out.flush()) {
    std::cerr << path << ": cannot write\n";
    return 1;
  }
  std::cout << "wrote the settings table of " << path << "\n";
  return 0;
}
