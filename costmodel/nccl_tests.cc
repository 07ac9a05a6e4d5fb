#include "costmodel/nccl_tests.h"

#include <charconv>
#include <cmath>
#include <algorithm>
#include <map>
#include <set>
#include <cctype>
#include <sstream>

#include "costmodel/collectives.h"
#include "costmodel/error.h"

namespace meshplan::costmodel {

std::string_view ToString(NcclTestOp op) {
  switch (op) {
    case NcclTestOp::kAllReduce: return "all_reduce";
    case NcclTestOp::kAllGather: return "all_gather";
    case NcclTestOp::kReduceScatter: return "reduce_scatter";
    case NcclTestOp::kAllToAll: return "alltoall";
    case NcclTestOp::kSendRecv: return "sendrecv";
  }
  return "?";
}

double NcclTestBusBwFactor(NcclTestOp op, int64_t ranks) {
  switch (op) {
    case NcclTestOp::kAllReduce: return BusBwFactor(Coll::kAllReduce, ranks);
    case NcclTestOp::kAllGather: return BusBwFactor(Coll::kAllGather, ranks);
    case NcclTestOp::kReduceScatter: return BusBwFactor(Coll::kReduceScatter, ranks);
    case NcclTestOp::kAllToAll: return (static_cast<double>(ranks) - 1) / static_cast<double>(ranks);
    case NcclTestOp::kSendRecv: return 1.0;
  }
  return 1.0;
}

namespace {

// Plausible row values: nccl-tests prints times in us with two decimals and bandwidths in GB/s.
constexpr double kMinRowTimeUs = 1e-3, kMaxRowTimeUs = 1e12, kMaxRowGBps = 1e6;

std::optional<NcclTestOp> OpFromText(std::string_view s) {
  // Longest names first: "reduce_scatter" contains no other name, "all_reduce" is checked
  // after it so "reduce_scatter" is not read as a reduce.
  static const std::pair<const char*, NcclTestOp> kNames[] = {
      {"reduce_scatter", NcclTestOp::kReduceScatter}, {"all_gather", NcclTestOp::kAllGather},
      {"all_reduce", NcclTestOp::kAllReduce},         {"alltoall", NcclTestOp::kAllToAll},
      {"sendrecv", NcclTestOp::kSendRecv}};
  for (const auto& [name, op] : kNames) {
    if (s.find(name) != std::string_view::npos) return op;
  }
  return std::nullopt;
}

/// A decimal number as nccl-tests prints it ("%7.2f"; "1.5e+03" too): from_chars reads no
/// hexadecimal ("0x10"), "inf" or "nan" the way strtod would.
bool ParseDouble(const std::string& tok, double& out) {
  const char* begin = tok.data();
  const char* end = begin + tok.size();
  if (begin != end && *begin == '+') ++begin;
  const auto res = std::from_chars(begin, end, out, std::chars_format::general);
  return begin != end && res.ec == std::errc() && res.ptr == end && std::isfinite(out);
}

/// nccl-tests' type names, the third column of a data row (NVIDIA/nccl-tests src/common.cu
/// test_typenames: int8 to double, bfloat16 from NCCL 2.10; f8e4m3 and f8e5m2 in builds with
/// NCCL's FP8 types; the fp8_ spellings are taken too).
bool IsNcclTestsType(const std::string& t) {
  static constexpr std::string_view kTypes[] = {"int8",   "uint8",  "int32",    "uint32", "int64",
                                                "uint64", "half",   "float",    "double", "bfloat16",
                                                "f8e4m3", "f8e5m2", "fp8_e4m3", "fp8_e5m2"};
  return std::find(std::begin(kTypes), std::end(kTypes), t) != std::end(kTypes);
}

bool ParseInt(const std::string& tok, int64_t& out) {
  if (tok.empty() || tok.find_first_not_of("0123456789") != std::string::npos || tok.size() > 18) {
    return false;
  }
  out = std::stoll(tok);
  return true;
}

/// Length of an mpirun --tag-output marker ("[1,0]<stdout>:") at s[i], or 0.
size_t TagLength(std::string_view s, size_t i) {
  size_t j = i;
  if (j >= s.size() || s[j++] != '[') return 0;
  for (char sep : {',', ']'}) {
    const size_t start = j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == start || j >= s.size() || s[j++] != sep) return 0;
  }
  for (std::string_view tag : {"<stdout>:", "<stderr>:"}) {
    if (s.substr(j, tag.size()) == tag) return j + tag.size() - i;
  }
  return 0;
}

/// Drops mpirun --tag-output markers (anywhere in the line) and an srun -l prefix ("0: ").
std::string StripLaunchPrefixes(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    const size_t tag = TagLength(raw, i);
    if (tag > 0) {
      out += ' ';
      i += tag;
    } else {
      out += raw[i++];
    }
  }
  size_t k = 0;
  while (k < out.size() && std::isdigit(static_cast<unsigned char>(out[k]))) ++k;
  if (k > 0 && k + 1 < out.size() && out[k] == ':' && out[k + 1] == ' ') out.erase(0, k + 2);
  return out;
}

}  // namespace

