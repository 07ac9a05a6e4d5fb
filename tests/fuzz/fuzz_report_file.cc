// A report (or plan) file as `compare` reads it back.
#include <nlohmann/json.hpp>

#include "costmodel/json_reader.h"
#include "plans/report.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(ReportFile) {
  const nlohmann::json j = costmodel::ParseJsonText(input, "fuzz/report.json");
  std::string layout_text;
  plans::ReadReportFirstLayout(j, "fuzz/report.json", layout_text);
}
