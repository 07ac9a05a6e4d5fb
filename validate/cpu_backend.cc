// The CPU backend: MPI ranks stand in for GPUs. Collectives are MPI's on host buffers (blocking
// on the compute stream, non-blocking MPI_I* requests on the communication stream so FSDP
// prefetch overlaps as far as the MPI library progresses them), GEMMs are Eigen fp32, and
// bandwidth kernels are memcpy. Compute is synchronous, so an event on the compute stream is
// complete when recorded; an event on the communication stream is the set of requests issued
// before it.
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>

#include <Eigen/Core>

#include "costmodel/error.h"
#include "validate/backend.h"

namespace meshplan::validate {
namespace {

using costmodel::Coll;

constexpr int kCommSlots = 4;                       // outstanding requests with their own buffers
constexpr double kMemoryChunkBytes = 64.0 * (1 << 20);  // bandwidth kernels copy in chunks

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Mesh& mesh, int rank) : mesh_(mesh), rank_(rank) {
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    std::fill(std::begin(comms_), std::end(comms_), MPI_COMM_NULL);
    for (int g = 0; g < kNumGroupKinds; ++g) {
      const GroupKind kind = static_cast<GroupKind>(g);
      if (!mesh.has(kind)) continue;  // ep, edp without expert parallelism (on every rank alike)
      Check(MPI_Comm_split(MPI_COMM_WORLD, mesh.ColorOf(kind, rank), rank, &comms_[g]),
            "MPI_Comm_split", kind);
      MPI_Comm_set_errhandler(comms_[g], MPI_ERRORS_RETURN);
      MPI_Comm_size(comms_[g], &sizes_[g]);
    }
  }
  ~CpuBackend() override {
    for (MPI_Request& r : pending_) MPI_Wait(&r, MPI_STATUS_IGNORE);
    for (MPI_Request& r : p2p_pending_) MPI_Wait(&r, MPI_STATUS_IGNORE);
    for (auto& [id, ptr] : buffers_) std::free(ptr.first);
    for (MPI_Comm& c : comms_) {
      if (c != MPI_COMM_NULL) MPI_Comm_free(&c);
    }
  }

  std::string_view name() const override { return "cpu"; }
  std::string_view gemm_dtype() const override { return "fp32"; }
  std::string_view peak_memory_source() const override { return "tracked allocations"; }

  void Prepare(const Workspace& w) override {
    auto grow = [](std::vector<float>& v, double elems) {
      if (static_cast<double>(v.size()) < elems) v.assign(static_cast<size_t>(elems), 1.0f);
    };
    grow(a_, static_cast<double>(w.gemm_a_elems));
    grow(b_, static_cast<double>(w.gemm_b_elems));
    grow(c_, static_cast<double>(w.gemm_c_elems));
    const double copy = std::min(w.memory_kernel_bytes / 2.0, kMemoryChunkBytes);
    if (static_cast<double>(copy_src_.size()) < copy) {
      copy_src_.assign(static_cast<size_t>(copy) + 1, 1);
      copy_dst_.assign(static_cast<size_t>(copy) + 1, 0);
    }
    // Each slot holds a send and a receive buffer of the largest S (+ rounding slack).
    const double slot = w.collective_bytes + 64.0 * 8 * mesh_.world_size();
    for (auto& s : slots_) {
      if (static_cast<double>(s.size()) < 2 * slot) s.assign(static_cast<size_t>(2 * slot), 0);
    }
    slot_bytes_ = std::max(slot_bytes_, slot);
    if (static_cast<double>(p2p_send_.size()) < w.p2p_bytes) {
      p2p_send_.assign(static_cast<size_t>(w.p2p_bytes), 0);
      p2p_recv_.assign(static_cast<size_t>(w.p2p_bytes) * kMaxP2pRecvs, 0);
    }
  }

