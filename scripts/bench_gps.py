"""Benchmark one GPS layer against PyG's ``GPSConv`` (measured in the same run).

Prints one JSON line per case and, last, a summary line with
``speedup_full_vs_pyg``, ``speedup_linear_vs_pyg_performer`` and
``eval_peak_gib_20k``. ``--quick`` runs a reduced version in under 2 minutes
(the 10^6-node scaling case is left to the full run).

Scaling cases (one GPS layer: the library's ``GIN`` + linear attention, eval
forward without autograd) run with the C library's default allocator settings,
which decide ``linear_scaling_flat_within_2x``, and with glibc told to keep freed
memory for reuse (``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``, see
``mallopt(3)``; the effect PyTorch's CPU tuning guide gets from jemalloc or
tcmalloc). By default glibc serves every block over 32 MiB by a fresh ``mmap``
and unmaps it on free, so a forward that made ``[N, C]`` temporaries would
page-fault them in again on every call at 10^6 nodes; the layer avoids that by
running its row-wise parts in node chunks (``graphformers.utils.chunks``).
Memory is measured in a fresh process per size; time in one process per
allocator setting holding all sizes, measured in interleaved rounds (one forward
per size per round, the minimum per size), so that a slow phase of the machine
hits every size alike. A bare sum aggregation (``index_select`` + ``index_add_``
over the same edges, one ``[E, C]`` gather) is timed the same way, as a
reference for what the memory system alone does per node.

Memory is the peak resident set size a forward adds above what the process held
just before it, measured in a fresh subprocess per case after one forward on a
64-node graph (thread pools, BLAS buffers and other one-time set-up are not per
node): the kernel's peak-RSS
counter (``VmHWM``) is reset through ``/proc/self/clear_refs`` right before the
forward and read after it (CPU allocations are invisible to ``torch.cuda``
statistics and to ``tracemalloc``).

Training memory (``train_memory_full``, summary key ``train_peak_gib_20k``): the same
measure over one forward + backward in train mode with autograd, on the 20,000-node graph,
ours and ``GPSConv`` (whose ``nn.MultiheadAttention`` in training runs
``scaled_dot_product_attention``'s fused kernel, also linear in memory).

For the scaling cases the summary gives the peak per node's spread from 10^5 up
(``linear_scaling_memory_ratio``, which decides ``linear_scaling_flat_within_2x`` with the
time ratio) and over all sizes (``..._all_sizes``): the 10^4 graph's temporaries stay below
32 MiB, where the layer deliberately runs unchunked (faster), so its peak per node is
several times the chunked runs'. ``linear_scaling_marginal_bytes_per_node`` is what each
further node costs between consecutive sizes (peak difference over node difference).

``--train-nodes N`` instead times forward+backward steps of that scaling layer
on one graph of ``N`` nodes under both allocator settings (training keeps every
activation, so there the allocator setting matters; README's large-graph tip).

``--checkpoint-nodes N`` instead trains a ``GraphGPS`` of ``--train-layers`` such
layers (and a linear node head) on one graph of ``N`` nodes with and without
activation checkpointing (``GraphGPS(checkpoint=True)``), each in a fresh process
with glibc's default allocator: peak resident memory the first forward+backward adds
and seconds per step; last line ``checkpoint_memory_ratio`` (peak without / with)
and ``checkpoint_time_ratio`` (step with / without).

Full attention: ``ours: "full"`` is the library's default, which for float32 CPU
batches of small graphs runs the compiled kernel of ``graphformers.attention.native``
(built on first use with the system's C compiler; ``native_kernel`` in the summary
says whether it was there); ``ours: "full_pytorch"`` is the same layer on the
pure-PyTorch packed path, what runs where no compiler is found
(``speedup_full_pytorch_path_vs_pyg``).

Threads: by default the script leaves PyTorch's thread settings alone, as a
user's training script does. ``--threads N`` calls ``torch.set_num_threads(N)``
first (children too). Measured on the 2-core VM with torch 2.13: calling it, even
with the default count 2, makes the CPU flash kernel of
``scaled_dot_product_attention`` (which ``GPSConv``'s ``nn.MultiheadAttention``
runs) about 2x slower (1.05 -> 2.36 ms forward on ``[128, 4, 35, 16]``), while
matmuls and our layer are unchanged; ratios measured with ``--threads`` are
therefore not comparable to the defaults. The summary line records the setting.

Usage::

    python scripts/bench_gps.py [--quick] [--threads N]
    python scripts/bench_gps.py --train-nodes 1000000 [--train-steps 6]
    python scripts/bench_gps.py --checkpoint-nodes 300000 [--train-layers 4] [--train-steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINEConv, GPSConv

from graphformers.attention import LinearAttention, MultiheadAttention, PerformerAttention, native
from graphformers.attention.packed import batch_cache
from graphformers.blocks.gps import GPSLayer
from graphformers.cli.args import positive_int
from graphformers.heads import NodeHead
from graphformers.local.gine import GIN, GINE
from graphformers.models.gps import GraphGPS

C, HEADS = 64, 4


def molecule_batch(num_graphs: int = 128, seed: int = 0) -> Batch:
    """Random molecule-sized graphs: 15-35 nodes (about 25), a spanning path plus
    extra bonds, 2 directions each (about 54 directed edges per graph)."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(num_graphs):
        n = int(torch.randint(15, 36, (1,), generator=g))
        src = torch.arange(n - 1)
        path = torch.stack([src, src + 1])
        extra = torch.randint(0, n, (2, 2), generator=g)
        extra = extra[:, extra[0] != extra[1]]
        und = torch.cat([path, extra], dim=1)
        ei = torch.cat([und, und.flip(0)], dim=1)
        graphs.append(Data(x=torch.randn(n, C, generator=g), edge_index=ei,
                           edge_attr=torch.randn(ei.size(1), C, generator=g)))
    return Batch.from_data_list(graphs)


