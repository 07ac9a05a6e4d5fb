#include "tools/shipped_fits.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "tools/inputs.h"

namespace meshplan::tools {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> Paths(costmodel::JsonObject& o, const std::string& key,
                               const fs::path& dir) {
  std::vector<std::string> out;
  const nlohmann::json& a = o.Array(key);
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string() || a[i].get<std::string>().empty()) {
      o.Fail(key + "[" + std::to_string(i) + "]", "must be a path");
    }
    out.push_back((dir / a[i].get<std::string>()).lexically_normal().string());
  }
  return out;
}

}  // namespace

std::vector<ShippedFit> ReadShippedFits() {
  const fs::path data = costmodel::DataDir();
  const fs::path file = data / "calibration" / "inputs" / "shipped.json";
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  const std::string origin = file.string();
  const nlohmann::json j =
      costmodel::ParseJsonText(costmodel::ReadFileText(origin, "data/calibration"), origin);
  costmodel::JsonObject o(j, origin, "");
  costmodel::CheckSchemaVersion(o, 1);
  o.String("description");
  std::vector<ShippedFit> out;
  const nlohmann::json& profiles = o.Array("profiles");
  for (size_t i = 0; i < profiles.size(); ++i) {
    costmodel::JsonObject p(profiles[i], origin, "profiles[" + std::to_string(i) + "]");
    ShippedFit f;
    f.name = p.String("name");
    f.cluster = p.String("cluster");
    const nlohmann::json& also = p.Array("also_for");
    for (const auto& a : also) {
      if (!a.is_string()) p.Fail("also_for", "must be cluster names");
      f.also_for.push_back(a.get<std::string>());
    }
    f.logs = Paths(p, "nccl_tests", data);
    f.references = Paths(p, "reference", data);
    p.Finish();
    out.push_back(std::move(f));
  }
  o.Finish();
  return out;
}

ShippedFitter::ShippedFitter(ShippedFit fit)
    : fit_(std::move(fit)),
      base_(costmodel::ResolveCluster(fit_.cluster, "data/calibration/inputs/shipped.json")) {
  std::vector<std::string> clusters = {base_.name};
  clusters.insert(clusters.end(), fit_.also_for.begin(), fit_.also_for.end());
  for (const auto& path : fit_.references) {
    costmodel::CalibrationInputs scratch;
    for (const auto& s : AddReferenceKernelRecords(path, clusters, scratch)) sources_.insert(s);
  }
}

const costmodel::CalibrationProfile& ShippedFitter::FitWithout(const std::string& leave_out) {
  auto it = fitted_.find(leave_out);
  if (it != fitted_.end()) return it->second;
  if (!logs_read_) {
    // As `meshplan calibrate`: the logs in order (those that cannot be modelled left out). Read
    // only for a refit: labelling records in-sample needs the reference files alone.
    for (const auto& path : fit_.logs) {
      const NcclLogSamples log = LoadNcclTestsLog(path, base_);
      if (!log.skip_reason.empty()) continue;
      costmodel::CalibrationInputs in;
      in.collectives = log.samples;
      logs_.push_back(std::move(in));
    }
    logs_read_ = true;
  }
  costmodel::CalibrationInputs all;
  for (const auto& l : logs_) all.Append(l);
  std::vector<std::string> clusters = {base_.name};
  clusters.insert(clusters.end(), fit_.also_for.begin(), fit_.also_for.end());
  for (const auto& path : fit_.references) {
    costmodel::CalibrationInputs in;
    AddReferenceKernelRecords(path, clusters, in, leave_out);
    all.Append(in);
  }
  costmodel::CalibrationProfile p = costmodel::Fit(base_, all, fit_.name);
  for (const auto& other : fit_.also_for) p.clusters.push_back(other);
  if (!leave_out.empty()) p.name = fit_.name + " without " + leave_out;
  return fitted_.emplace(leave_out, std::move(p)).first->second;
}

}  // namespace meshplan::tools
