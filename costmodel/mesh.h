// File: costmodel/mesh.h
// The device mesh of a layout: its named degrees in rank order, the one place that order lives
// (torchtitan's ParallelDims, Megatron-Core's RankGenerator order string). Ranks are numbered
// with tp innermost, then cp, then fsdp, then replicate, then pp outermost (DESIGN.md "N-D
// layouts"; Megatron-Core's default order "tp-cp-ep-dp-pp"):
//   rank = tp_i + tp * (cp_i + cp * (fsdp_i + fsdp * (replicate_i + replicate * pp_i))).
// So TP groups are contiguous ranks inside a node, CP groups stride by tp (next to TP, inside
// the node while tp*cp fits), FSDP groups by tp*cp, HSDP replicas by tp*cp*fsdp, and pipeline
// stage neighbours are tp*cp*fsdp*replicate apart. Parameters shard over fsdp x cp (torchtitan's
// dp_shard_cp mesh): that flattened group is cp*fsdp ranks at stride tp (ShardGroup). The evaluator prices a
// group from its stride (Evaluator::PlaceGroup); meshplan-validate builds its communicators
// from GroupOf. A new dimension (cp, ep) is one more entry here.
#ifndef MESHPLAN_COSTMODEL_MESH_H_
#define MESHPLAN_COSTMODEL_MESH_H_

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// Mesh dimensions, innermost first.
enum class MeshDim : uint8_t { kTp = 0, kCp = 1, kFsdp = 2, kReplicate = 3, kPp = 4 };
inline constexpr int kNumMeshDims = 5;
std::string_view ToString(MeshDim d);

struct MeshShape {
  std::array<int64_t, kNumMeshDims> degree{1, 1, 1, 1, 1};

  /// REQUIRES: a resolved layout (every degree >= 1).
  static MeshShape Of(const Layout& l);
  int64_t Degree(MeshDim d) const { return degree[static_cast<size_t>(d)]; }
  /// Rank distance between neighbours along d: the product of the degrees inside it.
  int64_t Stride(MeshDim d) const;
  /// Index of `rank` along d.
  int64_t Coord(MeshDim d, int64_t rank) const;
  int64_t size() const;
  /// World ranks of the group along d that holds `rank`, in coordinate order.
  std::vector<int> GroupOf(MeshDim d, int64_t rank) const;
  /// Every group along d, ordered by their first rank.
  std::vector<std::vector<int>> Groups(MeshDim d) const;
};

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_MESH_H_
