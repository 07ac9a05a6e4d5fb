// File: plans/html_report.cc
// Builds the HTML report (see html_report.h): per input file a section with its inputs and its
// charts, each chart a Vega-Lite spec with inline data plus a table of every number it draws.
// Units: times in ms, memory in GiB (2^30 bytes), shares in percent, as the axis titles say.
#include "plans/html_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "plans/answer.h"
#include "plans/report.h"
#include "sim/simulate.h"

namespace meshplan::plans {
namespace {
using nlohmann::json;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr size_t kMaxLayouts = 25;      // bars per layout chart
constexpr size_t kMaxTimelines = 3;     // simulated steps drawn per report
constexpr size_t kMaxQuantities = 12;   // accuracy scatter plots per report

const std::vector<std::string_view> kCommands = {"plan",  "simulate", "compare",
                                                 "sweep", "accuracy", "calibrate"};

// ------------------------------------------------------------------------ reading, strictly
/// A JSON value and its path in a named file; accessors throw user errors naming both.
class In {
 public:
  In(const json& j, std::string file, std::string path)
      : j_(j), file_(std::move(file)), path_(std::move(path)) {}
  const json& raw() const { return j_; }
  bool Has(const std::string& k) const { return j_.is_object() && j_.contains(k); }
  bool HasNumber(const std::string& k) const { return Has(k) && j_[k].is_number(); }
  [[noreturn]] void Fail(const std::string& k, const std::string& problem) const {
    throw Error(file_ + ": " + Path(k), problem);
  }
  In At(const std::string& k) const {
    if (!Has(k)) Fail(k, "missing");
    return In(j_[k], file_, Path(k));
  }
  In At(size_t i) const { return In(j_[i], file_, path_ + "[" + std::to_string(i) + "]"); }
  In Obj(const std::string& k) const {
    In v = At(k);
    if (!v.j_.is_object()) Fail(k, "must be an object");
    return v;
  }
  In Arr(const std::string& k) const {
    In v = At(k);
    if (!v.j_.is_array()) Fail(k, "must be an array");
    return v;
  }
  double Num(const std::string& k) const {
    In v = At(k);
    if (!v.j_.is_number()) Fail(k, "must be a number");
    const double d = v.j_.get<double>();
    if (!std::isfinite(d)) Fail(k, "must be finite");
    return d;
  }
  double NumOr(const std::string& k, double dflt) const { return Has(k) && !j_[k].is_null() ? Num(k) : dflt; }
  std::string Str(const std::string& k) const {
    In v = At(k);
    if (!v.j_.is_string()) Fail(k, "must be a string");
    return v.j_.get<std::string>();
  }
  /// A flag the writer may leave out (absent or null: `dflt`); any other non-boolean is an error.
  bool BoolOr(const std::string& k, bool dflt) const {
    if (!Has(k) || j_[k].is_null()) return dflt;
    if (!j_[k].is_boolean()) Fail(k, "must be true or false, got " + j_[k].dump().substr(0, 40));
    return j_[k].get<bool>();
  }
  std::string StrOr(const std::string& k, const std::string& dflt) const {
    return Has(k) && j_[k].is_string() ? j_[k].get<std::string>() : dflt;
  }
  size_t size() const { return j_.size(); }

