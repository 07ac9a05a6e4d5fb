#include "costmodel/calibration.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "costmodel/compute.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/json_reader.h"
#include "costmodel/spec_io.h"

namespace meshplan::costmodel {

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
namespace {

/// A cluster field calibration may overwrite, with its physical bounds.
struct Param {
  const char* path;
  const char* unit;
  double lo, hi;
  double& (*field)(Cluster&);
};

// Bounds: fractions of a link's or a chip's datasheet figure cannot exceed 1 (no bandwidth
// above the link's); latencies and fixed costs cannot be negative; the overlap slowdown runs from
// 1 (hidden communication is free) to 2 (it costs its whole time: no overlap at all).
const Param kParams[] = {
    {"efficiency.nvlink_fraction", "fraction", 0.02, 1.0, [](Cluster& c) -> double& { return c.efficiency.nvlink_fraction; }},
    {"efficiency.network_fraction", "fraction", 0.02, 1.0, [](Cluster& c) -> double& { return c.efficiency.network_fraction; }},
    {"efficiency.nvls_fraction", "fraction", 0.02, 1.0, [](Cluster& c) -> double& { return c.efficiency.nvls_fraction; }},
    {"efficiency.nvls_tree_fraction", "fraction", 0.02, 1.0, [](Cluster& c) -> double& { return c.efficiency.nvls_tree_fraction; }},
    {"node.intra.latency_us", "us", 0.0, 1e3, [](Cluster& c) -> double& { return c.node.intra.latency_us; }},
    {"node.intra.bulk_latency_us", "us", 0.0, 1e3, [](Cluster& c) -> double& { return c.node.intra.bulk_latency_us; }},
    {"node.intra.bulk_saturation_mib", "MiB", 0.0, 1e4, [](Cluster& c) -> double& { return c.node.intra.bulk_saturation_mib; }},
    {"fabric.latency_us", "us", 0.0, 1e4, [](Cluster& c) -> double& { return c.fabric.latency_us; }},
    {"fabric.bulk_latency_us", "us", 0.0, 1e4, [](Cluster& c) -> double& { return c.fabric.bulk_latency_us; }},
    {"fabric.bulk_saturation_mib", "MiB", 0.0, 1e4, [](Cluster& c) -> double& { return c.fabric.bulk_saturation_mib; }},
    {"efficiency.group_launch_us", "us", 0.0, 1e3, [](Cluster& c) -> double& { return c.efficiency.group_launch_us; }},
    {"efficiency.torch_call_us", "us", 0.0, 1e4, [](Cluster& c) -> double& { return c.efficiency.torch_call_us; }},
    {"efficiency.collective_launch_us", "us", 0.0, 1e4, [](Cluster& c) -> double& { return c.efficiency.collective_launch_us; }},
    {"efficiency.reduce_scatter_fraction", "fraction", 0.02, 1.0, [](Cluster& c) -> double& { return c.efficiency.reduce_scatter_fraction; }},
    {"efficiency.all_reduce_fraction", "fraction", 0.02, 1.0, [](Cluster& c) -> double& { return c.efficiency.all_reduce_fraction; }},
    // NCCL point-to-point (collectives.h P2pTime): the per-channel cap (0: none), the part size
    // one channel carries, and all-to-all's share of the links.
    {"efficiency.p2p_channel_GBps", "GB/s", 0.0, 1e3, [](Cluster& c) -> double& { return c.efficiency.p2p_channel_GBps; }},
    {"efficiency.p2p_part_mib", "MiB", 1.0 / 64, 1e4, [](Cluster& c) -> double& { return c.efficiency.p2p_part_mib; }},
    {"efficiency.alltoall_fraction", "fraction", 0.02, 1.0, [](Cluster& c) -> double& { return c.efficiency.alltoall_fraction; }},
    {"efficiency.gemm_peak_fraction", "fraction", 1e-3, 1.0, [](Cluster& c) -> double& { return c.efficiency.gemm_peak_fraction; }},
    {"efficiency.gemm_sustained_fraction", "fraction", 1e-3, 1.0, [](Cluster& c) -> double& { return c.efficiency.gemm_sustained_fraction; }},
    {"efficiency.gemm_gpu_spread", "fraction", 0.0, 0.2, [](Cluster& c) -> double& { return c.efficiency.gemm_gpu_spread; }},
    {"efficiency.attention_peak_fraction", "fraction", 1e-3, 1.0, [](Cluster& c) -> double& { return c.efficiency.attention_peak_fraction; }},
    {"efficiency.hbm_fraction", "fraction", 1e-3, 1.0, [](Cluster& c) -> double& { return c.efficiency.hbm_fraction; }},
    {"efficiency.kernel_launch_us", "us", 0.0, 1e6, [](Cluster& c) -> double& { return c.efficiency.kernel_launch_us; }},
    {"efficiency.overlap_slowdown", "factor", 1.0, 3.0, [](Cluster& c) -> double& { return c.efficiency.overlap_slowdown; }},
    {"efficiency.step_sync_us", "us", 0.0, 1e5, [](Cluster& c) -> double& { return c.efficiency.step_sync_us; }},
    {"overhead.cuda_context_gib", "GiB", 0.0, 1e6, [](Cluster& c) -> double& { return c.overhead.cuda_context_gib; }},
};
constexpr int kNumCollectiveParams = 18;  // the first eighteen: the collective model and its harnesses

const Param* FindParam(std::string_view path) {
  for (const Param& p : kParams) {
    if (path == p.path) return &p;
  }
  return nullptr;
}

double Pct(double predicted, double measured) {
  return 100.0 * std::abs(predicted - measured) / measured;
}

/// The files behind a quantity: sample sources are "file:row" or "file: path"; keep the file.
std::vector<std::string> Sources(const std::vector<std::string>& all) {
  std::set<std::string> s;
  for (const auto& a : all) s.insert(a.substr(0, a.find(':')));
  return {s.begin(), s.end()};
}

/// Levenberg-Marquardt on relative residuals (predicted - measured) / measured over the
/// parameters in `active`, each clamped to its bounds after every step (projected LM).
/// `residuals(cluster, out)` fills one residual per sample.
template <typename ResidualFn>
void FitLm(Cluster& c, const std::vector<const Param*>& active, size_t rows, ResidualFn residuals) {
  const int np = static_cast<int>(active.size());
  if (np == 0 || rows == 0) return;
  Eigen::VectorXd r(static_cast<Eigen::Index>(rows)), r_try(static_cast<Eigen::Index>(rows));
  auto cost = [&](Cluster& cc, Eigen::VectorXd& out) {
    residuals(cc, out);
    return out.squaredNorm();
  };
  double f = cost(c, r);
  double lambda = 1e-3;
  Eigen::MatrixXd J(static_cast<Eigen::Index>(rows), np);
  Eigen::VectorXd col(static_cast<Eigen::Index>(rows));
  for (int iter = 0; iter < 100; ++iter) {
    // Forward differences, stepping inward at an upper bound.
    for (int j = 0; j < np; ++j) {
      const Param& p = *active[static_cast<size_t>(j)];
      double& x = p.field(c);
      const double x0 = x;
      double h = 1e-4 * std::max(std::abs(x0), p.hi <= 1.0 ? 0.1 : 1.0);
      if (x0 + h > p.hi) h = -h;
      x = x0 + h;
      residuals(c, col);
      x = x0;
      J.col(j) = (col - r) / h;
    }
    const Eigen::MatrixXd A = J.transpose() * J;
    const Eigen::VectorXd g = J.transpose() * r;
    bool improved = false;
    for (int tries = 0; tries < 12 && !improved; ++tries) {
      Eigen::MatrixXd M = A;
      for (int j = 0; j < np; ++j) M(j, j) += lambda * std::max(A(j, j), 1e-12);
      const Eigen::VectorXd step = M.ldlt().solve(-g);
      std::vector<double> saved(static_cast<size_t>(np));
      for (int j = 0; j < np; ++j) {
        const Param& p = *active[static_cast<size_t>(j)];
        double& x = p.field(c);
        saved[static_cast<size_t>(j)] = x;
        x = std::clamp(x + step(j), p.lo, p.hi);
      }
      const double f_try = cost(c, r_try);
      if (std::isfinite(f_try) && f_try < f) {
        improved = true;
        const double gain = (f - f_try) / std::max(f, 1e-300);
        f = f_try;
        r = r_try;
        lambda = std::max(lambda / 10.0, 1e-9);
        if (gain < 1e-10) return;
      } else {
        for (int j = 0; j < np; ++j) active[static_cast<size_t>(j)]->field(c) = saved[static_cast<size_t>(j)];
        lambda *= 10.0;
      }
    }
    if (!improved) return;
  }
}

void Record(CalibrationProfile& out, const Cluster& fitted, const Param& p,
            const std::vector<std::string>& sources) {
  Cluster copy = fitted;
  out.fitted.push_back({p.path, p.field(copy), p.unit, Sources(sources)});
}

}  // namespace

double Mape(const std::vector<double>& predicted, const std::vector<double>& measured) {
  MESHPLAN_CHECK(predicted.size() == measured.size());
  if (measured.empty()) return 0.0;
  double sum = 0;
  for (size_t i = 0; i < measured.size(); ++i) sum += Pct(predicted[i], measured[i]);
  return sum / static_cast<double>(measured.size());
}

namespace {
/// The forced algorithm's cheapest protocol, else NCCL's argmin; then what the benchmark
/// harness adds on the host (calibration.h, Harness), which does not change NCCL's choice.
CollectiveCost CostIn(const CollectiveTable& table, const CollectiveSample& s, const Cluster& c) {
  CollectiveCost best;
  best.time_s = -1;
  const bool p2p = s.op == Coll::kSendRecv || s.op == Coll::kAllToAll;
  if (s.algo >= 0 && !p2p) {
    for (int p = 0; p < kNumProto; ++p) {
      const CollectiveCost cand = TimeOf(table, s.op, static_cast<Algo>(s.algo), static_cast<Proto>(p), s.bytes);
      if (cand.time_s >= 0 && (best.time_s < 0 || cand.time_s < best.time_s)) best = cand;
    }
  }
  if (p2p) {
    LinkParams lp = LinkParamsFor(c);
    lp.env = s.env;
    best = P2pTime(lp, s.group, s.op, s.bytes);
  } else if (best.time_s < 0) {
    best = Time(table, s.op, s.bytes);
    if (best.time_s < 0 && s.group.ranks > 1) {
      throw Error(s.source, "the NCCL settings it ran with (" + s.env.Describe() + ") leave no modelled algorithm for " +
                                std::string(ToString(s.op)) + " on " + std::to_string(s.group.ranks) + " ranks, " +
                                std::to_string(s.group.nodes) + " node(s)");
    }
  }
  // One thread issuing a call on g GPUs spends g launches of host time per iteration; the
  // GPUs run while it issues the next, so a call takes the longer of the two.
  if (s.gpus_per_thread > 1) {
    const double host_s = 1e-6 * static_cast<double>(s.gpus_per_thread) * c.efficiency.group_launch_us;
    if (host_s > best.time_s) {
      best.latency_s += host_s - best.time_s;
      best.time_s = host_s;
    }
  }
  if (s.harness == Harness::kTorchDistributed) {
    const double call_s = 1e-6 * c.efficiency.torch_call_us;
    best.latency_s += call_s;
    best.time_s += call_s;
  }
  return best;
}

/// Relative residual (predicted - measured) / measured of every sample under `cc`.
void CollectiveResiduals(const std::vector<CollectiveSample>& samples, const Cluster& cc,
                         Eigen::VectorXd& r) {
  LinkParams lp = LinkParamsFor(cc);
  std::map<std::tuple<int64_t, int64_t, std::tuple<int, int, unsigned, unsigned, int>>, CollectiveTable> tables;
  for (size_t i = 0; i < samples.size(); ++i) {
    const CollectiveSample& s = samples[i];
    auto key = std::make_tuple(s.group.ranks, s.group.nodes, s.env.Key());
    auto it = tables.find(key);
    if (it == tables.end()) {
      lp.env = s.env;
      it = tables.emplace(key, BuildTable(lp, s.group)).first;
    }
    const double t = CostIn(it->second, s, cc).time_s;
    r(static_cast<Eigen::Index>(i)) = (t - s.time_s) / s.time_s;
  }
}

/// The data's residuals, then one row per prior: NCCL's per-hop latency constants are taken as
/// right (the extras at their uncalibrated values) until the rows say otherwise; a 10 us extra
/// costs what one row 100% off does, little beside a log's dozens of rows. Logs that start at
/// 1 MiB cannot tell the LL hop latency from the LL128/Simple bulk latency, and without the
/// prior their fit hands small messages whichever (15 us a hop: 4 x 8 small messages 3x slow).
constexpr const char* kPriorPaths[] = {"node.intra.latency_us", "fabric.latency_us"};
constexpr double kPriorRowPer10us = 1.0;

using Priors = std::vector<std::pair<const Param*, double>>;

void Objective(const std::vector<CollectiveSample>& samples, Cluster& cc, const Priors& priors,
               Eigen::VectorXd& r) {
  Eigen::VectorXd data(static_cast<Eigen::Index>(samples.size()));
  CollectiveResiduals(samples, cc, data);
  r.head(data.size()) = data;
  Eigen::Index i = data.size();
  for (const auto& [p, value] : priors) r(i++) = kPriorRowPer10us * (p->field(cc) - value) / 10.0;
}

/// Fits the collective parameters `samples` respond to, in place; returns them.
/// Which collective parameters a FitCollectiveSet call may move.
enum class ParamSet { kAll, kLinks, kP2p };

bool IsP2pParam(std::string_view path) {
  return path == "efficiency.p2p_channel_GBps" || path == "efficiency.p2p_part_mib" ||
         path == "efficiency.alltoall_fraction";
}

bool IsIntraBulkParam(std::string_view path) {
  return path == "node.intra.bulk_latency_us" || path == "node.intra.bulk_saturation_mib";
}

/// `intra_bulk` false leaves the NVLink hops' bulk latency where it is (the nested model the
/// fit is compared with: adding it must never leave a worse fit than the model without it).
std::vector<const Param*> FitCollectiveSet(Cluster& c, const std::vector<CollectiveSample>& samples,
                                           const Cluster& uncalibrated, ParamSet set = ParamSet::kAll,
                                           bool intra_bulk = true) {
  Priors priors;
  Cluster u = uncalibrated;
  for (const char* path : kPriorPaths) priors.emplace_back(FindParam(path), FindParam(path)->field(u));
  const Eigen::Index rows = static_cast<Eigen::Index>(samples.size() + priors.size());
  const Eigen::Index data_rows = static_cast<Eigen::Index>(samples.size());
  Eigen::VectorXd r0(data_rows), probe(data_rows);
  CollectiveResiduals(samples, c, r0);
  // A parameter is fitted only when the samples respond to it.
  std::vector<const Param*> active;
  // The per-collective fractions are relative to all-gather: fitted only beside it.
  bool has[5] = {false, false, false, false, false};  // by Coll, the p2p ones included
  for (const auto& s : samples) has[static_cast<int>(s.op)] = true;
  for (int i = 0; i < kNumCollectiveParams; ++i) {
    const Param& p = kParams[i];
    const std::string_view path = p.path;
    if ((set == ParamSet::kLinks && IsP2pParam(path)) || (set == ParamSet::kP2p && !IsP2pParam(path))) continue;
    if (!intra_bulk && IsIntraBulkParam(path)) continue;
    if (path == "efficiency.reduce_scatter_fraction" &&
        !(has[static_cast<int>(Coll::kAllGather)] && has[static_cast<int>(Coll::kReduceScatter)])) {
      continue;
    }
    if (path == "efficiency.all_reduce_fraction" &&
        !(has[static_cast<int>(Coll::kAllGather)] && has[static_cast<int>(Coll::kAllReduce)])) {
      continue;
    }
    // Probed near and far: a bandwidth that a min() with another link hides at its start value
    // (a multi-node ring runs at the slower of NVLink and the NICs) shows once it is the slower.
    double& x = p.field(c);
    const double x0 = x;
    bool responds = false;
    for (auto [scale, shift] : {std::pair{0.9, 1.0}, std::pair{0.5, 20.0}}) {
      x = std::clamp(x0 * scale + (p.hi <= 1.0 ? 0.0 : shift), p.lo, p.hi);
      CollectiveResiduals(samples, c, probe);
      responds = responds || (probe - r0).cwiseAbs().maxCoeff() > 1e-9;
    }
    x = x0;
    if (responds) active.push_back(&p);
  }
  // The p2p part size shows only once a per-channel cap binds, which is 0 (none) uncalibrated;
  // a bulk latency's saturation only once the latency is above 0.
  for (const auto& [lead, follower] : {std::pair{"efficiency.p2p_channel_GBps", "efficiency.p2p_part_mib"},
                                       std::pair{"node.intra.bulk_latency_us", "node.intra.bulk_saturation_mib"}}) {
    const Param* ch = FindParam(lead);
    const Param* part = FindParam(follower);
    if (std::find(active.begin(), active.end(), ch) != active.end() &&
        std::find(active.begin(), active.end(), part) == active.end()) {
      active.push_back(part);
    }
  }
  // A coarse scan of each parameter first, one at a time: the gradient of a bandwidth hidden by
  // a min() (or of a host floor hidden by a max()) is zero until it binds, so a descent alone
  // would never move it there. Fractions over 0.05 ... 1, latencies over 0 ... 50 us.
  // P2p per-channel bandwidths over 0 (no cap) ... 150 GB/s, p2p part sizes over 1 ... 256 MiB
  // (a step function of it: no gradient to follow).
  static constexpr double kLatencyGrid[] = {0, 1, 2, 3, 5, 7, 10, 15, 20, 30, 50};
  static constexpr double kChannelGrid[] = {0, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150};
  static constexpr double kPartGrid[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  Eigen::VectorXd r(rows);
  for (const Param* p : active) {
    double& x = p->field(c);
    Objective(samples, c, priors, r);
    double best_x = x, best = r.squaredNorm();
    const bool fraction = p->hi <= 1.0;
    const std::string_view path = p->path;
    const bool channel = path == "efficiency.p2p_channel_GBps";
    const bool part = path == "efficiency.p2p_part_mib";
    const int steps = fraction ? 20 : channel ? 12 : part ? 9 : 11;
    for (int k = 1; k <= steps; ++k) {
      const double v = fraction ? 0.05 * k : channel ? kChannelGrid[k - 1] : part ? kPartGrid[k - 1] : kLatencyGrid[k - 1];
      x = std::clamp(v, p->lo, p->hi);
      Objective(samples, c, priors, r);
      if (r.squaredNorm() < best) best = r.squaredNorm(), best_x = x;
    }
    x = best_x;
  }
  // The p2p per-channel cap and part size, scanned jointly: how many channels a message gets
  // decides whether the cap binds at all.
  {
    const Param* pa = FindParam("efficiency.p2p_channel_GBps");
    const Param* pb = FindParam("efficiency.p2p_part_mib");
    if (std::find(active.begin(), active.end(), pa) != active.end() &&
        std::find(active.begin(), active.end(), pb) != active.end()) {
      double& xa = pa->field(c);
      double& xb = pb->field(c);
      Objective(samples, c, priors, r);
      double best = r.squaredNorm(), best_a = xa, best_b = xb;
      for (const double a : kChannelGrid) {
        for (const double b : kPartGrid) {
          xa = std::clamp(a, pa->lo, pa->hi);
          xb = std::clamp(b, pb->lo, pb->hi);
          Objective(samples, c, priors, r);
          if (r.squaredNorm() < best) best = r.squaredNorm(), best_a = xa, best_b = xb;
        }
      }
      xa = best_a;
      xb = best_b;
    }
  }
  // Least absolute relative error (what MAPE scores) by iteratively reweighted least
  // squares: each round weights a row by 1 / sqrt(|r|) from the previous fit.
  Eigen::VectorXd w = Eigen::VectorXd::Ones(rows);
  for (int round = 0; round < 4; ++round) {
    FitLm(c, active, static_cast<size_t>(rows), [&](Cluster& cc, Eigen::VectorXd& r) {
      Objective(samples, cc, priors, r);
      r = r.cwiseProduct(w);
    });
    Objective(samples, c, priors, r);
    w = r.cwiseAbs().cwiseMax(0.01).cwiseSqrt().cwiseInverse();
    w.tail(static_cast<Eigen::Index>(priors.size())).setOnes();  // priors stay quadratic
  }
  return active;
}
}  // namespace

CollectiveCost PredictCollectiveCost(const Cluster& c, const CollectiveSample& s) {
  LinkParams lp = LinkParamsFor(c);
  lp.env = s.env;
  return CostIn(BuildTable(lp, s.group), s, c);
}

CalibrationProfile Fit(const Cluster& base, const CalibrationInputs& in, std::string_view name) {
  CalibrationProfile out;
  out.name = std::string(name);
  out.clusters = {base.name};
  out.inputs = in.provenance;
  Cluster c = base;
  c.gemm_table.clear();

  // --- Collectives: alpha (per-hop latencies per link level, a per-call fixed cost) and beta
  // (link bandwidth fractions, NVLS efficiencies), jointly, through the NCCL-shaped model. The
  // link levels are fitted in turn, inside a node first: a multi-node ring runs at the slower of
  // NVLink and the NICs, and started from the datasheet values the joint fit can trade one for
  // the other into a local minimum that the single-node rows alone rule out. The same holds for
  // a benchmark's host floor against the per-call launch.
  // Point-to-point rows (sendrecv, alltoall) fit only their own parameters (p2p channel cap and
  // part size, all-to-all fraction), after the links the collective rows fit and on top of them;
  // alone, they fit the links too.
  std::vector<CollectiveSample> table_rows, p2p_rows;
  for (const auto& s : in.collectives) {
    (s.op == Coll::kSendRecv || s.op == Coll::kAllToAll ? p2p_rows : table_rows).push_back(s);
  }
  if (!in.collectives.empty()) {
    const auto& samples = table_rows;
    Eigen::VectorXd r0(static_cast<Eigen::Index>(in.collectives.size()));
    CollectiveResiduals(in.collectives, c, r0);
    std::vector<const Param*> active;
    const ParamSet links = p2p_rows.empty() ? ParamSet::kAll : ParamSet::kLinks;
    if (!samples.empty()) {
      // Stages: one node, one process per GPU; then every node count; then the rows other
      // harnesses timed (nccl-tests -g N, torch.distributed), whose host cost is fitted last so it
      // cannot be taken for the per-call launch that a training step pays.
      const auto plain = [](const CollectiveSample& s) {
        return s.gpus_per_thread == 1 && s.harness == Harness::kNcclTests;
      };
      std::vector<CollectiveSample> stages[2];
      for (const auto& s : samples) {
        if (plain(s) && s.group.nodes == 1) stages[0].push_back(s);
        if (plain(s)) stages[1].push_back(s);
      }
      // The staged fit, then the joint fit from where the stages left it, and again with every
      // latency and host cost back at its uncalibrated value: stages whose rows lack small
      // messages (a log that starts at 1 MiB) can park the mid-size cost in the per-call launch,
      // where the harness rows then find no room for their own. The lower mean absolute error
      // wins. All of it with the NVLink hops' bulk latency and without it (the nested model):
      // a parameter the rows leave at 0 must not move the descent elsewhere.
      const Cluster start = c;
      const auto fit_links = [&](bool intra_bulk, Cluster& fitted) {
        fitted = start;
        for (int k = 0; k < 2; ++k) {
          const size_t next = k == 0 ? stages[1].size() : samples.size();
          if (!stages[k].empty() && stages[k].size() < next) FitCollectiveSet(fitted, stages[k], base, links, intra_bulk);
        }
        Cluster restart = fitted, uncalibrated = base;
        for (int i = 0; i < kNumCollectiveParams; ++i) {
          if (kParams[i].hi > 1.0) kParams[i].field(restart) = kParams[i].field(uncalibrated);
        }
        std::vector<const Param*> on = FitCollectiveSet(fitted, samples, base, links, intra_bulk);
        const std::vector<const Param*> on_restart = FitCollectiveSet(restart, samples, base, links, intra_bulk);
        Eigen::VectorXd r1(static_cast<Eigen::Index>(samples.size())), rb(r1.size());
        CollectiveResiduals(samples, fitted, r1);
        CollectiveResiduals(samples, restart, rb);
        if (rb.cwiseAbs().mean() < r1.cwiseAbs().mean()) {
          fitted = restart;
          on = on_restart;
        }
        CollectiveResiduals(samples, fitted, r1);
        return std::pair{on, r1.cwiseAbs().mean()};
      };
      Cluster with, without;
      const auto [active_with, error_with] = fit_links(true, with);
      const auto [active_without, error_without] = fit_links(false, without);
      if (error_with < error_without) {
        c = with;
        active = active_with;
      } else {
        c = without;
        active = active_without;
      }
    }
    if (!p2p_rows.empty()) {
      for (const Param* p : FitCollectiveSet(c, p2p_rows, base, samples.empty() ? ParamSet::kAll : ParamSet::kP2p)) {
        if (std::find(active.begin(), active.end(), p) == active.end()) active.push_back(p);
      }
    }
    Eigen::VectorXd r1(static_cast<Eigen::Index>(in.collectives.size()));
    CollectiveResiduals(in.collectives, c, r1);
    const auto& all_rows = in.collectives;
    // Each value's sources: the rows that fitted it (p2p parameters, the p2p rows).
    std::vector<std::string> src_links, src_p2p;
    for (const auto& s : table_rows) src_links.push_back(s.source);
    for (const auto& s : p2p_rows) src_p2p.push_back(s.source);
    for (const Param* p : active) {
      Record(out, c, *p, (IsP2pParam(p->path) && !p2p_rows.empty()) || table_rows.empty() ? src_p2p : src_links);
    }
    out.fit_error.push_back({"collective_time_s", static_cast<int64_t>(all_rows.size()),
                             100.0 * r0.cwiseAbs().mean(), 100.0 * r1.cwiseAbs().mean()});
  }

  // --- Bandwidth-bound kernels: t = bytes / (HBM peak x f) + launch, linear in (1/f, launch);
  // least squares on relative error.
  if (!in.memory_kernels.empty()) {
    const auto& ks = in.memory_kernels;
    const double peak = c.gpu.hbm_GBps * 1e9;
    const ComputeParams before = ComputeParamsFor(c);
    const Eigen::Index n = static_cast<Eigen::Index>(ks.size());
    Eigen::MatrixXd X(n, 2);
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      const auto& k = ks[static_cast<size_t>(i)];
      X(i, 0) = k.bytes / peak / k.time_s;
      X(i, 1) = 1.0 / k.time_s;
      y(i) = 1.0;
    }
    Eigen::Vector2d beta = X.colPivHouseholderQr().solve(y);  // {1/f, launch_s}
    double inv_f = beta(0), launch = beta(1);
    if (launch < 0) {  // clamp, refit the other
      launch = 0;
      inv_f = X.col(0).dot(y) / X.col(0).squaredNorm();
    }
    if (inv_f < 1.0) {
      inv_f = 1.0;
      launch = std::max(0.0, (y - X.col(0) * inv_f).dot(X.col(1)) / X.col(1).squaredNorm());
    }
    c.efficiency.hbm_fraction = std::clamp(1.0 / inv_f, 1e-3, 1.0);
    c.efficiency.kernel_launch_us = launch * 1e6;
    const ComputeParams after = ComputeParamsFor(c);
    std::vector<double> meas, pb, pa;
    std::vector<std::string> src;
    for (const auto& k : ks) {
      meas.push_back(k.time_s);
      pb.push_back(MemoryBoundTime(before, k.bytes));
      pa.push_back(MemoryBoundTime(after, k.bytes));
      src.push_back(k.source);
    }
    Record(out, c, *FindParam("efficiency.hbm_fraction"), src);
    Record(out, c, *FindParam("efficiency.kernel_launch_us"), src);
    out.fit_error.push_back({"memory_kernel_time_s", static_cast<int64_t>(ks.size()), Mape(pb, meas), Mape(pa, meas)});
  }

