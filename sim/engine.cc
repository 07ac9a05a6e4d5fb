// File: sim/engine.cc
// The event loop (see engine.h for the rules). Cost is O((tasks + edges) log running): the heap
// holds only the end events of running tasks (one per stream, plus stale reschedules).
#include "sim/engine.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "costmodel/error.h"
#include "sim/graph_impl.h"

namespace meshplan::sim {
namespace {

struct Event {
  double t;
  int32_t task;
  uint32_t version;  // for the slowable task: valid only if equal to the current version
};
struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.t > b.t || (a.t == b.t && a.task > b.task);
  }
};

bool IsComm(TaskKind k) {
  return k == TaskKind::kFsdpAg || k == TaskKind::kFsdpRs || k == TaskKind::kDpAr ||
         k == TaskKind::kCpComm;
}
bool IsSlowable(TaskKind k) { return k == TaskKind::kCompute || k == TaskKind::kOptimizer; }

}  // namespace

SimResult RunEngine(const StepGraph& g, const EngineOptions& o) {
  MESHPLAN_CHECK(o.overlap_slowdown > 0);
  const std::vector<Task>& tasks = g.tasks();
  const GraphImpl& gi = g.impl();
  const size_t n = tasks.size();
  const int nres = o.serialize ? 1 : kNumStreams;
  auto res_of = [&](const Task& t) { return o.serialize ? 0 : static_cast<int>(t.stream); };

  // Each resource's tasks in issue order: a counting sort by resource, stable.
  std::array<size_t, kNumStreams + 1> qbegin{};
  for (const Task& t : tasks) ++qbegin[static_cast<size_t>(res_of(t)) + 1];
  for (int r = 0; r < nres; ++r) qbegin[static_cast<size_t>(r) + 1] += qbegin[static_cast<size_t>(r)];
  std::vector<int32_t> queue(n);
  {
    std::array<size_t, kNumStreams> fill{};
    for (int r = 0; r < nres; ++r) fill[static_cast<size_t>(r)] = qbegin[static_cast<size_t>(r)];
    for (size_t i = 0; i < n; ++i) {
      queue[fill[static_cast<size_t>(res_of(tasks[i]))]++] = static_cast<int32_t>(i);
    }
  }
  std::array<size_t, kNumStreams> head{};
  for (int r = 0; r < nres; ++r) head[static_cast<size_t>(r)] = qbegin[static_cast<size_t>(r)];

  std::vector<int32_t> pending(gi.in_degree);
  std::vector<double> ready(n, 0.0), start(n, 0.0), end(n, 0.0);
  std::vector<int32_t> binder(n, -1), blocker(n, -1);
  std::array<int32_t, kNumStreams> running{}, res_last_task{};
  running.fill(-1);
  res_last_task.fill(-1);
  std::array<double, kNumStreams> res_last_end{};

  SimResult out;
  out.static_bytes = g.static_bytes();
  out.micro_batches = g.micro_batches();
  out.layers = g.layers();
  out.tasks = static_cast<int64_t>(n);
  if (o.record_timeline) out.memory.reserve(2 * n);
  double mem = g.static_bytes();
  out.peak_bytes = mem;
  out.peak_time_s = 0;
  int64_t events = 0;

  std::vector<Event> heap;
  heap.reserve(64);
  const double slowdown = o.overlap_slowdown;
  const bool slowing = slowdown != 1.0;
  int active_comm = 0;
  int32_t slow_task = -1;
  double slow_left = 0, slow_since = 0, slow_factor = 1;
  uint32_t slow_version = 0;
  double now = 0;

  auto push = [&](double t, int32_t task, uint32_t version) {
    heap.push_back(Event{t, task, version});
    std::push_heap(heap.begin(), heap.end(), Later{});
  };
  auto record_mem = [&](double delta, int32_t task) {
    mem += delta;
    if (mem > out.peak_bytes) {
      out.peak_bytes = mem;
      out.peak_time_s = now;
    }
    if (o.record_timeline) out.memory.push_back(MemoryEvent{now, delta, mem, task});
  };
  auto start_task = [&](int32_t t) {
    const auto ut = static_cast<size_t>(t);
    const Task& k = tasks[ut];
    const auto r = static_cast<size_t>(res_of(k));
    running[r] = t;
    start[ut] = now;
    const bool stream_binds = res_last_task[r] >= 0 && (binder[ut] < 0 || res_last_end[r] > ready[ut]);
    blocker[ut] = stream_binds ? res_last_task[r] : binder[ut];
    ++events;
    if (IsComm(k.kind)) ++active_comm;
    if (k.alloc_bytes != 0) record_mem(k.alloc_bytes, t);
    if (slowing && IsSlowable(k.kind)) {
      slow_task = t;
      slow_left = k.duration_s;
      slow_since = now;
      slow_factor = active_comm > 0 ? slowdown : 1.0;
      push(now + slow_left * slow_factor, t, ++slow_version);
    } else {
      push(now + k.duration_s, t, 0);
    }
  };
  auto finish = [&](int32_t t) {
    const auto ut = static_cast<size_t>(t);
    const Task& k = tasks[ut];
    const auto r = static_cast<size_t>(res_of(k));
    end[ut] = now;
    running[r] = -1;
    res_last_task[r] = t;
    res_last_end[r] = now;
    ++events;
    if (IsComm(k.kind)) --active_comm;
    if (t == slow_task) slow_task = -1;
    if (k.free_bytes != 0) record_mem(-k.free_bytes, t);
    auto [it, last] = boost::out_edges(static_cast<uint32_t>(t), gi.graph);
    for (; it != last; ++it) {
      const auto v = static_cast<size_t>(boost::target(*it, gi.graph));
      --pending[v];
      if (now >= ready[v]) {
        ready[v] = now;
        binder[v] = t;
      }
    }
  };
  auto is_stale = [&](const Event& ev) {
    return slowing && IsSlowable(tasks[static_cast<size_t>(ev.task)].kind) &&
           (ev.task != slow_task || ev.version != slow_version);
  };
  auto start_ready = [&] {
    for (int r = 0; r < nres; ++r) {
      const auto ur = static_cast<size_t>(r);
      if (running[ur] >= 0 || head[ur] == qbegin[ur + 1]) continue;
      const int32_t t = queue[head[ur]];
      if (pending[static_cast<size_t>(t)] != 0) continue;
      ++head[ur];
      start_task(t);
    }
    // Rate of the running compute task after this instant's starts and ends.
    if (slowing && slow_task >= 0) {
      const double want = active_comm > 0 ? slowdown : 1.0;
      if (want != slow_factor) {
        slow_left = std::max(0.0, slow_left - (now - slow_since) / slow_factor);
        slow_since = now;
        slow_factor = want;
        push(now + slow_left * slow_factor, slow_task, ++slow_version);
        ++events;
      }
    }
  };

  start_ready();
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Later{});
    const Event ev = heap.back();
    heap.pop_back();
    if (is_stale(ev)) continue;
    now = ev.t;
    finish(ev.task);
    while (!heap.empty() && heap.front().t == now) {
      std::pop_heap(heap.begin(), heap.end(), Later{});
      const Event same = heap.back();
      heap.pop_back();
      if (!is_stale(same)) finish(same.task);
    }
    start_ready();
  }
  for (int r = 0; r < nres; ++r) {
    MESHPLAN_CHECK(head[static_cast<size_t>(r)] == qbegin[static_cast<size_t>(r) + 1]);
  }

  // Breakdown: busy time per kind; compute-stream idle time charged along the blocking chain.
  for (size_t i = 0; i < n; ++i) {
    out.busy_by_kind_s[static_cast<size_t>(tasks[i].kind)] += end[i] - start[i];
    out.step_s = std::max(out.step_s, end[i]);
  }
  double prev_end = 0;
  for (size_t i = 0; i < n; ++i) {
    if (tasks[i].stream != Stream::kCompute) continue;
    const double a = prev_end;
    double b = start[i];
    int32_t y = blocker[i];
    while (b > a && y >= 0) {
      const auto uy = static_cast<size_t>(y);
      const double from = std::max(a, start[uy]);
      out.exposed_by_kind_s[static_cast<size_t>(tasks[uy].kind)] += b - from;
      b = start[uy];
      y = blocker[uy];
    }
    MESHPLAN_CHECK(!(b > a));  // only t = 0 has no blocker
    prev_end = end[i];
  }
  const auto kind = [](TaskKind k) { return static_cast<size_t>(k); };
  out.compute_s = out.busy_by_kind_s[kind(TaskKind::kCompute)];
  out.optimizer_s = out.busy_by_kind_s[kind(TaskKind::kOptimizer)];
  out.exposed_tp_comm_s = out.busy_by_kind_s[kind(TaskKind::kTpComm)];
  out.exposed_by_kind_s[kind(TaskKind::kTpComm)] = out.exposed_tp_comm_s;
  out.exposed_fsdp_comm_s = out.exposed_by_kind_s[kind(TaskKind::kFsdpAg)] +
                            out.exposed_by_kind_s[kind(TaskKind::kFsdpRs)];
  out.exposed_dp_comm_s = out.exposed_by_kind_s[kind(TaskKind::kDpAr)];
  out.exposed_cp_comm_s = out.exposed_by_kind_s[kind(TaskKind::kCpComm)];
  // Blocking on the compute stream, like TP: all of it is exposed.
  out.exposed_ep_comm_s = out.busy_by_kind_s[kind(TaskKind::kEpComm)];
  out.exposed_by_kind_s[kind(TaskKind::kEpComm)] = out.exposed_ep_comm_s;
  out.events = events;

  if (o.record_timeline) {
    out.tasks_run.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const Task& k = tasks[i];
      out.tasks_run[i] = TaskRecord{k.op, k.kind, k.stream, k.micro_batch, k.layer, start[i], end[i]};
    }
  }
  return out;
}

}  // namespace meshplan::sim
