// Replays the seed corpus and every fuzzer-found input kept under tests/fuzz_regressions/<name>/
// through the fuzz entry functions (CLI11's tests/FuzzFailTest.cpp): each must be accepted or
// rejected with meshplan::Error; any other exception, a crash or a sanitizer report fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

namespace {
namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The seed directories of a target (tests/fuzz/seeds/<name>.dirs, shared with tools/fuzz.sh)
/// plus its kept crashers.
std::vector<fs::path> Inputs(const std::string& name) {
  const fs::path root = MESHPLAN_SOURCE_DIR;
  std::vector<fs::path> dirs = {root / "tests/fuzz_regressions" / name};
  std::ifstream list(root / "tests/fuzz/seeds" / (name + ".dirs"));
  for (std::string line; std::getline(list, line);) {
    if (!line.empty() && line[0] != '#') dirs.push_back(root / line);
  }
  std::vector<fs::path> files;
  for (const auto& d : dirs) {
    if (!fs::is_directory(d)) continue;
    for (const auto& e : fs::directory_iterator(d)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void ReplayAll(const std::string& name, void (*entry)(std::string_view)) {
  const auto files = Inputs(name);
  ASSERT_FALSE(files.empty()) << "no seeds or regressions for " << name;
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    const std::string text = Slurp(f);
    EXPECT_NO_THROW(entry(text));
  }
}

#define MESHPLAN_REPLAY_TEST(stem, Name) \
  TEST(FuzzReplay, Name) { ReplayAll(#stem, &meshplan::fuzz::Name); }
MESHPLAN_FUZZ_TARGETS(MESHPLAN_REPLAY_TEST)
#undef MESHPLAN_REPLAY_TEST

}  // namespace