 private:
  std::string Path(const std::string& k) const { return path_.empty() ? k : path_ + "." + k; }
  const json& j_;
  std::string file_;
  std::string path_;
};

// ------------------------------------------------------------------------ text helpers
std::string Printf(const char* fmt, double v) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

/// JSON text safe inside a <script> element: '<' only occurs in strings, where \u003c is equal.
std::string ScriptJson(const json& j) {
  const std::string s = j.dump();
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

/// A script's text safe inside <script>: a literal "</script" (none in the pinned builds) is split.
std::string ScriptText(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t from = 0;
  for (size_t p; (p = s.find("</script", from)) != std::string::npos; from = p + 2) {
    out.append(s, from, p - from);
    out += "<\\/";
  }
  out.append(s, from, std::string::npos);
  return out;
}

/// "model", "model.name" ... a readable value of an inputs field.
std::string Describe(const json& v) {
  if (v.is_null()) return "none";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return Printf("%.6g", v.get<double>());
  if (v.is_object() && v.contains("name") && v["name"].is_string()) {
    std::string s = v["name"].get<std::string>();
    if (v.contains("params") && v["params"].is_number()) {
      s += Printf(" (%.3g B parameters)", v["params"].get<double>() / 1e9);
    }
    return s;
  }
  if (v.is_array()) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ", ") + Describe(e);
    return s;
  }
  return v.dump();
}

// ------------------------------------------------------------------------ charts
/// A table column: the row key, its header (with unit) and how numbers print.
struct Col {
  std::string key, header;
  char fmt;  // 't' text, 'i' integer, '1' one decimal, '2' two decimals, 'g' 4 significant
};

struct Chart {
  std::string id, title, caption;
  json spec;
  std::vector<std::string> expect;  // mark names that must draw items
  std::vector<Col> cols;
  json rows = json::array();
};

struct Section {
  std::string heading;
  std::string html;  // inputs, verdicts, reasons: before the charts
  std::vector<Chart> charts;
};

std::string Cell(const json& v, char fmt) {
  if (v.is_null()) return "";
  if (v.is_string()) return Esc(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (!v.is_number()) return Esc(v.dump());
  const double d = v.get<double>();
  switch (fmt) {
    case 'i': return Printf("%.0f", d);
    case '1': return Printf("%.1f", d);
    case '2': return Printf("%.2f", d);
    default: return Printf("%.4g", d);
  }
}

std::string TableHtml(const std::vector<Col>& cols, const json& rows) {
  std::string h = "<table><thead><tr>";
  for (const Col& c : cols) h += "<th>" + Esc(c.header) + "</th>";
  h += "</tr></thead><tbody>\n";
  for (const json& r : rows) {
    h += "<tr>";
    for (const Col& c : cols) {
      const json v = r.contains(c.key) ? r[c.key] : json(nullptr);
      h += std::string(c.fmt == 't' ? "<td>" : "<td class=\"num\">") + Cell(v, c.fmt) + "</td>";
    }
    h += "</tr>\n";
  }
  return h + "</tbody></table>";
}

/// Shared look: readable fonts, left-anchored titles.
json Config() {
  return {{"font", "DejaVu Sans, Liberation Sans, Arial, sans-serif"},
          {"title", {{"fontSize", 15}, {"anchor", "start"}, {"subtitleFontSize", 12},
                     {"subtitleColor", "#555"}, {"offset", 10}}},
          {"axis", {{"labelFontSize", 12}, {"titleFontSize", 13}, {"titleFontWeight", "normal"}}},
          {"legend", {{"labelFontSize", 12}, {"titleFontSize", 12}, {"labelLimit", 360}}},
          {"view", {{"stroke", nullptr}}}};
}

json Title(const std::string& text, const std::string& subtitle) {
  json t = {{"text", text}};
  if (!subtitle.empty()) t["subtitle"] = subtitle;
  return t;
}

json Scale(const std::vector<std::string>& domain, const std::vector<std::string>& range) {
  return {{"domain", domain}, {"range", range}};
}

// Step-time components and memory parts: key in the report, label, colour.
struct Part {
  const char* key;
  const char* label;
  const char* color;
};
const Part kTimeParts[] = {{"compute_s", "compute", "#4c78a8"},
                           {"exposed_tp_comm_s", "exposed TP comm", "#f58518"},
                           {"exposed_fsdp_comm_s", "exposed FSDP comm", "#e45756"},
                           {"exposed_dp_comm_s", "exposed DP comm", "#72b7b2"},
                           {"exposed_cp_comm_s", "exposed CP comm", "#b279a2"},
                           {"exposed_ep_comm_s", "exposed EP comm", "#9d755d"},
                           {"optimizer_s", "optimizer", "#54a24b"},
                           {"bubble_s", "pipeline bubble", "#bab0ac"}};
const Part kMemParts[] = {{"params_bytes", "params", "#4c78a8"},
                          {"grads_bytes", "grads", "#72b7b2"},
                          {"optimizer_bytes", "optimizer states", "#54a24b"},
                          {"activations_bytes", "activations", "#f58518"},
                          {"transient_bytes", "transient buffers", "#e45756"},
                          {"overhead_bytes", "overhead", "#bab0ac"}};

template <typename Parts>  // an array of Part
json PartsScale(const Parts& parts) {
  std::vector<std::string> d, r;
  for (const Part& p : parts) {
    d.push_back(p.label);
    r.push_back(p.color);
  }
  return Scale(d, r);
}

/// "#3 tp=8,sp=on,..." (and "[infeasible]") for a layout entry.
std::string LayoutLabel(size_t rank, const In& e) {
  std::string s(1, '#');  // (built by appends: GCC 12 flags "#" + std::string with -Wrestrict)
  s += std::to_string(rank + 1);
  s += ' ';
  s += e.Str("layout_text");
  const json& f = e.raw().contains("feasible") ? e.raw()["feasible"] : json(true);
  if (f.is_boolean() && !f.get<bool>()) s += " [infeasible]";
  return s;
}

/// Stacked horizontal bars: one row per layout, one segment per part.
template <size_t N>
Chart StackedBars(const std::string& id, const In& layouts, const std::vector<size_t>& which, const char* block,
                  const Part (&parts)[N], double scale, const std::string& unit_title) {
  Chart c;
  c.id = id;
  std::vector<std::string> labels;
  json bar_rows = json::array();
  for (size_t i : which) {
    const In e = layouts.At(i);
    const In b = e.Obj(block);
    const std::string label = LayoutLabel(i, e);
    labels.push_back(label);
    json row = {{"layout", label}};
    double total = 0;
    for (size_t p = 0; p < N; ++p) {
      const double v = b.NumOr(parts[p].key, 0.0) * scale;
      row[parts[p].key] = v;
      total += v;
      bar_rows.push_back({{"layout", label}, {"part", parts[p].label}, {"value", v}, {"order", p}});
    }
    row["total"] = total;
    c.rows.push_back(row);
  }
  c.cols.push_back({"layout", "layout", 't'});
  const char unit_fmt = scale > 1 ? '1' : '2';
  for (const Part& p : parts) c.cols.push_back({p.key, std::string(p.label) + " (" + (scale > 1 ? "ms" : "GiB") + ")", unit_fmt});
  c.cols.push_back({"total", std::string("total (") + (scale > 1 ? "ms" : "GiB") + ")", unit_fmt});
  const std::string name = id.substr(id.rfind('-') + 1) + "_bars";
  c.expect = {name};
  c.spec = {{"name", name},
            {"data", {{"values", bar_rows}}},
            {"mark", {{"type", "bar"}, {"tooltip", true}}},
            {"encoding",
             {{"y", {{"field", "layout"}, {"type", "nominal"}, {"sort", labels}, {"title", nullptr},
                     {"axis", {{"labelLimit", 620}, {"labelFontSize", 11}}}}},
              {"x", {{"field", "value"}, {"type", "quantitative"}, {"stack", "zero"}, {"title", unit_title}}},
              {"color", {{"field", "part"}, {"type", "nominal"}, {"scale", PartsScale(parts)},
                         {"legend", {{"title", nullptr}, {"orient", "bottom"}, {"columns", 3}}}}},
              {"order", {{"field", "order"}, {"type", "quantitative"}}},
              {"tooltip", json::array({{{"field", "layout"}, {"type", "nominal"}},
                                       {{"field", "part"}, {"type", "nominal"}},
                                       {{"field", "value"}, {"type", "quantitative"}, {"format", ".2f"},
                                        {"title", unit_title}}})}}}};
  return c;
}

bool Feasible(const In& e) {
  const json& f = e.raw().contains("feasible") ? e.raw()["feasible"] : json(true);
  return !f.is_boolean() || f.get<bool>();
}

/// The first n layouts, or only the feasible ones among them: a layout that cannot run has no
/// step time or throughput to draw.
std::vector<size_t> Layouts(const In& layouts, size_t n, bool feasible_only) {
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i) {
    if (!feasible_only || Feasible(layouts.At(i))) out.push_back(i);
  }
  return out;
}

Chart StepChart(const std::string& id, const In& layouts, size_t n, bool ranked) {
  Chart c = StackedBars(id + "-step", layouts, Layouts(layouts, n, true), "time", kTimeParts, 1e3, "time per step (ms)");
  c.title = "Step time by layout";
  c.caption = "Where each layout's step goes: compute, the communication the compute stream waits "
              "for (exposed), the optimizer step and the pipeline bubble.";
  c.spec["title"] = Title(c.title, std::string(ranked ? "ranked best first" : "in the order given") +
                                       "; exposed comm = time the compute stream waits for it; layouts that "
                                       "cannot run are not drawn");
  c.spec["width"] = 460;
  c.spec["height"] = {{"step", 20}};
  return c;
}

Chart MemoryChart(const std::string& id, const In& layouts, size_t n) {
  Chart c = StackedBars(id + "-memory", layouts, Layouts(layouts, n, false), "memory", kMemParts, 1.0 / kGiB,
                        "memory per GPU (GiB)");
  c.title = "Memory per GPU by layout";
  c.caption = "Each layout's memory per GPU against the GPU's usable capacity (dashed line); an [infeasible] "
              "layout's bar is what it would need, not what it ran with.";
  double cap = 0;
  for (size_t i = 0; i < n; ++i) {
    const In e = layouts.At(i);
    const In m = e.Obj("memory");
    cap = std::max(cap, m.NumOr("capacity_bytes", 0.0) / kGiB);
    c.rows[i]["peak"] = m.NumOr("peak_bytes", 0.0) / kGiB;
    c.rows[i]["capacity"] = m.NumOr("capacity_bytes", 0.0) / kGiB;
  }
  c.cols.push_back({"peak", "peak (GiB)", '2'});
  c.cols.push_back({"capacity", "usable capacity (GiB)", '2'});
  json bars = c.spec;
  json spec = {{"title", Title(c.title, "stacked parts; dashed line: usable GPU memory")},
               {"width", 460},
               {"height", {{"step", 20}}}};
  json layers = json::array({bars});
  if (cap > 0) {
    const json cap_data = {{"values", json::array({{{"capacity", cap},
                                                    {"label", "usable " + Printf("%.1f", cap) + " GiB"}}})}};
    layers.push_back({{"name", "capacity_rule"},
                      {"data", cap_data},
                      {"mark", {{"type", "rule"}, {"color", "#222"}, {"strokeDash", {5, 3}}, {"size", 2}}},
                      {"encoding", {{"x", {{"field", "capacity"}, {"type", "quantitative"}}}}}});
    layers.push_back({{"name", "capacity_label"},
                      {"data", cap_data},
                      {"mark", {{"type", "text"}, {"align", "right"}, {"dx", -4}, {"y", -6}, {"fontSize", 11}}},
                      {"encoding", {{"x", {{"field", "capacity"}, {"type", "quantitative"}}},
                                    {"text", {{"field", "label"}}}}}});
  }
  spec["layer"] = layers;
  c.spec = spec;
  return c;
}

/// One bar per layout that ran: tokens/s per GPU, or MFU. The axis starts at zero; rows a plan
/// marked as ties with row 1 (within the model's error band) are coloured as such.
Chart RateChart(const std::string& id, const In& layouts, size_t n, bool mfu, bool ranked) {
  Chart c;
  const std::string what = mfu ? "mfu" : "throughput";
  c.id = id + "-" + what;
  c.title = mfu ? "MFU by layout" : "Throughput by layout";
  c.caption = mfu ? "Model FLOPs utilisation against the GPU's BF16 dense peak (the report's summary gives the "
                    "convention); axis from zero."
                  : "Tokens per second per GPU of each layout that can run; axis from zero.";
  std::vector<std::string> labels;
  json data = json::array();
  for (size_t i : Layouts(layouts, n, true)) {
    const In e = layouts.At(i);
    const std::string label = LayoutLabel(i, e);
    labels.push_back(label);
    const In th = e.Obj("throughput");
    const double v = mfu ? th.Num("mfu") * 100 : th.Num("tokens_per_s_per_gpu");
    // Only a plan ranks its rows; compare and simulate draw their layouts as given.
    const std::string cls = !ranked ? "as given" : i == 0 ? "row 1" : e.BoolOr("tie", false) ? "tie with row 1" : "slower";
    data.push_back({{"layout", label}, {"value", v}, {"rank", cls}});
    c.rows.push_back({{"layout", label}, {"value", v}, {"rank", cls}});
  }
  const std::string unit = mfu ? "MFU (%)" : "tokens/s per GPU";
  c.cols = {{"layout", "layout", 't'}, {"value", unit, '1'}, {"rank", "against row 1", 't'}};
  const std::string name = what + "_bars";
  c.expect = {name};
  c.spec = {{"title", Title(c.title, ranked ? "axis from zero; a tie is within the model's error band of row 1"
                                             : "axis from zero; in the order given")},
            {"width", 460},
            {"height", {{"step", 20}}},
            {"name", name},
            {"data", {{"values", data}}},
            {"mark", {{"type", "bar"}, {"tooltip", true}}},
            {"encoding",
             {{"y", {{"field", "layout"}, {"type", "nominal"}, {"sort", labels}, {"title", nullptr},
                     {"axis", {{"labelLimit", 620}, {"labelFontSize", 11}}}}},
              {"x", {{"field", "value"}, {"type", "quantitative"}, {"title", unit}, {"scale", {{"zero", true}}}}},
              {"color", {{"field", "rank"}, {"type", "nominal"},
                         {"scale", ranked ? Scale({"row 1", "tie with row 1", "slower"}, {"#4c78a8", "#9ecae9", "#bab0ac"})
                                          : Scale({"as given"}, {"#4c78a8"})},
                         {"legend", {{"title", nullptr}, {"orient", "bottom"}}}}}}}};
  return c;
}

/// A report's caveats (an array of strings) on one line, "; " between them; "" for anything else.
std::string CaveatsText(const json& list) {
  std::string all;
  if (!list.is_array()) return all;
  for (const auto& c : list) {
    if (c.is_string()) all += (all.empty() ? "" : "; ") + c.get<std::string>();
  }
  return all;
}

/// The plan's summary block (report "summary"), drawn first.
std::string SummaryHtml(const In& doc) {
  if (doc.StrOr("command", "") != "plan" || !doc.Has("summary")) return "";
  std::string h = "<table class=\"kv summary\"><tbody>\n";
  auto row = [&](const std::string& k, const std::string& v) {
    h += "<tr><th>" + Esc(k) + "</th><td>" + Esc(v) + "</td></tr>\n";
  };
  auto caveats = [&](const json& list) {
    if (const std::string all = CaveatsText(list); !all.empty()) row("caveats", all);
  };
  if (!doc.raw()["summary"].is_object()) {
    // Nothing feasible: say so, with the search's caveats (what it kept to may be why).
    const json& search = doc.raw().contains("search") ? doc.raw()["search"] : json(nullptr);
    if (!search.is_object() || !search.contains("caveats") || !search["caveats"].is_array() ||
        search["caveats"].empty()) {
      return "";
    }
    row("recommended", "none: no layout searched is feasible");
    caveats(search["caveats"]);
    return h + "</tbody></table>\n";
  }
  const In sm = doc.Obj("summary");
  row("recommended", sm.Str("recommended"));
  row("step time", Printf("%.1f ms", sm.Num("step_s") * 1e3) + " (" + sm.StrOr("ranked_by", "?") + ")");
  row("throughput", Printf("%.0f tokens/s/GPU", sm.Num("tokens_per_s_per_gpu")) + ", MFU " +
                        Printf("%.1f%%", sm.Num("mfu") * 100) + " (" + sm.StrOr("mfu_convention", "") + ")");
  const double cap = sm.Num("capacity_bytes") / kGiB, peak = sm.Num("peak_bytes") / kGiB;
  row("memory", Printf("peak %.1f", peak) + Printf(" of %.1f GiB usable, ", cap) + Printf("%.1f GiB headroom", cap - peak) +
                    (sm.BoolOr("tight_memory", false) ? " (tight: above 90% of usable memory)" : ""));
  const json& cal = sm.raw().contains("calibration") ? sm.raw()["calibration"] : json(nullptr);
  row("calibration", cal.is_string() ? cal.get<std::string>() : "none (uncalibrated)");
  if (sm.Has("error_band") && sm.raw()["error_band"].is_object()) {
    const In b = sm.Obj("error_band");
    // One work regime's runs (row 1's step per layer pass) when the report says so.
    std::string regime;
    if (b.Has("regime") && b.raw()["regime"].is_object() && !b.raw()["regime"].contains("too_few_runs")) {
      const In r = b.Obj("regime");
      const bool unbounded = !r.HasNumber("below_ms");
      regime = unbounded ? Printf(" at %.0f ms or more per layer pass", r.Num("from_ms"))
                         : Printf(" at %.0f", r.Num("from_ms")) + Printf("-%.0f ms per layer pass", r.Num("below_ms"));
      regime += " (row 1: " + LayerPassMsText(r.Num("ms_per_layer_pass") / 1e3) + " ms)";
    }
    row("error band", b.Str("generation") + Printf(", %.0f published runs out of sample", b.Num("n")) + regime + ": " +
                          Printf("%.1f%% off on average", b.Num("mape_pct")) + Printf(", bias %+.1f%%", b.Num("bias_pct")) +
                          Printf("; rows within %.1f%% of the best are ties", b.Num("spread_pct")));
    if (b.Has("shipped_profile") && b.raw()["shipped_profile"].is_object()) {
      const In s = b.Obj("shipped_profile");
      row("", Printf("with the shipped profile, fitted on kernel measurements of the source of %.0f of these runs "
                     "(in-sample for them): ", s.Num("in_sample")) +
                  Printf("%.1f%% off", s.Num("mape_pct")) + Printf(", bias %+.1f%%", s.Num("bias_pct")));
    }
  } else {
    row("error band", "none for this GPU: ties not marked");
  }
  if (sm.Has("caveats")) caveats(sm.raw()["caveats"]);
  return h + "</tbody></table>\n";
}

/// Feasible vs rejected-by-reason counts of a plan's search.
Chart SearchChart(const std::string& id, const In& search) {
  Chart c;
  c.id = id + "-search";
  c.title = "Layouts searched";
  c.caption = "How many layouts the search evaluated, how many can run, and why the others cannot.";
  c.rows.push_back({{"outcome", "feasible"}, {"count", search.Num("feasible")}});
  if (search.Has("infeasible_by_reason")) {
    const In by = search.Obj("infeasible_by_reason");
    for (const auto& [code, n] : by.raw().items()) {
      c.rows.push_back({{"outcome", "rejected: " + code}, {"count", by.Num(code)}});
    }
  }
  c.cols = {{"outcome", "outcome", 't'}, {"count", "layouts", 'i'}};
  c.expect = {"search_bars"};
  c.spec = {{"title", Title(c.title, Printf("%.0f layouts evaluated; a layout can fail for more than one reason",
                                            search.Num("evaluated")))},
            {"name", "search_bars"},
            {"width", 460},
            {"height", {{"step", 24}}},
            {"data", {{"values", c.rows}}},
            {"mark", {{"type", "bar"}, {"tooltip", true}}},
            {"encoding",
             {{"y", {{"field", "outcome"}, {"type", "nominal"}, {"sort", nullptr}, {"title", nullptr}}},
              {"x", {{"field", "count"}, {"type", "quantitative"}, {"title", "layouts"}}},
              {"color", {{"condition", {{"test", "datum.outcome === 'feasible'"}, {"value", "#54a24b"}}},
                         {"value", "#e45756"}}}}}};
  return c;
}

// The simulator's streams and task kinds, named as sim::ToString writes them into the report,
// with the lane label and the legend's label and colour: one entry per enum value.
const char* StreamLabel(const std::string& s) {
  static constexpr std::pair<sim::Stream, const char*> kLabels[] = {{sim::Stream::kCompute, "compute stream"},
                                                                    {sim::Stream::kCommIntra, "intra-node comm"},
                                                                    {sim::Stream::kCommInter, "inter-node comm"},
                                                                    {sim::Stream::kCommCp, "context-parallel comm"}};
  static_assert(std::size(kLabels) == sim::kNumStreams, "a stream without a lane label");
  for (const auto& [stream, label] : kLabels) {
    if (s == sim::ToString(stream)) return label;
  }
  return nullptr;
}
struct KindStyle {
  sim::TaskKind kind;
  const char* label;
  const char* color;
};
constexpr KindStyle kKindStyles[] = {
    {sim::TaskKind::kCompute, "compute", "#4c78a8"},         {sim::TaskKind::kTpComm, "TP collective", "#f58518"},
    {sim::TaskKind::kFsdpAg, "FSDP all-gather", "#e45756"},  {sim::TaskKind::kFsdpRs, "FSDP reduce-scatter", "#b279a2"},
    {sim::TaskKind::kDpAr, "DP all-reduce", "#72b7b2"},      {sim::TaskKind::kOptimizer, "optimizer", "#54a24b"},
    {sim::TaskKind::kCpComm, "CP key/value exchange", "#9d755d"}, {sim::TaskKind::kEpComm, "EP all-to-all", "#ff9da6"}};
static_assert(std::size(kKindStyles) == sim::kNumTaskKinds, "a task kind without a legend entry");
// As Parts keyed by the simulator's names (string literals: their data() ends in a NUL).
const std::array<Part, sim::kNumTaskKinds> kKinds = [] {
  std::array<Part, sim::kNumTaskKinds> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = {sim::ToString(kKindStyles[i].kind).data(), kKindStyles[i].label, kKindStyles[i].color};
  }
  return out;
}();