  // --- GEMMs: the measured table, and the best-case fraction of the shape model fitted to it
  // (relative least squares of f x shape_efficiency against measured efficiency), used for
  // shapes the table does not have.
  // The samples are burst timings: fitted with the sustained fraction at 1, restored after.
  const double sustained_before = c.efficiency.gemm_sustained_fraction;
  if (!in.gemms.empty()) c.efficiency.gemm_sustained_fraction = 1.0;
  if (!in.gemms.empty()) {
    const ComputeParams before = ComputeParamsFor(c);
    const double peak = before.peak_flops;
    double num = 0, den = 0;
    std::map<GemmEfficiency, std::vector<double>> by_shape;
    std::vector<std::string> src;
    for (const auto& g : in.gemms) {
      const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) *
                           static_cast<double>(g.k) * static_cast<double>(g.batch);
      const GemmTiling tiling = GemmTileSchedule(g.m, g.n, g.k, before.sms, g.batch, 2, before.stream_k);
      // The fraction is fitted on the time the rate prices: a stream-K schedule's fixup is priced
      // apart (StreamKFixupTime; a sample shorter than it is fitted whole). The table keeps the
      // whole time: a measured shape is priced from it alone.
      const double fixup = StreamKFixupTime(before, tiling);
      const double eff = flops / (peak * (g.time_s > fixup ? g.time_s - fixup : g.time_s));
      const double shape = tiling.efficiency;
      num += shape / eff;
      den += shape * shape / (eff * eff);
      by_shape[GemmEfficiency{g.m, g.n, g.k, g.batch, 0.0}].push_back(flops / (peak * g.time_s));
      src.push_back(g.source);
    }
    c.efficiency.gemm_peak_fraction = std::clamp(num / den, 1e-3, 1.0);
    for (auto& [shape, effs] : by_shape) {
      std::sort(effs.begin(), effs.end());
      GemmEfficiency e = shape;
      e.efficiency = std::min(1.0, effs[effs.size() / 2]);  // median of repeats
      out.gemm_table.push_back(e);
    }
    const ComputeParams shape_only = ComputeParamsFor(c);  // table not yet applied
    c.gemm_table = out.gemm_table;
    std::sort(c.gemm_table.begin(), c.gemm_table.end());
    const ComputeParams with_table = ComputeParamsFor(c);
    std::vector<double> meas, pb, pa, ps;
    for (const auto& g : in.gemms) {
      meas.push_back(g.time_s);
      pb.push_back(GemmTime(before, g.m, g.n, g.k, g.batch).time_s);
      pa.push_back(GemmTime(with_table, g.m, g.n, g.k, g.batch).time_s);
      ps.push_back(GemmTime(shape_only, g.m, g.n, g.k, g.batch).time_s);
    }
    Record(out, c, *FindParam("efficiency.gemm_peak_fraction"), src);
    const int64_t ng = static_cast<int64_t>(in.gemms.size());
    out.fit_error.push_back({"gemm_time_s", ng, Mape(pb, meas), Mape(pa, meas)});
    // How well the fitted best-case fraction alone does, i.e. on shapes nobody measured.
    out.fit_error.push_back({"gemm_time_s_shape_model", ng, Mape(pb, meas), Mape(ps, meas)});
  }
  c.efficiency.gemm_sustained_fraction = sustained_before;

