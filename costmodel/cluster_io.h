// File: costmodel/cluster_io.h
// The cluster file's defaults, declared in one place with their sources (Ramulator 2's
// .default_val() in src/base/param.h): the efficiency and overhead blocks and the link latencies
// a user's file may leave out. ParseClusterJson (spec_io.h) applies them, lists what it applied
// in Cluster::defaulted and reports every problem of a file at once.
// Field reference: data/clusters/README.md; a commented starting file: data/templates/cluster.json.
#ifndef MESHPLAN_COSTMODEL_CLUSTER_IO_H_
#define MESHPLAN_COSTMODEL_CLUSTER_IO_H_

#include <string_view>
#include <vector>

namespace meshplan::costmodel {

struct ClusterDefault {
  std::string_view field;  // JSON path, e.g. "efficiency.gemm_peak_fraction"
  double value;
  std::string_view source;
};

/// Every default, in file order.
const std::vector<ClusterDefault>& ClusterDefaults();

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_CLUSTER_IO_H_
