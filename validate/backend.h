// File: validate/backend.h
// What meshplan-validate needs from a machine, behind one interface with two implementations:
//   cpu  (cpu_backend.cc): MPI collectives on host buffers, Eigen fp32 GEMMs, memcpy kernels.
//   nccl (nccl_backend.cc): NCCL communicators per mesh group, cuBLAS bf16 GEMMs,
//         cudaMemcpyAsync bandwidth kernels, a compute and a communication stream with events.
// Work is enqueued on stream 0 (compute) or 1 (communication) and ordered across them with
// events, as a training framework orders FSDP prefetch (CUDA semantics; the CPU backend runs
// compute synchronously and communication as non-blocking MPI requests). Collective sizes are
// nccl-tests' S: the whole output of an all-gather, the whole input of a reduce-scatter, the
// buffer of an all-reduce, the whole send buffer of an all-to-all (S/n to each rank of the group,
// its own included; MPI_Alltoall on the CPU, ncclSend/ncclRecv to every peer in one NCCL group
// call). No MPI, CUDA or NCCL type appears here.
#ifndef MESHPLAN_VALIDATE_BACKEND_H_
#define MESHPLAN_VALIDATE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/collectives.h"
#include "costmodel/specs.h"
#include "validate/mesh.h"

namespace meshplan::validate {

inline constexpr int kComputeStream = 0;
inline constexpr int kCommStream = 1;

/// The largest operands the run will ask for, so scratch is allocated once, before timing.
struct Workspace {
  int64_t gemm_a_elems = 0, gemm_b_elems = 0, gemm_c_elems = 0;  // over batch
  double memory_kernel_bytes = 0;  // largest single bandwidth kernel (chunked above a cap)
  double collective_bytes = 0;     // largest S
  double p2p_bytes = 0;            // a pipeline stage-to-stage message
};

/// One pipeline point-to-point operation with a stage neighbour (world rank `peer`). `tag`
/// pairs a send with its receive on the CPU backend (MPI); NCCL has no tags and pairs a pair of
/// ranks' sends and receives in issue order, which the skeleton's programs keep
/// (SkeletonPipeline.P2pGroupsNeitherDeadlockNorReorderUnderRendezvous).
struct P2pOp {
  bool send = true;
  int peer = -1;
  double bytes = 0;
  int tag = 0;
};
inline constexpr int kMaxP2pRecvs = 4;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  /// GEMM element type: "bf16" (cuBLAS) or "fp32" (Eigen).
  virtual std::string_view gemm_dtype() const = 0;

  /// Allocates scratch for `w`; may be called again with a larger workspace.
  virtual void Prepare(const Workspace& w) = 0;

  /// C[m,n] = A[m,k] B[k,n], `batch` independent copies.
  virtual void Gemm(int stream, int64_t m, int64_t n, int64_t k, int64_t batch) = 0;
  /// A copy that moves `bytes` through memory (bytes/2 read, bytes/2 written).
  virtual void MemoryKernel(int stream, double bytes) = 0;
  /// One collective on this rank's group of kind `g`; returns the S actually run (rounded up so
  /// every rank's share is a whole number of `dtype` elements).
  virtual double Collective(int stream, costmodel::Coll op, GroupKind g, double bytes,
                            costmodel::Dtype dtype) = 0;

  /// Pipeline point-to-point: `ops` issued together as one group, as Megatron-LM batches a send
  /// with the receive next to it (core/pipeline_parallel/p2p_communication.py: one
  /// torch.distributed.batch_isend_irecv, i.e. one ncclGroupStart/End). Sends start after the
  /// compute stream's work so far and are complete by Synchronize; the compute stream's later
  /// work waits for every receive of the group. At most kMaxP2pRecvs receives per group.
  /// `blocking`: the call returns only once every send and receive of the group is done and the
  /// device has synchronized, as Megatron's _communicate waits for the batch and calls
  /// torch.cuda.synchronize() (costmodel/pipeline.h BlockingProgram; Workload::pp_p2p_blocking).
  virtual void P2p(const std::vector<P2pOp>& ops, bool blocking) = 0;
  /// An event marking the work enqueued so far on `stream`; `WaitEvent` orders later work on
  /// `stream` after it. Event ids are valid until ResetEvents().
  virtual int RecordEvent(int stream) = 0;
  virtual void WaitEvent(int stream, int event) = 0;
  virtual void ResetEvents() = 0;
  /// Waits for both streams; throws meshplan::Error (runtime) on a device or library error.
  virtual void Synchronize() = 0;

  /// Times work on `stream` (CUDA events on the GPU, MPI_Wtime on the CPU): TimerStop waits for
  /// the work and returns the seconds between the two calls' positions in the stream.
  virtual void TimerStart(int stream) = 0;
  virtual double TimerStop(int stream) = 0;

  /// Host barrier over this rank's group of kind `g` (after Synchronize).
  virtual void GroupBarrier(GroupKind g) = 0;

  /// Device memory the plan predicts (parameters, activations, gathered units), tracked.
  virtual int Alloc(double bytes) = 0;
  virtual void Free(int id) = 0;
  virtual void ResetPeakMemory() = 0;
  /// Peak since ResetPeakMemory of what this rank's process holds on the device, as the plan's
  /// peak counts it: Alloc'd buffers plus (GPU) context, NCCL and library memory; never the
  /// backend's own benchmark scratch.
  virtual double PeakMemoryBytes() = 0;
  /// How PeakMemoryBytes is measured, for the file ("tracked allocations", "cudaMemGetInfo + pool").
  virtual std::string_view peak_memory_source() const = 0;

  /// World ranks in this rank's communicator of kind `g`, as the library reports them.
  virtual std::vector<int> GroupMembers(GroupKind g) = 0;
  /// Runs `op` on fp32 host data through the real communicator (numeric checks): `in` is this
  /// rank's input (S elements for reduce-scatter, all-reduce and all-to-all, S/n for all-gather).
  virtual std::vector<float> CheckedCollective(costmodel::Coll op, GroupKind g,
                                               const std::vector<float>& in) = 0;

  /// Called from the watchdog thread when an operation hangs: aborts communicators so no call
  /// blocks forever (ncclCommAbort). Must be safe to call concurrently with anything.
  virtual void Abort() noexcept = 0;
};

/// REQUIRES MPI is initialised with MPI_COMM_WORLD of mesh.world_size() ranks.
std::unique_ptr<Backend> MakeCpuBackend(const Mesh& mesh, int world_rank);
/// Throws meshplan::Error when this build has no CUDA/NCCL backend.
std::unique_ptr<Backend> MakeNcclBackend(const Mesh& mesh, int world_rank, int local_rank);

}  // namespace meshplan::validate

#endif  // MESHPLAN_VALIDATE_BACKEND_H_