  // --- The GEMM chain held for seconds against the same GEMMs in bursts: the median measured
  // fraction, at most 1 (a chain cannot beat its own shapes; above 1 is timing noise).
  if (!in.sustained_gemms.empty()) {
    std::vector<double> f;
    std::vector<std::string> src;
    for (const auto& s : in.sustained_gemms) {
      f.push_back(s.fraction);
      src.push_back(s.source);
    }
    c.efficiency.gemm_sustained_fraction = std::clamp(MedianOf(f), 1e-3, 1.0);
    Record(out, c, *FindParam("efficiency.gemm_sustained_fraction"), src);
    // The GPUs' spread, from runs of 2 or more ranks: the one that makes the expected slowest of
    // n normal draws the measured slowest rank (as the cluster files derive theirs from
    // mamf-finder's 8-GPU node), (1 - median / slowest rank's rate) / E[max of n]; the median
    // over runs, within [0, 0.2].
    std::vector<double> spreads;
    std::vector<std::string> spread_src;
    for (const auto& s : in.sustained_gemms) {
      if (s.late_per_rank.size() < 2) continue;
      const double slowest = *std::max_element(s.late_per_rank.begin(), s.late_per_rank.end());
      const auto n = static_cast<int64_t>(s.late_per_rank.size());
      spreads.push_back(
          std::clamp((1.0 - MedianOf(s.late_per_rank) / slowest) / ExpectedMaxOfStandardNormals(n), 0.0, 0.2));
      spread_src.push_back(s.source);
    }
    if (!spreads.empty()) {
      c.efficiency.gemm_gpu_spread = MedianOf(spreads);
      Record(out, c, *FindParam("efficiency.gemm_gpu_spread"), spread_src);
    }
  }

