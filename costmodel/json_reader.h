// File: costmodel/json_reader.h  (internal to costmodel's .cc files: includes nlohmann/json)
// A strict reader over one JSON object: every access names its JSON path, unknown keys are an
// error (Finish), and numbers are range-checked. Errors read
//   "<origin>: <path>: <problem>".
#ifndef MESHPLAN_COSTMODEL_JSON_READER_H_
#define MESHPLAN_COSTMODEL_JSON_READER_H_

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"

namespace meshplan::costmodel {

/// Deepest nesting of arrays/objects ParseJsonText accepts (meshplan's own files use 5).
inline constexpr int kMaxJsonDepth = 64;
/// The longest name (JsonObject::Name) meshplan takes.
inline constexpr size_t kMaxNameBytes = 128;

/// `s` with ASCII letters lower-cased (the one copy: phrase matching, names, NCCL values).
std::string AsciiLower(std::string_view s);

/// What is wrong with `name` as a model's, cluster's or GPU's name; empty when nothing is.
std::string NameProblem(std::string_view name);

/// Parses JSON text; a syntax error names the origin and the byte offset.
nlohmann::json ParseJsonText(std::string_view text, std::string_view origin);

class JsonObject {
 public:
  JsonObject(const nlohmann::json& j, std::string origin, std::string path);

  bool Has(const std::string& key) const { return j_.contains(key); }
  /// The object's keys in JSON order (sorted: nlohmann::json's std::map).
  std::vector<std::string> Keys() const;
  int64_t Int(const std::string& key, int64_t min,
              int64_t max = std::numeric_limits<int64_t>::max());
  double Number(const std::string& key, double min, double max);
  bool Bool(const std::string& key);
  std::string String(const std::string& key);
  /// A name printed in every report (a model's, a cluster's, a GPU's): a string, not empty, at
  /// most kMaxNameBytes bytes, without control characters (they would reach the terminal and
  /// the HTML report).
  std::string Name(const std::string& key);
  /// One of `allowed`; the error lists them.
  std::string Enum(const std::string& key, std::initializer_list<std::string_view> allowed);
  JsonObject Object(const std::string& key);
  const nlohmann::json& Array(const std::string& key);
  const nlohmann::json& Raw(const std::string& key);
  /// Marks a key as read without interpreting it.
  void Ignore(const std::string& key) { seen_.insert(key); }
  /// Every key of the object must have been read (or ignored).
  void Finish() const;

  [[noreturn]] void Fail(const std::string& key, const std::string& problem) const;
  std::string PathOf(const std::string& key) const;
  const std::string& origin() const { return origin_; }

 private:
  const nlohmann::json& Get(const std::string& key);
  const nlohmann::json& j_;
  std::string origin_;
  std::string path_;
  std::set<std::string> seen_;
};

/// A file's top-level schema_version: an integer >= 1 and at most `highest` (the version this
/// build reads); a newer one is an error that says to upgrade meshplan.
void CheckSchemaVersion(JsonObject& o, int64_t highest);

/// Describes a JSON value for messages: `"abc"`, `-3`, `an object`.
std::string Describe(const nlohmann::json& v);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_JSON_READER_H_
