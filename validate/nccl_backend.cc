// The NCCL backend: one MPI rank per GPU (device = local rank). A world NCCL communicator from
// a unique id broadcast over MPI, split (ncclCommSplit) into the mesh's TP, FSDP and replica
// groups (and, with expert parallelism, its EP and expert-data-parallel groups; an all-to-all is
// a group call of ncclSend/ncclRecv to every peer); bf16 GEMMs with cuBLAS (fp32 accumulation);
// bandwidth kernels as device-to-device cudaMemcpyAsync; a compute and a communication stream
// ordered with events; the plan's buffers from the stream-ordered allocator so its high-water
// mark is the step's peak.
// Waits poll the streams and the communicators' async errors, so a failed or aborted
// communicator (ncclCommAbort from the watchdog) ends a wait with an error, never a hang.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <thread>
#include <vector>

#include "costmodel/error.h"
#include "validate/backend.h"
#include "validate/operands.h"

namespace meshplan::validate {
namespace {

using costmodel::Coll;

constexpr double kMemoryChunkBytes = 256.0 * (1 << 20);

class NcclBackend final : public Backend {
 public:
  NcclBackend(const Mesh& mesh, int rank, int local_rank) : mesh_(mesh), rank_(rank) {
    int devices = 0;
    Cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    if (devices < 1) throw Error(Where("cudaGetDeviceCount"), "no CUDA device visible", ErrorKind::kRuntime);
    device_ = local_rank % devices;
    Cuda(cudaSetDevice(device_), "cudaSetDevice");
    Cuda(cudaStreamCreateWithFlags(&streams_[0], cudaStreamNonBlocking), "cudaStreamCreate");
    Cuda(cudaStreamCreateWithFlags(&streams_[1], cudaStreamNonBlocking), "cudaStreamCreate");
    Cuda(cudaStreamCreateWithFlags(&p2p_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    Cuda(cudaEventCreateWithFlags(&p2p_ready_, cudaEventDisableTiming), "cudaEventCreate");
    Cuda(cudaEventCreateWithFlags(&p2p_done_, cudaEventDisableTiming), "cudaEventCreate");
    Cuda(cudaEventCreate(&timer_[0]), "cudaEventCreate");
    Cuda(cudaEventCreate(&timer_[1]), "cudaEventCreate");
    if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS) {
      throw Error(Where("cublasCreate"), "failed", ErrorKind::kRuntime);
    }
    cublasSetStream(cublas_, streams_[0]);
    cudaMemPool_t pool;
    Cuda(cudaDeviceGetDefaultMemPool(&pool, device_), "cudaDeviceGetDefaultMemPool");
    uint64_t keep = std::numeric_limits<uint64_t>::max();
    Cuda(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");
    pool_ = pool;

    ncclUniqueId id;
    if (rank == 0) Nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    const int world = mesh.world_size();
    Nccl(ncclCommInitRank(&world_comm_, world, id, rank), "ncclCommInitRank");
    for (int g = 0; g < kNumGroupKinds; ++g) {
      const GroupKind kind = static_cast<GroupKind>(g);
      mpi_comms_[g] = MPI_COMM_NULL;
      if (!mesh.has(kind)) continue;  // ep, edp without expert parallelism (on every rank alike)
      const int color = mesh.ColorOf(kind, rank);
      Nccl(ncclCommSplit(world_comm_, color, rank, &comms_[g], nullptr), "ncclCommSplit", kind);
      MPI_Comm_split(MPI_COMM_WORLD, color, rank, &mpi_comms_[g]);
      Nccl(ncclCommCount(comms_[g], &sizes_[g]), "ncclCommCount", kind);
    }
  }

  ~NcclBackend() override {
    if (!aborted_.load()) {
      cudaDeviceSynchronize();
      for (ncclComm_t c : comms_) {
        if (c != nullptr) ncclCommDestroy(c);
      }
      ncclCommDestroy(world_comm_);
    }
    for (auto& [id, b] : buffers_) cudaFree(b.first);
    for (void* p : {a_, b_, c_, copy_src_, copy_dst_, coll_[0], coll_[1], p2p_send_, p2p_recv_}) {
      if (p != nullptr) cudaFree(p);
    }
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    cudaEventDestroy(timer_[0]);
    cudaEventDestroy(timer_[1]);
    cublasDestroy(cublas_);
    cudaEventDestroy(p2p_ready_);
    cudaEventDestroy(p2p_done_);
    cudaStreamDestroy(streams_[0]);
    cudaStreamDestroy(streams_[1]);
    cudaStreamDestroy(p2p_stream_);
    for (MPI_Comm& c : mpi_comms_) {
      if (c != MPI_COMM_NULL) MPI_Comm_free(&c);
    }
  }

  std::string_view name() const override { return "nccl"; }
  std::string_view gemm_dtype() const override { return "bf16"; }
  std::string_view peak_memory_source() const override {
    return "cudaMemGetInfo outside the pool + stream-ordered pool high-water mark";
  }

  void Prepare(const Workspace& w) override {
    // GEMM operands hold random values, as a training step's activations and weights do: on
    // zeros (Grow's memset) a tensor core draws less power and runs faster (validate/operands.h).
    if (Grow(a_, a_bytes_, 2.0 * static_cast<double>(w.gemm_a_elems))) FillRandomBf16(a_, a_bytes_, 1);
    if (Grow(b_, b_bytes_, 2.0 * static_cast<double>(w.gemm_b_elems))) FillRandomBf16(b_, b_bytes_, 2);
    Grow(c_, c_bytes_, 2.0 * static_cast<double>(w.gemm_c_elems));
    const double copy = std::min(w.memory_kernel_bytes / 2.0, kMemoryChunkBytes) + 256;
    double dst_bytes = copy_bytes_;
    Grow(copy_src_, copy_bytes_, copy);
    Grow(copy_dst_, dst_bytes, copy);
    const double coll = 2.0 * (w.collective_bytes + 64.0 * 8 * mesh_.world_size());
    double b0 = coll_bytes_, b1 = coll_bytes_;
    Grow(coll_[0], b0, coll);
    Grow(coll_[1], b1, coll);
    coll_bytes_ = std::max(b0, b1);
    Grow(p2p_send_, p2p_send_bytes_, w.p2p_bytes);
    Grow(p2p_recv_, p2p_recv_bytes_, kMaxP2pRecvs * std::max(w.p2p_bytes, 256.0));
    p2p_bytes_ = std::min(p2p_send_bytes_, p2p_recv_bytes_ / kMaxP2pRecvs);
    Cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }

  void Gemm(int stream, int64_t m, int64_t n, int64_t k, int64_t batch) override {
    cublasSetStream(cublas_, streams_[stream]);
    const float alpha = 1.0f, beta = 0.0f;
    if (std::max({m, n, k}) > INT_MAX) throw Error(Where("cublasGemmStridedBatchedEx"), "dimension exceeds int", ErrorKind::kRuntime);
    const cublasStatus_t st = cublasGemmStridedBatchedEx(
        cublas_, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
        static_cast<int>(k), &alpha, a_, CUDA_R_16BF, static_cast<int>(m), m * k, b_, CUDA_R_16BF,
        static_cast<int>(k), k * n, &beta, c_, CUDA_R_16BF, static_cast<int>(m), m * n,
        static_cast<int>(batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) {
      throw Error(Where("cublasGemmStridedBatchedEx"), "status " + std::to_string(static_cast<int>(st)),
                  ErrorKind::kRuntime);
    }
  }

  void MemoryKernel(int stream, double bytes) override {
    double left = bytes / 2.0;
    const double chunk = copy_bytes_ - 256;
    while (left > 0 && chunk > 0) {
      const size_t n = static_cast<size_t>(std::min(left, chunk));
      Cuda(cudaMemcpyAsync(copy_dst_, copy_src_, n, cudaMemcpyDeviceToDevice, streams_[stream]),
           "cudaMemcpyAsync");
      left -= static_cast<double>(n);
    }
  }

  double Collective(int stream, Coll op, GroupKind g, double bytes, costmodel::Dtype dtype) override {
    const int gi = static_cast<int>(g);
    MESHPLAN_CHECK(comms_[gi] != nullptr);
    const int n = sizes_[gi];
    const bool fp32 = dtype == costmodel::Dtype::kFp32;
    const double esize = fp32 ? 4.0 : 2.0;
    const ncclDataType_t type = fp32 ? ncclFloat : ncclBfloat16;
    const size_t share = static_cast<size_t>(std::ceil(bytes / (esize * n)));
    const double actual = static_cast<double>(share) * n * esize;
    MESHPLAN_CHECK(2 * actual <= coll_bytes_);
    char* send = static_cast<char*>(coll_[stream]);
    char* recv = send + static_cast<size_t>(coll_bytes_ / 2);
    cudaStream_t s = streams_[stream];
    switch (op) {
      case Coll::kAllGather:
        Nccl(ncclAllGather(send, recv, share, type, comms_[gi], s), "ncclAllGather", g);
        break;
      case Coll::kReduceScatter:
        Nccl(ncclReduceScatter(send, recv, share, type, ncclSum, comms_[gi], s), "ncclReduceScatter", g);
        break;
      case Coll::kAllReduce:
        Nccl(ncclAllReduce(send, recv, share * static_cast<size_t>(n), type, ncclSum, comms_[gi], s),
             "ncclAllReduce", g);
        break;
      case Coll::kAllToAll:
        AllToAll(send, recv, share, type, esize, g, s);
        break;
      case Coll::kSendRecv:  // pipeline p2p is not a group collective here
        MESHPLAN_CHECK(false);
        break;
    }
    return actual;
  }

  int RecordEvent(int stream) override {
    if (next_event_ == events_.size()) {
      cudaEvent_t e;
      Cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
      events_.push_back(e);
    }
    Cuda(cudaEventRecord(events_[next_event_], streams_[stream]), "cudaEventRecord");
    return static_cast<int>(next_event_++);
  }
  void WaitEvent(int stream, int event) override {
    Cuda(cudaStreamWaitEvent(streams_[stream], events_[static_cast<size_t>(event)], 0),
         "cudaStreamWaitEvent");
  }
  void ResetEvents() override {
    Synchronize();
    next_event_ = 0;
  }
  // Pipeline point-to-point over the world communicator (peers are world ranks), on a stream of
  // its own so that a receive waiting for its peer holds back neither the FSDP traffic of the
  // communication stream nor the compute stream's work before it: the group waits for the
  // compute stream's work so far (the activations or gradients it sends), and the compute stream
  // waits for the group when it receives. NCCL pairs a pair of ranks' sends and receives in
  // issue order; the skeleton keeps that order on both sides. Blocking: the device synchronized
  // after the group (Megatron's torch.cuda.synchronize()), so nothing later overlaps it.
  void P2p(const std::vector<P2pOp>& ops, bool blocking) override {
    if (ops.empty()) return;
    Cuda(cudaEventRecord(p2p_ready_, streams_[kComputeStream]), "cudaEventRecord");
    Cuda(cudaStreamWaitEvent(p2p_stream_, p2p_ready_, 0), "cudaStreamWaitEvent");
    int recvs = 0;
    Nccl(ncclGroupStart(), "ncclGroupStart", GroupKind::kPp);
    for (const P2pOp& op : ops) {
      if (op.bytes > p2p_bytes_ || op.peer < 0 || op.peer >= mesh_.world_size()) {
        throw Error(Where(op.send ? "ncclSend" : "ncclRecv"),
                    "message of " + std::to_string(op.bytes) + " bytes to rank " + std::to_string(op.peer) +
                        " is outside the prepared workspace",
                    ErrorKind::kRuntime);
      }
      const size_t count = static_cast<size_t>(op.bytes);
      if (op.send) {
        Nccl(ncclSend(p2p_send_, count, ncclInt8, op.peer, world_comm_, p2p_stream_), "ncclSend", GroupKind::kPp);
      } else {
        if (recvs >= kMaxP2pRecvs) throw Error(Where("ncclRecv"), "more receives in one group than prepared", ErrorKind::kRuntime);
        char* into = static_cast<char*>(p2p_recv_) + static_cast<size_t>(recvs++) * static_cast<size_t>(p2p_bytes_);
        Nccl(ncclRecv(into, count, ncclInt8, op.peer, world_comm_, p2p_stream_), "ncclRecv", GroupKind::kPp);
      }
    }
    Nccl(ncclGroupEnd(), "ncclGroupEnd", GroupKind::kPp);
    if (recvs > 0) {
      Cuda(cudaEventRecord(p2p_done_, p2p_stream_), "cudaEventRecord");
      Cuda(cudaStreamWaitEvent(streams_[kComputeStream], p2p_done_, 0), "cudaStreamWaitEvent");
    }
    if (blocking) Synchronize();
  }
  void Synchronize() override {
    for (cudaStream_t s : streams_) Poll([&] { return cudaStreamQuery(s); }, "cudaStreamSynchronize");
    Poll([&] { return cudaStreamQuery(p2p_stream_); }, "cudaStreamSynchronize");
  }

  void TimerStart(int stream) override {
    Cuda(cudaEventRecord(timer_[0], streams_[stream]), "cudaEventRecord");
  }
  double TimerStop(int stream) override {
    Cuda(cudaEventRecord(timer_[1], streams_[stream]), "cudaEventRecord");
    Poll([&] { return cudaEventQuery(timer_[1]); }, "cudaEventSynchronize");
    float ms = 0;
    Cuda(cudaEventElapsedTime(&ms, timer_[0], timer_[1]), "cudaEventElapsedTime");
    return static_cast<double>(ms) * 1e-3;
  }

  void GroupBarrier(GroupKind g) override {
    Synchronize();
    MPI_Barrier(mpi_comms_[static_cast<int>(g)]);
  }

  int Alloc(double bytes) override {
    void* p = nullptr;
    Cuda(cudaMallocAsync(&p, static_cast<size_t>(std::max(1.0, bytes)), streams_[0]), "cudaMallocAsync");
    const int id = next_id_++;
    buffers_[id] = {p, bytes};
    return id;
  }
  void Free(int id) override {
    auto it = buffers_.find(id);
    MESHPLAN_CHECK(it != buffers_.end());
    Cuda(cudaFreeAsync(it->second.first, streams_[0]), "cudaFreeAsync");
    buffers_.erase(it);
  }
  void ResetPeakMemory() override {
    Synchronize();
    uint64_t zero = 0, reserved = 0;
    Cuda(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &zero), "cudaMemPoolSetAttribute");
    Cuda(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved), "cudaMemPoolGetAttribute");
    size_t free = 0, total = 0;
    Cuda(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    const double scratch = a_bytes_ + b_bytes_ + c_bytes_ + 2 * copy_bytes_ + 2 * coll_bytes_;
    outside_pool_ = static_cast<double>(total - free) - static_cast<double>(reserved) - scratch;
  }
  double PeakMemoryBytes() override {
    uint64_t high = 0;
    Cuda(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &high), "cudaMemPoolGetAttribute");
    return std::max(0.0, outside_pool_) + static_cast<double>(high);
  }

  std::vector<int> GroupMembers(GroupKind g) override {
    const int gi = static_cast<int>(g);
    int mpi_size = 0, nccl_rank = -1, mpi_rank = -1;
    MPI_Comm_size(mpi_comms_[gi], &mpi_size);
    MPI_Comm_rank(mpi_comms_[gi], &mpi_rank);
    Nccl(ncclCommUserRank(comms_[gi], &nccl_rank), "ncclCommUserRank", g);
    if (mpi_size != sizes_[gi] || mpi_rank != nccl_rank) {
      throw Error(Where("ncclCommSplit"), "the NCCL " + std::string(ToString(g)) +
                                              " communicator disagrees with MPI's split",
                  ErrorKind::kRuntime);
    }
    std::vector<int> members(static_cast<size_t>(mpi_size));
    MPI_Allgather(&rank_, 1, MPI_INT, members.data(), 1, MPI_INT, mpi_comms_[gi]);
    return members;
  }

  std::vector<float> CheckedCollective(Coll op, GroupKind g, const std::vector<float>& in) override {
    const int gi = static_cast<int>(g);
    const size_t n = static_cast<size_t>(sizes_[gi]);
    const size_t out_elems = op == Coll::kAllGather ? in.size() * n
                             : op == Coll::kReduceScatter ? in.size() / n : in.size();
    float *din = nullptr, *dout = nullptr;
    Cuda(cudaMalloc(&din, in.size() * sizeof(float)), "cudaMalloc");
    Cuda(cudaMalloc(&dout, out_elems * sizeof(float)), "cudaMalloc");
    Cuda(cudaMemcpy(din, in.data(), in.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    cudaStream_t s = streams_[kCommStream];
    switch (op) {
      case Coll::kAllGather:
        Nccl(ncclAllGather(din, dout, in.size(), ncclFloat, comms_[gi], s), "ncclAllGather", g);
        break;
      case Coll::kReduceScatter:
        Nccl(ncclReduceScatter(din, dout, out_elems, ncclFloat, ncclSum, comms_[gi], s), "ncclReduceScatter", g);
        break;
      case Coll::kAllReduce:
        Nccl(ncclAllReduce(din, dout, in.size(), ncclFloat, ncclSum, comms_[gi], s), "ncclAllReduce", g);
        break;
      case Coll::kAllToAll:
        AllToAll(din, dout, in.size() / n, ncclFloat, sizeof(float), g, s);
        break;
      case Coll::kSendRecv:  // pipeline p2p is not a group collective here
        MESHPLAN_CHECK(false);
        break;
    }
    Synchronize();
    std::vector<float> out(out_elems);
    Cuda(cudaMemcpy(out.data(), dout, out_elems * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    cudaFree(din);
    cudaFree(dout);
    return out;
  }

  void Abort() noexcept override {
    if (aborted_.exchange(true)) return;
    for (ncclComm_t c : comms_) {
      if (c != nullptr) ncclCommAbort(c);
    }
    if (world_comm_ != nullptr) ncclCommAbort(world_comm_);
  }

 private:
  std::string Where(const std::string& call) const {
    return "rank " + std::to_string(rank_) + " (GPU " + std::to_string(device_) + "): " + call;
  }
  void Cuda(cudaError_t e, const char* call) const {
    if (e != cudaSuccess) throw Error(Where(call), cudaGetErrorString(e), ErrorKind::kRuntime);
  }
  void Nccl(ncclResult_t r, const char* call, GroupKind g = GroupKind::kTp) const {
    if (r != ncclSuccess) {
      throw Error(Where(call) + " on the " + std::string(ToString(g)) + " group",
                  std::string(ncclGetErrorString(r)) + " (" + ncclGetLastError(nullptr) + ")",
                  ErrorKind::kRuntime);
    }
  }
  /// `count` elements of `esize` bytes from `send` to every rank of the group (its own slice
  /// included) into `recv`, in group order: one ncclSend and one ncclRecv per peer inside a
  /// group call, as ncclAllToAll is built (nccl-tests src/alltoall.cu, NCCL's
  /// docs "Point-to-point communication: all-to-all").
  void AllToAll(const void* send, void* recv, size_t count, ncclDataType_t type, double esize,
                GroupKind g, cudaStream_t s) {
    const int gi = static_cast<int>(g);
    const size_t slice = count * static_cast<size_t>(esize);
    Nccl(ncclGroupStart(), "ncclGroupStart", g);
    for (int peer = 0; peer < sizes_[gi]; ++peer) {
      const size_t off = static_cast<size_t>(peer) * slice;
      Nccl(ncclSend(static_cast<const char*>(send) + off, count, type, peer, comms_[gi], s),
           "ncclSend", g);
      Nccl(ncclRecv(static_cast<char*>(recv) + off, count, type, peer, comms_[gi], s),
           "ncclRecv", g);
    }
    Nccl(ncclGroupEnd(), "ncclGroupEnd", g);
  }
  /// Allocates `p` anew (zeroed) when it holds less than `want` bytes; true when it did.
  bool Grow(void*& p, double& have, double want) {
    if (want <= have && p != nullptr) return false;
    if (p != nullptr) Cuda(cudaFree(p), "cudaFree");
    p = nullptr;
    Cuda(cudaMalloc(&p, static_cast<size_t>(std::max(want, 256.0))), "cudaMalloc");
    Cuda(cudaMemset(p, 0, static_cast<size_t>(std::max(want, 256.0))), "cudaMemset");
    have = std::max(want, 256.0);
    return true;
  }
  /// Fills `bytes` of device memory with bf16 values from N(0, 1) (validate/operands.h): 4 Mi
  /// values made on the host, copied once, then doubled on the device.
  void FillRandomBf16(void* p, double bytes, unsigned seed) {
    const size_t total = static_cast<size_t>(bytes) / 2 * 2;
    const std::vector<uint16_t> host = RandomBf16(std::min<size_t>(total / 2, size_t{1} << 22), seed);
    char* d = static_cast<char*>(p);
    size_t done = host.size() * 2;
    Cuda(cudaMemcpy(d, host.data(), done, cudaMemcpyHostToDevice), "cudaMemcpy");
    while (done < total) {
      const size_t n = std::min(done, total - done);
      Cuda(cudaMemcpy(d + done, d, n, cudaMemcpyDeviceToDevice), "cudaMemcpy");
      done += n;
    }
  }
  /// Waits for `query` to stop answering cudaErrorNotReady, checking every communicator's
  /// asynchronous error and the abort flag on the way.
  template <typename Query>
  void Poll(Query query, const char* what) {
    for (int spins = 0;; ++spins) {
      const cudaError_t e = query();
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) Cuda(e, what);
      if (aborted_.load()) throw Error(Where(what), "communicators aborted", ErrorKind::kRuntime);
      if (spins % 64 == 0) {
        if (world_comm_ != nullptr) {
          ncclResult_t async = ncclSuccess;
          ncclCommGetAsyncError(world_comm_, &async);
          if (async != ncclSuccess && async != ncclInProgress) Nccl(async, "ncclCommGetAsyncError", GroupKind::kPp);
        }
        for (int g = 0; g < kNumGroupKinds; ++g) {
          if (comms_[g] == nullptr) continue;
          ncclResult_t async = ncclSuccess;
          ncclCommGetAsyncError(comms_[g], &async);
          if (async != ncclSuccess && async != ncclInProgress) {
            Nccl(async, "ncclCommGetAsyncError", static_cast<GroupKind>(g));
          }
        }
      }
      std::this_thread::yield();
    }
  }

  Mesh mesh_;
  int rank_;
  int device_ = 0;
  cudaStream_t streams_[2]{};
  cudaStream_t p2p_stream_{};  // pipeline sends and receives (P2p)
  cudaEvent_t p2p_ready_{}, p2p_done_{};
  void *p2p_send_ = nullptr, *p2p_recv_ = nullptr;
  double p2p_send_bytes_ = 0, p2p_recv_bytes_ = 0;
  double p2p_bytes_ = 0;  // one message's room; the receive buffer holds kMaxP2pRecvs of them
  cudaEvent_t timer_[2]{};
  std::vector<cudaEvent_t> events_;
  size_t next_event_ = 0;
  cublasHandle_t cublas_{};
  cudaMemPool_t pool_{};
  double outside_pool_ = 0;
  ncclComm_t world_comm_ = nullptr;
  ncclComm_t comms_[kNumGroupKinds]{};
  MPI_Comm mpi_comms_[kNumGroupKinds]{};
  int sizes_[kNumGroupKinds]{};
  void *a_ = nullptr, *b_ = nullptr, *c_ = nullptr, *copy_src_ = nullptr, *copy_dst_ = nullptr;
  void* coll_[2] = {nullptr, nullptr};
  double a_bytes_ = 0, b_bytes_ = 0, c_bytes_ = 0, copy_bytes_ = 0, coll_bytes_ = 0;
  std::map<int, std::pair<void*, double>> buffers_;
  int next_id_ = 0;
  std::atomic<bool> aborted_{false};
};

}  // namespace

std::unique_ptr<Backend> MakeNcclBackend(const Mesh& mesh, int world_rank, int local_rank) {
  return std::make_unique<NcclBackend>(mesh, world_rank, local_rank);
}

}  // namespace meshplan::validate