/// Bars thinner than a pixel blur into a wash of colour, so a busy timeline is drawn at about one
/// bar per pixel: per lane, `bins` equal bins over [0, span_ms) each show the kind busiest in it,
/// at the opacity of the lane's busy share (in tenths); neighbouring equal bins make one bar.
json PixelBins(const json& bars, double span_ms, size_t bins) {
  const double w = span_ms / static_cast<double>(bins);
  std::map<std::string, std::map<std::string, std::vector<double>>> busy;  // lane -> kind -> bins
  std::vector<std::string> lanes;
  for (const json& b : bars) {
    const std::string lane = b["lane"], kind = b["kind"];
    if (std::find(lanes.begin(), lanes.end(), lane) == lanes.end()) lanes.push_back(lane);
    auto& v = busy[lane][kind];
    v.resize(bins, 0.0);
    const double s0 = b["start"].get<double>(), s1 = b["end"].get<double>(), share = b["busy"].get<double>();
    for (size_t i = std::min(bins - 1, static_cast<size_t>(std::max(0.0, s0 / w)));
         i < bins && w * static_cast<double>(i) < s1; ++i) {
      const double lo = std::max(s0, w * static_cast<double>(i)), hi = std::min(s1, w * static_cast<double>(i + 1));
      if (hi > lo) v[i] += (hi - lo) * share;
    }
  }
  json out = json::array();
  for (const std::string& lane : lanes) {
    std::string open_kind;
    double open_share = -1;
    for (size_t i = 0; i < bins; ++i) {
      double total = 0, top = 0;
      std::string kind;
      for (const auto& [k, v] : busy[lane]) {
        total += v[i];
        if (v[i] > top) {
          top = v[i];
          kind = k;
        }
      }
      if (total <= 0) {
        open_kind.clear();
        continue;
      }
      const double share = std::max(0.1, std::round(std::min(1.0, total / w) * 10) / 10);
      if (kind == open_kind && share == open_share) {
        out.back()["end"] = w * static_cast<double>(i + 1);
        continue;
      }
      out.push_back({{"lane", lane}, {"kind", kind}, {"task", kind + Printf(" (stream busy %.0f%%)", share * 100)},
                     {"start", w * static_cast<double>(i)}, {"end", w * static_cast<double>(i + 1)}, {"busy", share}});
      open_kind = kind;
      open_share = share;
    }
  }
  return out;
}

