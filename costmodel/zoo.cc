#include "costmodel/zoo.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "costmodel/error.h"
#include "costmodel/spec_io.h"

#ifndef MESHPLAN_DATA_DIR
#error "MESHPLAN_DATA_DIR must be defined by the build"
#endif

namespace meshplan::costmodel {
namespace fs = std::filesystem;

std::string DataDir() {
  const char* env = std::getenv("MESHPLAN_DATA");
  if (env != nullptr && *env != '\0') return env;
  return MESHPLAN_DATA_DIR;
}

std::vector<std::string> ListZoo(std::string_view kind) {
  std::vector<std::string> names;
  fs::path dir = fs::path(DataDir()) / kind;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  if (ec) throw Error(dir.string(), "cannot list the built-in " + std::string(kind) + ": " + ec.message(),
                      ErrorKind::kRuntime);
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

bool LooksLikePath(const std::string& s) {
  return s.find('/') != std::string::npos || s.ends_with(".json");
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

template <typename Parse>
auto Resolve(const std::string& name_or_path, std::string_view flag, std::string_view kind, Parse parse) {
  const ZooFile f = ReadZooFile(name_or_path, flag, kind);
  return parse(f.text, f.origin);
}

}  // namespace

ZooFile ReadZooFile(const std::string& name_or_path, std::string_view flag, std::string_view kind) {
  if (name_or_path.empty()) throw Error(std::string(flag), "must not be empty");
  if (LooksLikePath(name_or_path)) return {ReadFileText(name_or_path, flag), name_or_path};
  fs::path p = fs::path(DataDir()) / kind / (name_or_path + ".json");
  std::error_code ec;  // a name past the file system's limits is no built-in either
  if (!fs::exists(p, ec)) {
    const std::string noun = kind == "calibration" ? "calibration profile"
                                                   : std::string(kind).substr(0, kind.size() - 1);
    throw Error(std::string(flag), "no built-in " + noun +
                                       " named '" + name_or_path + "' (built-in: " +
                                       Joined(ListZoo(kind)) + "; or give a path to a .json file)");
  }
  return {ReadFileText(p.string(), flag), p.string()};
}

Model ResolveModel(const std::string& name_or_path, std::string_view flag) {
  return Resolve(name_or_path, flag, "models", [](const std::string& text, const std::string& o) {
    return ParseAnyModelJson(text, o);
  });
}

Cluster ResolveCluster(const std::string& name_or_path, std::string_view flag) {
  return Resolve(name_or_path, flag, "clusters", [](const std::string& text, const std::string& o) {
    return ParseClusterJson(text, o);
  });
}

CalibrationProfile ResolveCalibration(const std::string& name_or_path, std::string_view flag) {
  return Resolve(name_or_path, flag, "calibration", [](const std::string& text, const std::string& o) {
    return ParseCalibrationJson(text, o);
  });
}

std::string ShippedCalibrationFor(const std::string& cluster_name) {
  const fs::path dir = fs::path(DataDir()) / "calibration";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "";
  for (const std::string& name : ListZoo("calibration")) {
    const CalibrationProfile p = ResolveCalibration(name, "data/calibration");
    if (std::find(p.clusters.begin(), p.clusters.end(), cluster_name) != p.clusters.end()) return name;
  }
  return "";
}

}  // namespace meshplan::costmodel
