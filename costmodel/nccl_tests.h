// File: costmodel/nccl_tests.h
// Parser for the performance tables nccl-tests prints (all_reduce_perf, all_gather_perf,
// reduce_scatter_perf, alltoall_perf, sendrecv_perf), as published: with mpirun --tag-output
// and srun -l prefixes, foreign lines inside the table, old builds without the root column,
// N/A in #wrong, size-0 rows (skipped). The rank count is inferred from busbw / algbw, which
// nccl-tests computes exactly (doc/PERFORMANCE.md), not from the header.
#ifndef MESHPLAN_COSTMODEL_NCCL_TESTS_H_
#define MESHPLAN_COSTMODEL_NCCL_TESTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshplan::costmodel {

enum class NcclTestOp { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kSendRecv };
std::string_view ToString(NcclTestOp op);

struct NcclTestRow {
  int line = 0;           // 1-based line in the log
  int64_t size_bytes = 0; // nccl-tests' S
  int64_t count = 0;
  std::string type;
  double time_us = 0, algbw_GBps = 0, busbw_GBps = 0;     // out-of-place
  double ip_time_us = 0, ip_algbw_GBps = 0, ip_busbw_GBps = 0;  // in-place
};

/// Most data rows ParseNcclTestLog reads from one log, and (tools/inputs.cc) from all the logs of
/// one command together. A real log has 20 to 60; the collective fit spends about 0.1 ms per row,
/// so this keeps calibrate and accuracy within seconds.
inline constexpr int64_t kMaxNcclTestRows = 20'000;

struct NcclTestLog {
  NcclTestOp op = NcclTestOp::kAllReduce;
  int64_t ranks = 0;  // inferred from busbw / algbw (0 when no row is precise enough)
  // GPUs each thread drives (the header's "nGpus N", nccl-tests -g N; 1 when not printed): with
  // more than one, a call's launches are serialised in one thread, which training never does.
  int64_t gpus_per_thread = 1;
  // The highest rank the header's "#  Rank  N Group ..." lines list, plus one (0: none listed;
  // logs may elide some, so it bounds the run's ranks from below).
  int64_t listed_ranks = 0;
  // What those Rank lines say of where the ranks ran ("... on <host> device <d> [bus] <name>"):
  // how many hosts, the most ranks one host lists, that host, and each device name once.
  int64_t listed_hosts = 0;
  int64_t most_ranks_on_a_host = 0;
  std::string busiest_host;
  std::vector<std::string> device_names;
  std::vector<NcclTestRow> rows;
};

/// nccl-tests' busbw / algbw for `op` over `ranks` (the one place these factors live for logs).
double NcclTestBusBwFactor(NcclTestOp op, int64_t ranks);

/// The collective an nccl-tests name gives ("all_reduce", "alltoall", "sendrecv_perf", ...), or
/// nullopt when it names none.
std::optional<NcclTestOp> NcclTestOpFromName(std::string_view name);
/// The collective the log's own "# Collective test starting: X_perf" line names, if it has one.
std::optional<NcclTestOp> NcclTestOpFromHeader(std::string_view text);

/// Parses a log. `op` comes from the caller when known; otherwise from the log's
/// "Collective test starting: X_perf" line or the origin's file name. Throws Error (exit 2)
/// naming origin and line for truncated or foreign input.
NcclTestLog ParseNcclTestLog(std::string_view text, std::string_view origin,
                             std::optional<NcclTestOp> op = std::nullopt);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_NCCL_TESTS_H_
