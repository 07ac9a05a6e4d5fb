#include "costmodel/json_reader.h"

#include <cctype>
#include <cstdio>
#include <optional>
#include <sstream>

namespace meshplan::costmodel {

namespace {

/// Deepest nesting of arrays and objects in `text` (outside strings), and the byte offset where
/// it first exceeds `limit` (or npos). nlohmann's parser is iterative, but copying, comparing and
/// dumping a json value recurse, so a hostile file of 10^6 '[' would overflow the stack later.
size_t FirstTooDeep(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}

/// Lines (1-based) of each occurrence of the key `key` in the `ordinal`-th object of `text`
/// (objects counted by their '{' in document order, outside strings).
std::vector<size_t> KeyLines(std::string_view text, size_t ordinal, const std::string& key) {
  std::vector<size_t> lines;
  std::vector<long long> objects;  // ordinal of each open object; -1 for arrays
  size_t next = 0, line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
    } else if (c == '{') {
      objects.push_back(static_cast<long long>(next++));
    } else if (c == '[') {
      objects.push_back(-1);
    } else if ((c == '}' || c == ']') && !objects.empty()) {
      objects.pop_back();
    } else if (c == '"') {
      const size_t start = i, start_line = line;
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
      size_t j = i + 1;
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (j < text.size() && text[j] == ':' && !objects.empty() &&
          objects.back() == static_cast<long long>(ordinal)) {
        try {
          if (nlohmann::json::parse(text.substr(start, i + 1 - start)) == key) lines.push_back(start_line);
        } catch (const nlohmann::json::exception&) {
        }
      }
    }
  }
  return lines;
}

}  // namespace

nlohmann::json ParseJsonText(std::string_view text, std::string_view origin) {
  if (const size_t at = FirstTooDeep(text, kMaxJsonDepth); at != std::string_view::npos) {
    throw Error(std::string(origin), "not valid JSON: nested deeper than " +
                                         std::to_string(kMaxJsonDepth) + " levels at byte " +
                                         std::to_string(at + 1));
  }
  // Duplicate keys: nlohmann keeps the last silently; meshplan refuses them (the first one
  // found, in the object it is in, counted in document order).
  std::vector<std::set<std::string>> keys;
  std::vector<size_t> ordinals;
  size_t objects = 0;
  std::optional<std::pair<std::string, size_t>> duplicate;
  const nlohmann::json::parser_callback_t on_event = [&](int, nlohmann::json::parse_event_t ev,
                                                          nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) {
      keys.emplace_back();
      ordinals.push_back(objects++);
    } else if (ev == E::object_end) {
      keys.pop_back();
      ordinals.pop_back();
    } else if (ev == E::key && !duplicate && !keys.empty() &&
               !keys.back().insert(parsed.get<std::string>()).second) {
      duplicate.emplace(parsed.get<std::string>(), ordinals.back());
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), on_event);
  } catch (const nlohmann::json::exception& e) {
    // parse_error (syntax) and out_of_range (a number like 1e999 overflows a double).
    std::string what = e.what();
    // nlohmann's message starts with "[json.exception.parse_error.101] "; keep the sentence.
    auto pos = what.find("] ");
    throw Error(std::string(origin),
                "not valid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
  if (duplicate) {
    const std::vector<size_t> lines = KeyLines(text, duplicate->second, duplicate->first);
    std::string where;
    if (lines.size() >= 2) {
      where = " at lines " + std::to_string(lines[0]) + " and " + std::to_string(lines[1]);
    }
    throw Error(std::string(origin), "duplicate key " + Describe(nlohmann::json(duplicate->first)) +
                                         where + ": each key may appear once in an object");
  }
  return j;
}

std::string Describe(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::null: return "null";
    default: {
      // Strings parsed by nlohmann are valid UTF-8, but be safe: replace, never throw.
      std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      return s;
    }
  }
}

JsonObject::JsonObject(const nlohmann::json& j, std::string origin, std::string path)
    : j_(j), origin_(std::move(origin)), path_(std::move(path)) {
  if (!j_.is_object()) {
    throw Error(origin_ + (path_.empty() ? "" : ": " + path_),
                "must be a JSON object, got " + Describe(j_));
  }
}