/// The simulated step: one lane per stream, and the memory curve under it on the same time axis.
Chart TimelineChart(const std::string& id, const std::string& label, const In& sim, double capacity_gib,
                    double step_ms) {
  Chart c;
  c.id = id;
  c.title = "Simulated step: " + label;
  c.caption = "The discrete-event simulation of one step on one GPU: what each stream runs when, "
              "and the memory allocated over the step.";
  const In tl = sim.Arr("timeline");
  json bars = json::array();
  double binned = sim.NumOr("timeline_binned_s", 0.0);
  for (size_t i = 0; i < tl.size(); ++i) {
    const In t = tl.At(i);
    const std::string stream = t.Str("stream");
    const std::string kind = t.Str("kind");
    const char* lane = StreamLabel(stream);
    if (!lane) t.Fail("stream", "unknown stream '" + stream + "'");
    std::string kind_label = kind;
    for (const Part& k : kKinds) if (kind == k.key) kind_label = k.label;
    bars.push_back({{"lane", lane}, {"kind", kind_label}, {"task", t.Str("name")},
                    {"start", t.Num("start_s") * 1e3}, {"end", t.Num("end_s") * 1e3},
                    {"busy", t.NumOr("busy_share", 1.0)}});
  }
  const In mem = sim.Arr("memory");
  json curve = json::array();
  double peak = 0, peak_t = 0;
  for (size_t i = 0; i < mem.size(); ++i) {
    const In m = mem.At(i);
    const double g = m.Num("bytes") / kGiB, t = m.Num("t_s") * 1e3;
    curve.push_back({{"t", t}, {"gib", g}});
    if (g > peak) {
      peak = g;
      peak_t = t;
    }
  }
  if (!curve.empty()) curve.push_back({{"t", std::max(step_ms, curve.back()["t"].get<double>())}, {"gib", curve.back()["gib"]}});
  constexpr size_t kPixels = 820;  // the chart's width
  if (bars.size() > kPixels / 2) {
    bars = PixelBins(bars, step_ms, kPixels / 2);
    binned = step_ms / 1e3 / static_cast<double>(kPixels / 2);
  }
  const json x_scale = {{"domain", {0, step_ms}}, {"nice", false}};
  json lane_enc = {
      {"y", {{"field", "lane"}, {"type", "nominal"}, {"title", nullptr},
             {"sort", {"compute stream", "intra-node comm", "inter-node comm"}}}},
      {"x", {{"field", "start"}, {"type", "quantitative"}, {"scale", x_scale}, {"title", "time in step (ms)"}}},
      {"x2", {{"field", "end"}}},
      {"color", {{"field", "kind"}, {"type", "nominal"}, {"scale", PartsScale(kKinds)},
                 {"legend", {{"title", "task"}, {"orient", "right"}}}}},
      {"tooltip", json::array({{{"field", "task"}}, {{"field", "kind"}},
                               {{"field", "start"}, {"format", ".3f"}, {"title", "start (ms)"}},
                               {{"field", "end"}, {"format", ".3f"}, {"title", "end (ms)"}}})}};
  if (binned > 0) {
    lane_enc["opacity"] = {{"field", "busy"}, {"type", "quantitative"}, {"scale", {{"domain", {0, 1}}, {"range", {0.2, 1}}}},
                           {"legend", nullptr}};
  }
  json timeline = {{"name", "timeline_bars"},
                   {"width", kPixels},
                   {"height", {{"step", 34}}},
                   {"data", {{"values", bars}}},
                   {"mark", {{"type", "bar"}}},
                   {"encoding", lane_enc}};
  json mem_layers = json::array();
  mem_layers.push_back({{"name", "memory_line"},
                        {"mark", {{"type", "area"}, {"interpolate", "step-after"}, {"line", {{"color", "#4c78a8"}}},
                                  {"color", "#4c78a8"}, {"opacity", 0.25}}},
                        {"encoding",
                         {{"x", {{"field", "t"}, {"type", "quantitative"}, {"scale", x_scale}, {"title", "time in step (ms)"}}},
                          {"y", {{"field", "gib"}, {"type", "quantitative"}, {"title", "allocated per GPU (GiB)"}}}}}});
  if (capacity_gib > 0) {
    const json cap = {{"values", json::array({{{"gib", capacity_gib},
                                               {"label", "usable " + Printf("%.1f", capacity_gib) + " GiB"}}})}};
    mem_layers.push_back({{"name", "memory_capacity"}, {"data", cap},
                          {"mark", {{"type", "rule"}, {"color", "#222"}, {"strokeDash", {5, 3}}, {"size", 2}}},
                          {"encoding", {{"y", {{"field", "gib"}, {"type", "quantitative"}}}}}});
    mem_layers.push_back({{"name", "memory_capacity_label"}, {"data", cap},
                          {"mark", {{"type", "text"}, {"align", "left"}, {"x", 4}, {"dy", -7}, {"fontSize", 11}}},
                          {"encoding", {{"y", {{"field", "gib"}, {"type", "quantitative"}}}, {"text", {{"field", "label"}}}}}});
  }
  const json peak_data = {{"values", json::array({{{"t", peak_t}, {"gib", peak},
                                                   {"label", "peak " + Printf("%.2f", peak) + " GiB"}}})}};
  mem_layers.push_back({{"name", "memory_peak"}, {"data", peak_data},
                        {"mark", {{"type", "point"}, {"filled", true}, {"color", "#e45756"}, {"size", 50}}},
                        {"encoding", {{"x", {{"field", "t"}, {"type", "quantitative"}}}, {"y", {{"field", "gib"}, {"type", "quantitative"}}}}}});
  mem_layers.push_back({{"name", "memory_peak_label"}, {"data", peak_data},
                        {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 6}, {"dy", -8}, {"fontSize", 11}, {"color", "#b22"}}},
                        {"encoding", {{"x", {{"field", "t"}, {"type", "quantitative"}}}, {"y", {{"field", "gib"}, {"type", "quantitative"}}},
                                      {"text", {{"field", "label"}}}}}});
  json memory = {{"width", kPixels}, {"height", 170}, {"data", {{"values", curve}}}, {"layer", mem_layers}};
  std::string sub = "one lane per stream; below: memory allocated per GPU";
  if (binned > 0) sub += "; drawn at " + Printf("%.2f", binned * 1e3) + " ms resolution (lighter: busy part of the time)";
  c.spec = {{"title", Title(c.title, sub)},
            {"vconcat", {timeline, memory}},
            {"spacing", 18},
            {"resolve", {{"scale", {{"x", "shared"}}}}}};
  c.expect = {"timeline_bars", "memory_line"};
  c.cols = {{"lane", "stream", 't'}, {"kind", "kind", 't'}, {"task", "task(s)", 't'},
            {"start", "start (ms)", 'g'}, {"end", "end (ms)", 'g'}};
  c.rows = bars;
  for (const json& p : curve) c.rows.push_back({{"lane", "memory"}, {"start", p["t"]}, {"kind", Printf("%.3f GiB", p["gib"].get<double>())}});
  return c;
}