  // --- Per-layer timings: the best-case GEMM fraction that makes the layer's kernels (GEMMs,
  // attention, bandwidth-bound work; kernels.h) take the measured time, by bounded least squares
  // on relative error. Fitted after the GEMM table, so a measured shape keeps its own value.
  // A backward whose TP collectives overlap its weight-gradient GEMM (TpBackwardOverlapsWgrad:
  // Megatron's, which the model prices exposed) is scored apart and not fitted: fitting it would
  // hand the GEMMs the time the overlap hides.
  if (!in.layers.empty()) {
    std::vector<const LayerSample*> rows;
    for (const auto& s : in.layers) rows.push_back(&s);
    const auto fits_backward = [](const LayerSample& s) {
      return s.backward_s > 0 && !TpBackwardOverlapsWgrad(s.layout);
    };
    auto layer_residuals = [&](Cluster& cc, Eigen::VectorXd& r) {
      Eigen::Index i = 0;
      for (const LayerSample* s : rows) {
        const Evaluation e = Evaluator(s->model, cc, s->workload).Evaluate(s->layout);
        // A measured layer includes its TP collectives on the critical path.
        const double fwd = e.layer_forward_s + e.parts.layer_fwd_tp_s;
        const double bwd = e.layer_backward_s + e.parts.layer_bwd_tp_s;
        r(i++) = s->forward_s > 0 ? (fwd - s->forward_s) / s->forward_s : 0.0;
        r(i++) = fits_backward(*s) ? (bwd - s->backward_s) / s->backward_s : 0.0;
      }
    };
    // The backward times left out, scored before and after: their count and MAPE.
    auto unfitted_mape = [&](Cluster& cc) {
      std::vector<double> predicted, measured;
      for (const LayerSample* s : rows) {
        if (s->backward_s <= 0 || fits_backward(*s)) continue;
        const Evaluation e = Evaluator(s->model, cc, s->workload).Evaluate(s->layout);
        predicted.push_back(e.layer_backward_s + e.parts.layer_bwd_tp_s);
        measured.push_back(s->backward_s);
      }
      return std::pair{static_cast<int64_t>(measured.size()), Mape(predicted, measured)};
    };
    const double unfitted_before = unfitted_mape(c).second;
    const size_t n = 2 * rows.size();
    Eigen::VectorXd r0(static_cast<Eigen::Index>(n)), r1(static_cast<Eigen::Index>(n));
    layer_residuals(c, r0);
    const Param& gp = *FindParam("efficiency.gemm_peak_fraction");
    FitLm(c, {&gp}, n, layer_residuals);
    layer_residuals(c, r1);
    std::vector<std::string> src;
    for (const auto& s : in.layers) src.push_back(s.source);
    // One value per path: a GEMM-table fit of the same fraction is replaced by this one.
    std::erase_if(out.fitted, [&](const FittedValue& f) { return f.path == gp.path; });
    Record(out, c, gp, src);
    int64_t measured = 0;
    double sum0 = 0, sum1 = 0;
    for (Eigen::Index i = 0; i < r0.size(); ++i) {
      const LayerSample* s = rows[static_cast<size_t>(i / 2)];
      if (i % 2 == 0 ? s->forward_s <= 0 : !fits_backward(*s)) continue;
      ++measured;
      sum0 += std::abs(r0(i));
      sum1 += std::abs(r1(i));
    }
    if (measured > 0) {
      out.fit_error.push_back({"layer_time_s", measured, 100.0 * sum0 / static_cast<double>(measured),
                               100.0 * sum1 / static_cast<double>(measured)});
    }
    const auto [unfitted, unfitted_after] = unfitted_mape(c);
    if (unfitted > 0) {
      out.fit_error.push_back({"layer_backward_s_overlap_not_fitted", unfitted, unfitted_before, unfitted_after});
    }
  }

