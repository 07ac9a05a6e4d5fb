#include "costmodel/nccl_env.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "costmodel/collectives.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"

namespace meshplan::costmodel {
namespace {

int ParseCtas(const std::string& origin, const std::string& name, const std::string& value) {
  int v = 0;
  const char* b = value.data();
  const char* e = b + value.size();
  const auto res = std::from_chars(b, e, v);
  if (value.empty() || res.ec != std::errc() || res.ptr != e || v < 1 || v > kNcclMaxChannels) {
    throw Error(origin, "env." + name + ": must be an integer in [1, " + std::to_string(kNcclMaxChannels) +
                            "], got '" + value + "'");
  }
  return v;
}

/// NCCL's parseList (src/graph/tuning.cc): a comma list of names, all others disabled; with a
/// leading '^', the listed ones disabled and all others enabled. Names are case-insensitive.
/// `names[i]` maps to bit `bits[i]` (-1: known to NCCL, not modelled here).
unsigned ParseMask(const std::string& origin, const std::string& var, const std::string& value,
                   const std::vector<std::pair<std::string, int>>& names, std::vector<std::string>& unmodelled) {
  if (value.find_first_of(":;") != std::string::npos) {
    throw Error(origin, "env." + var + ": per-collective settings ('" + value + "') are not modelled; give one list");
  }
  std::string s = value;
  const bool exclude = !s.empty() && s[0] == '^';
  if (exclude) s.erase(0, 1);
  unsigned listed = 0;
  size_t start = 0;
  bool any = false;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    std::string tok = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    tok.erase(std::remove_if(tok.begin(), tok.end(), [](unsigned char c) { return std::isspace(c); }), tok.end());
    if (!tok.empty()) {
      any = true;
      const std::string low = AsciiLower(tok);
      auto it = std::find_if(names.begin(), names.end(), [&](const auto& n) { return AsciiLower(n.first) == low; });
      if (it == names.end()) {
        std::string known;
        for (const auto& n : names) {
          if (!known.empty()) known += ", ";
          known += n.first;
        }
        throw Error(origin, "env." + var + ": unknown name '" + tok + "' (NCCL's are " + known + ")");
      }
      if (it->second < 0) {
        unmodelled.push_back(var + "=" + it->first);
      } else {
        listed |= 1u << it->second;
      }
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!any) throw Error(origin, "env." + var + ": empty list");
  return exclude ? ~listed : listed;
}

}  // namespace

int NcclEnv::Channels(int channels) const {
  int c = channels;
  if (max_ctas > 0) c = std::min(c, max_ctas);
  if (min_ctas > 0) c = std::max(c, min_ctas);
  return c;
}

std::string NcclEnv::Describe() const {
  std::string out;
  auto add = [&](const std::string& s) {
    if (!out.empty()) out += ' ';
    out += s;
  };
  if (algo_mask != ~0u) {
    std::string a;
    for (int i = 0; i < kNumAlgo; ++i) {
      if (!(algo_mask & (1u << i))) continue;
      if (!a.empty()) a += ',';
      a += ToString(static_cast<Algo>(i));
    }
    add("NCCL_ALGO=" + a);
  }
  if (proto_mask != ~0u) {
    std::string p;
    for (int i = 0; i < kNumProto; ++i) {
      if (!(proto_mask & (1u << i))) continue;
      if (!p.empty()) p += ',';
      p += ToString(static_cast<Proto>(i));
    }
    add("NCCL_PROTO=" + p);
  }
  if (min_ctas > 0) add("NCCL_MIN_CTAS=" + std::to_string(min_ctas));
  if (max_ctas > 0) add("NCCL_MAX_CTAS=" + std::to_string(max_ctas));
  if (nvls_enable >= 0) add("NCCL_NVLS_ENABLE=" + std::to_string(nvls_enable));
  return out;
}

NcclEnv ParseNcclEnv(const std::vector<std::pair<std::string, std::string>>& vars, std::string_view origin_view) {
  const std::string origin(origin_view);
  NcclEnv env;
  for (const auto& [name, value] : vars) {
    // A sidecar's way of recording a variable left at NCCL's default.
    if (value == "(unset)") continue;
    if (name == "NCCL_MIN_CTAS" || name == "NCCL_MIN_NCHANNELS") {
      env.min_ctas = std::max(env.min_ctas, ParseCtas(origin, name, value));
    } else if (name == "NCCL_MAX_CTAS" || name == "NCCL_MAX_NCHANNELS") {
      const int v = ParseCtas(origin, name, value);
      env.max_ctas = env.max_ctas == 0 ? v : std::min(env.max_ctas, v);
    } else if (name == "NCCL_NCHANNELS") {
      const int v = ParseCtas(origin, name, value);
      env.min_ctas = std::max(env.min_ctas, v);
      env.max_ctas = env.max_ctas == 0 ? v : std::min(env.max_ctas, v);
    } else if (name == "NCCL_ALGO") {
      env.algo_mask = ParseMask(origin, name, value,
                                {{"Ring", static_cast<int>(Algo::kRing)}, {"Tree", static_cast<int>(Algo::kTree)},
                                 {"NVLS", static_cast<int>(Algo::kNvls)}, {"NVLSTree", static_cast<int>(Algo::kNvlsTree)},
                                 {"PAT", static_cast<int>(Algo::kPat)}, {"CollNetDirect", -1}, {"CollNetChain", -1},
                                 {"CollNet", -1}},
                                env.not_modelled);
    } else if (name == "NCCL_PROTO") {
      env.proto_mask = ParseMask(origin, name, value,
                                 {{"LL", static_cast<int>(Proto::kLL)}, {"LL128", static_cast<int>(Proto::kLL128)},
                                  {"Simple", static_cast<int>(Proto::kSimple)}},
                                 env.not_modelled);
    } else if (name == "NCCL_NVLS_ENABLE") {
      if (value != "0" && value != "1" && value != "2") {
        throw Error(origin, "env.NCCL_NVLS_ENABLE: must be 0, 1 or 2, got '" + value + "'");
      }
      env.nvls_enable = value[0] - '0';
    } else {
      env.not_modelled.push_back(name);
    }
  }
  if (env.min_ctas > 0 && env.max_ctas > 0 && env.min_ctas > env.max_ctas) {
    throw Error(origin, "env: NCCL_MIN_CTAS " + std::to_string(env.min_ctas) + " is above NCCL_MAX_CTAS " +
                            std::to_string(env.max_ctas));
  }
  const unsigned all_algos = (1u << kNumAlgo) - 1, all_protos = (1u << kNumProto) - 1;
  if ((env.algo_mask & all_algos) == 0) {
    throw Error(origin, "env.NCCL_ALGO: enables none of the modelled algorithms (Ring, Tree, NVLS, NVLSTree, PAT); "
                        "CollNet is not modelled");
  }
  if ((env.proto_mask & all_protos) == 0) throw Error(origin, "env.NCCL_PROTO: enables no protocol");
  // Canonical masks, so equal settings key the same table.
  if ((env.algo_mask & all_algos) == all_algos) env.algo_mask = ~0u; else env.algo_mask &= all_algos;
  if ((env.proto_mask & all_protos) == all_protos) env.proto_mask = ~0u; else env.proto_mask &= all_protos;
  return env;
}

}  // namespace meshplan::costmodel