// ------------------------------------------------------------------------ sections
std::string InputsHtml(const std::string& name, const In& doc) {
  std::string h = "<table class=\"kv\"><tbody>\n";
  auto row = [&](const std::string& k, const std::string& v) {
    h += "<tr><th>" + Esc(k) + "</th><td>" + Esc(v) + "</td></tr>\n";
  };
  row("file", name);
  row("command", doc.Str("command"));
  row("written by", doc.Str("tool"));
  if (doc.Has("cluster") && doc.raw()["cluster"].is_string()) row("cluster", doc.Str("cluster"));
  // A sweep's inputs are its first point's; the swept values come from its points.
  std::map<std::string, std::vector<std::string>> swept;
  if (doc.Str("command") == "sweep" && doc.Has("points") && doc.raw()["points"].is_array()) {
    for (const auto& p : doc.raw()["points"]) {
      for (const char* k : {"gpus", "global_batch", "seq"}) {
        if (!p.is_object() || !p.contains(k)) continue;
        auto& v = swept[k];
        const std::string d = Describe(p[k]);
        if (std::find(v.begin(), v.end(), d) == v.end()) v.push_back(d);
      }
    }
  }
  if (doc.Has("inputs") && doc.raw()["inputs"].is_object()) {
    for (const auto& [k, v] : doc.raw()["inputs"].items()) {
      if (swept.count(k)) {
        std::string list;
        for (const auto& e : swept[k]) list += (list.empty() ? "" : ", ") + e;
        row(k, list + (swept[k].size() > 1 ? " (swept)" : ""));
      } else {
        row(k, Describe(v));
      }
    }
  }
  // A sweep's caveats (what its searches kept to, e.g. a --framework's layouts), once for all points.
  if (doc.Str("command") == "sweep" && doc.Has("caveats")) {
    if (const std::string all = CaveatsText(doc.raw()["caveats"]); !all.empty()) row("caveats", all);
  }
  return h + "</tbody></table>\n";
}

void AddLayoutSections(Section& s, const std::string& id, const In& doc) {
  const In layouts = doc.Arr("layouts");
  const size_t n = std::min(layouts.size(), kMaxLayouts);
  std::string& h = s.html;
  if (doc.Has("verdict") && doc.raw()["verdict"].is_string()) {
    h += "<p class=\"verdict\">" + Esc(doc.Str("verdict")) + "</p>\n";
  }
  size_t feasible = 0;
  std::string reasons;
  for (size_t i = 0; i < layouts.size(); ++i) {
    const In e = layouts.At(i);
    const json& f = e.raw().contains("feasible") ? e.raw()["feasible"] : json(true);
    if (!f.is_boolean() || f.get<bool>()) {
      ++feasible;
      continue;
    }
    std::string why;
    if (e.Has("reasons") && e.raw()["reasons"].is_array()) {
      for (const auto& r : e.raw()["reasons"]) if (r.is_string()) why += (why.empty() ? "" : "; ") + r.get<std::string>();
    }
    reasons += "<tr><td>" + Esc(LayoutLabel(i, e)) + "</td><td>" + Esc(why) + "</td></tr>\n";
  }
  if (layouts.size() == 0) h += "<p class=\"warn\">This report lists no layouts.</p>\n";
  if (feasible == 0 && layouts.size() > 0) {
    h += "<p class=\"warn\">No layout in this report can run. The closest ones and why they fail:</p>\n";
  }
  if (!reasons.empty()) {
    h += "<table class=\"reasons\"><thead><tr><th>infeasible layout</th><th>why it cannot run</th></tr></thead><tbody>\n" +
         reasons + "</tbody></table>\n";
  }
  if (doc.Has("differences") && doc.raw()["differences"].is_array() && !doc.raw()["differences"].empty()) {
    if (layouts.size() > 0 && !Feasible(layouts.At(0))) {
      h += "<p class=\"warn\">#1 cannot run: the differences below are against what it would take, not a run.</p>\n";
    }
    h += "<ul class=\"diffs\">\n";
    for (const auto& d : doc.raw()["differences"]) {
      if (!d.contains("summary") || !d["summary"].is_string() || !d.contains("layout")) continue;
      h += "<li>#" + std::to_string(d["layout"].get<int64_t>() + 1) + " against #1: " +
           Esc(d["summary"].get<std::string>()) + "</li>\n";
    }
    h += "</ul>\n";
  }
  if (n > 0) {
    if (!Layouts(layouts, n, true).empty()) {
      s.charts.push_back(StepChart(id, layouts, n, doc.Str("command") == "plan"));
      const bool ranked = doc.Str("command") == "plan";
      s.charts.push_back(RateChart(id, layouts, n, false, ranked));
      s.charts.push_back(RateChart(id, layouts, n, true, ranked));
    }
    s.charts.push_back(MemoryChart(id, layouts, n));
  }
  if (doc.Has("search")) s.charts.push_back(SearchChart(id, doc.Obj("search")));
  size_t drawn = 0;
  for (size_t i = 0; i < layouts.size() && drawn < kMaxTimelines; ++i) {
    const In e = layouts.At(i);
    if (!e.Has("simulation")) continue;
    const In sim = e.Obj("simulation");
    if (!sim.Has("timeline") || sim.raw()["timeline"].empty()) continue;
    const double cap = e.Obj("memory").NumOr("capacity_bytes", 0.0) / kGiB;
    s.charts.push_back(TimelineChart(id + "-timeline" + std::to_string(i + 1), LayoutLabel(i, e), sim, cap,
                                     e.Obj("time").Num("step_s") * 1e3));
    ++drawn;
  }
}

