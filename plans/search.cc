#include "plans/search.h"

#include <algorithm>
#include <cmath>
#include <bit>
#include <tuple>
#include <chrono>

#include "costmodel/context.h"
#include "costmodel/error.h"

namespace meshplan::plans {
using costmodel::Evaluation;
using costmodel::Layout;

namespace {

std::vector<int64_t> Divisors(int64_t n) {
  std::vector<int64_t> d;
  for (int64_t i = 1; i * i <= n; ++i) {
    if (n % i == 0) {
      d.push_back(i);
      if (i != n / i) d.push_back(n / i);
    }
  }
  std::sort(d.begin(), d.end());
  return d;
}

/// A total order on layouts so equal costs rank the same way every time.
bool LayoutLess(const Layout& a, const Layout& b) {
  auto key = [](const Layout& l) {
    return std::tuple(l.tp, l.sp, l.fsdp, l.replicate, l.zero, l.mbs,
                      static_cast<int>(l.recompute), static_cast<int>(l.recipe), l.pp, l.vpp,
                      static_cast<int>(l.schedule), l.pp_first_layers, l.pp_last_layers, l.cp,
                      static_cast<int>(l.cp_comm), l.cp_balance, l.ep);
  };
  return key(a) < key(b);
}

}  // namespace

bool CloserToFeasible(const Candidate& a, const Candidate& b) {
  const int ra = std::popcount(a.eval.reasons), rb = std::popcount(b.eval.reasons);
  if (ra != rb) return ra < rb;
  if (a.eval.memory.peak_bytes != b.eval.memory.peak_bytes) {
    return a.eval.memory.peak_bytes < b.eval.memory.peak_bytes;
  }
  if (a.eval.time.step_s != b.eval.time.step_s) return a.eval.time.step_s < b.eval.time.step_s;
  return LayoutLess(a.layout, b.layout);
}

bool Better(const Candidate& a, const Candidate& b, Objective objective) {
  const double sa = a.eval.time.step_s, sb = b.eval.time.step_s;
  const double ma = a.eval.memory.peak_bytes, mb = b.eval.memory.peak_bytes;
  if (objective == Objective::kStepTime) {
    if (sa != sb) return sa < sb;
    if (ma != mb) return ma < mb;
  } else {
    if (ma != mb) return ma < mb;
    if (sa != sb) return sa < sb;
  }
  return LayoutLess(a.layout, b.layout);
}

namespace {

/// One pipeline shape: degree, schedule, virtual stages, and an uneven split when pp does not
/// divide the layers.
struct PipeChoice {
  int64_t pp = 1, vpp = 1;
  costmodel::Schedule schedule = costmodel::Schedule::k1F1B;
  int64_t first = 0, last = 0;
};

/// The pipeline shapes worth costing for `gpus` (after TP) and `layers`: pp dividing gpus, each
/// stage at least two layers; an even split, or else Llama 3's: first and last stages one layer
/// lighter than the others (Meta, "The Llama 3 Herd of Models", Sec. 3.3.2: "we reduce one
/// Transformer layer each from the first and the last stages"). Each with 1F1B, ZB-H1, and the
/// interleaved schedule at every vpp that divides the stage (up to 8 chunks per rank).
std::vector<PipeChoice> PipeChoices(int64_t gpus, int64_t layers, int64_t max_pp) {
  std::vector<PipeChoice> out = {PipeChoice{}};
  for (int64_t pp : Divisors(gpus)) {
    if (pp == 1 || (max_pp > 0 && pp > max_pp) || 2 * pp > layers) continue;
    PipeChoice c;
    c.pp = pp;
    int64_t stage = 0;
    if (layers % pp == 0) {
      stage = layers / pp;
    } else if (pp > 2) {
      const int64_t middle = (layers + pp - 1) / pp;
      const int64_t rest = layers - (pp - 2) * middle;
      if (rest < 2 || rest % 2 != 0) continue;
      c.first = c.last = rest / 2;
      stage = middle;
      if (c.first == stage) c.first = c.last = 0;  // it was even after all
    } else {
      continue;
    }
    for (auto s : {costmodel::Schedule::k1F1B, costmodel::Schedule::kZeroBubble}) {
      c.schedule = s;
      c.vpp = 1;
      out.push_back(c);
    }
    for (int64_t v = 2; v <= 8; ++v) {
      // A lighter first/last stage counts its embedding/head as a slot (pipeline.h SplitLayers).
      const bool divides = stage % v == 0 && (c.first == 0 || (c.first + 1) % v == 0);
      if (!divides) continue;
      c.schedule = costmodel::Schedule::kInterleaved;
      c.vpp = v;
      out.push_back(c);
    }
  }
  return out;
}

/// The expert-parallel degrees worth costing: 1 for a dense model; for an MoE model every ep
/// dividing fsdp x cp (`shard`) and the experts (up to max_ep), with sp on when tp > 1 (the
/// only way Megatron-LM runs ep > 1 with tp > 1; experts.h).
std::vector<int64_t> EpChoices(const costmodel::Model& m, int64_t shard, int64_t tp, bool sp,
                               const SearchOptions& opt) {
  std::vector<int64_t> out = {1};
  if (m.moe.dense()) return out;
  for (int64_t ep : Divisors(shard)) {
    if (ep == 1 || (opt.max_ep > 0 && ep > opt.max_ep)) continue;
    if (m.moe.experts % ep != 0 || (tp > 1 && !sp)) continue;
    out.push_back(ep);
  }
  return out;
}

/// The context-parallel shapes worth costing after TP: cp = 1, and every cp dividing `gpus`
/// (up to max_cp) whose causal load balancing splits the sequence evenly (seq % 2cp == 0) and
/// leaves each rank at least opt.min_cp_tokens tokens; each with the ring (p2p) and, where the
/// heads and KV heads of a TP rank split over cp, Ulysses (a2a). The all-gather exchange is left
/// to --layout: it moves the ring's bytes but exposes them all (TE: "KV all-gather between CP
/// ranks is exposed"), so it never beats the ring here. Balancing is always on (off is never
/// faster: context.h CpAttentionImbalance).
std::vector<std::pair<int64_t, costmodel::CpComm>> CpChoices(const costmodel::Model& m, int64_t tp,
                                                            int64_t gpus, int64_t seq,
                                                            const SearchOptions& opt) {
  std::vector<std::pair<int64_t, costmodel::CpComm>> out = {{1, costmodel::CpComm::kP2p}};
  if (m.mla.enabled()) return out;  // context parallelism of MLA is not modelled (context.h)
  const int64_t heads = m.heads / tp, kv = costmodel::KvHeadsPerTpRank(m, tp);
  for (int64_t cp : Divisors(gpus)) {
    if (cp == 1 || (opt.max_cp > 0 && cp > opt.max_cp)) continue;
    if (seq % (2 * cp) != 0 || seq / cp < opt.min_cp_tokens) continue;
    out.emplace_back(cp, costmodel::CpComm::kP2p);
    if (m.heads % tp == 0 && heads % cp == 0 && kv % cp == 0) out.emplace_back(cp, costmodel::CpComm::kA2a);
  }
  return out;
}

/// Calls visit(layout) for every layout of the space, in a fixed order.
template <typename Visit>
void ForEachLayout(const costmodel::Evaluator& ev, const SearchOptions& opt, Visit&& visit) {
  const auto& w = ev.workload();
  const int64_t gpn = ev.cluster().node.gpus_per_node;
  int64_t max_tp = opt.max_tp > 0 ? opt.max_tp : (w.allow_cross_node_tp ? w.gpus : gpn);
  std::vector<costmodel::Recipe> recipes;
  if (opt.recipe) {
    recipes.push_back(*opt.recipe);
  } else {
    recipes = {costmodel::Recipe::kFsdp2, costmodel::Recipe::kMegatron};
  }
  const int64_t layers = ev.model().layers;
  for (int64_t tp : Divisors(w.gpus)) {
    if (tp > max_tp) continue;
   for (const auto& [cp, cp_comm] : CpChoices(ev.model(), tp, w.gpus / tp, w.seq, opt)) {
    for (const PipeChoice& pipe : PipeChoices(w.gpus / tp / cp, layers, opt.max_pp)) {
      const int64_t dp = w.gpus / tp / cp / pipe.pp;
      // Micro-batch sizes: the divisors of the local batch (or 1 when the batch cannot split).
      std::vector<int64_t> mbs_list = {1};
      if (w.global_batch >= dp && w.global_batch % dp == 0) {
        mbs_list.clear();
        for (int64_t m : Divisors(w.global_batch / dp)) {
          if (m <= 64) mbs_list.push_back(m);
        }
      }
      for (int sp = 0; sp <= (tp > 1 ? 1 : 0); ++sp) {
        for (int64_t f : Divisors(dp)) {
          for (int zero = 1; zero <= 3; ++zero) {
            if (f * cp == 1 && zero > 1) continue;  // nothing to shard over one rank (fsdp x cp)
            for (int64_t mbs : mbs_list) {
              // Interleaving needs the micro-batches to divide into pp (pipeline.h).
              if (pipe.schedule == costmodel::Schedule::kInterleaved &&
                  (w.global_batch % (mbs * dp) != 0 || (w.global_batch / (mbs * dp)) % pipe.pp != 0)) {
                continue;
              }
              for (auto rc : {costmodel::Recompute::kNone, costmodel::Recompute::kSelective,
                              costmodel::Recompute::kFull}) {
                // With flash attention the attention core is already recomputed: selective
                // recompute is the same layout as none.
                if (rc == costmodel::Recompute::kSelective && w.flash_attention) continue;
                for (auto recipe : recipes) {
                  // Megatron-LM's distributed optimizer shards optimizer states only (ZeRO-1;
                  // megatron/core/optimizer/distrib_optimizer.py): no megatron layout shards
                  // gradients or parameters, so the search does not offer one.
                  if (recipe == costmodel::Recipe::kMegatron && zero > 1) continue;
                  Layout l;
                  l.tp = tp;
                  l.sp = sp == 1;
                  l.fsdp = f;
                  l.replicate = dp / f;
                  l.zero = zero;
                  l.mbs = mbs;
                  l.recompute = rc;
                  l.recipe = recipe;
                  l.pp = pipe.pp;
                  l.vpp = pipe.vpp;
                  l.schedule = pipe.schedule;
                  l.pp_first_layers = pipe.first;
                  l.pp_last_layers = pipe.last;
                  l.cp = cp;
                  l.cp_comm = cp_comm;
                  for (int64_t ep : EpChoices(ev.model(), f * cp, tp, sp == 1, opt)) {
                    l.ep = ep;
                    if (opt.runs && !FrameworkRuns(*opt.runs, l)) continue;
                    visit(l);
                  }
                }
              }
            }
          }
        }
      }
    }
   }
  }
}

}  // namespace

int64_t CountLayouts(const costmodel::Evaluator& ev, const SearchOptions& opt) {
  struct Stop {};
  int64_t count = 0;
  try {
    ForEachLayout(ev, opt, [&](const Layout&) {
      if (++count > opt.max_layouts) throw Stop{};
    });
  } catch (const Stop&) {
  }
  return count;
}

std::vector<Layout> EnumerateLayouts(const costmodel::Evaluator& ev, const SearchOptions& opt) {
  // Count first, so a space too large to search is refused before any memory is spent on it.
  const int64_t count = CountLayouts(ev, opt);
  if (count > opt.max_layouts) {
    throw Error("search", "more than " + std::to_string(opt.max_layouts) +
                              " layouts to evaluate; narrow it with --max-tp, --max-pp, --max-cp, --max-ep or --recipe");
  }
  std::vector<Layout> out;
  out.reserve(static_cast<size_t>(count));
  ForEachLayout(ev, opt, [&](const Layout& l) { out.push_back(l); });
  return out;
}

SearchResult Search(const costmodel::Evaluator& ev, const SearchOptions& opt,
                    const std::function<void(int64_t, int64_t)>& progress) {
  MESHPLAN_CHECK(opt.top_k >= 1);
  const auto start = std::chrono::steady_clock::now();
  SearchResult r;
  // Count first, so a space too large to search is refused before any work; then visit the
  // layouts as the enumeration yields them: the space is never held in memory.
  const int64_t total = CountLayouts(ev, opt);
  if (total > opt.max_layouts) {
    throw Error("search", "more than " + std::to_string(opt.max_layouts) +
                              " layouts to evaluate; narrow it with --max-tp, --max-pp, --max-cp, --max-ep or --recipe");
  }
  // A layout that cannot run is screened (its reasons and memory, Evaluator::Screen) and not
  // priced: only the ranking of infeasible layouts reads its time, to break a tie in reasons
  // and memory (CloserToFeasible), and then both sides of the tie are priced. The layouts kept
  // for the report are priced at the end, so every Candidate returned is Evaluate's whole.
  struct Held {
    Candidate c;
    bool priced = false;
  };
  auto price = [&](Held& h) {
    if (h.priced) return;
    h.c.eval = ev.Evaluate(h.c.layout);
    h.priced = true;
    ++r.priced;
  };
  auto closer = [&](Held& a, Held& b) {
    if (std::popcount(a.c.eval.reasons) == std::popcount(b.c.eval.reasons) &&
        a.c.eval.memory.peak_bytes == b.c.eval.memory.peak_bytes) {
      price(a);
      price(b);
    }
    return CloserToFeasible(a.c, b.c);
  };
  std::array<std::optional<Held>, costmodel::kNumReasonCodes> best_bad;
  std::optional<Held> best_fsdp_only;
  auto cmp = [&](const Candidate& a, const Candidate& b) { return Better(a, b, opt.objective); };
  int64_t i = 0;
  // `eval` is Evaluate's when `priced`, else the screening's reasons and memory.
  auto consider = [&](const Layout& l, const costmodel::Evaluation& eval, bool priced) {
    Held h{Candidate{l, eval}, priced};
    const Candidate& c = h.c;
    ++r.evaluated;
    r.priced += priced ? 1 : 0;
    if (l.tp == 1 && l.pp == 1 && l.cp == 1) {  // FSDP alone: no tensor, pipeline or context parallelism
      const bool replace =
          !best_fsdp_only ||
          (c.eval.feasible() && !best_fsdp_only->c.eval.feasible()) ||
          (c.eval.feasible() && best_fsdp_only->c.eval.feasible() && cmp(c, best_fsdp_only->c)) ||
          (!c.eval.feasible() && !best_fsdp_only->c.eval.feasible() && closer(h, *best_fsdp_only));
      if (replace) best_fsdp_only = h;
    }
    if (c.eval.feasible()) {
      ++r.feasible;
      // Keep the top K in order (K is small: insertion is cheaper than a heap here).
      if (static_cast<int>(r.top.size()) < opt.top_k || cmp(c, r.top.back())) {
        auto pos = std::upper_bound(r.top.begin(), r.top.end(), c, cmp);
        r.top.insert(pos, c);
        if (static_cast<int>(r.top.size()) > opt.top_k) r.top.pop_back();
      }
    } else {
      for (int b = 0; b < costmodel::kNumReasonCodes; ++b) {
        if (c.eval.reasons & (1u << b)) {
          ++r.infeasible_by_reason[static_cast<size_t>(b)];
          auto& best = best_bad[static_cast<size_t>(b)];
          if (!best || closer(h, *best)) best = h;
        }
      }
    }
  };
  // Evaluate's verdict where the layout can run, the screening's where it cannot.
  auto assess = [&](const Layout& l, bool& priced) {
    const costmodel::Screening s = ev.Screen(l);
    priced = s.reasons == 0;
    if (priced) return ev.Evaluate(l);
    costmodel::Evaluation e;
    e.reasons = s.reasons;
    e.memory = s.memory;
    return e;
  };
  const costmodel::Model& m = ev.model();
  // (Not under a --framework without Megatron-Core's activation offload: FrameworkLayouts.)
  const bool offload = ev.cluster().node.host_GBps_per_gpu > 0 && (!opt.runs || opt.runs->activation_offload);
  ForEachLayout(ev, opt, [&](const Layout& l) {
    if (progress && (i % 4096) == 0) progress(i, total);
    ++i;
    bool priced = false;
    const costmodel::Evaluation e = assess(l, priced);
    consider(l, e, priced);
    // Activation offload (Megatron-Core --cpu-offloading, the megatron recipe at pp 1): a
    // layout without recompute that fails on memory alone is tried once more with the fewest
    // offloaded layers that fit. (deficit / one layer's activations) + the one in transit is
    // enough on the GPU (the peak is exact in the layers kept); the host's memory may still
    // refuse it; bisection finds the fewest.
    if (offload && e.reasons == costmodel::kReasonMemory && l.recompute == costmodel::Recompute::kNone &&
        l.pp == 1 && l.recipe == costmodel::Recipe::kMegatron && e.memory.activations_per_layer_bytes > 0) {
      const double deficit = e.memory.peak_bytes - e.memory.capacity_bytes;
      const double enough = std::ceil(deficit / e.memory.activations_per_layer_bytes) + 1.0;
      if (enough < static_cast<double>(m.layers)) {
        Layout o = l;
        o.cpu_offload_layers = static_cast<int64_t>(enough);
        if (ev.Screen(o).reasons == 0) {
          int64_t lo = 1, hi = o.cpu_offload_layers;  // lo does not fit (nothing saved), hi fits
          while (hi - lo > 1) {
            Layout t = l;
            t.cpu_offload_layers = (lo + hi) / 2;
            (ev.Screen(t).reasons == 0 ? hi : lo) = t.cpu_offload_layers;
          }
          o.cpu_offload_layers = hi;
        }
        bool fits = false;
        const costmodel::Evaluation fit = assess(o, fits);
        consider(o, fit, fits);
      }
    }
  });
  if (progress) progress(total, total);
  if (best_fsdp_only) {
    price(*best_fsdp_only);
    r.best_fsdp_only = best_fsdp_only->c;
  }
  for (auto& b : best_bad) {
    if (!b) continue;
    const bool dup = std::any_of(r.best_infeasible.begin(), r.best_infeasible.end(),
                                 [&](const Candidate& x) { return x.layout == b->c.layout; });
    if (dup) continue;
    price(*b);
    r.best_infeasible.push_back(b->c);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace meshplan::plans
