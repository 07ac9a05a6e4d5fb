// meshplan: plan, cost and compare distributed-training layouts. Exit codes: 0 success,
// 2 bad input (flags, files), 1 runtime failure (including a failed write to standard output).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "costmodel/error.h"
#include "costmodel/output_file.h"
#include "plans/report.h"
#include "tools/cli_common.h"

namespace {

/// Where a run of `s` may be cut: not inside a UTF-8 character (a continuation byte).
size_t CharBoundary(const std::string& s, size_t i) {
  while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

/// A word (a run without spaces) past kMaxWord bytes, which only an echoed input makes (a
/// 5,000-character --layout), keeps its first and last kKeep bytes and says how long it was.
std::string ClipLongWords(const std::string& s) {
  constexpr size_t kMaxWord = 160, kKeep = 60;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    const size_t n = j - i;
    if (n > kMaxWord) {
      const size_t head = CharBoundary(s, i + kKeep), tail = CharBoundary(s, j - kKeep);
      out += s.substr(i, head - i) + "...(" + std::to_string(n) + " bytes)..." + s.substr(tail, j - tail);
    } else {
      out += s.substr(i, n);
    }
    if (j < s.size()) out += ' ';
    i = j + 1;
  }
  return out;
}

/// One error line stays one line and short: control characters (a newline in a file name) are
/// escaped and very long echoed inputs clipped.
std::string OneLine(const std::string& text) {
  const std::string s = ClipLongWords(text);
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += ch;
    }
  }
  return out;
}

/// Flushes and closes standard output; a command whose output was lost (a full disk, a closed
/// pipe, /dev/full) fails with exit 1 rather than claiming success.
int FinishStdout(int rc) {
  meshplan::tools::FlushStdout();
  const bool had_error = std::ferror(stdout) != 0;
  errno = 0;
  const bool closed = std::fclose(stdout) == 0;
  if (!had_error && closed) return rc;
  int err = meshplan::tools::StdoutErrno();
  if (err == 0) err = errno;
  std::fprintf(stderr, "meshplan: cannot write standard output: %s\n",
               err != 0 ? meshplan::costmodel::OsReason(err).c_str() : "write error");
  return rc == 0 ? 1 : rc;
}

int Run(int argc, char** argv) {
  CLI::App app{"meshplan: how to lay a transformer out across GPUs, and what it will cost"};
  app.set_version_flag("--version", meshplan::plans::ToolVersion());
  app.require_subcommand(1);
  meshplan::tools::SetupInfo(app);
  meshplan::tools::SetupSimulate(app);
  meshplan::tools::SetupPlan(app);
  meshplan::tools::SetupAccuracy(app);
  meshplan::tools::SetupCalibrate(app);
  meshplan::tools::SetupReport(app);
  meshplan::tools::SetupValidate(app);
  // After every flag is parsed and checked, before the subcommand's work.
  app.parse_complete_callback([&app] { meshplan::tools::PreflightFiles(app); });
  meshplan::costmodel::InstallTemporaryCleanup();
  try {
    meshplan::tools::CheckListSyntax(app, argc, argv);
    app.parse(argc, argv);
    meshplan::tools::FlushNotes();
  } catch (const CLI::ParseError& e) {
    meshplan::tools::DiscardNotes();
    // --help and --version are ParseErrors with exit code 0: CLI11 prints them.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "meshplan: error: %s\n", OneLine(e.what()).c_str());
    return 2;
  } catch (const meshplan::Error& e) {
    meshplan::tools::DiscardNotes();
    meshplan::tools::FlushStdout();
    std::fprintf(stderr, "meshplan: error: %s\n", OneLine(e.what()).c_str());
    return e.exit_code();
  } catch (const std::exception& e) {
    meshplan::tools::DiscardNotes();
    meshplan::tools::FlushStdout();
    std::fprintf(stderr, "meshplan: internal error: %s\n", OneLine(e.what()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A larger buffer when standard output is a file or pipe: what a command prints then usually
  // reaches the OS in the one flush FinishStdout checks, whose errno names the reason (a write
  // that fails mid-run leaves only the stream's error flag, and "write error").
  static char buffer[1 << 20];
  if (!::isatty(STDOUT_FILENO)) std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  return FinishStdout(Run(argc, argv));
}
