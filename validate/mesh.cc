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
    case GroupKind::kPp: return "pp";
  }
  return "?";
}

const std::vector<std::vector<int>>& Mesh::groups(GroupKind g) const {
  return g == GroupKind::kTp ? tp : g == GroupKind::kFsdp ? fsdp : g == GroupKind::kReplicate ? replicate : pp;
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

Mesh BuildMesh(const costmodel::Layout& l) {
  const costmodel::MeshShape shape = costmodel::MeshShape::Of(l);  // the rank order lives there
  Mesh m;
  m.tp = shape.Groups(costmodel::MeshDim::kTp);
  m.fsdp = shape.Groups(costmodel::MeshDim::kFsdp);
  m.replicate = shape.Groups(costmodel::MeshDim::kReplicate);
  m.pp = shape.Groups(costmodel::MeshDim::kPp);
  return m;
}

}  // namespace meshplan::validate