  // --- Attention: t = FLOPs / (peak x f x speed) + launch; relative least squares for 1/f.
  if (!in.attention.empty()) {
    const ComputeParams before = ComputeParamsFor(c);
    double num = 0, den = 0;
    std::vector<std::string> src;
    for (const auto& a : in.attention) {
      const double x = a.flops / (before.peak_flops * a.speed) / a.time_s;  // t_ideal / t
      const double y = 1.0 - before.launch_s / a.time_s;
      num += x * y;
      den += x * x;
      src.push_back(a.source);
    }
    c.efficiency.attention_peak_fraction = std::clamp(den / std::max(num, 1e-300), 1e-3, 1.0);
    const ComputeParams after = ComputeParamsFor(c);
    std::vector<double> meas, pb, pa;
    for (const auto& a : in.attention) {
      meas.push_back(a.time_s);
      pb.push_back(a.flops / (before.peak_flops * before.attention_fraction * a.speed) + before.launch_s);
      pa.push_back(a.flops / (after.peak_flops * after.attention_fraction * a.speed) + after.launch_s);
    }
    Record(out, c, *FindParam("efficiency.attention_peak_fraction"), src);
    out.fit_error.push_back({"attention_time_s", static_cast<int64_t>(in.attention.size()), Mape(pb, meas), Mape(pa, meas)});
  }

