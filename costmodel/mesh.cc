// File: costmodel/mesh.cc
#include "costmodel/mesh.h"

#include <algorithm>

#include "costmodel/error.h"

namespace meshplan::costmodel {

std::string_view ToString(MeshDim d) {
  switch (d) {
    case MeshDim::kTp: return "tp";
    case MeshDim::kCp: return "cp";
    case MeshDim::kFsdp: return "fsdp";
    case MeshDim::kReplicate: return "replicate";
    case MeshDim::kPp: return "pp";
  }
  return "?";
}

MeshShape MeshShape::Of(const Layout& l) {
  MESHPLAN_CHECK(l.tp >= 1 && l.cp >= 1 && l.fsdp >= 1 && l.replicate >= 1 && l.pp >= 1);
  MeshShape m;
  m.degree = {l.tp, l.cp, l.fsdp, l.replicate, l.pp};
  return m;
}

int64_t MeshShape::Stride(MeshDim d) const {
  int64_t s = 1;
  for (int i = 0; i < static_cast<int>(d); ++i) s *= degree[static_cast<size_t>(i)];
  return s;
}

int64_t MeshShape::Coord(MeshDim d, int64_t rank) const { return (rank / Stride(d)) % Degree(d); }

int64_t MeshShape::size() const {
  int64_t n = 1;
  for (int64_t x : degree) n *= x;
  return n;
}

std::vector<int> MeshShape::GroupOf(MeshDim d, int64_t rank) const {
  const int64_t stride = Stride(d), base = rank - Coord(d, rank) * stride;
  std::vector<int> g;
  g.reserve(static_cast<size_t>(Degree(d)));
  for (int64_t i = 0; i < Degree(d); ++i) g.push_back(static_cast<int>(base + i * stride));
  return g;
}

std::vector<std::vector<int>> MeshShape::Groups(MeshDim d) const {
  std::vector<std::vector<int>> out;
  for (int64_t r = 0; r < size(); ++r) {
    if (Coord(d, r) == 0) out.push_back(GroupOf(d, r));
  }
  return out;  // ascending first rank by construction
}

}  // namespace meshplan::costmodel
