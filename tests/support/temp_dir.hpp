// Private temporary directories for tests, removed with everything in them.
//
//   const waitline::test::TempDir dir;                         // $TMPDIR/waitline-test-XXXXXX
//   const auto keys = dir.write("keys", "desk take,call …\n");  // the file's path
//
//   const auto data = waitline::test::make_temp_dir("waitline-sentinel");  // owned by the caller,
//   waitline::test::remove_dir(data);                                     // who removes it
//
// Header-only: a unit test uses it without linking the support library.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace waitline::test {

// A new directory only this process can know of, "<prefix>-XXXXXX" in TMPDIR (or /tmp).
inline std::filesystem::path make_temp_dir(std::string_view prefix = "waitline-test") {
  std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  return pattern;
}

// Best effort: a directory left behind must not fail a test, nor throw from a destructor.
inline void remove_dir(const std::filesystem::path& dir) noexcept {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "waitline-test") : path_(make_temp_dir(prefix)) {}
  ~TempDir() { remove_dir(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  // Writes (or rewrites in place) a file in this directory, and its parent directories; returns
  // the file's path.
  std::string write(const std::filesystem::path& name, std::string_view content) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + file.string());
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace waitline::test
