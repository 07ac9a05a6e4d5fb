#include "validate/mesh.h"

#include <algorithm>

#include "costmodel/error.h"
#include "costmodel/mesh.h"

namespace meshplan::validate {

std::string_view ToString(GroupKind g) {
  switch (g) {
    case GroupKind::kTp: return "tp";
    case GroupKind::kFsdp: return "fsdp";
    case GroupKind::kReplicate: return "replicate";
    case GroupKind::kEp: return "ep";
    case GroupKind::kEdp: return "edp";
    case GroupKind::kEmbedding: return "embedding";
    case GroupKind::kPp: return "pp";
  }
  return "?";
}

const std::vector<std::vector<int>>& Mesh::groups(GroupKind g) const {
  switch (g) {
    case GroupKind::kTp: return tp;
    case GroupKind::kFsdp: return fsdp;
    case GroupKind::kReplicate: return replicate;
    case GroupKind::kEp: return ep;
    case GroupKind::kEdp: return edp;
    case GroupKind::kEmbedding: return embedding;
    case GroupKind::kPp: break;
  }
  return pp;
}

int Mesh::world_size() const {
  int n = 0;
  for (const auto& g : tp) n += static_cast<int>(g.size());
  return n;
}

int Mesh::ColorOf(GroupKind g, int rank) const {
  const auto& gs = groups(g);
  for (size_t i = 0; i < gs.size(); ++i) {
    for (int r : gs[i]) {
      if (r == rank) return static_cast<int>(i);
    }
  }
  MESHPLAN_CHECK(false && "rank outside the mesh");
  return -1;
}

const std::vector<int>& Mesh::GroupOf(GroupKind g, int rank) const {
  return groups(g)[static_cast<size_t>(ColorOf(g, rank))];
}

Mesh BuildMesh(const costmodel::Layout& l, bool tied_embeddings) {
  const costmodel::MeshShape shape = costmodel::MeshShape::Of(l);  // the rank order lives there
  Mesh m;
  m.tp = shape.Groups(costmodel::MeshDim::kTp);
  m.fsdp = shape.Groups(costmodel::MeshDim::kFsdp);
  m.replicate = shape.Groups(costmodel::MeshDim::kReplicate);
  m.pp = shape.Groups(costmodel::MeshDim::kPp);
  if (l.pp > 1 && tied_embeddings) {
    for (const std::vector<int>& stages : m.pp) {
      m.embedding.push_back({stages.front(), stages.back()});
      for (size_t i = 1; i + 1 < stages.size(); ++i) m.embedding.push_back({stages[i]});
    }
  }
  if (l.ep > 1) {
    // The shard group of a rank: cp*fsdp ranks at stride tp from the rank with cp_i = fsdp_i = 0
    // (Stride(kFsdp) = cp * Stride(kCp), so shard index s sits at base + s * tp).
    const int64_t shard = l.shard(), tp_stride = shape.Stride(costmodel::MeshDim::kCp);
    MESHPLAN_CHECK(shard % l.ep == 0);
    for (int64_t r = 0; r < shape.size(); ++r) {
      const int64_t s = shape.Coord(costmodel::MeshDim::kCp, r) +
                        l.cp * shape.Coord(costmodel::MeshDim::kFsdp, r);
      const int64_t base = r - s * tp_stride;
      if (s % l.ep == 0) {  // the first of its EP group
        std::vector<int> g;
        for (int64_t j = 0; j < l.ep; ++j) g.push_back(static_cast<int>(base + (s + j) * tp_stride));
        m.ep.push_back(std::move(g));
      }
      if (s < l.ep) {  // the first of its expert-data-parallel group
        std::vector<int> g;
        for (int64_t j = s; j < shard; j += l.ep) g.push_back(static_cast<int>(base + j * tp_stride));
        m.edp.push_back(std::move(g));
      }
    }
  }
  return m;
}

}  // namespace meshplan::validate