  // --- Steps: with everything above applied, the compute/communication overlap slowdown and the
  // per-call skew of blocking collectives (bounded least squares), then the constant memory
  // overhead (mean residual of the peak).
  if (!in.steps.empty()) {
    auto step_residuals = [&](Cluster& cc, Eigen::VectorXd& r) {
      for (size_t i = 0; i < in.steps.size(); ++i) {
        const StepSample& s = in.steps[i];
        const Evaluator ev(s.model, cc, s.workload);
        r(static_cast<Eigen::Index>(i)) = (ev.Evaluate(s.layout).time.step_s - s.time_s) / s.time_s;
      }
    };
    const size_t n = in.steps.size();
    Eigen::VectorXd r0(static_cast<Eigen::Index>(n)), r1(static_cast<Eigen::Index>(n));
    Cluster uncal = base;
    step_residuals(uncal, r0);
    // The overlap slowdown and the per-call skew of blocking collectives, each fitted only when
    // the measured steps respond to it (no hidden communication, no TP collectives: left out).
    std::vector<std::string> src;
    for (const auto& s : in.steps) src.push_back(s.source);
    std::vector<const Param*> step_params;
    Eigen::VectorXd base_r(static_cast<Eigen::Index>(n)), probe(static_cast<Eigen::Index>(n));
    step_residuals(c, base_r);
    for (const char* path : {"efficiency.overlap_slowdown", "efficiency.step_sync_us"}) {
      const Param& p = *FindParam(path);
      const double x0 = p.field(c);
      p.field(c) = x0 + (p.hi <= 10.0 ? 0.5 : 10.0);
      step_residuals(c, probe);
      p.field(c) = x0;
      if ((probe - base_r).cwiseAbs().maxCoeff() > 1e-9) step_params.push_back(&p);
    }
    if (!step_params.empty()) {
      FitLm(c, step_params, n, step_residuals);
      for (const Param* p : step_params) Record(out, c, *p, src);
    }
    step_residuals(c, r1);
    out.fit_error.push_back({"step_time_s", static_cast<int64_t>(n), 100.0 * r0.cwiseAbs().mean(),
                             100.0 * r1.cwiseAbs().mean()});
    // Peak memory: the constant per-GPU overhead (CUDA context; the process on a CPU backend)
    // absorbs what the model does not itemise.
    std::vector<double> meas, pb;
    double resid = 0;
    int64_t counted = 0;
    for (const auto& s : in.steps) {
      if (s.peak_memory_bytes <= 0) continue;
      const double pred = Evaluator(s.model, c, s.workload).Evaluate(s.layout).memory.peak_bytes;
      meas.push_back(s.peak_memory_bytes);
      pb.push_back(Evaluator(s.model, base, s.workload).Evaluate(s.layout).memory.peak_bytes);
      resid += s.peak_memory_bytes - pred;
      ++counted;
    }
    if (counted > 0) {
      c.overhead.cuda_context_gib = std::max(0.0, c.overhead.cuda_context_gib + resid / counted / kGiB);
      std::vector<double> pa;
      for (const auto& s : in.steps) {
        if (s.peak_memory_bytes <= 0) continue;
        pa.push_back(Evaluator(s.model, c, s.workload).Evaluate(s.layout).memory.peak_bytes);
      }
      Record(out, c, *FindParam("overhead.cuda_context_gib"), src);
      out.fit_error.push_back({"peak_memory_bytes", counted, Mape(pb, meas), Mape(pa, meas)});
    }
  }
  return out;
}

