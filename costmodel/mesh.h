// File: costmodel/mesh.h
// The device mesh of a layout: its named degrees in rank order, the one place that order lives
// (torchtitan's ParallelDims, Megatron-Core's RankGenerator order string). Ranks are numbered
// with tp innermost, then fsdp, then replicate, then pp outermost (DESIGN.md "N-D layouts"):
//   rank = tp_i + tp * (fsdp_i + fsdp * (replicate_i + replicate * pp_i)).
// So TP groups are contiguous ranks inside a node, FSDP groups stride by tp, HSDP replicas by
// tp*fsdp, and pipeline stage neighbours are tp*fsdp*replicate apart. The evaluator prices a
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
enum class MeshDim : uint8_t { kTp = 0, kFsdp = 1, kReplicate = 2, kPp = 3 };
inline constexpr int kNumMeshDims = 4;
std::string_view ToString(MeshDim d);

struct MeshShape {
  std::array<int64_t, kNumMeshDims> degree{1, 1, 1, 1};

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
