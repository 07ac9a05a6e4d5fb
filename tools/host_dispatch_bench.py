#!/usr/bin/env python3
"""Host time of eager PyTorch per launched kernel, for a GPT layer written the way Megatron-LM
(and Megatron-DeepSpeed) writes it, with activation checkpointing.

Why: a step whose kernels are short cannot run faster than the host issues them. Eager PyTorch
spends host time on every op (Python, nn.Module, the dispatcher, autograd) before the CUDA launch
itself; on a GPU the kernel count of a layer is the same as the count of non-view ATen ops this
script counts on the CPU. This measures that host time where the tensors are so small that the
CPU kernels themselves take a fraction of a microsecond: wall time of a layer's forward, its
recompute and its backward, divided by the layer's kernels.

What it leaves out, on purpose, and says so in its output: the CUDA runtime's launch call
(cudaLaunchKernel; HolisticTraceAnalysis's documentation: "Usually, the launch time on the CPU
side is between 5-20 microseconds"), the caching allocator's CUDA path, NCCL's host calls, and
whatever a framework adds around the layer (optimizer, hooks, logging). So its figure is a lower
bound of a GPU host's cost per kernel.

Runs on any machine with torch (Debian 12: apt-get install python3-torch) on one thread:
  /usr/bin/python3 tools/host_dispatch_bench.py --out data/measurements/host-dispatch-<host>-<date>.json
The op sequence follows NVIDIA/Megatron-LM megatron/model/transformer.py (ParallelTransformerLayer,
ParallelAttention.forward, ParallelMLP.forward, bias_dropout_add_fused_train, bias_gelu) and
megatron/mpu/layers.py (ColumnParallelLinear with its bias, RowParallelLinear skip_bias_add), as
Megatron-DeepSpeed (microsoft/Megatron-DeepSpeed) inherits them; the recompute is
torch.utils.checkpoint's reentrant CheckpointFunction, which DeepSpeed's checkpointing mirrors
(deepspeed/runtime/activation_checkpointing/checkpointing.py CheckpointFunction).
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

VIEW_OPS = {
    "aten::view", "aten::_unsafe_view", "aten::reshape", "aten::transpose", "aten::t", "aten::permute",
    "aten::split", "aten::split_with_sizes", "aten::chunk", "aten::narrow", "aten::slice", "aten::select",
    "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::as_strided", "aten::detach", "aten::alias",
    "aten::unbind", "aten::empty", "aten::empty_strided", "aten::empty_like", "aten::resolve_conj",
    "aten::resolve_neg", "aten::contiguous", "aten::_reshape_alias", "aten::expand_as", "aten::view_as", "aten::to", "aten::_to_copy", "aten::lift_fresh", "aten::result_type",
    "aten::is_nonzero", "aten::item", "aten::_local_scalar_dense", "aten::set_", "aten::numpy_T",
}


class Linear(torch.nn.Module):
    """mpu ColumnParallelLinear / RowParallelLinear at TP 1: F.linear, the bias inside or returned."""

    def __init__(self, n_in, n_out, skip_bias_add):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(n_out))
        self.skip_bias_add = skip_bias_add

    def forward(self, x):
        bias = self.bias if not self.skip_bias_add else None
        out = F.linear(x, self.weight, bias)
        return out, (self.bias if self.skip_bias_add else None)


# Megatron's two TorchScript functions (megatron/model/transformer.py bias_dropout_add_fused_train,
# megatron/model/fused_bias_gelu.py bias_gelu), scripted as there: their host cost is the graph
# executor's call and its ops.
@torch.jit.script
def bias_dropout_add(x: torch.Tensor, bias: torch.Tensor, residual: torch.Tensor, prob: float,
                     training: bool) -> torch.Tensor:
    out = torch.nn.functional.dropout(x + bias, p=prob, training=training)
    return residual + out


@torch.jit.script
def bias_gelu(bias: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = bias + y
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


class Attention(torch.nn.Module):
    def __init__(self, h, heads, dropout):
        super().__init__()
        self.heads, self.hn = heads, h // heads
        self.query_key_value = Linear(h, 3 * h, skip_bias_add=False)
        self.dense = Linear(h, h, skip_bias_add=True)
        self.norm_factor = math.sqrt(self.hn)
        self.dropout = dropout

    def forward(self, hidden):  # [s, b, h]
        mixed, _ = self.query_key_value(hidden)
        s, b = mixed.shape[0], mixed.shape[1]
        mixed = mixed.view(s, b, self.heads, 3 * self.hn)
        q, k, v = torch.split(mixed, self.hn, dim=-1)
        q = q.reshape(s, b * self.heads, self.hn)
        k = k.reshape(s, b * self.heads, self.hn)
        buf = torch.empty(b * self.heads, s, s, dtype=q.dtype)
        scores = torch.baddbmm(buf, q.transpose(0, 1), k.transpose(0, 1).transpose(1, 2), beta=0.0,
                               alpha=1.0 / self.norm_factor)
        scores = scores.view(b, self.heads, s, s)
        # FusedScaleMaskSoftmax's upper-triangular kernel: one fused kernel on a GPU; here the
        # mask and the softmax (counted as the ops they are on the CPU, see the output's note).
        mask = torch.ones(s, s, dtype=torch.bool).triu(1)
        probs = torch.softmax(scores.masked_fill(mask, -10000.0), dim=-1)
        probs = F.dropout(probs, p=self.dropout, training=self.training)
        v = v.reshape(s, b * self.heads, self.hn)
        ctx = torch.bmm(probs.view(b * self.heads, s, s), v.transpose(0, 1))
        ctx = ctx.view(b, self.heads, s, self.hn).permute(2, 0, 1, 3).contiguous()
        ctx = ctx.view(s, b, self.heads * self.hn)
        return self.dense(ctx)


class Mlp(torch.nn.Module):
    def __init__(self, h, ffn):
        super().__init__()
        self.dense_h_to_4h = Linear(h, ffn, skip_bias_add=True)
        self.dense_4h_to_h = Linear(ffn, h, skip_bias_add=True)

    def forward(self, x):
        inter, bias = self.dense_h_to_4h(x)
        inter = bias_gelu(bias, inter)
        return self.dense_4h_to_h(inter)


class Layer(torch.nn.Module):
    def __init__(self, h, heads, ffn, dropout):
        super().__init__()
        self.input_layernorm = torch.nn.LayerNorm(h)
        self.self_attention = Attention(h, heads, dropout)
        self.post_attention_layernorm = torch.nn.LayerNorm(h)
        self.mlp = Mlp(h, ffn)
        self.dropout = dropout

    def forward(self, hidden):
        ln = self.input_layernorm(hidden)
        attn, attn_bias = self.self_attention(ln)
        ln_in = bias_dropout_add(attn, attn_bias.expand_as(hidden), hidden, self.dropout, self.training)
        ln2 = self.post_attention_layernorm(ln_in)
        mlp, mlp_bias = self.mlp(ln2)
        return bias_dropout_add(mlp, mlp_bias.expand_as(ln_in), ln_in, self.dropout, self.training)


def run(layers, x, recompute):
    h = x
    for layer in layers:
        h = checkpoint(layer, h) if recompute else layer(h)
    h.sum().backward()


def kernels_of(layers, x, recompute):
    """Non-view ATen ops called from Python or from autograd, not from inside another ATen op: on
    a GPU each launches a kernel (a composite op's inner ops run in its one CUDA kernel there)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run(layers, x, recompute)
    n = 0
    names = {}
    for e in prof.events():
        if not e.name.startswith("aten::") or e.name in VIEW_OPS:
            continue
        p = e.cpu_parent
        while p is not None and not p.name.startswith("aten::"):
            p = p.cpu_parent
        if p is not None:
            continue
        n += 1
        names[e.name] = names.get(e.name, 0) + 1
    return n, names


def args_shape(a):
    """Tiny tensors: the CPU kernels' own time is what is left at zero size (see --hidden)."""
    return a.hidden, 2, 4 * a.hidden, a.seq, 1, 0.1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--seq", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    h, heads, ffn, s, b, dropout = args_shape(a)
    layers = torch.nn.ModuleList(Layer(h, heads, ffn, dropout) for _ in range(a.layers))
    layers.train()
    x = torch.randn(s, b, h, requires_grad=True)
    out = {"what": "host time of eager PyTorch per kernel of a Megatron-LM GPT layer (tools/host_dispatch_bench.py)",
           "shape": {"hidden": h, "heads": heads, "ffn": ffn, "seq": s, "micro_batch": b, "dropout": dropout,
                     "layers": a.layers},
           "provenance": {"date": datetime.date.today().isoformat(), "torch": torch.__version__,
                          "python": platform.python_version(), "machine": platform.machine(),
                          "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                       if l.startswith("model name")), "unknown"),
                          "threads": torch.get_num_threads(),
                          "command": " ".join(["/usr/bin/python3"] + sys.argv)},
           "runs": {}}
    for recompute in (False, True):
        n, names = kernels_of(layers, x, recompute)
        for _ in range(10):
            run(layers, x, recompute)
        per = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for _ in range(a.iters):
                run(layers, x, recompute)
            per.append((time.perf_counter() - t0) / a.iters)
        med = statistics.median(per)
        key = "full_recompute" if recompute else "no_recompute"
        out["runs"][key] = {
            "kernels_per_layer": n / a.layers,
            "host_us_per_layer": med / a.layers * 1e6,
            "host_us_per_layer_min": min(per) / a.layers * 1e6,
            "host_us_per_kernel": med / n * 1e6,
            "repeats_us_per_layer": [round(p / a.layers * 1e6, 2) for p in per],
            "ops": dict(sorted(names.items())),
        }
        print(f"{key}: {n / a.layers:.1f} kernels per layer, {med / a.layers * 1e6:.0f} us per layer, "
              f"{med / n * 1e6:.2f} us per kernel (median of {a.repeats} x {a.iters}; the fastest repeat "
              f"{min(per) / a.layers * 1e6:.0f} us per layer)")
    out["note"] = ("A lower bound of a GPU host's time per kernel: the CUDA launch call (5-20 us, "
                   "HolisticTraceAnalysis docs), the CUDA allocator and NCCL host calls are not in it; the "
                   "CPU kernels of these tiny tensors are. The loss (sum) and its backward are counted "
                   "with the layers (2 ops per run of 8 layers).")
    with open(a.out + ".tmp", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
