// File: plans/html_report.h
// The HTML reporter: one self-contained page (no network fetch) drawing meshplan's JSON reports
// (plan, simulate, compare, sweep, accuracy, calibrate) as Vega-Lite charts. This side writes
// only data and chart specs (nlohmann/json); the vega, vega-lite and vega-embed scripts are
// passed in by the caller (tools/cmd_report.cc reads them from tools/report/node_modules) and
// inlined. No I/O, no clock, no randomness: the same inputs give the same bytes.
//
// The page keeps, for tests and tools, `window.__meshplanViews` {chart id: vega View},
// `window.__meshplanCharts` [{id, title, expect}] (expect: names of the Vega marks that must
// draw items), `window.__meshplanErrors` [text] and `window.__meshplanReady` (a Promise that
// settles once every chart has rendered or failed).
#ifndef MESHPLAN_PLANS_HTML_REPORT_H_
#define MESHPLAN_PLANS_HTML_REPORT_H_

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace meshplan::plans {

/// The charting scripts (minified UMD builds) and their versions.
struct HtmlAssets {
  std::string vega_js, vega_lite_js, vega_embed_js;
  std::string vega_version, vega_lite_version, vega_embed_version;
};

/// The commands whose JSON reports the HTML reporter draws.
bool IsDrawableCommand(const std::string& command);

/// Checks that `doc` is a meshplan report this version can draw: an object with an integer
/// `schema_version` <= kReportSchemaVersion, a `tool` "meshplan ...", a known `command` and the
/// fields that command's charts read. Throws meshplan::Error (user input) "<name>: <field>: ...".
void CheckReportJson(const nlohmann::json& doc, const std::string& name);

/// Every size (a key ending in _bytes) and time (_s, _ms) in a report is one meshplan could
/// have written: not negative, bytes up to 1e18, times up to 1e12 s (compare's signed
/// `differences` aside). Errors name the file and the value's path. CheckReportJson runs it.
void CheckReportQuantities(const nlohmann::json& doc, const std::string& name);

/// The HTML page for reports `docs` (each checked as above), named `names` (as the user gave
/// them; shown in the page). REQUIRES: names.size() == docs.size() >= 1.
std::string RenderHtmlReport(const std::vector<std::string>& names,
                             const std::vector<nlohmann::json>& docs, const HtmlAssets& assets);

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_HTML_REPORT_H_