std::string JsonObject::PathOf(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void JsonObject::Fail(const std::string& key, const std::string& problem) const {
  throw Error(origin_ + ": " + PathOf(key), problem);
}

const nlohmann::json& JsonObject::Get(const std::string& key) {
  seen_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end()) Fail(key, "missing (required)");
  return *it;
}

const nlohmann::json& JsonObject::Raw(const std::string& key) { return Get(key); }

int64_t JsonObject::Int(const std::string& key, int64_t min, int64_t max) {
  const auto& v = Get(key);
  int64_t out = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max)) {
      Fail(key, "must be an integer <= " + std::to_string(max) + ", got " + Describe(v));
    }
    out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) {
      Fail(key, "must be an integer, got " + Describe(v));
    }
    out = static_cast<int64_t>(d);
  } else {
    Fail(key, "must be an integer, got " + Describe(v));
  }
  if (out < min) Fail(key, "must be an integer >= " + std::to_string(min) + ", got " + Describe(v));
  if (out > max) Fail(key, "must be an integer <= " + std::to_string(max) + ", got " + Describe(v));
  return out;
}

double JsonObject::Number(const std::string& key, double min, double max) {
  const auto& v = Get(key);
  if (!v.is_number()) Fail(key, "must be a number, got " + Describe(v));
  double d = v.get<double>();
  if (!std::isfinite(d) || d < min || d > max) {
    std::ostringstream os;
    os << "must be a number in [" << min << ", " << max << "], got " << Describe(v);
    Fail(key, os.str());
  }
  return d;
}

bool JsonObject::Bool(const std::string& key) {
  const auto& v = Get(key);
  if (!v.is_boolean()) Fail(key, "must be true or false, got " + Describe(v));
  return v.get<bool>();
}

std::string JsonObject::String(const std::string& key) {
  const auto& v = Get(key);
  if (!v.is_string()) Fail(key, "must be a string, got " + Describe(v));
  return v.get<std::string>();
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string NameProblem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxNameBytes) {
    return "is " + std::to_string(name.size()) + " bytes long; a name has at most " + std::to_string(kMaxNameBytes);
  }
  for (const char ch : name) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", u);
      return std::string("must not contain a control character (") + hex + ")";
    }
  }
  return "";
}

std::string JsonObject::Name(const std::string& key) {
  const std::string s = String(key);
  const std::string problem = NameProblem(s);
  if (!problem.empty()) Fail(key, problem);
  return s;
}

std::string JsonObject::Enum(const std::string& key,
                             std::initializer_list<std::string_view> allowed) {
  const auto& v = Get(key);
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : " | ") + std::string(a);
  if (v.is_string()) {
    for (auto a : allowed) {
      if (v.get<std::string>() == a) return std::string(a);
    }
  }
  Fail(key, "must be one of " + list + ", got " + Describe(v));
}

JsonObject JsonObject::Object(const std::string& key) {
  const auto& v = Get(key);
  if (!v.is_object()) Fail(key, "must be an object, got " + Describe(v));
  return JsonObject(v, origin_, PathOf(key));
}

const nlohmann::json& JsonObject::Array(const std::string& key) {
  const auto& v = Get(key);
  if (!v.is_array()) Fail(key, "must be an array, got " + Describe(v));
  return v;
}

void CheckSchemaVersion(JsonObject& o, int64_t highest) {
  const int64_t v = o.Int("schema_version", 1);
  if (v > highest) {
    o.Fail("schema_version", "is " + std::to_string(v) + " but this meshplan reads versions up to " +
                                 std::to_string(highest) + "; upgrade meshplan");
  }
}

std::vector<std::string> JsonObject::Keys() const {
  std::vector<std::string> keys;
  for (auto it = j_.begin(); it != j_.end(); ++it) keys.push_back(it.key());
  return keys;
}

void JsonObject::Finish() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    if (!seen_.count(it.key())) Fail(it.key(), "unknown key");
  }
}

}  // namespace meshplan::costmodel