def gine() -> GINEConv:
    return GINEConv(nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, C)))


def ours(attn: str) -> GPSLayer:
    """Our GPS layer: the library's GINE (same math and parameters as PyG's
    ``GINEConv``, aggregation as one autograd function) and attention."""
    make = {
        "full": lambda: MultiheadAttention(C, HEADS),
        "full_pytorch": lambda: _pytorch_path(MultiheadAttention(C, HEADS)),
        "performer": lambda: PerformerAttention(C, HEADS),
        "linear": lambda: LinearAttention(C, HEADS),
    }[attn]
    return GPSLayer(C, GINE(C), make())


def _pytorch_path(attn: MultiheadAttention) -> MultiheadAttention:
    attn.native = False  # the packed pure-PyTorch path, as where no C compiler is found
    return attn


def pyg(attn: str) -> GPSConv:
    return GPSConv(C, gine(), heads=HEADS, attn_type={"full": "multihead"}.get(attn, attn))


def _fwd_bwd_step(layer: nn.Module, batch: Batch) -> None:
    # a new batch vector every step, as the next mini-batch would bring: what the library
    # caches per batch tensor (the packed attention layout, shared by the layers of one
    # model forward) is not carried from one timed step to the next
    out = layer(batch.x, batch.edge_index, batch.batch.clone(), edge_attr=batch.edge_attr)
    out = out[0] if isinstance(out, tuple) else out  # ours returns (x, edge_attr)
    out.sum().backward()


def time_samples(a: nn.Module, b: nn.Module, batch: Batch, reps: int) -> tuple[list[float], list[float]]:
    """Seconds of ``reps`` forward+backward passes of ``a`` and of ``b``, measured
    alternately (so load from other processes hits both alike), after 3 warm-up passes.
    The headline uses the minimum of each, the usual estimator of the uncontended time."""
    a.train()
    b.train()
    for _ in range(3):
        _fwd_bwd_step(a, batch)
        _fwd_bwd_step(b, batch)
    ta, tb = [], []
    for _ in range(reps):
        for layer, times in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            _fwd_bwd_step(layer, batch)
            times.append(time.perf_counter() - t0)
    return ta, tb


