#include "costmodel/data_parallel.h"

#include <algorithm>
#include <cmath>

namespace meshplan::costmodel {

double ExpertUnitParams(const Layout& l, const TpShardParams& tpp) {
  const int64_t ep = std::max<int64_t>(1, l.ep);
  return l.shard() / ep > 1 ? tpp.expert / static_cast<double>(ep) : 0.0;
}

DpVolumes DataParallelVolumesFor(const Workload& w, const Layout& l, const TpShardParams& tpp, double layers,
                                 double outer) {
  const PrecisionPolicy b = PrecisionOf(w);
  const double xunit = ExpertUnitParams(l, tpp);
  const bool fp8_gather = w.precision == Precision::kFp8 && w.fp8_param_gather;
  auto gathered = [&](double layer_params, double outer_params) {
    return (fp8_gather ? b.fp8 : b.weight) * layer_params + b.weight * outer_params;
  };
  DpVolumes v;
  v.unit_gather = b.weight * tpp.layer;
  v.unit_reduce = b.reduce * tpp.layer;
  v.expert_unit_gather = b.weight * xunit;
  v.expert_unit_reduce = b.reduce * xunit;
  v.outer_gather = b.weight * outer;
  v.outer_reduce = b.reduce * outer;
  const double dense = layers * tpp.layer + outer, experts = layers * xunit;
  v.step_reduce = b.reduce * dense;
  v.step_gather = gathered(layers * tpp.layer, outer);
  v.expert_step_reduce = b.reduce * experts;
  v.expert_step_gather = gathered(experts, 0.0);
  v.replica_reduce = b.reduce * (dense + layers * tpp.expert) / static_cast<double>(l.shard());
  return v;
}

OuterUnitVolumes OuterUnitVolumesFor(const Workload& w, const TpShardParams& tpp) {
  const PrecisionPolicy b = PrecisionOf(w);
  const double emb = w.fsdp2_copies ? tpp.embedding : tpp.embedding + tpp.head;
  const double head = w.fsdp2_copies ? tpp.head : 0.0;
  return {b.weight * emb, b.reduce * emb, b.weight * head, b.reduce * head};
}

DpBuckets DpBucketsFor(const Workload& w, double elements, int64_t dp, double layers, bool overlapped) {
  DpBuckets b;
  b.tasks = std::max(1.0, layers);
  if (!w.dp_buckets_megatron_core) return b;
  if (!overlapped) {
    b.tasks = 1;
    return b;
  }
  const double per_bucket = std::max(40'000'000.0, 1'000'000.0 * static_cast<double>(std::max<int64_t>(1, dp)));
  b.calls = std::max(1.0, std::ceil(elements / per_bucket));
  b.tasks = std::min(b.calls, b.tasks);
  return b;
}

}  // namespace meshplan::costmodel
