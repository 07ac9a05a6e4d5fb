// File: validate/mesh.h
// The device mesh a layout describes, as lists of world ranks, built from costmodel/mesh.h's
// MeshShape (the one place the rank order lives, shared with the evaluator): tp innermost, then
// (cp,) fsdp, then replicate, then pipeline stages outermost. Context-parallel plans (cp > 1) are
// refused before a mesh is built (runner.cc), so the CP dimension is always 1 here.
// Expert parallelism (costmodel/experts.h) is carved out of the fsdp x cp shard group (its
// cp*fsdp ranks at stride tp, shard index cp_i + cp * fsdp_i): an EP group is ep consecutive
// shard indices (ranks at stride tp, as Evaluator prices PlaceGroup(ep, Stride(kCp))), and the
// expert-data-parallel group that shards the experts' states is the shard indices equal modulo ep
// (fsdp x cp / ep ranks at stride tp x ep). Both exist only when ep > 1; with ep == 1 the
// experts shard over the FSDP group itself.
#ifndef MESHPLAN_VALIDATE_MESH_H_
#define MESHPLAN_VALIDATE_MESH_H_

#include <string_view>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::validate {

/// The collective groups (kNumGroupKinds of them: each present one has a communicator and
/// collective sweeps), then kPp: the pipeline ranks of one (tp, fsdp, replicate) position, which
/// exchange point-to-point sends only. kEmbedding: a tied model's first and last pipeline stage
/// of each pipeline (Megatron-LM's embedding group), which all-reduce the embedding's gradient;
/// the stages between are groups of one, so that every rank has one.
enum class GroupKind { kTp = 0, kFsdp = 1, kReplicate = 2, kEp = 3, kEdp = 4, kEmbedding = 5, kPp = 6 };
inline constexpr int kNumGroupKinds = 6;
/// "tp", "fsdp", "replicate", "ep", "edp", "embedding", "pp": the measurement file's `purpose`
/// and `mesh` keys.
std::string_view ToString(GroupKind g);

struct Mesh {
  std::vector<std::vector<int>> tp, fsdp, replicate, pp;  // pp: ranks of stage 0, 1, ...
  std::vector<std::vector<int>> ep, edp;  // empty unless ep > 1
  std::vector<std::vector<int>> embedding;  // empty unless pp > 1 with tied embeddings
  const std::vector<std::vector<int>>& groups(GroupKind g) const;
  /// Whether the layout has groups of kind `g` (ep and edp only with ep > 1).
  bool has(GroupKind g) const { return !groups(g).empty(); }
  /// The group of kind `g` that holds `rank`. REQUIRES has(g), 0 <= rank < world size.
  const std::vector<int>& GroupOf(GroupKind g, int rank) const;
  /// Index of that group in groups(g): the color for MPI_Comm_split / ncclCommSplit.
  int ColorOf(GroupKind g, int rank) const;
  int world_size() const;
};

/// REQUIRES l.gpus() >= 1 (a resolved layout). `tied_embeddings`: the model's
/// (costmodel::Model::tied_embeddings), which gives a pipeline its embedding groups.
Mesh BuildMesh(const costmodel::Layout& l, bool tied_embeddings);

}  // namespace meshplan::validate

#endif  // MESHPLAN_VALIDATE_MESH_H_