  // Pipeline messages: MPI_Isend from one send buffer (MPI reads a send buffer concurrently),
  // completed with the step (blocking: with the group); MPI_Irecv into a buffer per receive of
  // the group, waited for before returning (the compute stream is synchronous).
  void P2p(const std::vector<P2pOp>& ops, bool blocking) override {
    std::vector<MPI_Request> recvs;
    const size_t sends_before = p2p_pending_.size();
    for (const P2pOp& op : ops) {
      MESHPLAN_CHECK(op.bytes <= static_cast<double>(p2p_send_.size()) && op.bytes <= 2147483647.0);
      if (op.send) {
        p2p_pending_.emplace_back(MPI_REQUEST_NULL);
        Check(MPI_Isend(p2p_send_.data(), static_cast<int>(op.bytes), MPI_BYTE, op.peer, op.tag,
                        MPI_COMM_WORLD, &p2p_pending_.back()),
              "MPI_Isend to rank " + std::to_string(op.peer), GroupKind::kPp);
      } else {
        MESHPLAN_CHECK(recvs.size() < static_cast<size_t>(kMaxP2pRecvs));
        char* into = p2p_recv_.data() + recvs.size() * p2p_send_.size();
        recvs.emplace_back(MPI_REQUEST_NULL);
        Check(MPI_Irecv(into, static_cast<int>(op.bytes), MPI_BYTE, op.peer, op.tag, MPI_COMM_WORLD,
                        &recvs.back()),
              "MPI_Irecv from rank " + std::to_string(op.peer), GroupKind::kPp);
      }
    }
    for (MPI_Request& r : recvs) Check(MPI_Wait(&r, MPI_STATUS_IGNORE), "MPI_Wait (pipeline receive)", GroupKind::kPp);
    if (blocking) {
      for (size_t i = sends_before; i < p2p_pending_.size(); ++i) {
        Check(MPI_Wait(&p2p_pending_[i], MPI_STATUS_IGNORE), "MPI_Wait (pipeline send)", GroupKind::kPp);
      }
      p2p_pending_.resize(sends_before);
    }
  }

  void Gemm(int, int64_t m, int64_t n, int64_t k, int64_t batch) override {
    MESHPLAN_CHECK(static_cast<int64_t>(a_.size()) >= m * k * batch &&
                   static_cast<int64_t>(b_.size()) >= k * n * batch &&
                   static_cast<int64_t>(c_.size()) >= m * n * batch);
    for (int64_t i = 0; i < batch; ++i) {
      Eigen::Map<const Eigen::MatrixXf> A(a_.data() + i * m * k, m, k);
      Eigen::Map<const Eigen::MatrixXf> B(b_.data() + i * k * n, k, n);
      Eigen::Map<Eigen::MatrixXf> C(c_.data() + i * m * n, m, n);
      C.noalias() = A * B;
    }
  }