std::optional<NcclTestOp> NcclTestOpFromName(std::string_view name) {
  std::string_view n = name;
  if (n.size() > 5 && n.substr(n.size() - 5) == "_perf") n.remove_suffix(5);
  for (NcclTestOp op : {NcclTestOp::kAllReduce, NcclTestOp::kAllGather, NcclTestOp::kReduceScatter,
                        NcclTestOp::kAllToAll, NcclTestOp::kSendRecv}) {
    if (n == ToString(op)) return op;
  }
  return std::nullopt;
}

std::optional<NcclTestOp> NcclTestOpFromHeader(std::string_view text) {
  const size_t at = text.find("Collective test starting");
  if (at == std::string_view::npos) return std::nullopt;
  const size_t eol = text.find('\n', at);
  return OpFromText(text.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at));
}

NcclTestLog ParseNcclTestLog(std::string_view text, std::string_view origin_view,
                             std::optional<NcclTestOp> op) {
  const std::string origin(origin_view);
  NcclTestLog log;
  std::map<std::string, std::set<int64_t>> ranks_on;  // host -> the ranks its Rank lines list
  bool has_root = true;  // current builds print a root column; old ones do not
  bool wrong_count = true;  // current builds count wrong results (#wrong); old ones print the max error
  bool saw_header = false;
  std::istringstream in{std::string(text)};
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = StripLaunchPrefixes(raw);
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    if (line[first] == '#') {
      if (!op && line.find("Collective test starting") != std::string::npos) op = OpFromText(line);
      if (const size_t at = line.find(" nGpus "); at != std::string::npos) {  // "# nThread 1 nGpus 8 ..."
        std::istringstream hs(line.substr(at + 7));
        std::string t;
        int64_t g = 0;
        if (!(hs >> t) || !ParseInt(t, g) || g < 1 || g > (1 << 16)) {
          throw Error(origin + ":" + std::to_string(line_no),
                      "header: nGpus must be followed by a GPU count (1 to 65536), got '" + t + "'");
        }
        log.gpus_per_thread = g;
      }
      if (const size_t at = line.find("Rank "); at != std::string::npos && line.find(" device ") != std::string::npos) {
        std::istringstream rs(line.substr(at + 5));
        std::string t;
        int64_t rank = -1;
        if (rs >> t && ParseInt(t, rank) && rank >= 0 && rank < (int64_t{1} << 24)) {
          log.listed_ranks = std::max(log.listed_ranks, rank + 1);
          // "Group G Pid P on <host> device D [bus] <device name>"
          std::string word;
          while (rs >> word && word != "on") {
          }
          std::string host;
          if (rs >> host) ranks_on[host].insert(rank);
          if (const size_t bracket = line.find("] ", at); bracket != std::string::npos) {
            std::string name = line.substr(bracket + 2);
            while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
            if (!name.empty() && std::find(log.device_names.begin(), log.device_names.end(), name) == log.device_names.end()) {
              log.device_names.push_back(name);
            }
          }
        }
      }
      if (line.find("size") != std::string::npos && line.find("redop") != std::string::npos) {
        saw_header = true;
        has_root = line.find("root") != std::string::npos;
        wrong_count = line.find("#wrong") != std::string::npos;
      }
      continue;
    }
    std::istringstream ls(line);
    std::vector<std::string> tok;
    for (std::string t; ls >> t;) tok.push_back(t);
    int64_t size = 0, count = 0;
    // A data row starts with two integers and a type name; anything else is a foreign line
    // (MPI help aggregation, NCCL INFO/version lines, elisions) and is skipped.
    auto digits = [](const std::string& t) {
      return !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
    };
    if (saw_header && tok.size() >= 3 && digits(tok[0]) && digits(tok[1]) &&
        !std::isdigit(static_cast<unsigned char>(tok[2][0])) && (!ParseInt(tok[0], size) || !ParseInt(tok[1], count))) {
      // A data row whose size or count does not fit: dropping it would score the log without it.
      throw Error(origin + ":" + std::to_string(line_no), "row has a size or count beyond 2^63");
    }
    // A row whose third column is one of nccl-tests' type names (its test_typenames) is a data
    // row whatever its first two say: a size or count that is not a decimal integer (-1, 0x10,
    // 1.5e8, nan) is an error at its line, not a row left out.
    if (saw_header && tok.size() >= 3 && IsNcclTestsType(tok[2]) &&
        (!ParseInt(tok[0], size) || !ParseInt(tok[1], count))) {
      throw Error(origin + ":" + std::to_string(line_no),
                  "row's size '" + tok[0] + "' and count '" + tok[1] + "' must be decimal integers");
    }
    if (tok.size() < 3 || !ParseInt(tok[0], size) || !ParseInt(tok[1], count) ||
        std::isdigit(static_cast<unsigned char>(tok[2][0]))) {
      continue;
    }
    if (!saw_header) {
      throw Error(origin + ":" + std::to_string(line_no),
                  "data row before the nccl-tests column header: not an nccl-tests log");
    }
    const size_t want = has_root ? 13 : 12;
    if (tok.size() < want) {
      throw Error(origin + ":" + std::to_string(line_no),
                  "truncated row: expected " + std::to_string(want) + " columns, got " +
                      std::to_string(tok.size()));
    }
    if (size == 0) continue;  // -g runs print 0-byte rows below n * sizeof(type)
    const size_t t0 = has_root ? 5 : 4;
    NcclTestRow row;
    row.line = line_no;
    row.size_bytes = size;
    row.count = count;
    row.type = tok[2];
    // The columns by name, so that an error quotes the value it is about.
    struct Column {
      size_t at;
      const char* name;
      double* value;
      bool time;  // a time must be above 0; a bandwidth may print 0.00
    };
    for (const Column& c : {Column{t0, "out-of-place time", &row.time_us, true},
                            Column{t0 + 1, "out-of-place algbw", &row.algbw_GBps, false},
                            Column{t0 + 2, "out-of-place busbw", &row.busbw_GBps, false},
                            Column{t0 + 4, "in-place time", &row.ip_time_us, true},
                            Column{t0 + 5, "in-place algbw", &row.ip_algbw_GBps, false},
                            Column{t0 + 6, "in-place busbw", &row.ip_busbw_GBps, false}}) {
      if (!ParseDouble(tok[c.at], *c.value) || (c.time ? *c.value <= 0 : *c.value < 0)) {
        throw Error(origin + ":" + std::to_string(line_no), std::string("row's ") + c.name + " '" + tok[c.at] +
                                                                "' is not a decimal number above 0");
      }
    }
    // #wrong: results the test found wrong ("N/A" when checking was off; old builds print it
    // "%5.0e", 0e+00): not a valid timing; anything but a whole count or N/A is no count
    // nccl-tests prints.
    for (const size_t w : {t0 + 3, t0 + 7}) {
      double wrong = 0;
      const bool number = ParseDouble(tok[w], wrong);
      if (tok[w] == "N/A" || (number && wrong == 0)) continue;
      // Old builds' "error" column: the check's largest difference, a float (2e-07), not a count.
      if (!wrong_count && number && wrong >= 0) continue;
      if (number && wrong > 0 && std::floor(wrong) == wrong) {
        throw Error(origin + ":" + std::to_string(line_no),
                    "row reports " + tok[w] + " wrong results (#wrong): the run was not correct, so its times are not scored");
      }
      throw Error(origin + ":" + std::to_string(line_no),
                  "row's #wrong column is '" + tok[w] + "': expected 0, N/A or a count of wrong results");
    }
    // One run per file: sizes grow row by row.
    if (!log.rows.empty() && size <= log.rows.back().size_bytes) {
      throw Error(origin + ":" + std::to_string(line_no),
                  "row of " + std::to_string(size) + " bytes after one of " + std::to_string(log.rows.back().size_bytes) +
                      " (line " + std::to_string(log.rows.back().line) + "): sizes must grow, one nccl-tests run per file");
    }
    // Finite but absurd values (1e-310 us, 1e308 GB/s) would overflow the fit's arithmetic.
    for (const size_t at : {t0, t0 + 4}) {
      const double t = at == t0 ? row.time_us : row.ip_time_us;
      if (t < kMinRowTimeUs || t > kMaxRowTimeUs) {
        throw Error(origin + ":" + std::to_string(line_no),
                    std::string("row has ") + (at == t0 ? "an out-of-place" : "an in-place") + " time of " + tok[at] +
                        " us, outside [0.001, 1e12] us");
      }
    }
    for (const double bw : {row.algbw_GBps, row.busbw_GBps, row.ip_algbw_GBps, row.ip_busbw_GBps}) {
      if (bw < 0 || bw > kMaxRowGBps) {
        throw Error(origin + ":" + std::to_string(line_no), "row has a bandwidth outside [0, 1e6] GB/s");
      }
    }
    if (log.rows.size() >= static_cast<size_t>(kMaxNcclTestRows)) {
      throw Error(origin + ":" + std::to_string(line_no),
                  "more than " + std::to_string(kMaxNcclTestRows) +
                      " data rows: not one nccl-tests run (a real log has tens)");
    }
    log.rows.push_back(row);
  }
  if (!op) op = OpFromText(origin);
  if (!op) {
    throw Error(origin, "cannot tell the collective: no 'Collective test starting' line and the "
                        "file name names none of all_reduce, all_gather, reduce_scatter, alltoall, sendrecv");
  }
  log.op = *op;
  if (log.rows.empty()) {
    throw Error(origin, saw_header ? "no data rows after the column header (truncated log?)"
                                   : "no nccl-tests performance table found");
  }
  // Infer n from the most precise rows: busbw / algbw = factor(n).
  std::map<int64_t, int> votes;
  for (const auto& r : log.rows) {
    for (auto [alg, bus] : {std::pair{r.algbw_GBps, r.busbw_GBps}, std::pair{r.ip_algbw_GBps, r.ip_busbw_GBps}}) {
      if (alg < 10.0) continue;  // two printed decimals: too coarse below 10 GB/s
      const double f = bus / alg;
      double n = 0;
      if (log.op == NcclTestOp::kAllReduce) {
        if (f < 2.0) n = 2.0 / (2.0 - f);
      } else if (log.op != NcclTestOp::kSendRecv) {
        if (f < 1.0) n = 1.0 / (1.0 - f);
      }
      if (n >= 1.5 && n < 1e6) ++votes[std::llround(n)];
    }
  }
  int best = 0;
  for (const auto& [n, v] : votes) {
    if (v > best) {
      best = v;
      log.ranks = n;
    }
  }
  log.listed_hosts = static_cast<int64_t>(ranks_on.size());
  for (const auto& [host, ranks] : ranks_on) {
    if (static_cast<int64_t>(ranks.size()) > log.most_ranks_on_a_host) {
      log.most_ranks_on_a_host = static_cast<int64_t>(ranks.size());
      log.busiest_host = host;
    }
  }
  return log;
}

}  // namespace meshplan::costmodel