/// Sweep: best vs best FSDP-only over GPU count, the crossover, the FSDP latency share.
void AddSweepSection(Section& s, const std::string& id, const In& doc) {
  const In points = doc.Arr("points");
  struct Pt {
    double gpus;
    std::string group;
    bool best_is_fsdp_only = false, has_best = false, has_fsdp = false;
    double best_tps = 0, best_ms = 0, fsdp_tps = 0, fsdp_ms = 0;
  };
  std::vector<Pt> pts;
  json rows = json::array(), lines = json::array(), shares = json::array();
  std::set<std::string> groups;
  std::vector<double> gpu_values;
  for (size_t i = 0; i < points.size(); ++i) {
    const In p = points.At(i);
    Pt pt;
    pt.gpus = p.Num("gpus");
    pt.group = Printf("batch %.0f", p.Num("global_batch")) + Printf(", seq %.0f", p.Num("seq"));
    groups.insert(pt.group);
    if (std::find(gpu_values.begin(), gpu_values.end(), pt.gpus) == gpu_values.end()) gpu_values.push_back(pt.gpus);
    json row = {{"gpus", pt.gpus}, {"group", pt.group}};
    auto take = [&](const char* key, const char* series, bool& has, double& tps, double& ms, const char* col) {
      if (!p.Has(key) || p.raw()[key].is_null()) {
        row[std::string(col) + "_layout"] = "none";
        return;
      }
      const In e = p.Obj(key);
      const json& f = e.raw().contains("feasible") ? e.raw()["feasible"] : json(true);
      if (f.is_boolean() && !f.get<bool>()) {
        std::string why = "infeasible";
        if (e.Has("reasons") && e.raw()["reasons"].is_array() && !e.raw()["reasons"].empty() &&
            e.raw()["reasons"][0].is_string()) {
          why += ": " + e.raw()["reasons"][0].get<std::string>();
        }
        row[std::string(col) + "_layout"] = why;
        return;
      }
      has = true;
      tps = e.Obj("throughput").Num("tokens_per_s_per_gpu");
      ms = e.Obj("time").Num("step_s") * 1e3;
      const std::string lt = e.Str("layout_text");
      row[std::string(col) + "_layout"] = lt;
      row[std::string(col) + "_tps"] = tps;
      row[std::string(col) + "_ms"] = ms;
      lines.push_back({{"gpus", pt.gpus}, {"group", pt.group}, {"series", series}, {"layout", lt},
                       {"tps", tps}, {"ms", ms}});
      if (std::string(key) == "best") pt.best_is_fsdp_only = e.Obj("layout").Num("tp") == 1;
    };
    take("best", "best layout", pt.has_best, pt.best_tps, pt.best_ms, "best");
    take("best_fsdp_only", "best FSDP-only", pt.has_fsdp, pt.fsdp_tps, pt.fsdp_ms, "fsdp");
    const double share = p.NumOr("fsdp_latency_share", 0.0) * 100;
    const double best_share = p.NumOr("best_fsdp_latency_share", 0.0) * 100;
    row["fsdp_share"] = share;
    row["best_share"] = best_share;
    if (pt.has_fsdp) shares.push_back({{"gpus", pt.gpus}, {"group", pt.group}, {"series", "best FSDP-only"}, {"share", share}});
    if (pt.has_best) shares.push_back({{"gpus", pt.gpus}, {"group", pt.group}, {"series", "best layout"}, {"share", best_share}});
    rows.push_back(row);
    pts.push_back(pt);
  }
  std::sort(gpu_values.begin(), gpu_values.end());
  // Crossover per group: the smallest GPU count from which on the best layout uses TP (FSDP
  // alone no longer wins), after at least one count where FSDP alone was best.
  json cross = json::array();
  std::string& h = s.html;
  // The model's error band for this GPU (sweep "error_band", from data/accuracy/error_bands.json):
  // a gap inside it is not a result. -1: no band.
  double spread_pct = -1;
  if (doc.Has("error_band") && doc.raw()["error_band"].is_object()) spread_pct = doc.Obj("error_band").Num("spread_pct");
  for (const std::string& g : groups) {
    std::vector<const Pt*> gp;
    for (const Pt& p : pts) if (p.group == g && p.has_best) gp.push_back(&p);
    std::stable_sort(gp.begin(), gp.end(), [](const Pt* a, const Pt* b) { return a->gpus < b->gpus; });
    if (gp.empty()) continue;
    size_t k = gp.size();
    while (k > 0 && !gp[k - 1]->best_is_fsdp_only) --k;
    std::string text;
    if (k == gp.size()) {
      text = "FSDP alone is the best layout at the largest GPU count of the sweep (" + Printf("%.0f", gp.back()->gpus) + ").";
    } else if (k == 0) {
      // The smallest gap over the points where FSDP alone runs: inside the band it is no win.
      const Pt* closest = nullptr;
      for (const Pt* p : gp) {
        if (p->has_fsdp && (closest == nullptr || p->fsdp_ms / p->best_ms < closest->fsdp_ms / closest->best_ms)) closest = p;
      }
      const double gap = closest ? 100.0 * (closest->fsdp_ms - closest->best_ms) / closest->best_ms : 0.0;
      if (closest != nullptr && (spread_pct < 0 || gap <= spread_pct)) {
        text = "A layout with tensor parallelism ranks first at every GPU count of the sweep, but at " +
               Printf("%.0f", closest->gpus) + " GPUs FSDP alone is only " + Printf("%.1f%%", gap) + " slower, " +
               (spread_pct < 0 ? std::string("and this GPU has no error band to tell a real gap from the model's error")
                               : "inside the " + Printf("%.1f%%", spread_pct) + " error band of the model") + ".";
      } else {
        text = "A layout with tensor parallelism beats FSDP alone at every GPU count of the sweep" +
               (closest ? " (by " + Printf("%.1f%%", gap) + " or more, outside the " + Printf("%.1f%%", spread_pct) +
                              " error band)"
                        : std::string(" (FSDP alone cannot run at any of them)")) +
               ".";
      }
    } else if (gp[k]->has_fsdp && (spread_pct < 0 || 100.0 * (gp[k]->fsdp_ms - gp[k]->best_ms) / gp[k]->best_ms <= spread_pct)) {
      // Inside the model's error band (or with no band to check against) the gap is no claim.
      const double gap = 100.0 * (gp[k]->fsdp_ms - gp[k]->best_ms) / gp[k]->best_ms;
      text = "From " + Printf("%.0f", gp[k]->gpus) + " GPUs a layout with tensor parallelism ranks first, but FSDP alone is " +
             Printf("%.1f%%", gap) + " slower there, " +
             (spread_pct < 0 ? std::string("and this GPU has no error band to tell a real gap from the model's error")
                             : "inside the " + Printf("%.1f%%", spread_pct) + " error band of the model") +
             ": no overtaking is claimed.";
    } else {
      text = "TP+FSDP overtakes FSDP alone at " + Printf("%.0f", gp[k]->gpus) + " GPUs" +
             (gp[k]->has_fsdp ? " (FSDP alone " + Printf("%.1f%%", 100.0 * (gp[k]->fsdp_ms - gp[k]->best_ms) / gp[k]->best_ms) +
                                    " slower, outside the " + Printf("%.1f%%", spread_pct) + " error band)"
                              : " (FSDP alone cannot run there)") +
             ".";
      cross.push_back({{"gpus", gp[k]->gpus}, {"group", g}});
    }
    h += "<p class=\"verdict\">" + Esc(groups.size() > 1 ? g + ": " + text : text) + "</p>\n";
  }
  const bool many = groups.size() > 1;
  const json x = {{"field", "gpus"}, {"type", "quantitative"}, {"title", "GPUs (log scale)"},
                  {"scale", {{"type", "log"}, {"base", 2}}}, {"axis", {{"values", gpu_values}, {"format", "d"}}}};
  const json color = {{"field", "series"}, {"type", "nominal"},
                      {"scale", Scale({"best layout", "best FSDP-only"}, {"#4c78a8", "#e45756"})},
                      {"legend", {{"title", nullptr}, {"orient", "bottom"}}}};
  auto line_chart = [&](const std::string& cid, const std::string& title, const std::string& sub,
                        const json& data, const char* field, const std::string& ytitle, bool log_y) {
    Chart c;
    c.id = id + "-" + cid;
    c.title = title;
    json enc = {{"x", x},
                {"y", {{"field", field}, {"type", "quantitative"}, {"title", ytitle}}},
                {"color", color},
                {"tooltip", json::array({{{"field", "gpus"}, {"title", "GPUs"}}, {{"field", "series"}},
                                         {{"field", field}, {"format", ",.1f"}, {"title", ytitle}}})}};
    enc["y"]["scale"] = log_y ? json{{"type", "log"}} : json{{"zero", true}};
    if (data.size() > 0 && data[0].contains("layout")) enc["tooltip"].push_back({{"field", "layout"}});
    if (many) {
      enc["strokeDash"] = {{"field", "group"}, {"type", "nominal"}, {"legend", {{"title", nullptr}, {"orient", "bottom"}}}};
      enc["detail"] = {{"field", "group"}};
    }
    json layers = json::array();
    layers.push_back({{"name", cid + "_lines"}, {"data", {{"values", data}}},
                      {"mark", {{"type", "line"}, {"point", {{"filled", true}, {"size", 60}}}, {"strokeWidth", 2.5}}},
                      {"encoding", enc}});
    if (!cross.empty()) {
      layers.push_back({{"name", cid + "_crossover"}, {"data", {{"values", cross}}},
                        {"mark", {{"type", "rule"}, {"color", "#555"}, {"strokeDash", {4, 4}}, {"size", 1.5}}},
                        {"encoding", {{"x", {{"field", "gpus"}, {"type", "quantitative"}}}}}});
    }
    std::string subtitle = sub;
    for (const json& x : cross) {
      subtitle += "; dashed line: TP+FSDP overtakes FSDP alone at " + Printf("%.0f", x["gpus"].get<double>()) +
                  " GPUs" + (many ? " (" + x["group"].get<std::string>() + ")" : "");
    }
    c.spec = {{"title", Title(title, subtitle)}, {"width", 560}, {"height", 280}, {"layer", layers}};
    c.expect = {cid + "_lines"};
    return c;
  };
  if (!lines.empty()) {
    Chart a = line_chart("throughput", "Throughput against GPU count", "tokens/s per GPU of the best layout and of the best FSDP-only layout",
                         lines, "tps", "tokens/s per GPU", false);
    a.caption = "The best layout against the best FSDP-only layout as the GPU count grows (missing points: no such "
                "layout can run); a crossover is claimed only outside the model's error band.";
    a.cols = {{"gpus", "GPUs", 'i'}, {"group", "point", 't'}, {"best_layout", "best layout", 't'},
              {"best_tps", "tokens/s/GPU", '1'}, {"best_ms", "step (ms)", '1'}, {"fsdp_layout", "best FSDP-only", 't'},
              {"fsdp_tps", "tokens/s/GPU", '1'}, {"fsdp_ms", "step (ms)", '1'}};
    a.rows = rows;
    s.charts.push_back(a);
    Chart b = line_chart("steptime", "Step time against GPU count", "the same layouts' step time (log scale)",
                         lines, "ms", "step time (ms)", true);
    b.caption = "Step time of the same layouts; the table above has the numbers.";
    b.cols = {{"gpus", "GPUs", 'i'}, {"group", "point", 't'}, {"best_ms", "best: step (ms)", '1'}, {"fsdp_ms", "FSDP-only: step (ms)", '1'}};
    b.rows = rows;
    s.charts.push_back(b);
  }
  if (!shares.empty()) {
    Chart c = line_chart("latency", "Latency share of FSDP communication", "share of the FSDP collectives' time that is per-hop latency, not bandwidth",
                         shares, "share", "latency share of FSDP comm (%)", false);
    c.caption = "As the FSDP group grows its all-gathers become latency-bound; TP inside a node shrinks the group.";
    c.cols = {{"gpus", "GPUs", 'i'}, {"group", "point", 't'}, {"fsdp_share", "best FSDP-only (%)", '1'}, {"best_share", "best layout (%)", '1'}};
    c.rows = rows;
    s.charts.push_back(c);
  }
}

/// The quantity's unit for axis titles, from the DESIGN.md names.
std::string QuantityUnit(const std::string& q) {
  if (q == "tokens_per_s_per_gpu") return "tokens/s/GPU";
  if (q == "mfu") return "fraction of peak, in each source's FLOP convention";
  if (q == "gemm_sustained_fraction") return "fraction of the burst rate";
  if (q.ends_with("_tflops") || q == "tflops_per_gpu" || q == "gemm_tflops") return "TFLOP/s";
  if (q.ends_with("_gib")) return "GiB";
  if (q.ends_with("_s")) return "s";
  if (q.ends_with("_bytes")) return "bytes";
  if (q.ends_with("_pct")) return "%";
  return "";
}

