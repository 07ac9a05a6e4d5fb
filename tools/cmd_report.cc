// meshplan report REPORT.json... -o report.html: one self-contained HTML page with charts of
// the JSON reports that plan, simulate, compare, sweep, accuracy and calibrate write. The
// charting scripts come from tools/report/node_modules (installed by tools/setup.sh), or from
// the node_modules folder named by $MESHPLAN_REPORT_ASSETS.
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/spec_io.h"
#include "plans/html_report.h"
#include "tools/cli_common.h"

#ifndef MESHPLAN_REPORT_ASSETS_DIR
#error "MESHPLAN_REPORT_ASSETS_DIR must be defined by the build"
#endif

namespace meshplan::tools {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

/// Reads node_modules/<package>/<script> and the package's version; a missing file is a
/// runtime error naming it (the setup step was not run), never a partial page.
std::string ReadAsset(const fs::path& dir, const std::string& package, const std::string& script,
                      std::string& version) {
  const fs::path js = dir / package / "build" / script;
  const fs::path pkg = dir / package / "package.json";
  std::error_code ec1, ec2;  // an over-long $MESHPLAN_REPORT_ASSETS is a missing script too
  if (!fs::is_regular_file(js, ec1) || !fs::is_regular_file(pkg, ec2)) {
    throw Error("report", "charting script " + js.string() +
                              " not found; run tools/setup.sh (npm ci in tools/report) or point "
                              "MESHPLAN_REPORT_ASSETS at a node_modules folder with vega, vega-lite and vega-embed",
                ErrorKind::kRuntime);
  }
  const json p = costmodel::ParseJsonText(costmodel::ReadFileText(pkg.string(), "report"), pkg.string());
  version = p.contains("version") && p["version"].is_string() ? p["version"].get<std::string>() : "unknown";
  return costmodel::ReadFileText(js.string(), "report");
}

plans::HtmlAssets LoadAssets() {
  const char* env = std::getenv("MESHPLAN_REPORT_ASSETS");
  const fs::path dir = env && *env ? fs::path(env) : fs::path(MESHPLAN_REPORT_ASSETS_DIR);
  plans::HtmlAssets a;
  a.vega_js = ReadAsset(dir, "vega", "vega.min.js", a.vega_version);
  a.vega_lite_js = ReadAsset(dir, "vega-lite", "vega-lite.min.js", a.vega_lite_version);
  a.vega_embed_js = ReadAsset(dir, "vega-embed", "vega-embed.min.js", a.vega_embed_version);
  return a;
}

struct ReportOptions {
  std::vector<std::string> inputs;
  std::string output;
};

void RunReport(const ReportOptions& o) {
  if (o.inputs.empty()) throw Error("report", "give at least one JSON report");
  std::vector<json> docs;
  for (const auto& path : o.inputs) {
    docs.push_back(costmodel::ParseJsonText(costmodel::ReadFileText(path, "report"), path));
    plans::CheckReportJson(docs.back(), path);
  }
  // Every input error (exit 2) is found before the charting scripts are looked for (exit 1).
  plans::RenderHtmlReport(o.inputs, docs, plans::HtmlAssets{});
  const std::string html = plans::RenderHtmlReport(o.inputs, docs, LoadAssets());
  WriteFileAtomic(o.output, html, "--output");
}

}  // namespace

std::string HtmlReportFor(const std::string& json_text, const std::string& name) {
  const json doc = costmodel::ParseJsonText(json_text, name);  // exactly what `report` would read
  return plans::RenderHtmlReport({name}, {doc}, LoadAssets());
}

void SetupReport(CLI::App& app) {
  auto opt = std::make_shared<ReportOptions>();
  CLI::App* sub = app.add_subcommand("report", "an HTML page with charts of JSON reports (opens offline)");
  sub->add_option("reports", opt->inputs, "JSON reports written by plan, simulate, compare, sweep, accuracy or calibrate")
      ->required();
  sub->add_option("-o,--output", opt->output, "the HTML file to write")->required();
  sub->callback([opt] { RunReport(*opt); });
}

}  // namespace meshplan::tools