def random_big_graph(n: int, avg_degree: int, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    e = n * avg_degree // 2
    und = torch.randint(0, n, (2, e), generator=g)
    ei = torch.cat([und, und.flip(0)], dim=1)
    return Data(x=torch.randn(n, C, generator=g), edge_index=ei)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the peak-RSS counter to the current RSS; returns the RSS in KiB."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_kib("VmRSS")


def _memory_child(spec: dict) -> None:
    """Runs in a subprocess: build, measure peak RSS added by one forward."""
    torch.manual_seed(0)
    n, kind, impl, mode = spec["n"], spec["attn"], spec["impl"], spec["mode"]
    data = random_big_graph(n, spec["degree"])
    data.edge_attr = torch.randn(data.edge_index.size(1), spec["edge_dim"]) if spec["edge_dim"] else None
    if spec["edge_dim"] not in (0, C):
        raise ValueError(f"edge_dim must be 0 (GIN, no edge features) or {C} (GINE), got {spec['edge_dim']}")
    if impl == "ours":  # without edge features the local branch is the library's GIN
        layer: nn.Module = ours(kind) if spec["edge_dim"] else gin_layer(kind)
    else:
        layer = pyg(kind)
    layer.eval() if mode == "eval" else layer.train()
    batch = torch.zeros(n, dtype=torch.long)
    kwargs = {"edge_attr": data.edge_attr}
    with torch.no_grad():  # one-time set-up (thread pools, BLAS buffers) on a 64-node graph, not counted
        tiny = random_big_graph(64, spec["degree"])
        tiny_attr = None if data.edge_attr is None else torch.randn(tiny.edge_index.size(1), spec["edge_dim"])
        layer(tiny.x, tiny.edge_index, torch.zeros(64, dtype=torch.long), edge_attr=tiny_attr)
    backward = spec.get("backward", False)  # forward + backward with autograd (a training step)
    before = _reset_peak_rss()
    with torch.set_grad_enabled(backward):  # first pass on the graph: memory (nothing of its size cached)
        out = layer(data.x, data.edge_index, batch, **kwargs)
        if backward:
            (out[0] if isinstance(out, tuple) else out).sum().backward()
    after = _status_kib("VmHWM")
    del out
    # later forwards: time (thread pools and lazy init warmed up)
    elapsed = float("inf")
    for _ in range(spec.get("time_reps", 1)):
        batch_cache.clear()  # each timed forward computes its layout, as a new input would
        t0 = time.perf_counter()
        with torch.set_grad_enabled(backward):
            out = layer(data.x, data.edge_index, batch, **kwargs)
            if backward:
                (out[0] if isinstance(out, tuple) else out).sum().backward()
        elapsed = min(elapsed, time.perf_counter() - t0)
    out = (out[0] if isinstance(out, tuple) else out).detach()
    assert torch.isfinite(out).all()
    print(json.dumps({"peak_added_gib": (after - before) / 2**20, "seconds": elapsed}))


def gin_layer(attn: str = "linear") -> GPSLayer:
    """Our layer with the library's GIN (no edge features) as local branch; with linear
    attention, the scaling cases' layer."""
    layer = ours(attn)
    layer.local = GIN(C)
    return layer


def _scaling_time_child(spec: dict) -> None:
    """Runs in a subprocess: microseconds per node of the scaling layer's eval forward
    and of a bare sum aggregation over the same edges, on one graph of each size in
    ``spec["sizes"]``. The sizes are measured in interleaved rounds (one forward of
    each per round), the minimum per size over ``spec["rounds"]`` rounds, so that a
    slow phase of the machine hits every size alike (as the alternating repetitions
    of the molecule-batch comparison do)."""
    torch.manual_seed(0)
    layer = gin_layer().eval()
    graphs = {n: random_big_graph(n, spec["degree"]) for n in spec["sizes"]}
    batches = {n: torch.zeros(n, dtype=torch.long) for n in graphs}
    best = {n: {"us_per_node": float("inf"), "aggregation_us_per_node": float("inf")} for n in graphs}

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    with torch.no_grad():
        for n, g in graphs.items():  # warm-up
            out, _ = layer(g.x, g.edge_index, batches[n])
            assert torch.isfinite(out).all()
        for _ in range(spec["rounds"]):
            for n, g in graphs.items():
                src, dst = g.edge_index
                batch_cache.clear()  # each timed forward computes its layout, as a new input would
                t_layer = timed(lambda: layer(g.x, g.edge_index, batches[n]))
                t_agg = timed(lambda: torch.zeros_like(g.x).index_add_(0, dst, g.x.index_select(0, src)))
                rec = best[n]
                rec["us_per_node"] = min(rec["us_per_node"], 1e6 * t_layer / n)
                rec["aggregation_us_per_node"] = min(rec["aggregation_us_per_node"], 1e6 * t_agg / n)
    print(json.dumps({str(n): rec for n, rec in best.items()}))


def _train_child(spec: dict) -> None:
    """Runs in a subprocess: seconds of ``spec["steps"]`` forward+backward steps of the
    scaling layer (GIN + linear attention) on one graph of ``spec["n"]`` nodes, and the
    peak resident memory the first step adds."""
    torch.manual_seed(0)
    n = spec["n"]
    data = random_big_graph(n, spec["degree"])
    layer = gin_layer().train()
    batch = torch.zeros(n, dtype=torch.long)
    seconds, peak = [], 0.0
    for step in range(spec["steps"]):
        before = _reset_peak_rss()
        t0 = time.perf_counter()
        out, _ = layer(data.x, data.edge_index, batch)
        out.sum().backward()
        seconds.append(time.perf_counter() - t0)
        if step == 0:
            peak = (_status_kib("VmHWM") - before) / 2**20
        del out
    print(json.dumps({"step_seconds": seconds, "peak_added_gib": peak}))


class _Features(nn.Module):
    """The encoder of the checkpoint benchmark's model: the node features as they are."""

    def forward(self, data: Data) -> torch.Tensor:
        return data.x


def _checkpoint_child(spec: dict) -> None:
    """Runs in a subprocess: ``spec["steps"]`` training steps (forward, backward, SGD
    update) of a GraphGPS of ``spec["layers"]`` scaling layers on one graph of
    ``spec["n"]`` nodes, with or without checkpointing; the peak resident memory the
    first step adds and the seconds of every step."""
    torch.manual_seed(0)
    data = random_big_graph(spec["n"], spec["degree"])
    data.batch = torch.zeros(spec["n"], dtype=torch.long)
    model = GraphGPS(_Features(), [gin_layer() for _ in range(spec["layers"])], NodeHead(C, 1),
                     checkpoint=spec["checkpoint"]).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    seconds, peak, loss = [], 0.0, float("nan")
    for step in range(spec["steps"]):
        before = _reset_peak_rss()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(data)
        out.square().mean().backward()
        opt.step()
        seconds.append(time.perf_counter() - t0)
        if step == 0:
            peak = (_status_kib("VmHWM") - before) / 2**20
            loss = float(out.detach().square().mean())
        del out
    print(json.dumps({"step_seconds": seconds, "peak_added_gib": peak, "first_loss": loss}))


#: glibc settings that keep freed memory for reuse instead of returning it to the
#: kernel (mallopt(3)); the scaling cases are measured with and without them
REUSE_ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**36)}
#: ``--threads N`` as given to this process, passed on to every child (empty: torch's defaults)
_THREADS_ARGS: list[str] = []


