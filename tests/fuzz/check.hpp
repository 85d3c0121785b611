// What every fuzz target uses to state a property: a violated one aborts with its sentence, which
// libFuzzer reports as a crash and saves the input that broke it.
//
//   fuzz::check(reply.used <= data.size(), "consumes at most the bytes it was given");
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace fuzz {

inline void check(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "property violated: %s\n", property);
  std::abort();
}

// `data` cut at every `separator`: '\0' lets one input carry several strings (arguments, a file
// and a header...). Without a separator, one piece.
inline std::vector<std::string_view> split(std::string_view data, char separator = '\0') {
  std::vector<std::string_view> found;
  for (std::size_t start = 0;;) {
    const auto end = data.find(separator, start);
    found.push_back(data.substr(start, end - start));
    if (end == std::string_view::npos) return found;
    start = end + 1;
  }
}

}  // namespace fuzz
