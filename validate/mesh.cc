#include "validate/mesh.h"

#include <algorithm>

#include "costmodel/error.h"

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
  MESHPLAN_CHECK(l.tp >= 1 && l.fsdp >= 1 && l.replicate >= 1 && l.pp >= 1);
  const int t = static_cast<int>(l.tp), f = static_cast<int>(l.fsdp), r = static_cast<int>(l.replicate);
  const int p = static_cast<int>(l.pp);
  // Pipeline stages outermost (DESIGN.md "N-D layouts"): stage neighbours are a stage apart.
  auto rank = [&](int ti, int fi, int ri, int pi) { return ti + t * (fi + f * (ri + r * pi)); };
  Mesh m;
  for (int pi = 0; pi < p; ++pi) {
    for (int ri = 0; ri < r; ++ri) {
      for (int fi = 0; fi < f; ++fi) {
        std::vector<int> g;
        for (int ti = 0; ti < t; ++ti) g.push_back(rank(ti, fi, ri, pi));
        m.tp.push_back(g);
      }
    }
    for (int ri = 0; ri < r; ++ri) {
      for (int ti = 0; ti < t; ++ti) {
        std::vector<int> g;
        for (int fi = 0; fi < f; ++fi) g.push_back(rank(ti, fi, ri, pi));
        m.fsdp.push_back(g);
      }
    }
    for (int fi = 0; fi < f; ++fi) {
      for (int ti = 0; ti < t; ++ti) {
        std::vector<int> g;
        for (int ri = 0; ri < r; ++ri) g.push_back(rank(ti, fi, ri, pi));
        m.replicate.push_back(g);
      }
    }
  }
  for (int ri = 0; ri < r; ++ri) {
    for (int fi = 0; fi < f; ++fi) {
      for (int ti = 0; ti < t; ++ti) {
        std::vector<int> g;
        for (int pi = 0; pi < p; ++pi) g.push_back(rank(ti, fi, ri, pi));
        m.pp.push_back(g);
      }
    }
  }
  // Sorted by first rank, so the file lists groups in rank order.
  auto by_first = [](const std::vector<int>& a, const std::vector<int>& b) { return a[0] < b[0]; };
  std::sort(m.fsdp.begin(), m.fsdp.end(), by_first);
  std::sort(m.replicate.begin(), m.replicate.end(), by_first);
  std::sort(m.pp.begin(), m.pp.end(), by_first);
  return m;
}

}  // namespace meshplan::validate