def memory_case(spec: dict, timeout: float, env: dict[str, str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(spec), *_THREADS_ARGS]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env=None if env is None else {**os.environ, **env})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def train_steps(n: int, steps: int) -> int:
    """The ``--train-nodes`` mode: one JSON line per allocator, then the ratio of the
    steady-state (minimum) step times."""
    best = {}
    for allocator, env in (("default", None), ("reuse", REUSE_ALLOCATOR_ENV)):
        spec = {"n": n, "degree": 10, "mode": "train_step", "steps": steps}
        rec = memory_case(spec, timeout=3600, env=env)
        emit({"case": "train_step_linear", "n": n, "allocator": allocator, **rec})
        if "error" in rec:
            return 1
        best[allocator] = min(rec["step_seconds"])
    emit({"train_step_seconds_default": best["default"], "train_step_seconds_reuse": best["reuse"],
          "reuse_speedup": best["default"] / best["reuse"]})
    return 0


def checkpoint_steps(n: int, layers: int, steps: int) -> int:
    """The ``--checkpoint-nodes`` mode: one JSON line per setting, then the ratios."""
    recs = {}
    for ckpt in (False, True):
        spec = {"n": n, "degree": 10, "mode": "checkpoint", "layers": layers, "steps": steps, "checkpoint": ckpt}
        rec = memory_case(spec, timeout=3600)
        emit({"case": "train_gps_checkpoint", **spec, **rec})
        if "error" in rec:
            return 1
        recs[ckpt] = rec
    plain, ckpt = recs[False], recs[True]
    emit({"checkpoint_memory_ratio": (plain["peak_added_gib"] / ckpt["peak_added_gib"]
                                      if ckpt["peak_added_gib"] > 0 else None),
          "checkpoint_time_ratio": min(ckpt["step_seconds"]) / min(plain["step_seconds"]),
          "same_first_loss": plain["first_loss"] == ckpt["first_loss"],
          "threads": torch.get_num_threads(), "set_num_threads_called": bool(_THREADS_ARGS)})
    return 0


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced run, under 2 minutes")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="call torch.set_num_threads(N) first (default: no call, torch's own setting; "
                             "see the module notes: the call slows PyTorch's CPU flash attention)")
    parser.add_argument("--train-nodes", type=positive_int, metavar="N",
                        help="instead of the benchmark: forward+backward steps of the scaling layer on one "
                             "graph of N nodes, with glibc's default allocator settings and with memory reuse")
    parser.add_argument("--train-steps", type=positive_int, default=6,
                        help="steps per allocator or checkpoint setting (default 6)")
    parser.add_argument("--checkpoint-nodes", type=positive_int, metavar="N",
                        help="instead of the benchmark: train a GraphGPS of --train-layers scaling layers on one "
                             "graph of N nodes with and without activation checkpointing")
    parser.add_argument("--train-layers", type=positive_int, default=4, help="layers for --checkpoint-nodes (default 4)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        _THREADS_ARGS[:] = ["--threads", str(args.threads)]
    if args.child:
        spec = json.loads(args.child)
        children = {"train_step": _train_child, "scaling_time": _scaling_time_child, "checkpoint": _checkpoint_child}
        children.get(spec["mode"], _memory_child)(spec)
        return 0
    if args.train_nodes:
        return train_steps(args.train_nodes, args.train_steps)
    if args.checkpoint_nodes:
        return checkpoint_steps(args.checkpoint_nodes, args.train_layers, args.train_steps)

    torch.manual_seed(0)
    batch = molecule_batch(128)
    reps = 30 if args.quick else 100
    emit({"case": "batch", "graphs": 128, "nodes": batch.num_nodes, "edges": batch.num_edges,
          "threads": torch.get_num_threads(), "set_num_threads_called": args.threads is not None})
    kernel = native.library()
    emit({"case": "native_kernel", "available": kernel is not None, "path": getattr(kernel, "_name", None)})
    speed: dict[str, float] = {}
    speed_median: dict[str, float] = {}
    cases = (("full", "full"), ("full_pytorch", "full"), ("linear", "performer"), ("performer", "performer"))
    for attn, ref_attn in cases:
        samples_ours, samples_ref = time_samples(ours(attn), pyg(ref_attn), batch, reps)
        t_ours, t_ref = min(samples_ours), min(samples_ref)
        speed[attn] = t_ref / t_ours
        # the ratio of medians: what a run under ordinary load sees (the minimum is the headline)
        speed_median[attn] = statistics.median(samples_ref) / statistics.median(samples_ours)
        emit({"case": "fwd_bwd_128_molecules", "ours": attn, "pyg": ref_attn,
              "ours_graphs_per_s": 128 / t_ours, "pyg_graphs_per_s": 128 / t_ref, "speedup": t_ref / t_ours,
              "speedup_of_medians": speed_median[attn]})

    # eval-mode memory, one graph of 20k nodes, full attention
    spec = {"n": 20_000, "degree": 10, "attn": "full", "impl": "ours", "mode": "eval", "edge_dim": C, "time_reps": 1}
    mem20k = memory_case(spec, timeout=300)
    emit({"case": "eval_memory_full", **spec, **mem20k})
    ref_n = 5_000 if args.quick else 20_000
    ref = memory_case({**spec, "n": ref_n, "impl": "pyg"}, timeout=300)
    emit({"case": "eval_memory_full", **spec, "n": ref_n, "impl": "pyg", **ref})
    # training memory: one forward + backward in train mode, same graph for both
    train_spec = {**spec, "mode": "train", "backward": True}
    train20k = memory_case(train_spec, timeout=600)
    emit({"case": "train_memory_full", **train_spec, **train20k})
    ref = memory_case({**train_spec, "impl": "pyg"}, timeout=600)
    emit({"case": "train_memory_full", **train_spec, "impl": "pyg", **ref})

    # linear-attention scaling, with the default allocator settings and with memory reuse:
    # memory in a fresh process per size, time in one process per allocator (interleaved sizes)
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    scaling: dict[str, list[dict]] = {"default": [], "reuse": []}
    for allocator, env in (("default", None), ("reuse", REUSE_ALLOCATOR_ENV)):
        times = memory_case({"mode": "scaling_time", "sizes": list(sizes), "degree": 10, "rounds": 3 if args.quick else 5},
                            timeout=1200, env=env)
        for n in sizes:
            rec = memory_case({"n": n, "degree": 10, "attn": "linear", "impl": "ours", "mode": "eval", "edge_dim": 0},
                              timeout=600, env=env)
            if "error" in times:
                rec = {"error": times["error"]}
            elif "error" not in rec:
                rec = {**rec, **times[str(n)], "bytes_per_node": rec["peak_added_gib"] * 2**30 / n}
                scaling[allocator].append(rec)
            emit({"case": "scaling_linear", "n": n, "allocator": allocator, **rec})

    def ratio(records: list[dict], key: str, skip: int = 0) -> float | None:
        """max / min of ``key`` over the sizes (None if a case failed)."""
        if len(records) != len(sizes):
            return None
        values = [r[key] for r in records[skip:]]
        return max(values) / max(min(values), 1e-12)

    time_ratio = {a: ratio(recs, "us_per_node") for a, recs in scaling.items()}
    # memory per node from 10^5 up: below 32 MiB of temporaries (the 10^4 graph) the layer runs
    # unchunked on purpose (faster there), holding about ten [N, C] temporaries at once, so its
    # peak per node is several times that of the chunked runs; the marginal memory per node
    # (what each further node costs, between consecutive sizes) is reported over all sizes
    memory_ratio = ratio(scaling["default"], "bytes_per_node", skip=1)
    memory_ratio_all = ratio(scaling["default"], "bytes_per_node")
    marginal = None
    if len(scaling["default"]) == len(sizes) and len(sizes) > 1:
        peaks = [r["peak_added_gib"] * 2**30 for r in scaling["default"]]
        marginal = [(peaks[i + 1] - peaks[i]) / (sizes[i + 1] - sizes[i]) for i in range(len(sizes) - 1)]
    flat = None
    if time_ratio["default"] is not None and memory_ratio is not None:
        flat = time_ratio["default"] <= 2.0 and memory_ratio <= 2.0
    emit({
        "speedup_full_vs_pyg": speed["full"],
        "speedup_full_vs_pyg_of_medians": speed_median["full"],
        "native_kernel": kernel is not None,
        "speedup_full_pytorch_path_vs_pyg": speed["full_pytorch"],
        "speedup_full_pytorch_path_vs_pyg_of_medians": speed_median["full_pytorch"],
        "speedup_linear_vs_pyg_performer": speed["linear"],
        "speedup_performer_vs_pyg_performer": speed["performer"],
        "eval_peak_gib_20k": mem20k.get("peak_added_gib"),
        "train_peak_gib_20k": train20k.get("peak_added_gib"),
        "linear_scaling_flat_within_2x": flat,
        "linear_scaling_time_ratio": time_ratio["default"],
        "linear_scaling_time_ratio_reuse_allocator": time_ratio["reuse"],
        "aggregation_time_ratio_default_allocator": ratio(scaling["default"], "aggregation_us_per_node"),
        "linear_scaling_memory_ratio": memory_ratio,
        "linear_scaling_memory_ratio_all_sizes": memory_ratio_all,
        "linear_scaling_marginal_bytes_per_node": marginal,
        "linear_scaling_marginal_memory_ratio": (max(marginal) / max(min(marginal), 1e-12)
                                                 if marginal and len(marginal) > 1 else None),
        "threads": torch.get_num_threads(),
        "set_num_threads_called": args.threads is not None,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