void AddAccuracySection(Section& s, const std::string& id, const In& doc) {
  const In records = doc.Arr("records");
  std::map<std::string, json> by_quantity;  // quantity -> points
  std::string skipped;
  auto add = [&](const In& q, const std::string& rid, const std::string& source, const json& extra) {
    for (const auto& [name, v] : q.raw().items()) {
      const In qv = q.Obj(name);
      json p = {{"id", rid}, {"source", source}, {"measured", qv.Num("measured")},
                {"predicted", qv.Num("predicted")}, {"error_pct", qv.NumOr("error_pct", 0.0)}};
      for (const auto& [k, e] : extra.items()) p[k] = e;
      by_quantity[name].push_back(p);
    }
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const In r = records.At(i);
    const std::string rid = r.Str("id");
    const std::string source = r.StrOr("source", rid);
    const std::string status = r.StrOr("status", "scored");
    if (status == "skipped") {
      skipped += "<tr><td>" + Esc(rid) + "</td><td>" + Esc(r.StrOr("reason", "")) + "</td></tr>\n";
      continue;
    }
    if (r.Has("quantities")) add(r.Obj("quantities"), rid, source, json::object());
    if (r.Has("rows")) {  // `accuracy --nccl-tests`: one row per message size
      const In rows = r.Arr("rows");
      for (size_t k = 0; k < rows.size(); ++k) {
        const In row = rows.At(k);
        json extra = json::object();
        if (row.HasNumber("bytes")) extra["bytes"] = row.Num("bytes");
        add(row.Obj("quantities"), rid, source, extra);
      }
    }
  }
  if (doc.Has("summary") && doc.raw()["summary"].is_object() && doc.raw()["summary"].contains("per_quantity") &&
      doc.raw()["summary"]["per_quantity"].is_object()) {
    s.html += "<table><thead><tr><th>quantity</th><th>records</th><th>MAPE (%)</th><th>bias (%)</th><th>worst (%)</th>"
              "</tr></thead><tbody>\n";
    for (const auto& [q, v] : doc.raw()["summary"]["per_quantity"].items()) {
      // bias: the signed mean error (negative: predicted faster than measured), beside MAPE.
      s.html += "<tr><td>" + Esc(q) + "</td><td class=\"num\">" + Cell(v.value("n", json(nullptr)), 'i') +
                "</td><td class=\"num\">" + Cell(v.value("mape_pct", json(nullptr)), '1') + "</td><td class=\"num\">" +
                Cell(v.value("bias_pct", json(nullptr)), '1') + "</td><td class=\"num\">" +
                Cell(v.value("max_pct", json(nullptr)), '1') + "</td></tr>\n";
    }
    s.html += "</tbody></table>\n";
  }
  if (!skipped.empty()) {
    s.html += "<table class=\"reasons\"><thead><tr><th>skipped record</th><th>why</th></tr></thead><tbody>\n" + skipped +
              "</tbody></table>\n";
  }
  if (by_quantity.empty()) s.html += "<p class=\"warn\">No scored record in this report.</p>\n";
  size_t drawn = 0;
  for (const auto& [q, pts] : by_quantity) {
    if (drawn++ == kMaxQuantities) break;
    double lo = 0, hi = 0;
    bool first = true, log_ok = true;
    for (const json& p : pts) {
      for (const char* k : {"measured", "predicted"}) {
        const double v = p[k].get<double>();
        if (v <= 0) log_ok = false;
        lo = first ? v : std::min(lo, v);
        hi = first ? v : std::max(hi, v);
        first = false;
      }
    }
    const std::string unit = QuantityUnit(q);
    const std::string u = unit.empty() ? "" : " (" + unit + ")";
    Chart c;
    c.id = id + "-accuracy-" + std::to_string(drawn);
    c.title = "Predicted against measured: " + q;
    c.caption = "One point per measurement; on the dashed line the prediction is exact.";
    const json scale = log_ok ? json{{"type", "log"}} : json{{"zero", true}};
    json tooltip = json::array({{{"field", "id"}}, {{"field", "measured"}, {"format", ".4g"}},
                                {{"field", "predicted"}, {"format", ".4g"}},
                                {{"field", "error_pct"}, {"format", "+.1f"}, {"title", "error (%)"}}});
    if (!pts.empty() && pts[0].contains("bytes")) tooltip.push_back({{"field", "bytes"}, {"format", ",d"}});
    std::set<std::string> sources;
    for (const json& p : pts) sources.insert(p["source"].get<std::string>());
    c.spec = {{"title", Title(c.title, std::string(log_ok ? "log-log; " : "") + "dashed: predicted = measured")},
              {"width", 420},
              {"height", 420},
              {"layer",
               {{{"name", "identity_line"},
                 {"data", {{"values", {{{"v", lo}}, {{"v", hi}}}}}},
                 {"mark", {{"type", "line"}, {"color", "#888"}, {"strokeDash", {6, 4}}}},
                 {"encoding", {{"x", {{"field", "v"}, {"type", "quantitative"}, {"scale", scale}}},
                               {"y", {{"field", "v"}, {"type", "quantitative"}, {"scale", scale}}}}}},
                {{"name", "accuracy_points"},
                 {"data", {{"values", pts}}},
                 {"mark", {{"type", "point"}, {"filled", true}, {"size", 45}, {"opacity", 0.8}}},
                 {"encoding",
                  {{"x", {{"field", "measured"}, {"type", "quantitative"}, {"scale", scale}, {"title", "measured" + u}}},
                   {"y", {{"field", "predicted"}, {"type", "quantitative"}, {"scale", scale}, {"title", "predicted" + u}}},
                   {"color", {{"field", "source"}, {"type", "nominal"},
                              {"scale", {{"scheme", sources.size() > 10 ? "category20" : "tableau10"}}},
                              {"legend", {{"title", "source"}, {"symbolLimit", 40}}}}},
                   {"tooltip", tooltip}}}}}}};
    c.expect = {"accuracy_points"};
    c.cols = {{"id", "record", 't'}, {"source", "source", 't'}};
    if (!pts.empty() && pts[0].contains("bytes")) c.cols.push_back({"bytes", "bytes", 'i'});
    c.cols.push_back({"measured", "measured" + u, 'g'});
    c.cols.push_back({"predicted", "predicted" + u, 'g'});
    c.cols.push_back({"error_pct", "error (%)", '1'});
    c.rows = pts;
    s.charts.push_back(c);
  }
}

void AddCalibrateSection(Section& s, const std::string& id, const In& doc) {
  if (doc.Has("fitted")) {
    const In fitted = doc.Obj("fitted");
    s.html += "<table><thead><tr><th>fitted quantity</th><th>value</th><th>unit</th><th>from</th></tr></thead><tbody>\n";
    for (const auto& [q, v] : fitted.raw().items()) {
      const In f = fitted.Obj(q);
      std::string src;
      if (f.Has("sources") && f.raw()["sources"].is_array()) src = Describe(f.raw()["sources"]);
      s.html += "<tr><td>" + Esc(q) + "</td><td class=\"num\">" + Cell(f.raw().value("value", json(nullptr)), 'g') +
                "</td><td>" + Esc(f.StrOr("unit", "")) + "</td><td>" + Esc(src) + "</td></tr>\n";
    }
    s.html += "</tbody></table>\n";
  }
  if (!doc.Has("fit_error")) return;
  const In fe = doc.Obj("fit_error");
  Chart c;
  c.id = id + "-calibration";
  c.title = "Model error before and after calibration";
  c.caption = "Mean absolute percentage error of each fitted quantity's predictions.";
  json bars = json::array();
  for (const auto& [q, v] : fe.raw().items()) {
    const In e = fe.Obj(q);
    const double before = e.Num("before_pct"), after = e.Num("after_pct");
    c.rows.push_back({{"quantity", q}, {"before", before}, {"after", after}});
    bars.push_back({{"quantity", q}, {"when", "before"}, {"error", before}});
    bars.push_back({{"quantity", q}, {"when", "after"}, {"error", after}});
  }
  c.cols = {{"quantity", "quantity", 't'}, {"before", "error before (%)", '1'}, {"after", "error after (%)", '1'}};
  c.spec = {{"title", Title(c.title, "|predicted - measured| / measured")},
            {"name", "calibration_bars"},
            {"width", 460},
            {"height", {{"step", 16}}},
            {"data", {{"values", bars}}},
            {"mark", {{"type", "bar"}, {"tooltip", true}}},
            {"encoding",
             {{"y", {{"field", "quantity"}, {"type", "nominal"}, {"title", nullptr}, {"axis", {{"labelLimit", 400}}}}},
              {"yOffset", {{"field", "when"}, {"sort", {"before", "after"}}}},
              {"x", {{"field", "error"}, {"type", "quantitative"}, {"title", "error (%)"}}},
              {"color", {{"field", "when"}, {"type", "nominal"},
                         {"scale", Scale({"before", "after"}, {"#bab0ac", "#4c78a8"})},
                         {"legend", {{"title", "calibration"}, {"orient", "bottom"}}}}}}}};
  c.expect = {"calibration_bars"};
  if (!c.rows.empty()) s.charts.push_back(c);
}

