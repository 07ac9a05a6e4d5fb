// meshplan: plan, cost and compare distributed-training layouts. Exit codes: 0 success,
// 2 bad input (flags, files), 1 runtime failure.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "costmodel/error.h"
#include "plans/report.h"
#include "tools/cli_common.h"

int main(int argc, char** argv) {
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are ParseErrors with exit code 0: CLI11 prints them.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "meshplan: error: %s\n", e.what());
    return 2;
  } catch (const meshplan::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "meshplan: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "meshplan: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
