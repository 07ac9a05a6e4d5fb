// File: costmodel/pipeline.cc
// Stage split, schedule constraints, the schedules' action lists and their closed forms.
#include "costmodel/pipeline.h"

#include <algorithm>

#include "costmodel/error.h"

namespace meshplan::costmodel {

std::string_view ToString(Schedule s) {
  switch (s) {
    case Schedule::k1F1B: return "1f1b";
    case Schedule::kInterleaved: return "interleaved";
    case Schedule::kZeroBubble: return "zb-h1";
  }
  return "?";
}

bool SplitLayers(const Layout& l, int64_t layers, StageSplit& out, std::string* why) {
  // The sentence is built only when asked for (the evaluator's path allocates nothing).
  auto fail = [&](auto&& sentence) {
    if (why) *why = sentence();
    return false;
  };
  const int64_t p = l.pp, v = l.vpp;
  out = {};
  if (p == 1) {
    out.first = out.last = layers;
    if (l.pp_first_layers > 0 || l.pp_last_layers > 0) {
      return fail([] { return std::string("pp_first_layers / pp_last_layers need pp > 1"); });
    }
    return true;
  }
  const bool uneven = l.pp_first_layers > 0 || l.pp_last_layers > 0;
  if (!uneven) {
    if (layers % p != 0) {
      return fail([&] {
        return "pp " + std::to_string(p) + " does not divide " + std::to_string(layers) +
               " layers (give pp_first_layers / pp_last_layers for an uneven split)";
      });
    }
    out.first = out.middle = out.last = layers / p;
  } else {
    // Megatron: the stages without an explicit count share the rest evenly.
    const int64_t rest = layers - l.pp_first_layers - l.pp_last_layers;
    const int64_t others = p - (l.pp_first_layers > 0 ? 1 : 0) - (l.pp_last_layers > 0 ? 1 : 0);
    if (rest < 0 || (others == 0 && rest != 0) || (others > 0 && (rest <= 0 || rest % others != 0))) {
      return fail([&] {
        return "uneven split: " + std::to_string(layers) + " layers minus first " +
               std::to_string(l.pp_first_layers) + " and last " + std::to_string(l.pp_last_layers) +
               " do not divide evenly over the other " + std::to_string(others) + " stages";
      });
    }
    const int64_t each = others > 0 ? rest / others : 0;
    out.first = l.pp_first_layers > 0 ? l.pp_first_layers : each;
    out.last = l.pp_last_layers > 0 ? l.pp_last_layers : each;
    out.middle = p > 2 ? each : 0;
  }
  // An explicitly lighter first (last) stage counts its embedding (head and loss) as one layer
  // slot when it is cut into chunks, as Megatron-LM's --account-for-embedding-in-pipeline-split
  // and --account-for-loss-in-pipeline-split do (Llama 3 405B: 7 layers + embedding = 8 slots).
  const int64_t slots[3] = {out.first + (l.pp_first_layers > 0 ? 1 : 0), out.middle,
                            out.last + (l.pp_last_layers > 0 ? 1 : 0)};
  for (int i = 0; i < 3; ++i) {
    const int64_t n = i == 0 ? out.first : i == 1 ? out.middle : out.last;
    if (n == 0 && !(p == 2 && i == 1)) {
      return fail([] { return std::string("a pipeline stage would hold no layers"); });
    }
    if (v > 1 && slots[i] % v != 0 && !(p == 2 && i == 1)) {
      return fail([&] {
        return "vpp " + std::to_string(v) + " does not divide a stage's " + std::to_string(slots[i]) +
               (slots[i] != n ? " layer slots (layers + embedding or head)" : " layers");
      });
    }
  }
  return true;
}

int64_t AccountedSplit(int64_t layers, int64_t pp, bool embedding, bool loss, int64_t& first, int64_t& last) {
  const int64_t slots = layers + (embedding ? 1 : 0) + (loss ? 1 : 0);
  if (pp < 1 || slots % pp != 0) return 0;
  const int64_t each = slots / pp;
  first = embedding ? each - 1 : 0;
  last = loss ? each - 1 : 0;
  return each;
}

bool ScheduleFits(const Layout& l, int64_t m) {
  if (l.pp == 1) return l.vpp == 1 && l.schedule == Schedule::k1F1B;
  if (l.schedule == Schedule::kInterleaved) return l.vpp >= 2 && m % l.pp == 0;
  return l.vpp == 1;
}

std::string ScheduleProblem(const Layout& l, int64_t m) {
  if (l.pp == 1) {
    if (l.vpp != 1 || l.schedule != Schedule::k1F1B) return "vpp and schedule need pp > 1";
    return "";
  }
  if (l.schedule == Schedule::kInterleaved) {
    if (l.vpp < 2) return "the interleaved schedule needs vpp >= 2";
    if (m % l.pp != 0) {
      return "interleaved schedule: " + std::to_string(m) +
             " micro-batches are not a multiple of pp " + std::to_string(l.pp);
    }
  } else if (l.vpp != 1) {
    return "vpp " + std::to_string(l.vpp) + " needs schedule=interleaved";
  }
  return "";
}

double InFlightMicroBatches(Schedule s, int64_t p, int64_t v, int64_t m, int64_t rank) {
  switch (s) {
    case Schedule::k1F1B: return static_cast<double>(std::min(m, p - rank));
    case Schedule::kZeroBubble: return static_cast<double>(std::min(m, p));
    case Schedule::kInterleaved: {
      const int64_t total = m * v;
      const int64_t warmup = m == p ? total : std::min(total, 2 * (p - rank - 1) + (v - 1) * p);
      return static_cast<double>(std::min(total, warmup + 1)) / static_cast<double>(v);
    }
  }
  return 0;
}

int64_t PartialCheckpointWindow(Schedule s, int64_t p, int64_t v, int64_t m, int64_t rank) {
  switch (s) {
    case Schedule::k1F1B: return std::min(m, p - rank - 1) + 1;
    case Schedule::kInterleaved: {
      const int64_t total = m * v;
      return (m == p ? total : std::min(total, 2 * (p - rank - 1) + (v - 1) * p)) + 1;
    }
    case Schedule::kZeroBubble: return 0;
  }
  return 0;
}

namespace {
bool PartialCheckpointed(const Layout& l) {
  return l.partial_ckpt_mbs > 0 && l.pp > 1 && l.recompute != Recompute::kNone;
}
}  // namespace

double PartialCheckpointShare(const Layout& l, int64_t m, int64_t rank) {
  const int64_t w = PartialCheckpointWindow(l.schedule, l.pp, l.vpp, m, rank);
  const int64_t total = l.schedule == Schedule::kInterleaved ? m * l.vpp : m;
  const int64_t n = l.partial_ckpt_mbs;
  if (!PartialCheckpointed(l) || w <= 0 || total <= 0) return 0.0;
  const int64_t kept = (total / w) * std::min(n, w) + std::min(n, total % w);
  return static_cast<double>(kept) / static_cast<double>(total);
}

double PartialCheckpointInFlight(const Layout& l, int64_t m, int64_t rank) {
  const int64_t w = PartialCheckpointWindow(l.schedule, l.pp, l.vpp, m, rank);
  if (!PartialCheckpointed(l) || w <= 0 || m <= 0) return 0.0;
  const int64_t n = l.partial_ckpt_mbs;
  if (l.schedule == Schedule::k1F1B) {
    // Backwards run in forward order: the live micro-batches are consecutive forwards.
    return static_cast<double>(std::min(n, std::min(m, l.pp - rank)));
  }
  // Interleaved: backwards run the chunks in reverse, so the live set is not a window of
  // forwards. Replay Megatron's order: the warm-up forwards, then forward t + warm-up and
  // backward t in turn; the k-th forward (micro-batch group g, chunk c, i-th of p) is the
  // backward of index g p v + (v - 1 - c) p + i.
  const int64_t p = l.pp, v = l.vpp, total = m * v, warmup = w - 1;
  // Past 2^20 chunk-forwards (a million micro-batches) the replay is not run: every in-flight
  // chunk counts as kept whole, an upper bound.
  if (total > (int64_t{1} << 20)) return InFlightMicroBatches(l.schedule, p, v, m, rank);
  auto whole = [&](int64_t k) { return k % w < n; };
  auto forward_of_backward = [&](int64_t j) {
    const int64_t g = j / (p * v), c = v - 1 - (j % (p * v)) / p, i = j % p;
    return g * p * v + c * p + i;
  };
  int64_t alive = 0, most = 0;
  for (int64_t k = 0; k < std::min(warmup, total); ++k) alive += whole(k);
  most = alive;
  for (int64_t t = 0; t < total; ++t) {
    if (t + warmup < total) alive += whole(t + warmup);
    most = std::max(most, alive);
    alive -= whole(forward_of_backward(t));
  }
  return static_cast<double>(most) / static_cast<double>(v);
}

double BubbleTime(Schedule s, int64_t p, int64_t v, double t_f, double t_b, double t_w) {
  const double hops = static_cast<double>(p - 1);
  switch (s) {
    case Schedule::k1F1B: return hops * (t_f + t_b + t_w);
    case Schedule::kInterleaved: return hops * (t_f + t_b + t_w) / static_cast<double>(v);
    case Schedule::kZeroBubble: return hops * std::max(0.0, t_f + t_b - t_w);
  }
  return 0;
}

namespace {

std::vector<Action> OneFOneB(int64_t p, int64_t m, int64_t rank) {
  std::vector<Action> a;
  const int64_t warmup = std::min(m, p - rank - 1);
  for (int64_t i = 0; i < warmup; ++i) a.push_back({ActionKind::kForward, static_cast<int32_t>(i), 0});
  for (int64_t i = 0; i < m - warmup; ++i) {
    a.push_back({ActionKind::kForward, static_cast<int32_t>(warmup + i), 0});
    a.push_back({ActionKind::kBackward, static_cast<int32_t>(i), 0});
  }
  for (int64_t i = m - warmup; i < m; ++i) a.push_back({ActionKind::kBackward, static_cast<int32_t>(i), 0});
  return a;
}

std::vector<Action> Interleaved(int64_t p, int64_t v, int64_t m, int64_t rank) {
  const int64_t total = m * v;
  auto chunk_of = [&](int64_t k, bool forward) {
    const int64_t c = (k % (p * v)) / p;
    return static_cast<int32_t>(forward ? c : v - 1 - c);
  };
  auto mb_of = [&](int64_t k) { return static_cast<int32_t>((k / (p * v)) * p + k % p); };
  std::vector<Action> a;
  const int64_t warmup = m == p ? total : std::min(total, 2 * (p - rank - 1) + (v - 1) * p);
  for (int64_t k = 0; k < warmup; ++k) a.push_back({ActionKind::kForward, mb_of(k), chunk_of(k, true)});
  for (int64_t i = 0; i < total - warmup; ++i) {
    const int64_t kf = warmup + i;
    a.push_back({ActionKind::kForward, mb_of(kf), chunk_of(kf, true)});
    a.push_back({ActionKind::kBackward, mb_of(i), chunk_of(i, false)});
  }
  for (int64_t k = total - warmup; k < total; ++k) {
    a.push_back({ActionKind::kBackward, mb_of(k), chunk_of(k, false)});
  }
  return a;
}

std::vector<Action> ZeroBubbleH1(int64_t p, int64_t m, int64_t rank) {
  std::vector<Action> a;
  int32_t f = 0, b = 0, w = 0;
  const int32_t M = static_cast<int32_t>(m);
  auto F = [&] { a.push_back({ActionKind::kForward, f++, 0}); };
  auto B = [&] { a.push_back({ActionKind::kBackward, b++, 0}); };
  auto W = [&] { a.push_back({ActionKind::kWeight, w++, 0}); };
  for (int64_t i = 0; i < p - rank - 1 && f < M; ++i) F();
  for (int64_t i = 0; i < rank && f < M; ++i) { F(); B(); }
  while (f < M) { F(); B(); W(); }
  while (b < M) { B(); W(); }
  while (w < M) W();
  return a;
}

}  // namespace

std::vector<std::vector<Action>> ScheduleActions(Schedule s, int64_t p, int64_t v, int64_t m) {
  MESHPLAN_CHECK(p >= 1 && v >= 1 && m >= 1);
  MESHPLAN_CHECK(p * v * m * 3 <= kMaxPipelineActions);
  std::vector<std::vector<Action>> out(static_cast<size_t>(p));
  for (int64_t r = 0; r < p; ++r) {
    auto& list = out[static_cast<size_t>(r)];
    switch (s) {
      case Schedule::k1F1B: list = OneFOneB(p, m, r); break;
      case Schedule::kInterleaved: list = Interleaved(p, v, m, r); break;
      case Schedule::kZeroBubble: list = ZeroBubbleH1(p, m, r); break;
    }
  }
  return out;
}

std::vector<std::vector<BlockingStep>> BlockingProgram(Schedule s, int64_t v, int64_t m,
                                                       const std::vector<std::vector<Action>>& lists) {
  MESHPLAN_CHECK(s != Schedule::kZeroBubble);
  const int64_t p = static_cast<int64_t>(lists.size());
  std::vector<std::vector<BlockingStep>> out(static_cast<size_t>(p));
  const int64_t pv = p * v, total = m * v;
  // Megatron's get_model_chunk_id: Python's modulo, so a negative id wraps.
  auto chunk = [&](int64_t k, bool forward) {
    const int64_t c = (((k % pv) + pv) % pv) / p;
    return forward ? c : v - 1 - c;
  };
  for (int64_t r = 0; r < p; ++r) {
    const auto& a = lists[static_cast<size_t>(r)];
    auto& o = out[static_cast<size_t>(r)];
    o.reserve(a.size() * 2 + 2);
    size_t i = 0;
    auto run = [&] { o.push_back({true, 0, a[i++]}); };
    auto exchange = [&](int ops) {
      if (ops != 0) o.push_back({false, static_cast<uint8_t>(ops), Action{}});
    };
    const bool first = r == 0, last = r == p - 1;
    if (s == Schedule::k1F1B) {
      const int64_t warmup = std::min(m, p - r - 1), steady = m - warmup;
      for (int64_t k = 0; k < warmup; ++k) {
        exchange(first ? 0 : kRecvPrev);
        run();
        exchange(last ? 0 : kSendNext);
      }
      if (steady > 0) exchange(first ? 0 : kRecvPrev);
      for (int64_t k = 0; k < steady; ++k) {
        run();
        exchange(last ? 0 : kSendNext | kRecvNext);
        run();
        exchange(first ? 0 : k == steady - 1 ? kSendPrev : kSendPrev | kRecvPrev);
      }
      for (int64_t k = 0; k < warmup; ++k) {
        exchange(last ? 0 : kRecvNext);
        run();
        exchange(first ? 0 : kSendPrev);
      }
    } else {
      const bool all_warmup = m == p;
      const int64_t warmup = all_warmup ? total : std::min(total, 2 * (p - r - 1) + (v - 1) * p);
      const int64_t steady = total - warmup;
      exchange(first ? 0 : kRecvPrev);
      for (int64_t k = 0; k < warmup; ++k) {
        run();
        const bool send = !(last && chunk(k, true) == v - 1);
        const bool recv_prev = !(first && chunk(k + 1, true) == 0) && k != total - 1;
        const bool recv_next = k == warmup - 1 && !all_warmup && !last;
        exchange((send ? kSendNext : 0) | (recv_prev ? kRecvPrev : 0) | (recv_next ? kRecvNext : 0));
      }
      for (int64_t k = 0; k < steady; ++k) {
        const int64_t fk = k + warmup;
        run();
        run();
        const bool send_f = !(last && chunk(fk, true) == v - 1);
        const bool send_b = !(first && chunk(k, false) == 0);
        const bool recv_prev = !(first && chunk(fk - (p - 1), true) == v - 1) && k != steady - 1;
        const bool recv_next = !(last && chunk(k - (p - 1), false) == 0);
        exchange((send_f ? kSendNext : 0) | (send_b ? kSendPrev : 0) | (recv_prev ? kRecvPrev : 0) |
                 (recv_next ? kRecvNext : 0));
      }
      if (all_warmup) exchange(last ? 0 : kRecvNext);
      for (int64_t k = steady; k < total; ++k) {
        const bool send_b = !(first && chunk(k, false) == 0);
        run();
        const bool recv_next = !(last && chunk(k + 1, false) == v - 1) && k != total - 1;
        exchange((send_b ? kSendPrev : 0) | (recv_next ? kRecvNext : 0));
      }
    }
    MESHPLAN_CHECK(i == a.size());
  }
  return out;
}

BlockingCounts BlockingCriticalPath(Schedule s, int64_t p, int64_t v, int64_t m) {
  const double pd = static_cast<double>(p), vd = static_cast<double>(v), md = static_cast<double>(m);
  if (p <= 1) return {};
  if (s == Schedule::k1F1B) {
    const double n = p == 2 ? md + 1.0 : m == 1 ? 2.0 * (pd - 1.0) : 2.0 * md + 2.0 * pd - 5.0;
    return {n, n};
  }
  MESHPLAN_CHECK(s == Schedule::kInterleaved);
  const bool all_warmup = m == p;
  BlockingCounts c;
  c.exchanges = md * vd + pd * vd + pd - 3.0 + (all_warmup ? pd - 1.0 : 0.0);
  if (p == 2) {
    c.gathers = all_warmup ? 2.0 * vd * md : (4.0 * vd - 1.0) * md / 2.0;
  } else {
    c.gathers = 2.0 * md * vd + 2.0 * pd - 5.0 + (all_warmup ? 1.0 : 0.0);
  }
  return c;
}

std::vector<double> PeakInFlight(const std::vector<std::vector<Action>>& actions, int64_t v) {
  std::vector<double> out;
  out.reserve(actions.size());
  for (const auto& list : actions) {
    const bool split_w = std::any_of(list.begin(), list.end(),
                                     [](const Action& x) { return x.kind == ActionKind::kWeight; });
    int64_t live = 0, peak = 0;
    for (const Action& x : list) {
      if (x.kind == ActionKind::kForward) peak = std::max(peak, ++live);
      else if (x.kind == (split_w ? ActionKind::kWeight : ActionKind::kBackward)) --live;
    }
    out.push_back(static_cast<double>(peak) / static_cast<double>(v));
  }
  return out;
}

bool PipelineHopCrossesNode(int64_t hop, int64_t p, int64_t stride, int64_t gpus_per_node) {
  MESHPLAN_CHECK(p >= 2 && hop >= 0 && hop < p && stride >= 1 && gpus_per_node >= 1);
  if (hop == p - 1) return p * stride > gpus_per_node;
  const int64_t lo = hop * stride, hi = (hop + 2) * stride - 1;
  return hi / gpus_per_node > lo / gpus_per_node;
}

double ExposedSendTime(Schedule s, bool blocking, int64_t v, int64_t m, const PipelineHops& h, double slack) {
  const int64_t p = h.p;
  MESHPLAN_CHECK(p >= 2 && v >= 1 && m >= 1);
  const bool alike = h.intra_s == h.inter_s;
  const double pd = static_cast<double>(p), vd = static_cast<double>(v), md = static_cast<double>(m);
  double path = alike ? (pd - 1.0) * h.intra_s : 0.0;
  if (!alike) {
    for (int64_t hop = 0; hop + 1 < p; ++hop) path += h(hop);
  }
  if (blocking) {
    double worst = 0;  // the slowest rank's exchange
    if (alike) {
      worst = h.intra_s;
    } else if (p == 2) {
      worst = h(0);
    } else if (s == Schedule::kInterleaved) {
      for (int64_t r = 0; r < p; ++r) worst = std::max(worst, h(r));
    } else {
      for (int64_t r = 1; r + 1 < p; ++r) worst = std::max(worst, 0.5 * (h(r - 1) + h(r)));
    }
    // The steady state's exchanges (2 per micro-batch in 1F1B, v in interleaved) at the slowest
    // rank's pace; the fill's and the drain's walk the stages, at the mean hop.
    const double n = BlockingCriticalPath(s, p, v, m).exchanges;
    const double steady = std::min(n, (s == Schedule::kInterleaved ? vd : 2.0) * md);
    const double mean = s == Schedule::kInterleaved ? (path + h(p - 1)) / pd : path / (pd - 1.0);
    return steady * worst + (n - steady) * mean;
  }
  switch (s) {
    case Schedule::kInterleaved: return 2.0 * (vd * path + (vd - 1.0) * h(p - 1));
    case Schedule::kZeroBubble: return 4.0 * path;
    case Schedule::k1F1B: break;
  }
  double round_trip = 2.0 * path / pd;  // every hop alike: the whole pipeline's
  if (!alike) {
    for (int64_t i = 0; i + 1 < p; ++i) {
      double sum = 0;
      for (int64_t j = i; j + 1 < p; ++j) {
        sum += h(j);
        round_trip = std::max(round_trip, 2.0 * sum / static_cast<double>(j - i + 2));
      }
    }
  }
  return md * std::max(0.0, round_trip - slack) + 2.0 * (pd - 2.0) / (pd - 1.0) * path;
}

}  // namespace meshplan::costmodel
