// File: validate/mesh.h
// The device mesh a layout describes, as lists of world ranks, built from costmodel/mesh.h's
// MeshShape (the one place the rank order lives, shared with the evaluator): tp innermost, then
// (cp,) fsdp, then replicate, then pipeline stages outermost. Context-parallel plans (cp > 1) are
// refused before a mesh is built (runner.cc), so the CP dimension is always 1 here.
#ifndef MESHPLAN_VALIDATE_MESH_H_
#define MESHPLAN_VALIDATE_MESH_H_

#include <string_view>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::validate {

/// The collective groups (kNumGroupKinds of them: each has a communicator and collective
/// sweeps), then kPp: the pipeline ranks of one (tp, fsdp, replicate) position, which exchange
/// point-to-point sends only.
enum class GroupKind { kTp = 0, kFsdp = 1, kReplicate = 2, kPp = 3 };
inline constexpr int kNumGroupKinds = 3;
/// "tp", "fsdp", "replicate", "pp": the measurement file's `purpose` and `mesh` keys.
std::string_view ToString(GroupKind g);

struct Mesh {
  std::vector<std::vector<int>> tp, fsdp, replicate, pp;  // pp: ranks of stage 0, 1, ...
  const std::vector<std::vector<int>>& groups(GroupKind g) const;
  /// The group of kind `g` that holds `rank`. REQUIRES 0 <= rank < world size.
  const std::vector<int>& GroupOf(GroupKind g, int rank) const;
  /// Index of that group in groups(g): the color for MPI_Comm_split / ncclCommSplit.
  int ColorOf(GroupKind g, int rank) const;
  int world_size() const;
};

/// REQUIRES l.gpus() >= 1 (a resolved layout).
Mesh BuildMesh(const costmodel::Layout& l);

}  // namespace meshplan::validate

#endif  // MESHPLAN_VALIDATE_MESH_H_
