// The pieces every end-to-end CLI test shares: a fresh directory per test and a shell command
// run with its exit status, standard output and standard error captured.
#ifndef MESHPLAN_TESTS_CLI_CLI_HARNESS_H_
#define MESHPLAN_TESTS_CLI_CLI_HARNESS_H_

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace meshplan::cli_harness {

namespace fs = std::filesystem;

struct Result {
  int rc = -1;
  std::string out, err;
};

inline std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A new empty directory named after `prefix`, the process and the running test.
inline fs::path FreshTestDir(const std::string& prefix) {
  const fs::path dir = fs::temp_directory_path() /
                       (prefix + std::to_string(::getpid()) + "_" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// Runs `cmd` through the shell with standard output to `out` (or, when `out` is empty, where
/// `cmd` itself sends it) and standard error to `err`; reads both back.
inline Result RunShell(const std::string& cmd, const fs::path& out, const fs::path& err) {
  const std::string full = cmd + (out.empty() ? "" : " >" + out.string()) + " 2>" + err.string();
  const int status = std::system(full.c_str());
  Result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = out.empty() ? "" : Slurp(out);
  r.err = Slurp(err);
  return r;
}

}  // namespace meshplan::cli_harness

#endif  // MESHPLAN_TESTS_CLI_CLI_HARNESS_H_