const char* kStyle = R"css(
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #23374d; color: #fff; padding: 16px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; font-size: 13px; color: #cfd8e3; }
main { padding: 8px 32px 32px 32px; max-width: 1240px; }
section.report { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 20px 16px 20px; margin: 18px 0; }
h2 { font-size: 18px; margin: 10px 0; }
figure { margin: 18px 0 8px 0; }
figcaption { font-size: 13px; color: #555; margin: 4px 0; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 140px; }
p.verdict { font-size: 14px; font-weight: 600; color: #23374d; }
p.warn { font-size: 14px; font-weight: 600; color: #b22; }
table.reasons td:first-child { font-family: monospace; }
details summary { cursor: pointer; font-size: 13px; color: #23374d; }
.vis { min-height: 40px; }
.chart-error { color: #b22; font-weight: 600; }
nav ul { margin: 6px 0; font-size: 13px; }
ul.diffs { font-size: 13px; }
)css";

const char* kBoot = R"js(
(function () {
  var charts = JSON.parse(document.getElementById('meshplan-charts').textContent);
  window.__meshplanViews = {};
  window.__meshplanErrors = [];
  window.__meshplanCharts = charts.map(function (c) { return {id: c.id, title: c.title, expect: c.expect}; });
  window.__meshplanReady = Promise.all(charts.map(function (c) {
    return vegaEmbed('#' + c.id, c.spec, {mode: 'vega-lite', renderer: 'svg', actions: false})
      .then(function (r) { window.__meshplanViews[c.id] = r.view; })
      .catch(function (e) {
        var msg = c.id + ': ' + (e && e.message ? e.message : e);
        window.__meshplanErrors.push(msg);
        console.error('meshplan chart failed: ' + msg);
        var el = document.getElementById(c.id);
        el.className += ' chart-error';
        el.textContent = 'This chart could not be drawn: ' + msg;
      });
  })).then(function () { document.body.setAttribute('data-rendered', 'true'); });
})();
)js";

}  // namespace

namespace {
/// Every number of a report under a key that names a quantity (a size in bytes, a time in
/// seconds or milliseconds) is one meshplan could have written: not negative, and bytes within
/// 1e18 (an exabyte), times within 1e12 s. `differences` (compare's signed deltas) is skipped.
void CheckReportNumbers(const json& j, const std::string& name, const std::string& path, const std::string& key) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k == "differences") continue;
      CheckReportNumbers(v, name, path.empty() ? k : path + "." + k, k);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) CheckReportNumbers(j[i], name, path + "[" + std::to_string(i) + "]", key);
  } else if (j.is_number()) {
    const bool bytes = key.ends_with("_bytes") || key == "bytes";
    const bool time = key.ends_with("_s") || key.ends_with("_ms");
    if (!bytes && !time) return;
    const double v = j.get<double>();
    const double most = bytes ? 1e18 : 1e12;
    if (!(v >= 0 && v <= most)) {
      throw Error(name + ": " + path, "must be in [0, " + std::string(bytes ? "1e18] bytes" : "1e12] (a time)") +
                                          ", got " + j.dump());
    }
  }
}
}  // namespace

bool IsDrawableCommand(const std::string& command) {
  return std::find(kCommands.begin(), kCommands.end(), command) != kCommands.end();
}

void CheckReportJson(const json& doc, const std::string& name) {
  if (!doc.is_object()) throw Error(name, "not a meshplan report: the top level must be a JSON object");
  const In d(doc, name, "");
  if (!d.Has("schema_version")) d.Fail("schema_version", "missing: not a meshplan report");
  if (!doc["schema_version"].is_number_integer()) d.Fail("schema_version", "must be an integer");
  const int64_t v = doc["schema_version"].get<int64_t>();
  if (v < 1 || v > kReportSchemaVersion) {
    d.Fail("schema_version", "is " + std::to_string(v) + "; this meshplan reads reports of schema version 1 to " +
                                 std::to_string(kReportSchemaVersion) + " (a newer meshplan wrote it?)");
  }
  const std::string tool = d.Str("tool");
  if (tool.rfind("meshplan", 0) != 0) d.Fail("tool", "is '" + tool + "': not written by meshplan");
  const std::string cmd = d.Str("command");
  if (!IsDrawableCommand(cmd)) {
    d.Fail("command", "is '" + cmd + "'; the HTML report draws plan, simulate, compare, sweep, accuracy and calibrate reports");
  }
  if (cmd == "plan" || cmd == "simulate" || cmd == "compare") d.Arr("layouts");
  if (cmd == "sweep") d.Arr("points");
  if (cmd == "accuracy") d.Arr("records");
  if (cmd == "calibrate" && !d.Has("fitted") && !d.Has("fit_error")) d.Fail("fit_error", "missing (and no `fitted`)");
  CheckReportQuantities(doc, name);
}

void CheckReportQuantities(const json& doc, const std::string& name) { CheckReportNumbers(doc, name, "", ""); }

std::string RenderHtmlReport(const std::vector<std::string>& names, const std::vector<json>& docs,
                             const HtmlAssets& assets) {
  MESHPLAN_CHECK(names.size() == docs.size() && !docs.empty());
  std::vector<Section> sections;
  for (size_t i = 0; i < docs.size(); ++i) {
    CheckReportJson(docs[i], names[i]);
    const In doc(docs[i], names[i], "");
    const std::string cmd = doc.Str("command");
    const std::string id = "r" + std::to_string(i + 1);
    Section s;
    s.heading = std::to_string(i + 1) + ". " + names[i] + ": " + cmd;
    try {
      s.html = SummaryHtml(doc) + InputsHtml(names[i], doc);
      if (cmd == "plan" || cmd == "simulate" || cmd == "compare") AddLayoutSections(s, id, doc);
      if (cmd == "sweep") AddSweepSection(s, id, doc);
      if (cmd == "accuracy") AddAccuracySection(s, id, doc);
      if (cmd == "calibrate") AddCalibrateSection(s, id, doc);
    } catch (const json::exception& e) {
      // A value of the wrong kind where the readers above do not name the field: still the
      // file's error, not meshplan's.
      throw Error(names[i], std::string("a value of the wrong kind for a ") + cmd + " report (" + e.what() + ")");
    }
    sections.push_back(std::move(s));
  }
  json charts = json::array();
  std::string body;
  if (sections.size() > 1) {
    body += "<nav><ul>\n";
    for (size_t i = 0; i < sections.size(); ++i) {
      body += "<li><a href=\"#section-" + std::to_string(i + 1) + "\">" + Esc(sections[i].heading) + "</a></li>\n";
    }
    body += "</ul></nav>\n";
  }
  for (size_t i = 0; i < sections.size(); ++i) {
    const Section& s = sections[i];
    body += "<section class=\"report\" id=\"section-" + std::to_string(i + 1) + "\">\n<h2>" + Esc(s.heading) + "</h2>\n";
    body += s.html;
    for (const Chart& c : s.charts) {
      json spec = c.spec;
      spec["config"] = Config();
      spec["background"] = "#ffffff";
      spec["padding"] = 8;
      charts.push_back({{"id", c.id}, {"title", c.title}, {"expect", c.expect}, {"spec", spec}});
      body += "<figure>\n<div class=\"vis\" id=\"" + Esc(c.id) + "\"></div>\n<figcaption>" + Esc(c.caption) +
              "</figcaption>\n<details><summary>The numbers in this chart (" + Esc(c.title) + ")</summary>\n" +
              TableHtml(c.cols, c.rows) + "\n</details>\n</figure>\n";
    }
    body += "</section>\n";
  }
  const std::string versions = "vega " + assets.vega_version + ", vega-lite " + assets.vega_lite_version +
                               ", vega-embed " + assets.vega_embed_version;
  std::string h;
  h.reserve(assets.vega_js.size() + assets.vega_lite_js.size() + assets.vega_embed_js.size() + body.size() + 65536);
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"generator\" content=\"" + Esc(ToolVersion()) + "\">\n";
  h += "<title>meshplan report</title>\n<style>" + std::string(kStyle) + "</style>\n";
  h += "<script>/* vega " + assets.vega_version + " */\n" + ScriptText(assets.vega_js) + "\n</script>\n";
  h += "<script>/* vega-lite " + assets.vega_lite_version + " */\n" + ScriptText(assets.vega_lite_js) + "\n</script>\n";
  h += "<script>/* vega-embed " + assets.vega_embed_version + " */\n" + ScriptText(assets.vega_embed_js) + "\n</script>\n";
  h += "</head>\n<body>\n<header><h1>meshplan report</h1><p>written by " + Esc(ToolVersion()) + " from " +
       std::to_string(docs.size()) + (docs.size() == 1 ? " report" : " reports") + "; charts drawn with " +
       Esc(versions) + ", inlined (works offline)</p></header>\n<main>\n";
  h += body;
  h += "</main>\n<script id=\"meshplan-charts\" type=\"application/json\">" + ScriptJson(charts) + "</script>\n";
  h += "<script>" + std::string(kBoot) + "</script>\n</body>\n</html>\n";
  return h;
}

}  // namespace meshplan::plans