void ApplyCalibration(const CalibrationProfile& p, Cluster& c, std::string_view origin) {
  if (std::find(p.clusters.begin(), p.clusters.end(), c.name) == p.clusters.end()) {
    std::string names;
    for (const auto& n : p.clusters) names += (names.empty() ? "" : ", ") + n;
    throw Error(std::string(origin), "clusters: profile '" + p.name + "' is for " + names +
                                         ", not for cluster '" + c.name + "'");
  }
  for (const FittedValue& f : p.fitted) {
    const Param* param = FindParam(f.path);
    MESHPLAN_CHECK(param != nullptr);  // ParseCalibrationJson rejects unknown paths
    param->field(c) = f.value;
  }
  c.gemm_table = p.gemm_table;
  std::sort(c.gemm_table.begin(), c.gemm_table.end());
  c.calibration = p.name;
}

nlohmann::json ToJson(const CalibrationProfile& p) {
  nlohmann::json j;
  j["schema_version"] = kSchemaVersion;
  j["command"] = "calibrate";
  j["name"] = p.name;
  j["clusters"] = p.clusters;
  j["fitted"] = nlohmann::json::object();
  for (const auto& f : p.fitted) {
    j["fitted"][f.path] = {{"value", f.value}, {"unit", f.unit}, {"sources", f.sources}};
  }
  j["gemm_table"] = nlohmann::json::array();
  for (const auto& g : p.gemm_table) {
    j["gemm_table"].push_back({{"m", g.m}, {"n", g.n}, {"k", g.k}, {"batch", g.batch}, {"efficiency", g.efficiency}});
  }
  j["fit_error"] = nlohmann::json::object();
  for (const auto& e : p.fit_error) {
    j["fit_error"][e.quantity] = {{"n", e.n}, {"before_pct", e.before_pct}, {"after_pct", e.after_pct}};
  }
  j["inputs"] = p.inputs;
  return j;
}