  void MemoryKernel(int, double bytes) override {
    double left = bytes / 2.0;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min(left, static_cast<double>(copy_src_.size())));
      if (n == 0) break;
      std::memcpy(copy_dst_.data(), copy_src_.data(), n);
      left -= static_cast<double>(n);
    }
  }

  double Collective(int stream, Coll op, GroupKind g, double bytes,
                    costmodel::Dtype dtype) override {
    const int gi = static_cast<int>(g);
    MESHPLAN_CHECK(comms_[gi] != MPI_COMM_NULL);
    const int n = sizes_[gi];
    // Reductions run in fp32 (MPI has no bf16); the byte count is what is timed. Data movement
    // (all-gather, all-to-all) moves elements of the plan's dtype.
    const bool moves = op == Coll::kAllGather || op == Coll::kAllToAll;
    const double esize = moves ? (dtype == costmodel::Dtype::kFp32 ? 4.0 : 2.0) : 4.0;
    const int64_t share = static_cast<int64_t>(std::ceil(bytes / (esize * n)));  // elements per rank
    const double actual = static_cast<double>(share) * n * esize;
    MESHPLAN_CHECK(actual <= slot_bytes_);
    char* buf;
    MPI_Request* req = nullptr;
    if (stream == kCommStream) {
      if (pending_.size() - done_ >= kCommSlots) Complete(pending_.size() - kCommSlots + 1);
      buf = slots_[issued_ % kCommSlots].data();
      pending_.emplace_back(MPI_REQUEST_NULL);
      req = &pending_.back();
      ++issued_;
    } else {
      buf = slots_[kCommSlots].data();
    }
    char* send = buf;
    char* recv = buf + static_cast<size_t>(slot_bytes_);
    const int count = static_cast<int>(share);
    const int whole = static_cast<int>(share * n);
    const int share_bytes = static_cast<int>(share * static_cast<int64_t>(esize));  // one rank's slice
    MPI_Comm comm = comms_[gi];
    int rc = MPI_SUCCESS;
    const char* call = "";
    switch (op) {
      case Coll::kAllGather:
        call = req ? "MPI_Iallgather" : "MPI_Allgather";
        rc = req ? MPI_Iallgather(send, share_bytes, MPI_BYTE, recv, share_bytes, MPI_BYTE, comm, req)
                 : MPI_Allgather(send, share_bytes, MPI_BYTE, recv, share_bytes, MPI_BYTE, comm);
        break;
      case Coll::kReduceScatter:
        call = req ? "MPI_Ireduce_scatter_block" : "MPI_Reduce_scatter_block";
        rc = req ? MPI_Ireduce_scatter_block(send, recv, count, MPI_FLOAT, MPI_SUM, comm, req)
                 : MPI_Reduce_scatter_block(send, recv, count, MPI_FLOAT, MPI_SUM, comm);
        break;
      case Coll::kAllReduce:
        call = req ? "MPI_Iallreduce" : "MPI_Allreduce";
        rc = req ? MPI_Iallreduce(send, recv, whole, MPI_FLOAT, MPI_SUM, comm, req)
                 : MPI_Allreduce(send, recv, whole, MPI_FLOAT, MPI_SUM, comm);
        break;
      case Coll::kAllToAll:
        // S/n to every rank of the group (its own slice included), as nccl-tests' alltoall.
        call = req ? "MPI_Ialltoall" : "MPI_Alltoall";
        rc = req ? MPI_Ialltoall(send, share_bytes, MPI_BYTE, recv, share_bytes, MPI_BYTE, comm, req)
                 : MPI_Alltoall(send, share_bytes, MPI_BYTE, recv, share_bytes, MPI_BYTE, comm);
        break;
      case Coll::kSendRecv:  // pipeline p2p is not a group collective here
        MESHPLAN_CHECK(false);
        break;
    }
    Check(rc, call, g);
    return actual;
  }

  int RecordEvent(int stream) override {
    // Compute is synchronous: its events are complete (-1). A communication event is the
    // number of requests issued before it.
    return stream == kCommStream ? static_cast<int>(pending_.size()) : -1;
  }
  void WaitEvent(int stream, int event) override {
    if (stream == kComputeStream && event > 0) Complete(static_cast<size_t>(event));
  }
  void ResetEvents() override {
    Complete(pending_.size());
    pending_.clear();
    done_ = 0;
  }
  void Synchronize() override {
    Complete(pending_.size());
    for (MPI_Request& r : p2p_pending_) {
      const int rc = MPI_Wait(&r, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) Check(rc, "MPI_Wait (pipeline send)", GroupKind::kPp);
    }
    p2p_pending_.clear();
  }

  void TimerStart(int) override { t0_ = MPI_Wtime(); }
  double TimerStop(int) override {
    Synchronize();
    return MPI_Wtime() - t0_;
  }
  void GroupBarrier(GroupKind g) override {
    Synchronize();
    Check(MPI_Barrier(comms_[static_cast<int>(g)]), "MPI_Barrier", g);
  }

  int Alloc(double bytes) override {
    void* p = std::malloc(static_cast<size_t>(std::max(1.0, bytes)));
    if (p == nullptr) {
      throw Error("rank " + std::to_string(rank_), "cannot allocate " + std::to_string(bytes) +
                                                       " bytes", ErrorKind::kRuntime);
    }
    const int id = next_id_++;
    buffers_[id] = {p, bytes};
    current_ += bytes;
    peak_ = std::max(peak_, current_);
    return id;
  }
  void Free(int id) override {
    auto it = buffers_.find(id);
    MESHPLAN_CHECK(it != buffers_.end());
    current_ -= it->second.second;
    std::free(it->second.first);
    buffers_.erase(it);
  }
  void ResetPeakMemory() override { peak_ = current_; }
  double PeakMemoryBytes() override { return peak_; }

  std::vector<int> GroupMembers(GroupKind g) override {
    MPI_Group world_group, group;
    MPI_Comm_group(MPI_COMM_WORLD, &world_group);
    MPI_Comm_group(comms_[static_cast<int>(g)], &group);
    const int n = sizes_[static_cast<int>(g)];
    std::vector<int> local(static_cast<size_t>(n)), world(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) local[static_cast<size_t>(i)] = i;
    MPI_Group_translate_ranks(group, n, local.data(), world_group, world.data());
    MPI_Group_free(&group);
    MPI_Group_free(&world_group);
    return world;
  }

  std::vector<float> CheckedCollective(Coll op, GroupKind g, const std::vector<float>& in) override {
    const int gi = static_cast<int>(g);
    const int n = sizes_[gi];
    std::vector<float> out;
    const int count = static_cast<int>(in.size());
    int rc = MPI_SUCCESS;
    switch (op) {
      case Coll::kAllGather:
        out.resize(in.size() * static_cast<size_t>(n));
        rc = MPI_Allgather(in.data(), count, MPI_FLOAT, out.data(), count, MPI_FLOAT, comms_[gi]);
        break;
      case Coll::kReduceScatter:
        out.resize(in.size() / static_cast<size_t>(n));
        rc = MPI_Reduce_scatter_block(in.data(), out.data(), count / n, MPI_FLOAT, MPI_SUM, comms_[gi]);
        break;
      case Coll::kAllReduce:
        out.resize(in.size());
        rc = MPI_Allreduce(in.data(), out.data(), count, MPI_FLOAT, MPI_SUM, comms_[gi]);
        break;
      case Coll::kAllToAll:  // in.size() / n elements to each rank, in group order
        out.resize(in.size());
        rc = MPI_Alltoall(in.data(), count / n, MPI_FLOAT, out.data(), count / n, MPI_FLOAT,
                          comms_[gi]);
        break;
      case Coll::kSendRecv:  // pipeline p2p is not a group collective here
        MESHPLAN_CHECK(false);
        break;
    }
    Check(rc, "checked " + std::string(costmodel::ToString(op)), g);
    return out;
  }

  void Abort() noexcept override {}  // MPI_Abort, called next by the watchdog, ends everything

 private:
  void Check(int rc, const std::string& call, GroupKind g) const {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw Error("rank " + std::to_string(rank_) + ": " + call + " on the " +
                    std::string(ToString(g)) + " group",
                std::string(msg, static_cast<size_t>(len)), ErrorKind::kRuntime);
  }
  /// Waits for the first `upto` communication requests.
  void Complete(size_t upto) {
    for (; done_ < upto && done_ < pending_.size(); ++done_) {
      MPI_Status st;
      const int rc = MPI_Wait(&pending_[done_], &st);
      if (rc != MPI_SUCCESS) Check(rc, "MPI_Wait (communication stream)", GroupKind::kFsdp);
    }
  }

  Mesh mesh_;
  int rank_;
  MPI_Comm comms_[kNumGroupKinds]{};  // MPI_COMM_NULL where the mesh has no such group
  int sizes_[kNumGroupKinds]{};
  std::vector<float> a_, b_, c_;
  std::vector<char> copy_src_, copy_dst_;
  std::vector<char> slots_[kCommSlots + 1];
  double slot_bytes_ = 0;
  std::deque<MPI_Request> pending_;  // deque: pointers stay valid as it grows
  std::deque<MPI_Request> p2p_pending_;
  std::vector<char> p2p_send_, p2p_recv_;
  size_t done_ = 0;
  size_t issued_ = 0;
  double t0_ = 0;
  std::map<int, std::pair<void*, double>> buffers_;
  int next_id_ = 0;
  double current_ = 0, peak_ = 0;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(const Mesh& mesh, int world_rank) {
  return std::make_unique<CpuBackend>(mesh, world_rank);
}

}  // namespace meshplan::validate
