// File: costmodel/nccl_env.h
// The NCCL environment variables a user sets to tune collectives, as inputs of the collective
// model (costmodel/collectives.h): the channel (CTA) count, the algorithm and protocol masks, and
// NVLink SHARP. Read from an nccl-tests sidecar's "env" block (tools/inputs.cc) and applied when a
// communicator's tuning table is built, the way NCCL applies them (NCCL v2.30.7):
//   NCCL_MIN_CTAS / NCCL_MAX_CTAS      clamp comm->nChannels (and the NVLS channel count) to
//                                      [min, max] (src/init.cc parseCommConfig; the NVLS clamp in
//                                      src/transport/nvls.cc: max(minCTAs, min(maxCTAs, channels)))
//   NCCL_MIN_NCHANNELS / NCCL_MAX_NCHANNELS  their deprecated names, read the same way
//   NCCL_NCHANNELS                     read here as both bounds at once (an exact channel count)
//   NCCL_ALGO, NCCL_PROTO              comma lists, "^" excludes (src/graph/tuning.cc parseList);
//                                      a disabled (algorithm, protocol) gets bandwidth 0
//   NCCL_NVLS_ENABLE                   0 turns NVLS and NVLS-tree off
// A value "(unset)" (how a sidecar records a variable left at NCCL's default) is skipped.
// Any other variable (NCCL_IB_QPS_PER_CONNECTION, NCCL_DEBUG, ...) is not modelled: it is kept
// by name in `not_modelled` so reports can say so, and never changes a prediction.
#ifndef MESHPLAN_COSTMODEL_NCCL_ENV_H_
#define MESHPLAN_COSTMODEL_NCCL_ENV_H_

#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace meshplan::costmodel {

/// NCCL's MAXCHANNELS (src/include/device.h, v2.30.7): the most channels a communicator has.
inline constexpr int kNcclMaxChannels = 64;

struct NcclEnv {
  int min_ctas = 0;  // 0: not set
  int max_ctas = 0;  // 0: not set
  unsigned algo_mask = ~0u;   // bit (1 << Algo) set: enabled
  unsigned proto_mask = ~0u;  // bit (1 << Proto) set: enabled
  int nvls_enable = -1;       // -1: not set (NCCL's default: on where supported); 0 off; 1, 2 on
  std::vector<std::string> not_modelled;  // variable names read but not modelled

  /// True when nothing here changes a prediction.
  bool Neutral() const {
    return min_ctas == 0 && max_ctas == 0 && algo_mask == ~0u && proto_mask == ~0u && nvls_enable != 0;
  }
  /// The modelled settings, as they key a tuning table (not_modelled is left out).
  std::tuple<int, int, unsigned, unsigned, int> Key() const {
    return {min_ctas, max_ctas, algo_mask, proto_mask, nvls_enable};
  }
  /// `channels` clamped to [NCCL_MIN_CTAS, NCCL_MAX_CTAS] where set.
  int Channels(int channels) const;
  /// "NCCL_ALGO=Ring NCCL_MIN_CTAS=24" for the modelled settings ("" when neutral).
  std::string Describe() const;
};

/// Reads `vars` (name, value) as NCCL does; a bad value is an Error naming `origin`, the
/// variable and the problem ("f.meta.json: env.NCCL_MIN_CTAS: must be an integer in [1, 64], got 'x'").
NcclEnv ParseNcclEnv(const std::vector<std::pair<std::string, std::string>>& vars, std::string_view origin);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_NCCL_ENV_H_
