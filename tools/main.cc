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
    std::fprintf(stderr, "meshplan: error: %s\n", meshplan::OneLineMessage(e.what()).c_str());
    return 2;
  } catch (const meshplan::Error& e) {
    meshplan::tools::DiscardNotes();
    meshplan::tools::FlushStdout();
    std::fprintf(stderr, "meshplan: error: %s\n", meshplan::OneLineMessage(e.what()).c_str());
    return e.exit_code();
  } catch (const std::exception& e) {
    meshplan::tools::DiscardNotes();
    meshplan::tools::FlushStdout();
    std::fprintf(stderr, "meshplan: internal error: %s\n", meshplan::OneLineMessage(e.what()).c_str());
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