CalibrationProfile ParseCalibrationJson(std::string_view text, std::string_view origin) {
  CalibrationProfile p;
  const nlohmann::json root = ParseJsonText(text, origin);
  if (!root.is_object()) throw Error(std::string(origin), "expected a JSON object (a calibration profile)");
  JsonObject o(root, std::string(origin), "");
  CheckSchemaVersion(o, kSchemaVersion);
  if (o.Has("tool")) o.String("tool");
  o.Ignore("leave_one_out");  // calibrate's own report of its held-out scores
  o.Ignore("extrapolation_in_nodes");  // and of its fits on fewer nodes
  o.Ignore("warnings");  // and where those were worse than the uncalibrated model
  const std::string command = o.String("command");
  if (command != "calibrate") {
    o.Fail("command", "expected \"calibrate\" (a calibration profile), got \"" + command + "\"");
  }
  p.name = o.Name("name");
  for (const auto& n : o.Array("clusters")) {
    if (!n.is_string()) o.Fail("clusters", "must be a list of cluster names");
    p.clusters.push_back(n.get<std::string>());
  }
  if (p.clusters.empty()) o.Fail("clusters", "must name at least one cluster");
  {
    JsonObject fitted = o.Object("fitted");
    for (const std::string& key : fitted.Keys()) {
      const Param* param = FindParam(key);
      if (param == nullptr) fitted.Fail(key, "not a quantity calibration can set");
      JsonObject f = fitted.Object(key);
      FittedValue v;
      v.path = key;
      v.value = f.Number("value", param->lo, param->hi);
      if (key == "efficiency.p2p_channel_GBps") {
        if (const std::string bad = P2pChannelCapProblem(v.value); !bad.empty()) f.Fail("value", bad);
      }
      v.unit = f.String("unit");
      for (const auto& s : f.Array("sources")) {
        if (!s.is_string()) f.Fail("sources", "must be a list of strings");
        v.sources.push_back(s.get<std::string>());
      }
      f.Finish();
      p.fitted.push_back(v);
    }
    fitted.Finish();
  }
  {
    const auto& table = o.Array("gemm_table");
    for (size_t i = 0; i < table.size(); ++i) {
      if (!table[i].is_object()) o.Fail("gemm_table", "entries must be objects");
      JsonObject g(table[i], std::string(origin), "gemm_table[" + std::to_string(i) + "]");
      GemmEfficiency e;
      e.m = g.Int("m", 1, int64_t{1} << 40);
      e.n = g.Int("n", 1, int64_t{1} << 40);
      e.k = g.Int("k", 1, int64_t{1} << 40);
      e.batch = g.Int("batch", 1, int64_t{1} << 40);
      e.efficiency = g.Number("efficiency", 1e-6, 1.0);
      g.Finish();
      p.gemm_table.push_back(e);
    }
  }
  if (o.Has("fit_error")) {
    JsonObject fe = o.Object("fit_error");
    for (const std::string& key : fe.Keys()) {
      JsonObject e = fe.Object(key);
      p.fit_error.push_back({key, e.Int("n", 0, int64_t{1} << 40), e.Number("before_pct", 0, 1e12),
                             e.Number("after_pct", 0, 1e12)});
      e.Finish();
    }
    fe.Finish();
  }
  if (o.Has("inputs")) {
    for (const auto& s : o.Array("inputs")) {
      if (!s.is_string()) o.Fail("inputs", "must be a list of strings");
      p.inputs.push_back(s.get<std::string>());
    }
  }
  o.Finish();
  return p;
}

}  // namespace meshplan::costmodel
