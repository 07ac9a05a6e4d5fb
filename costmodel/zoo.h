// File: costmodel/zoo.h
// The built-in models and clusters under data/, named on the command line (`--model
// llama2-70b`), and resolution of a name-or-path to a validated spec.
#ifndef MESHPLAN_COSTMODEL_ZOO_H_
#define MESHPLAN_COSTMODEL_ZOO_H_

#include <string>
#include <string_view>
#include <vector>

#include "costmodel/calibration.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// $MESHPLAN_DATA when set, else the data/ folder this build was configured with.
std::string DataDir();
/// Sorted names of data/<kind>/*.json, kind "models", "clusters", "calibration" or "frameworks".
std::vector<std::string> ListZoo(std::string_view kind);
/// The text of a built-in data/<kind>/<name>.json, or of the file at a path (a name holding '/'
/// or ending in .json), and the origin its errors name. An unknown name is an error on `flag`
/// that lists the built-ins.
struct ZooFile {
  std::string text;
  std::string origin;
};
ZooFile ReadZooFile(const std::string& name_or_path, std::string_view flag, std::string_view kind);
/// A built-in name, or a path to meshplan model JSON or a HuggingFace config.json.
Model ResolveModel(const std::string& name_or_path, std::string_view flag = "--model");
/// A built-in name or a path to meshplan cluster JSON.
Cluster ResolveCluster(const std::string& name_or_path, std::string_view flag = "--cluster");
/// A shipped profile name (data/calibration/<name>.json) or a path to a calibration profile.
CalibrationProfile ResolveCalibration(const std::string& name_or_path,
                                      std::string_view flag = "--calibration");
/// The shipped profile whose `clusters` names `cluster_name` (first in name order), or "".
std::string ShippedCalibrationFor(const std::string& cluster_name);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_ZOO_H_
