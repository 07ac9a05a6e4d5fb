#include "validate/runner.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "costmodel/collectives.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/output_file.h"
#include "costmodel/plan_file.h"
#include "costmodel/spec_io.h"
#include "validate/backend.h"
#include "validate/environment.h"
#include "validate/mesh.h"
#include "validate/skeleton.h"

#ifndef MESHPLAN_VERSION
#error "MESHPLAN_VERSION must be defined by the build"
#endif

namespace meshplan::validate {
namespace {

using costmodel::Coll;
using costmodel::Dtype;
using nlohmann::json;

constexpr int kMeasurementSchemaVersion = 1;

struct Options {
  std::string plan_path;
  std::string out_path = "measurements.json";
  std::string backend;  // empty: nccl when built, else cpu
  int64_t layout_index = 0;
  double min_bytes = 1024;
  double max_bytes = 0;  // 0: 1 GiB (nccl) or 64 MiB (cpu)
  int warmup = 2;
  int iters = 10;
  int warmup_steps = 2;
  int steps = 5;
  double sustain_s = 0;  // --sustain-s: the layer's GEMMs back to back for this long (0: not run)
  double timeout_s = 60;
  std::string inject_fault;  // hidden: hang|exit|error:rank=R:op=OP
  bool env = false;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Element-wise max over all ranks.
std::vector<double> MaxOverRanks(std::vector<double> v) {
  MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return v;
}

/// Fails on NaN or infinity anywhere in `j`, naming the path.
void CheckFinite(const json& j, const std::string& path) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) {
    throw Error(path, "is not finite: refusing to write a measurement file with NaN/Inf",
                ErrorKind::kRuntime);
  }
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) CheckFinite(*it, path + "." + it.key());
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) CheckFinite(j[i], path + "[" + std::to_string(i) + "]");
  }
}

/// temp file + rename (costmodel/output_file.h): a reader sees the previous complete file or
/// the new one, never half; a device or FIFO is written through.
void WriteAtomic(const std::string& path, const std::string& text) {
  costmodel::WriteOutputFiles({{path, text, "--out"}});
}

// Error reports from the other ranks to rank 0, the only writer, on a communicator of their own.
constexpr int kTagError = 7101, kTagAck = 7102;

