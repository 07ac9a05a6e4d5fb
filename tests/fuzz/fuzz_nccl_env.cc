// The NCCL_* variables of an nccl-tests sidecar's "env" block, one `NAME=VALUE` a line (a line
// without '=' is a name with an empty value), read as NCCL does and then applied to the tuning
// tables of dgx-h100 communicators, where the channel clamps and the algorithm and protocol
// masks change what every collective costs.
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "costmodel/collectives.h"
#include "costmodel/nccl_env.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(NcclEnv) {
  std::vector<std::pair<std::string, std::string>> vars;
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      vars.emplace_back(std::string(line), std::string());
    } else {
      vars.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
    start = end + 1;
  }
  const costmodel::NcclEnv env = costmodel::ParseNcclEnv(vars, "fuzz.meta.json");
  env.Describe();
  for (int channels : {1, costmodel::kNcclMaxChannels}) {
    const int got = env.Channels(channels);
    if (got < 1 || got > costmodel::kNcclMaxChannels) throw std::logic_error("channels out of range");
  }
  costmodel::LinkParams p = costmodel::LinkParamsFor(FixedCluster());
  p.env = env;
  for (const costmodel::Group g : {costmodel::Group{8, 1}, costmodel::Group{16, 2}}) {
    const costmodel::CollectiveTable t = costmodel::BuildTable(p, g);
    for (const costmodel::Coll c :
         {costmodel::Coll::kAllGather, costmodel::Coll::kReduceScatter, costmodel::Coll::kAllReduce}) {
      for (const double bytes : {1024.0, 1073741824.0}) {
        if (std::isnan(costmodel::Time(t, c, bytes).time_s)) throw std::logic_error("NaN collective time");
      }
    }
    costmodel::AllToAllTime(p, g, 1048576.0);
  }
}
