"""Benchmark: a sequence Transformer as a graph model vs ``torch.nn.TransformerEncoder``.

Both models have the same weights (2 layers, 64 channels, 4 heads, FFN 128,
dropout 0, training mode). The graph form runs :class:`SequenceEncoder` on a
PyG batch of 8 complete graphs built by ``SequenceToGraph`` (flat ``[N, C]``
features, ``edge_index`` with ``8 L^2`` edges, ``batch``); the reference runs
on the dense ``[8, L, 64]`` tensor. Timed: forward + backward of a sum loss,
median over repeats, the two forms interleaved. Graph construction is done
once, outside the timing (a dataset transform).

Then the same comparison for the vision models of ``scripts/train_vision.py``
(MNIST sizes, batch 64 of 28x28 images, one training step forward + backward,
graph construction from the image tensor included and also reported alone):
ViT-as-graph vs ``TorchViT`` and ConvNet-as-graph vs ``TorchConvNet``.

Prints one JSON line per measurement and, last,
``{"graph_over_torch_time_ratio_512": ...}``. ``--quick`` times fewer repeats
and skips length 2048 (under 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from tqdm import tqdm

from graphformers.models.convnet import ConvNet, TorchConvNet
from graphformers.models.sequence import SequenceEncoder
from graphformers.models.vit import TorchViT, ViT
from graphformers.transforms.image import images_to_grid_graphs, images_to_patch_graphs
from graphformers.transforms.sequence import SequenceToGraph

BATCH, CHANNELS, HEADS, LAYERS = 8, 64, 4, 2


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def bench(seq_len: int, repeats: int) -> dict:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(CHANNELS, HEADS, 2 * CHANNELS, dropout=0.0, batch_first=True)
    ref = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False).train()
    ours = SequenceEncoder(CHANNELS, LAYERS, heads=HEADS, hidden_channels=2 * CHANNELS).load_from_torch(ref).train()
    dense = torch.randn(BATCH, seq_len, CHANNELS)
    to_graph = SequenceToGraph()
    graph = Batch.from_data_list([to_graph(Data(x=seq)) for seq in dense])
    x_graph = graph.x.clone().requires_grad_()
    x_dense = dense.clone().requires_grad_()

    def step_graph() -> None:
        ours(x_graph, graph.edge_index, graph.batch).sum().backward()

    def step_torch() -> None:
        ref(x_dense).sum().backward()

    with torch.no_grad():  # same function, checked before timing
        err = (ours(graph.x, graph.edge_index, graph.batch).view_as(dense) - ref(dense)).abs().max().item()
    g, t = _paired(step_graph, step_torch, repeats)
    return {
        "seq_len": seq_len,
        "batch": BATCH,
        "channels": CHANNELS,
        "num_edges": graph.edge_index.size(1),
        "graph_ms": round(1e3 * g, 3),
        "torch_ms": round(1e3 * t, 3),
        "graph_over_torch_time_ratio": round(g / t, 4),
        "max_abs_diff": err,
        "repeats": repeats,
    }


def _paired(step_graph, step_torch, repeats: int) -> tuple[float, float]:
    """Median seconds of two steps, warmed up and interleaved."""
    step_graph(), step_torch()
    times_g, times_t = [], []
    for _ in range(repeats):
        times_g += _time(step_graph, 1)
        times_t += _time(step_torch, 1)
    return statistics.median(times_g), statistics.median(times_t)


def bench_vision(kind: str, repeats: int) -> dict:
    """One training step (forward + backward) of a vision model in both forms, MNIST sizes."""
    torch.manual_seed(0)
    images = torch.rand(64, 1, 28, 28)
    labels = torch.randint(0, 10, (64,))
    if kind == "vit":
        graph_model = ViT(16, 64, 4, 10, 49, heads=4)
        ref = TorchViT(1, 4, 28, 64, 4, 10, heads=4).load_from_graph(graph_model)

        def build():
            return images_to_patch_graphs(images, 4)

        def run_graph(g):
            return graph_model(g.x, g.edge_index, g.batch, position=g.position, class_mask=g.class_mask)
    else:
        graph_model = ConvNet(1, [16, 32, 64], 10)
        ref = TorchConvNet(1, [16, 32, 64], 10).load_from_graph(graph_model)

        def build():
            return images_to_grid_graphs(images)

        def run_graph(g):
            return graph_model(g.x, g.edge_index, g.edge_type, g.pos, g.batch)

    def step_graph() -> None:
        nn.functional.cross_entropy(run_graph(build()), labels).backward()

    def step_torch() -> None:
        nn.functional.cross_entropy(ref(images), labels).backward()

    with torch.no_grad():
        err = (run_graph(build()) - ref(images)).abs().max().item()
    g, t = _paired(step_graph, step_torch, repeats)
    build_s = statistics.median(_time(build, repeats))
    return {
        "model": kind,
        "batch": 64,
        "graph_ms": round(1e3 * g, 3),
        "graph_build_ms": round(1e3 * build_s, 3),
        "torch_ms": round(1e3 * t, 3),
        "graph_over_torch_time_ratio": round(g / t, 4),
        "max_abs_diff": err,
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, lengths 128 and 512 only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    lengths = [128, 512] if args.quick else [128, 512, 2048]
    repeats = {128: 5, 512: 5, 2048: 3} if args.quick else {128: 20, 512: 10, 2048: 5}
    results = {}
    for seq_len in tqdm(lengths, file=sys.stderr, desc="seq_len"):
        results[seq_len] = bench(seq_len, repeats[seq_len])
        print(json.dumps(results[seq_len]), flush=True)
    for kind in ("vit", "convnet"):
        print(json.dumps(bench_vision(kind, 5 if args.quick else 20)), flush=True)
    print(json.dumps({"graph_over_torch_time_ratio_512": results[512]["graph_over_torch_time_ratio"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