/// The measurement document, owned by rank 0; the watchdog may write it from its thread.
/// The first failure of the job, on whichever rank, is the `error` block: another rank sends its
/// error to rank 0 (MPI_THREAD_MULTIPLE), whose watchdog thread writes it and acknowledges.
class Document {
 public:
  Document(std::string path, bool writer, MPI_Comm reports, bool can_report)
      : path_(std::move(path)), writer_(writer), reports_(reports), can_report_(can_report) {}
  template <typename F>
  void Update(F f) {
    std::lock_guard<std::mutex> lock(mu_);
    f(doc_);
  }
  /// Writes the current document (rank 0); `error` adds an `error` block first unless one is
  /// there (the first failure explains the rest). On another rank, `error` goes to rank 0, and
  /// this waits (up to 3 s) until rank 0 has written it.
  void Write(const json* error = nullptr) {
    if (!writer_) {
      if (error && can_report_) SendToWriter(*error);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (error) {
      if (doc_.contains("error")) return;
      doc_["error"] = *error;
      doc_["complete"] = false;
    }
    CheckFinite(doc_, "measurements");
    // replace: a path that is not UTF-8 (--plan) is recorded with U+FFFD, never a throw.
    WriteAtomic(path_, doc_.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  }
  /// Rank 0, from the watchdog's thread: writes an error another rank sent, and acknowledges it.
  void ReceiveReports() {
    if (!writer_ || !can_report_) return;
    std::lock_guard<std::mutex> lock(mpi_mu_);
    if (closed_) return;
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, kTagError, reports_, &flag, &st);
    if (!flag) return;
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    std::string text(static_cast<size_t>(std::max(n, 0)), '\0');
    MPI_Recv(text.data(), n, MPI_CHAR, st.MPI_SOURCE, kTagError, reports_, MPI_STATUS_IGNORE);
    try {
      const json err = json::parse(text);
      Write(&err);
    } catch (...) {
    }
    int ack = 1;
    MPI_Send(&ack, 1, MPI_INT, st.MPI_SOURCE, kTagAck, reports_);
  }
  /// No more MPI calls from the watchdog's thread (before MPI_Finalize).
  void Close() {
    std::lock_guard<std::mutex> lock(mpi_mu_);
    closed_ = true;
  }

 private:
  void SendToWriter(const json& err) {
    std::lock_guard<std::mutex> lock(mpi_mu_);
    if (closed_) return;
    const std::string text = err.dump(-1, ' ', false, json::error_handler_t::replace);
    MPI_Request req[2];
    int ack = 0;
    MPI_Isend(text.data(), static_cast<int>(text.size()), MPI_CHAR, 0, kTagError, reports_, &req[0]);
    MPI_Irecv(&ack, 1, MPI_INT, 0, kTagAck, reports_, &req[1]);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    int done = 0;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      MPI_Testall(2, req, &done, MPI_STATUSES_IGNORE);
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Not acknowledged (rank 0 is gone or stuck without its watchdog): the job is aborted next.
  }

  std::mutex mu_;
  std::mutex mpi_mu_;  // MPI calls of the report channel; taken before mu_
  json doc_;
  std::string path_;
  bool writer_;
  MPI_Comm reports_;
  bool can_report_;
  bool closed_ = false;
};

/// Ends the job when one operation runs past the timeout: prints which rank and operation,
/// aborts the communicators, records the error in the partial file (rank 0), MPI_Abort.
class Watchdog {
 public:
  Watchdog(int rank, std::string host, double timeout_s, Document& doc)
      : rank_(rank), host_(std::move(host)), timeout_s_(timeout_s), doc_(doc),
        thread_([this] { Loop(); }) {}
  ~Watchdog() { Stop(); }
  /// Ends the watchdog's thread (idempotent).
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void SetBackend(Backend* b) { backend_.store(b); }
  void Begin(std::string label) {
    std::lock_guard<std::mutex> lock(mu_);
    label_ = std::move(label);
    start_ = std::chrono::steady_clock::now();
    active_ = true;
  }
  void Idle() {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = false;
  }
  std::string label() {
    std::lock_guard<std::mutex> lock(mu_);
    return label_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      if (stop_) continue;
      lock.unlock();
      doc_.ReceiveReports();  // rank 0: another rank's failure, written while this rank waits
      lock.lock();
      if (stop_ || !active_) continue;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      if (s < timeout_s_) continue;
      const std::string label = label_;
      lock.unlock();
      Fire(label);
    }
  }
  [[noreturn]] void Fire(const std::string& label) {
    char msg[1024];
    std::snprintf(msg, sizeof msg,
                  "meshplan-validate: rank %d (%s): timeout: %s did not finish within %g s; "
                  "aborting the job",
                  rank_, host_.c_str(), label.c_str(), timeout_s_);
    std::fprintf(stderr, "%s\n", msg);
    std::fflush(stderr);
    if (Backend* b = backend_.load()) b->Abort();
    try {
      const json err = {{"rank", rank_}, {"operation", label}, {"reason", "timeout"}, {"message", msg}};
      doc_.Write(&err);
    } catch (...) {
    }
    // Every stuck rank's watchdog fires within a poll of the first: a short grace lets them
    // all say where they are (the rank that hung among them) before MPI_Abort kills the job.
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  int rank_;
  std::string host_;
  double timeout_s_;
  Document& doc_;
  std::atomic<Backend*> backend_{nullptr};
  std::mutex mu_;
  std::condition_variable cv_;
  std::string label_ = "start-up";
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool active_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members it reads
};

/// --inject-fault hang|exit|error:rank=R:op=OP (tests only).
struct Fault {
  std::string kind;
  int rank = -1;
  std::string op;
};

Fault ParseFault(const std::string& text) {
  Fault f;
  if (text.empty()) return f;
  const auto c1 = text.find(':'), c2 = text.find(':', c1 == std::string::npos ? 0 : c1 + 1);
  if (c1 == std::string::npos || c2 == std::string::npos) {
    throw Error("--inject-fault", "expected KIND:rank=R:op=OP, got '" + text + "'");
  }
  f.kind = text.substr(0, c1);
  const std::string r = text.substr(c1 + 1, c2 - c1 - 1), o = text.substr(c2 + 1);
  if ((f.kind != "hang" && f.kind != "exit" && f.kind != "error") || r.rfind("rank=", 0) != 0 ||
      o.rfind("op=", 0) != 0) {
    throw Error("--inject-fault", "expected hang|exit|error:rank=R:op=OP, got '" + text + "'");
  }
  f.rank = std::atoi(r.c_str() + 5);
  f.op = o.substr(3);
  return f;
}

/// The observer every timed operation reports to: watchdog labels and fault injection.
class Observer final : public OpObserver {
 public:
  Observer(Watchdog& w, int rank, Fault f) : w_(w), rank_(rank), fault_(std::move(f)) {}
  void OnOp(std::string_view op, std::string_view what) override {
    w_.Begin(std::string(op) + " (" + std::string(what) + ")");
    if (fault_.rank != rank_ || fault_.op != op) return;
    const std::string label = std::string(op) + " (" + std::string(what) + ")";
    if (fault_.kind == "hang") {
      std::fprintf(stderr, "meshplan-validate: rank %d: injected hang in %s\n", rank_, label.c_str());
      std::fflush(stderr);
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (fault_.kind == "exit") {
      std::fprintf(stderr, "meshplan-validate: rank %d: injected exit in %s\n", rank_, label.c_str());
      std::fflush(stderr);
      std::_Exit(3);
    }
    throw Error("rank " + std::to_string(rank_) + ": " + label, "injected error", ErrorKind::kRuntime);
  }

 private:
  Watchdog& w_;
  int rank_;
  Fault fault_;
};

std::string HostName() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

/// All ranks' hostnames, in rank order.
std::vector<std::string> GatherHostnames(const std::string& mine, int size) {
  char buf[256] = {0};
  std::snprintf(buf, sizeof buf, "%s", mine.c_str());
  std::vector<char> all(256 * static_cast<size_t>(size));
  MPI_Allgather(buf, 256, MPI_CHAR, all.data(), 256, MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; r < size; ++r) out.emplace_back(all.data() + 256 * r);
  return out;
}

/// The group one of the evaluator's collectives runs on: the routed experts' share of the FSDP
/// traffic over the expert-data-parallel group (fsdp x cp / ep ranks, fewer than the shard
/// group's), the expert-parallel all-to-alls over the EP group and its all-gather /
/// reduce-scatter of the routed copies over TP (experts.h).
GroupKind KindOf(const costmodel::CollectiveUse& u, const costmodel::Layout& l) {
  switch (u.purpose) {
    case costmodel::Purpose::kTp: return GroupKind::kTp;
    case costmodel::Purpose::kFsdpParamGather:
    case costmodel::Purpose::kFsdpGradReduce:
      return u.group.ranks == l.shard() ? GroupKind::kFsdp : GroupKind::kEdp;
    case costmodel::Purpose::kDpGradReduce: return GroupKind::kReplicate;
    case costmodel::Purpose::kTiedGradReduce: return GroupKind::kEmbedding;
    case costmodel::Purpose::kEpDispatch:
    case costmodel::Purpose::kEpCombine: return u.op == Coll::kAllToAll ? GroupKind::kEp : GroupKind::kTp;
    case costmodel::Purpose::kPpP2p: break;  // executed as sends, not a group sweep
    case costmodel::Purpose::kCpKv: break;   // refused with the plan (cp > 1 not executed)
  }
  MESHPLAN_CHECK(false && "a purpose without a group sweep");
  return GroupKind::kTp;
}

struct Context {
  explicit Context(const Options& opts) : o(opts) {}
  const Options& o;
  int rank = 0, size = 0;
  costmodel::PlanSpec plan;
  costmodel::Evaluation eval;
  Mesh mesh;
  StepPlan step;
  std::vector<std::string> hosts;
  Backend* b = nullptr;
  Observer* obs = nullptr;
  Watchdog* dog = nullptr;
  Document* doc = nullptr;
  double gemm_burst_pass_s = 0;  // the layer's GEMMs, each as the microbenchmarks timed it
};

/// Element-wise max over all ranks, under the watchdog: a rank that never arrives is a hang.
std::vector<double> WorldMax(Context& c, const std::string& what, std::vector<double> v) {
  c.dog->Begin("waiting for all ranks to finish the " + what);
  v = MaxOverRanks(std::move(v));
  c.dog->Idle();
  return v;
}

int NodesOf(const Context& c, const std::vector<int>& group) {
  std::set<std::string> nodes;
  for (int r : group) nodes.insert(c.hosts[static_cast<size_t>(r)]);
  return static_cast<int>(nodes.size());
}

/// Whether any group of kind `g` has two ranks or more: then every rank takes part in the
/// kind's world-wide steps, a rank in a group of one (the embedding groups' middle stages) with
/// zero entries, so that the lists the ranks reduce line up.
bool AnyGroupOfTwo(const Mesh& m, GroupKind g) {
  for (const auto& group : m.groups(g)) {
    if (group.size() >= 2) return true;
  }
  return false;
}

/// The collectives a kind of group runs: the EP group the all-to-alls of the token exchange,
/// the embedding group its gradient all-reduce, the others reductions and gathers.
std::vector<Coll> OpsOf(GroupKind g) {
  if (g == GroupKind::kEp) return {Coll::kAllToAll};
  if (g == GroupKind::kEmbedding) return {Coll::kAllReduce};
  return {Coll::kAllReduce, Coll::kReduceScatter, Coll::kAllGather};
}

// ---------------------------------------------------------------------------------------------
// Phase 0: communicators and numeric checks.
void CheckMeshAndReductions(Context& c) {
  bool mesh_ok = true;
  for (int g = 0; g < kNumGroupKinds; ++g) {
    const GroupKind kind = static_cast<GroupKind>(g);
    if (!c.mesh.has(kind)) continue;
    c.obs->OnOp("check", "membership of the " + std::string(ToString(kind)) + " communicator");
    if (c.b->GroupMembers(kind) != c.mesh.GroupOf(kind, c.rank)) mesh_ok = false;
  }
  // Known integer-valued fp32 inputs: every sum is exact, so any difference is an error.
  double max_err = 0;
  std::vector<double> errors;
  json details = json::array();
  for (int g = 0; g < kNumGroupKinds; ++g) {
    const GroupKind kind = static_cast<GroupKind>(g);
    if (!c.mesh.has(kind)) continue;
    const std::vector<int>& members = c.mesh.GroupOf(kind, c.rank);
    const size_t n = members.size();
    if (!AnyGroupOfTwo(c.mesh, kind)) continue;
    size_t pos = 0;
    while (members[pos] != c.rank) ++pos;
    auto value = [](int rank, size_t i) { return static_cast<float>((rank + 1) * static_cast<int>(i % 13 + 1)); };
    for (size_t elems : {n * 8, n * 65536}) {
      for (Coll op : OpsOf(kind)) {
        if (n < 2) {  // a group of one: nothing to check, a zero entry in the lists
          errors.push_back(0.0);
          details.push_back({{"op", costmodel::ToString(op)}, {"purpose", ToString(kind)}, {"ranks", n},
                             {"elements", elems}});
          continue;
        }
        const size_t in_elems = op == Coll::kAllGather ? elems / n : elems;
        std::vector<float> in(in_elems);
        for (size_t i = 0; i < in_elems; ++i) in[i] = value(c.rank, i);
        c.obs->OnOp(costmodel::ToString(op), "numeric check on the " + std::string(ToString(kind)) + " group");
        const std::vector<float> out = c.b->CheckedCollective(op, kind, in);
        double err = 0;
        auto sum_at = [&](size_t i) {
          double s = 0;
          for (int r : members) s += value(r, i);
          return s;
        };
        if (op == Coll::kAllReduce) {
          for (size_t i = 0; i < elems; ++i) err = std::max(err, std::fabs(out[i] - sum_at(i)));
        } else if (op == Coll::kReduceScatter) {
          const size_t cnt = elems / n;
          for (size_t i = 0; i < cnt; ++i) err = std::max(err, std::fabs(out[i] - sum_at(pos * cnt + i)));
        } else if (op == Coll::kAllToAll) {
          // Slice j of the output is member j's slice for this rank (position pos).
          const size_t cnt = elems / n;
          for (size_t j = 0; j < n; ++j) {
            for (size_t i = 0; i < cnt; ++i) {
              const double want = value(members[j], pos * cnt + i);
              err = std::max(err, std::fabs(static_cast<double>(out[j * cnt + i]) - want));
            }
          }
        } else {
          const size_t cnt = elems / n;
          for (size_t j = 0; j < n; ++j) {
            for (size_t i = 0; i < cnt; ++i) {
              err = std::max(err, std::fabs(static_cast<double>(out[j * cnt + i]) - value(members[j], i)));
            }
          }
        }
        errors.push_back(err);
        details.push_back({{"op", costmodel::ToString(op)}, {"purpose", ToString(kind)},
                           {"ranks", n}, {"elements", elems}});
      }
    }
  }
  // Groups of one kind have the same shape on every rank (or are groups of one, with zero
  // entries), so the lists line up.
  errors = WorldMax(c, "numeric checks", errors);
  for (size_t i = 0; i < errors.size(); ++i) {
    max_err = std::max(max_err, errors[i]);
    details[i]["max_abs_error"] = errors[i];
    details[i]["ok"] = errors[i] == 0;
  }
  int ok = mesh_ok ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  c.dog->Idle();
  c.doc->Update([&](json& d) {
    d["checks"] = {{"mesh_ok", ok == 1}, {"reductions_ok", max_err == 0}, {"max_abs_error", max_err},
                   {"reductions", details}};
  });
  c.doc->Write();
  if (!ok) throw Error("rank " + std::to_string(c.rank), "communicator membership differs from the plan's mesh", ErrorKind::kRuntime);
}

// ---------------------------------------------------------------------------------------------
// Phase 1: collective sweeps on the plan's groups.
/// A group's sweep: S doubling from --min-bytes up to the first at or above the plan's largest
/// message on the group, none above `max_bytes`.
std::vector<double> SweepSizes(double min_bytes, double max_bytes, double largest) {
  std::vector<double> out;
  for (double s = min_bytes; s <= max_bytes; s *= 2) {
    out.push_back(s);
    if (s >= largest) break;
  }
  return out;
}

void SweepCollectives(Context& c, double max_bytes) {
  json rows = json::array();
  json skipped = json::array();
  for (int g = 0; g < kNumGroupKinds; ++g) {
    const GroupKind kind = static_cast<GroupKind>(g);
    if (!c.mesh.has(kind)) continue;
    const std::vector<int>& group = c.mesh.GroupOf(kind, c.rank);
    const int n = static_cast<int>(group.size());
    if (!AnyGroupOfTwo(c.mesh, kind)) continue;
    // The plan's messages on this kind of group, by op.
    std::map<Coll, std::set<double>> plan_sizes;
    double largest = 0;
    for (int i = 0; i < c.eval.num_collectives; ++i) {
      const auto& u = c.eval.collectives[static_cast<size_t>(i)];
      if (u.purpose == costmodel::Purpose::kPpP2p || KindOf(u, c.plan.layout) != kind) continue;
      plan_sizes[u.op].insert(u.bytes);
      largest = std::max(largest, u.bytes);
    }
    // The EP group carries the token exchange's all-to-alls (dispatch and combine: one size),
    // the embedding group its gradient all-reduce.
    std::vector<Coll> ops = OpsOf(kind);
    std::reverse(ops.begin(), ops.end());  // gathers first
    for (Coll op : ops) {
      const Dtype dt = op == Coll::kAllGather || op == Coll::kAllToAll || kind == GroupKind::kTp
                           ? Dtype::kBf16 : c.plan.workload.reduce_dtype;
      std::vector<std::pair<double, bool>> sizes;  // (S, from the plan)
      for (double s : SweepSizes(c.o.min_bytes, max_bytes, largest)) sizes.push_back({s, false});
      for (double s : plan_sizes[op]) {
        if (s <= max_bytes) {
          sizes.push_back({s, true});
        } else {
          skipped.push_back({{"op", costmodel::ToString(op)}, {"purpose", ToString(kind)}, {"bytes", s},
                             {"reason", "larger than --max-bytes"}});
        }
      }
      std::sort(sizes.begin(), sizes.end());
      std::vector<double> medians, actual;
      for (const auto& [bytes, from_plan] : sizes) {
        if (n < 2) {  // a group of one times nothing: zero entries for the world-wide maximum
          medians.push_back(0.0);
          actual.push_back(0.0);
          continue;
        }
        std::vector<double> times;
        const std::string what = std::string(ToString(kind)) + " group of " + std::to_string(n) +
                                 " ranks, " + std::to_string(static_cast<int64_t>(bytes)) + " bytes";
        double s_run = 0;
        for (int it = 0; it < c.o.warmup + c.o.iters; ++it) {
          c.obs->OnOp("barrier", what);
          c.b->GroupBarrier(kind);
          c.obs->OnOp(costmodel::ToString(op), what);
          c.b->TimerStart(kComputeStream);
          s_run = c.b->Collective(kComputeStream, op, kind, bytes, dt);
          const double t = c.b->TimerStop(kComputeStream);
          if (it >= c.o.warmup) times.push_back(t);
        }
        medians.push_back(Median(times));
        actual.push_back(s_run);
      }
      const std::vector<double> worst = WorldMax(c, "collective sweep", medians);
      for (size_t i = 0; i < sizes.size(); ++i) {
        const double t = std::max(worst[i], 1e-9);
        const double algbw = actual[i] / t / 1e9;
        rows.push_back({{"op", costmodel::ToString(op)}, {"purpose", ToString(kind)}, {"ranks", n},
                        {"nodes", NodesOf(c, group)}, {"bytes", actual[i]},
                        {"requested_bytes", sizes[i].first}, {"from_plan", sizes[i].second},
                        {"dtype", costmodel::ToString(dt)}, {"time_s", worst[i]},
                        {"algbw_GBps", algbw},
                        {"busbw_GBps", algbw * costmodel::BusBwFactor(op, n)},
                        {"iterations", c.o.iters}});
      }
    }
  }
  c.doc->Update([&](json& d) {
    d["collectives"] = rows;
    d["collectives_skipped"] = skipped;
  });
  c.doc->Write();
}

// ---------------------------------------------------------------------------------------------
// Phase 1b: stage-to-stage sends of a pipeline plan, as nccl-tests' sendrecv runs them: every
// rank sends S bytes to the next stage and receives S from the previous one at once (a ring
// over the stages; two stages exchange). Sizes double from --min-bytes to the plan's message,
// which is measured too. Written as `p2p[]` (op send_recv, purpose pp_p2p; busbw = algbw).
void SweepPipelineSends(Context& c, double max_bytes) {
  if (c.step.pp <= 1) return;
  constexpr int kSweepTag = 32000;  // above the step's tags (2 x virtual stages)
  const std::vector<int>& stages = c.mesh.GroupOf(GroupKind::kPp, c.rank);
  std::vector<std::pair<double, bool>> sizes;
  for (double s = c.o.min_bytes; s <= max_bytes && s < c.step.p2p_bytes; s *= 2) sizes.push_back({s, false});
  json skipped = json::array();
  if (c.step.p2p_bytes <= max_bytes) {
    sizes.push_back({c.step.p2p_bytes, true});
  } else {
    skipped.push_back({{"op", "send_recv"}, {"purpose", "pp_p2p"}, {"bytes", c.step.p2p_bytes},
                       {"reason", "larger than --max-bytes"}});
  }
  std::vector<double> medians;
  for (const auto& [bytes, from_plan] : sizes) {
    std::vector<double> times;
    const std::string what = "pipeline send/recv of " + std::to_string(static_cast<int64_t>(bytes)) + " bytes";
    for (int it = 0; it < c.o.warmup + c.o.iters; ++it) {
      c.obs->OnOp("barrier", what);
      c.b->Synchronize();
      MPI_Barrier(MPI_COMM_WORLD);
      c.obs->OnOp("send", what);
      c.b->TimerStart(kComputeStream);
      c.b->P2p({P2pOp{true, c.step.next_rank, bytes, kSweepTag}, P2pOp{false, c.step.prev_rank, bytes, kSweepTag}},
               /*blocking=*/false);
      const double t = c.b->TimerStop(kComputeStream);
      if (it >= c.o.warmup) times.push_back(t);
    }
    medians.push_back(Median(times));
  }
  const std::vector<double> worst = WorldMax(c, "pipeline send/recv sweep", medians);
  json rows = json::array();
  for (size_t i = 0; i < sizes.size(); ++i) {
    const double t = std::max(worst[i], 1e-9);
    const double algbw = sizes[i].first / t / 1e9;
    rows.push_back({{"op", "send_recv"}, {"purpose", "pp_p2p"}, {"ranks", stages.size()},
                    {"nodes", NodesOf(c, stages)}, {"bytes", sizes[i].first},
                    {"from_plan", sizes[i].second}, {"time_s", worst[i]}, {"algbw_GBps", algbw},
                    {"busbw_GBps", algbw}, {"iterations", c.o.iters}});
  }
  c.doc->Update([&](json& d) {
    d["p2p"] = rows;
    d["p2p_skipped"] = skipped;
  });
  c.doc->Write();
}

// ---------------------------------------------------------------------------------------------
// Phase 2: GEMM, attention and bandwidth microbenchmarks.
// Kernels are timed as the step runs them: every rank at once (a world barrier before each
// iteration) and in blocks of repeats lasting >= 10 ms. Ranks that share cores (the CPU backend
// oversubscribed, as in CI) then measure their contended speed over several scheduler time
// slices, not a lucky slice with a core to themselves (which made the step 2x its parts).
template <typename F>
double TimeMedian(Context& c, F body) {
  c.b->TimerStart(kComputeStream);
  body();
  const double once = std::max(c.b->TimerStop(kComputeStream), 1e-9);
  int reps = static_cast<int>(std::clamp(std::ceil(0.01 / once), 1.0, 1000.0));
  MPI_Allreduce(MPI_IN_PLACE, &reps, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  std::vector<double> times;
  for (int it = 0; it < c.o.warmup + c.o.iters; ++it) {
    MPI_Barrier(MPI_COMM_WORLD);
    c.b->TimerStart(kComputeStream);
    for (int r = 0; r < reps; ++r) body();
    const double t = c.b->TimerStop(kComputeStream) / reps;
    if (it >= c.o.warmup) times.push_back(t);
  }
  return Median(times);
}

void MicroBenchmarks(Context& c) {
  const std::vector<GemmCase> gemms = GemmCases(c.step);
  const std::vector<GemmCase> attn = AttentionForwardGemms(c.step);
  const std::vector<MemoryCase> mems = MemoryCases(c.step);
  std::vector<double> t;
  for (const GemmCase& g : gemms) {
    c.obs->OnOp("gemm", "benchmark " + std::string(g.name) + " " + std::string(g.pass));
    t.push_back(TimeMedian(c, [&] { c.b->Gemm(kComputeStream, g.m, g.n, g.k, g.batch); }));
  }
  if (!attn.empty()) {
    c.obs->OnOp("gemm", "benchmark flash attention forward");
    t.push_back(TimeMedian(c, [&] {
      for (const GemmCase& a : attn) c.b->Gemm(kComputeStream, a.m, a.n, a.k, a.batch);
    }));
    c.obs->OnOp("gemm", "benchmark flash attention backward");
    t.push_back(TimeMedian(c, [&] {
      const GemmCase again = AttentionRecomputeGemm(c.step);
      c.b->Gemm(kComputeStream, again.m, again.n, again.k, again.batch);
      for (const GemmCase& a : attn) {
        c.b->Gemm(kComputeStream, a.m, a.k, a.n, a.batch);
        c.b->Gemm(kComputeStream, a.k, a.n, a.m, a.batch);
      }
    }));
  }
  for (const MemoryCase& m : mems) {
    c.obs->OnOp("memory", "benchmark " + std::string(m.name) + " " + std::string(m.pass));
    t.push_back(TimeMedian(c, [&] { c.b->MemoryKernel(kComputeStream, m.bytes); }));
  }
  const std::vector<double> worst = WorldMax(c, "microbenchmarks", t);
  size_t i = 0;
  json g = json::array(), a = json::array(), m = json::array();
  c.gemm_burst_pass_s = 0;
  for (const GemmCase& x : gemms) {
    const double s = std::max(worst[i++], 1e-12);
    c.gemm_burst_pass_s += s;
    const double flops = 2.0 * static_cast<double>(x.m) * static_cast<double>(x.n) *
                         static_cast<double>(x.k) * static_cast<double>(x.batch);
    g.push_back({{"name", x.name}, {"pass", x.pass}, {"m", x.m}, {"n", x.n}, {"k", x.k},
                 {"batch", x.batch}, {"dtype", c.b->gemm_dtype()}, {"time_s", s},
                 {"tflops", flops / s / 1e12}});
  }
  if (!attn.empty()) {
    const double fwd = c.step.layer.flash_fwd_flops;
    const double tf = std::max(worst[i++], 1e-12), tb = std::max(worst[i++], 1e-12);
    a.push_back({{"pass", "forward"}, {"flops", fwd}, {"time_s", tf}, {"tflops", fwd / tf / 1e12}});
    a.push_back({{"pass", "backward"}, {"flops", 2.5 * fwd}, {"time_s", tb}, {"tflops", 2.5 * fwd / tb / 1e12}});
  }
  for (const MemoryCase& x : mems) {
    const double s = std::max(worst[i++], 1e-12);
    m.push_back({{"name", x.name}, {"pass", x.pass}, {"bytes", x.bytes}, {"time_s", s},
                 {"GBps", x.bytes / s / 1e9}});
  }
  c.doc->Update([&](json& d) {
    d["gemms"] = g;
    d["attention"] = a;
    d["memory_kernels"] = m;
  });
  c.doc->Write();
}

// ---------------------------------------------------------------------------------------------
// Phase 2b (--sustain-s): the layer's GEMMs back to back for seconds. The microbenchmarks time
// each shape in bursts of about 10 ms; a training step runs its GEMMs for seconds, long enough
// to meet the GPU's power limit, where the clocks drop (issue 17: "an H100 SXM at 700 W does not
// hold boost clock through long GEMM chains; burst benchmarks overstate it"). Windows of about
// sustain_s / 20 each time a whole number of passes over the shapes; the fraction calibrate
// fits (efficiency.gemm_sustained_fraction) is the sum of the shapes' burst times over the time
// per pass in the last quarter of the windows (at least 4 windows).
void SustainedGemms(Context& c) {
  if (c.o.sustain_s <= 0) return;
  const std::vector<GemmCase> gemms = GemmCases(c.step);
  if (gemms.empty() || c.gemm_burst_pass_s <= 0) return;
  double flops = 0;
  for (const GemmCase& g : gemms) {
    flops += 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k) *
             static_cast<double>(g.batch);
  }
  auto pass = [&] {
    for (const GemmCase& g : gemms) c.b->Gemm(kComputeStream, g.m, g.n, g.k, g.batch);
  };
  const double window = std::clamp(c.o.sustain_s / 20.0, 1e-3, 5.0);
  int reps = static_cast<int>(std::clamp(std::ceil(window / c.gemm_burst_pass_s), 1.0, 1e6));
  MPI_Allreduce(MPI_IN_PLACE, &reps, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  std::vector<double> per_pass, own_per_pass;  // the slowest rank's and this rank's own
  double elapsed = 0;
  // At least 4 windows, so that the late quarter is not the first window (a slow machine can
  // spend all of a short --sustain-s in one).
  while ((elapsed < c.o.sustain_s || per_pass.size() < 4) && per_pass.size() < 100000) {
    c.obs->OnOp("gemm", "sustained GEMM chain, window " + std::to_string(per_pass.size() + 1));
    c.b->TimerStart(kComputeStream);
    for (int r = 0; r < reps; ++r) pass();
    // The slowest rank's window, so that every rank runs the same number of windows.
    const double own = c.b->TimerStop(kComputeStream);
    const double t = WorldMax(c, "sustained GEMM window", {own})[0];
    elapsed += t;
    per_pass.push_back(std::max(t / reps, 1e-12));
    own_per_pass.push_back(std::max(own / reps, 1e-12));
  }
  const size_t late_from = per_pass.size() - std::max<size_t>(1, per_pass.size() / 4);
  const auto late_of = [&](const std::vector<double>& v) {
    double sum = 0;
    for (size_t i = late_from; i < v.size(); ++i) sum += v[i];
    return sum / static_cast<double>(v.size() - late_from);
  };
  const double late = late_of(per_pass);
  // Each rank's own late time per pass: GPUs of one part do not hold the same clock at the power
  // limit (the silicon lottery), and calibrate fits their spread (efficiency.gemm_gpu_spread) and
  // the median GPU's fraction from these.
  const double own_late = late_of(own_per_pass);
  std::vector<double> late_per_rank(static_cast<size_t>(c.size));
  MPI_Allgather(&own_late, 1, MPI_DOUBLE, late_per_rank.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  json windows = json::array();
  for (double t : per_pass) windows.push_back(flops / t / 1e12);
  c.doc->Update([&](json& d) {
    d["sustained_gemms"] = {{"seconds", elapsed},
                            {"gemms", gemms.size()},
                            {"window_passes", reps},
                            {"flops_per_pass", flops},
                            {"burst_pass_s", c.gemm_burst_pass_s},
                            {"first_pass_s", per_pass.front()},
                            {"late_pass_s", late},
                            {"late_pass_s_per_rank", late_per_rank},
                            {"fraction", c.gemm_burst_pass_s / late},
                            {"windows_tflops", windows}};
  });
  c.doc->Write();
}

// ---------------------------------------------------------------------------------------------
// Phase 3: the step as a skeleton.
void RunSteps(Context& c) {
  AllocateStatic(*c.b, c.step);
  std::vector<double> times;
  double peak = 0;
  for (int s = 0; s < c.o.warmup_steps + c.o.steps; ++s) {
    c.obs->OnOp("barrier", "before step " + std::to_string(s));
    c.b->Synchronize();
    MPI_Barrier(MPI_COMM_WORLD);
    c.b->ResetPeakMemory();
    c.b->TimerStart(kComputeStream);
    RunStep(*c.b, c.step, *c.obs);
    const double t = c.b->TimerStop(kComputeStream);
    if (s >= c.o.warmup_steps) {
      times.push_back(t);
      peak = std::max(peak, c.b->PeakMemoryBytes());
    }
  }
  const std::vector<double> worst = WorldMax(c, "skeleton steps", times);  // the slowest rank ends a step
  std::vector<double> peaks(static_cast<size_t>(c.size));
  MPI_Allgather(&peak, 1, MPI_DOUBLE, peaks.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  c.dog->Idle();
  c.doc->Update([&](json& d) {
    d["step"] = {{"time_s", Median(worst)},
                 {"times_s", worst},
                 {"peak_memory_bytes", *std::max_element(peaks.begin(), peaks.end())},
                 {"peak_memory_bytes_per_rank", peaks},
                 {"peak_memory_source", c.b->peak_memory_source()},
                 {"micro_batches", c.step.micro_batches},
                 {"layers", c.step.layers},
                 {"warmup_steps", c.o.warmup_steps}};
    d["complete"] = true;
  });
  c.doc->Write();
}

json PlanJson(const Context& c) {
  const auto& p = c.plan;
  json layout = costmodel::ToJson(p.layout);
  layout["grad_accum"] = c.eval.grad_accum;
  // The model and cluster themselves, not only their names: calibrate then fits the model the
  // plan was made for (a user's model.json, or one that reuses a built-in name).
  json model = costmodel::ToJson(p.model);
  model.erase("schema_version");
  json cluster = costmodel::ToJson(p.cluster);
  cluster.erase("schema_version");
  // The framework behaviours the step ran with (specs.h kWorkloadSwitches; the off ones left out).
  json switches = json::object();
  costmodel::WriteWorkloadSwitches(p.workload, switches);
  return {{"file", c.o.plan_path},
          {"workload_switches", switches},
          {"layout_index", p.layout_index},
          {"model", p.model.name},
          {"model_spec", model},
          {"cluster", p.cluster.name},
          {"cluster_spec", cluster},
          {"gpus", p.workload.gpus},
          {"global_batch", p.workload.global_batch},
          {"seq", p.workload.seq},
          {"flash_attention", p.workload.flash_attention},
          {"flash_version", p.workload.flash_version},
          {"eager_elementwise", p.workload.eager_elementwise},
          {"reduce_dtype", costmodel::ToString(p.workload.reduce_dtype)},
          {"layout", layout},
          {"layout_text", p.layout_text}};
}

void AddOptions(CLI::App& app, Options& o) {
  app.add_option("--plan", o.plan_path, "plan file (meshplan plan/simulate --json)");
  app.add_option("--out", o.out_path, "measurement file, written by rank 0 after every phase");
  app.add_option("--backend", o.backend, "nccl | cpu (default: nccl when built, else cpu)")
      ->check(CLI::IsMember({"nccl", "cpu"}));
  app.add_option("--layout-index", o.layout_index, "which of the plan's layouts (0: the best)");
  app.add_option("--min-bytes", o.min_bytes, "smallest collective size of the sweep (default 1024)");
  app.add_option("--max-bytes", o.max_bytes,
                 "largest collective size (default 1 GiB on nccl, 64 MiB on cpu); plan sizes above "
                 "it are listed as skipped");
  app.add_option("--warmup", o.warmup, "untimed iterations per benchmark point (default 2)");
  app.add_option("--iters", o.iters, "timed iterations per benchmark point (default 10)");
  app.add_option("--warmup-steps", o.warmup_steps, "untimed skeleton steps (default 2)");
  app.add_option("--steps", o.steps, "timed skeleton steps (default 5)");
  app.add_option("--sustain-s", o.sustain_s,
                 "also run the layer's GEMMs back to back for this many seconds and record the throughput they "
                 "hold against their burst timings (default 0: not run)");
  app.add_option("--timeout-s", o.timeout_s, "abort when one operation takes longer (default 60)");
  app.add_option("--inject-fault", o.inject_fault)->group("");  // tests: hang|exit|error:rank=R:op=OP
  app.add_flag("--env", o.env, "print the environment block as JSON and exit");
}

void CheckOptions(const Options& o) {
  if (o.plan_path.empty()) throw Error("--plan", "required (a meshplan plan/simulate --json file)");
  if (o.iters < 1 || o.iters > 100000) throw Error("--iters", "must be in [1, 100000]");
  if (o.warmup < 0 || o.warmup > 100000) throw Error("--warmup", "must be in [0, 100000]");
  if (o.steps < 1 || o.steps > 10000) throw Error("--steps", "must be in [1, 10000]");
  if (!(o.sustain_s >= 0 && o.sustain_s <= 3600)) throw Error("--sustain-s", "must be in [0, 3600] seconds");
  if (o.warmup_steps < 0 || o.warmup_steps > 10000) throw Error("--warmup-steps", "must be in [0, 10000]");
  if (!(o.timeout_s > 0) || o.timeout_s > 86400) throw Error("--timeout-s", "must be in (0, 86400]");
  if (!(o.min_bytes >= 1) || o.min_bytes > 1e12) throw Error("--min-bytes", "must be in [1, 1e12]");
  if (o.max_bytes != 0 && (o.max_bytes < o.min_bytes || o.max_bytes > 1e12)) {
    throw Error("--max-bytes", "must be in [--min-bytes, 1e12]");
  }
}

/// Reads the plan on rank 0 and broadcasts the text, so ranks on other nodes need no copy.
/// Rank 0 (the writer) also checks --out before any work: a writable place, not the plan.
std::string BroadcastPlanText(const std::string& path, const std::string& out_path, int rank) {
  std::string text;
  int64_t len = 0;
  int ok = 1;
  std::string why;
  if (rank == 0) {
    try {
      const costmodel::OutputTarget out = costmodel::CheckOutputTarget(out_path, "--out");
      if (costmodel::OutputIsInput(out, path)) {
        throw Error("--out", "'" + out_path + "' is the file given to --plan: refusing to overwrite an input");
      }
      text = costmodel::ReadFileText(path, "--plan");
      len = static_cast<int64_t>(text.size());
    } catch (const Error& e) {
      ok = 0;
      why = e.what();
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) throw Error("", rank == 0 ? why : "--plan or --out: unusable on rank 0");
  MPI_Bcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  text.resize(static_cast<size_t>(len));
  MPI_Bcast(text.data(), static_cast<int>(len), MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

}  // namespace

int ValidateMain(int argc, char** argv) {
  // Ranks that wait inside MPI yield their core (OpenMPI reads this at MPI_Init; an explicit
  // setting from the user or mpirun wins). With more ranks than cores, as the CPU backend runs
  // in CI, a spinning waiter otherwise starves the rank it waits for: steps ran 4x slower.
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  Options o;
  CLI::App app{"meshplan-validate: run a meshplan plan on MPI ranks and measure it\n"
               "  mpirun -np N meshplan-validate --plan plan.json --out measurements.json [--backend nccl|cpu]"};
  AddOptions(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = 0;
    if (rank == 0) {
      rc = app.exit(e);
    } else {
      rc = e.get_exit_code();
    }
    MPI_Finalize();
    return rc == 0 ? 0 : 2;
  }
  if (o.env) {
    if (rank == 0) std::printf("%s\n", EnvironmentJson().c_str());
    MPI_Finalize();
    return 0;
  }

  // Start-up: every rank reaches the same verdict on the same input, so user errors end the
  // run cleanly on all ranks with exit 2 and one message.
  Context c(o);
  c.rank = rank;
  c.size = size;
  double max_bytes = 0;
  std::string backend_name;
  try {
    CheckOptions(o);
    backend_name = o.backend.empty() ? (HasNcclBackend() ? "nccl" : "cpu") : o.backend;
    if (backend_name == "nccl" && !HasNcclBackend()) MakeNcclBackend(Mesh{}, 0, 0);  // throws
    max_bytes = o.max_bytes > 0 ? o.max_bytes : (backend_name == "nccl" ? 1073741824.0 : 67108864.0);
    c.plan = costmodel::ReadPlanFile(BroadcastPlanText(o.plan_path, o.out_path, rank), o.plan_path, o.layout_index);
    if (c.plan.workload.gpus != size) {
      throw Error("mpirun -np", "the plan runs on " + std::to_string(c.plan.workload.gpus) +
                                    " GPUs (ranks), this job has " + std::to_string(size));
    }
    if (c.plan.workload.precision == costmodel::Precision::kFp8) {
      throw Error("--plan", "an fp8 plan: the validation skeleton runs its GEMMs in bf16, so it "
                            "cannot measure an fp8 step yet");
    }
    if (c.plan.layout.pp > 1 && c.plan.layout.fsdp > 1 && c.plan.layout.zero >= 2) {
      throw Error(o.plan_path + ": layout.zero",
                  "FSDP ZeRO-2/3 under pipeline parallelism is priced but not executed by "
                  "meshplan-validate yet; validate zero=1 or replicate");
    }
    if (c.plan.layout.cp > 1) {
      throw Error(o.plan_path + ": layout.cp",
                  "context-parallel plans (cp > 1) are priced but not executed by meshplan-validate "
                  "yet (its skeleton has no ring, all-gather or all-to-all attention exchange); "
                  "validate a cp=1 layout");
    }
    ParseFault(o.inject_fault);
  } catch (const Error& e) {
    if (rank == 0) std::fprintf(stderr, "meshplan-validate: error: %s\n", OneLineMessage(e.what()).c_str());
    MPI_Finalize();
    return e.exit_code();
  }

  const costmodel::Evaluator ev(c.plan.model, c.plan.cluster, c.plan.workload);
  c.eval = ev.Evaluate(c.plan.layout);
  c.mesh = BuildMesh(c.plan.layout, c.plan.model.tied_embeddings);
  {
    // This rank's pipeline stage and its neighbours (the interleaved schedule wraps around).
    const std::vector<int>& stages = c.mesh.GroupOf(GroupKind::kPp, rank);
    const int p = static_cast<int>(stages.size());
    const int stage = static_cast<int>(std::find(stages.begin(), stages.end(), rank) - stages.begin());
    c.step = MakeStepPlan(ev, c.plan.layout, c.eval, stage);
    c.step.prev_rank = stages[static_cast<size_t>((stage + p - 1) % p)];
    c.step.next_rank = stages[static_cast<size_t>((stage + 1) % p)];
  }
  const std::string host = HostName();
  c.hosts = GatherHostnames(host, size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
  int local_rank = 0;
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_free(&local);

  MPI_Comm reports;
  MPI_Comm_dup(MPI_COMM_WORLD, &reports);
  Document doc(o.out_path, rank == 0, reports, provided >= MPI_THREAD_MULTIPLE);
  Watchdog dog(rank, host, o.timeout_s, doc);
  Observer obs(dog, rank, ParseFault(o.inject_fault));
  c.dog = &dog;
  c.obs = &obs;
  c.doc = &doc;
  std::unique_ptr<Backend> backend;
  try {
    json env = json::parse(EnvironmentJson());
    env["cpu"] = CpuModel();
    env["hostnames"] = c.hosts;
    env["mpi_thread_multiple"] = provided >= MPI_THREAD_MULTIPLE;
    doc.Update([&](json& d) {
      d["schema_version"] = kMeasurementSchemaVersion;
      d["tool"] = std::string("meshplan ") + MESHPLAN_VERSION;
      d["command"] = "validate";
      d["backend"] = backend_name;
      d["complete"] = false;
      d["environment"] = env;
      d["plan"] = PlanJson(c);
      d["mesh"] = {{"tp", c.mesh.tp}, {"fsdp", c.mesh.fsdp}, {"replicate", c.mesh.replicate},
                   {"pp", c.mesh.pp}};
      // Expert parallelism (ep > 1): the EP groups and the expert-data-parallel groups; a tied
      // model's pipeline: the embedding groups.
      for (GroupKind g : {GroupKind::kEp, GroupKind::kEdp, GroupKind::kEmbedding}) {
        if (c.mesh.has(g)) d["mesh"][std::string(ToString(g))] = c.mesh.groups(g);
      }
      d["collectives"] = json::array();
      d["gemms"] = json::array();
      d["attention"] = json::array();
      d["memory_kernels"] = json::array();
      d["sustained_gemms"] = nullptr;
      d["step"] = nullptr;
      d["checks"] = json::object();
    });
    doc.Write();
    dog.Begin("initialising the " + backend_name + " backend");
    backend = backend_name == "nccl" ? MakeNcclBackend(c.mesh, rank, local_rank)
                                     : MakeCpuBackend(c.mesh, rank);
    c.b = backend.get();
    dog.SetBackend(c.b);
    Workspace ws = WorkspaceFor(c.step);
    // The sweeps' largest S can pass the plan's largest message (the next power of two).
    const std::vector<double> sweep = SweepSizes(o.min_bytes, max_bytes, ws.collective_bytes);
    if (!sweep.empty()) ws.collective_bytes = std::max(ws.collective_bytes, sweep.back());
    c.b->Prepare(ws);
    dog.Idle();
    CheckMeshAndReductions(c);
    SweepCollectives(c, max_bytes);
    SweepPipelineSends(c, max_bytes);
    MicroBenchmarks(c);
    SustainedGemms(c);
    RunSteps(c);
  } catch (const std::exception& e) {
    // A failure on one rank after start-up: the others may be waiting for it in a collective,
    // so the job is aborted rather than finalised.
    const std::string what = OneLineMessage(e.what());
    const std::string label = dog.label();
    std::fprintf(stderr, "meshplan-validate: error: rank %d (%s) during %s: %s\n", rank, host.c_str(),
                 label.c_str(), what.c_str());
    std::fflush(stderr);
    if (c.b) c.b->Abort();
    try {
      const json err = {{"rank", rank}, {"operation", label}, {"reason", "error"}, {"message", what}};
      doc.Write(&err);
    } catch (...) {
    }
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
  dog.Idle();
  backend.reset();
  if (rank == 0) std::printf("meshplan-validate: wrote %s\n", o.out_path.c_str());
  doc.Close();
  dog.Stop();
  MPI_Comm_free(&reports);
  MPI_Finalize();
  return 0;
}

}  // namespace meshplan::validate
