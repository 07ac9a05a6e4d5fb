// File: sim/graph_impl.h
// Private to sim/: the Boost.Graph storage of a StepGraph. Include from .cc files only (Boost
// headers are heavy). A compressed sparse row graph: one allocation for all edges, out-edges of
// a task contiguous, which is what the event engine walks when a task finishes.
#ifndef MESHPLAN_SIM_GRAPH_IMPL_H_
#define MESHPLAN_SIM_GRAPH_IMPL_H_

#include <cstdint>
#include <vector>

#include <boost/graph/compressed_sparse_row_graph.hpp>

namespace meshplan::sim {

using Csr = boost::compressed_sparse_row_graph<boost::directedS, boost::no_property,
                                               boost::no_property, boost::no_property,
                                               uint32_t, uint32_t>;

struct GraphImpl {
  Csr graph;
  std::vector<int32_t> in_degree;  // number of predecessors of each task
};

}  // namespace meshplan::sim

#endif  // MESHPLAN_SIM_GRAPH_IMPL_H_
