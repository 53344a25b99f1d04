"""Benchmark the positional-encoding cache: ``precompute()`` cold vs cached on real molecules.

For BBBP (MoleculeNet) and the first ``--limit-peptides`` Peptides-func peptides,
the transform ``Compose([AddLaplacianPE(8), AddRandomWalkSE(20)])`` runs through
:func:`graphformers.transforms.cache.precompute` on one cache file (in a temporary
folder): the first call computes and saves, the next ``--repeats`` calls load it
(the fastest load is reported; the speed-up is first call / fastest load). In the
same run our encodings are compared with PyG's:

- RWSE vs ``AddRandomWalkPE(20)`` on every graph (PyG's time is printed too);
- LapPE vs ``AddLaplacianEigenvectorPE(8, is_undirected=True)`` as absolute values
  (PyG flips signs at random), on connected graphs with at least 10 nodes whose
  first 9 non-trivial eigenvalues are at least 1e-3 apart (eigenvectors unique up
  to sign).

Graphs come from :func:`graphformers.datasets.molecules.smiles_to_graph` (OGB
featurization) on the offline CSVs under ``GRAPHFORMERS_DATA`` (default
``../shared/data``, see :mod:`graphformers.settings`). Prints one JSON line per
dataset and, last, a summary line with ``cache_speedup_bbbp``,
``cache_speedup_peptides``, ``rwse_max_abs_diff_vs_pyg`` and
``lap_max_abs_diff_vs_pyg``. Without the data it prints the reason, then
``{"skipped": "..."}``, and exits with 0.

Usage::

    python scripts/bench_pe_cache.py            # all of BBBP, first 2,000 Peptides-func
    python scripts/bench_pe_cache.py --quick    # first 500 BBBP, first 200 peptides (< 2 minutes)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from scipy.sparse.csgraph import connected_components
from torch_geometric.data import Data
from torch_geometric.transforms import AddLaplacianEigenvectorPE, AddRandomWalkPE, Compose
from torch_geometric.utils import to_scipy_sparse_matrix

from graphformers.cli.args import positive_int
from graphformers.datasets.molecules import read_molecule_csv, smiles_to_graph
from graphformers.datasets.peptides import read_peptides_labels
from graphformers.settings import ENV_VAR, data_root
from graphformers.transforms.cache import precompute
from graphformers.transforms.positional import AddLaplacianPE, AddRandomWalkSE

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: without it only torch's thread count is set
    threadpool_limits = None

BBBP_FILE = ("MoleculeNet", "bbbp.csv.gz")
PEPTIDES_FILE = ("Peptides-func", "peptide_multi_class_dataset.csv.gz")
LAP_K, WALK_LENGTH = 8, 20
LAP_MIN_NODES, LAP_MIN_GAP = 10, 1e-3


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def read_bbbp_smiles(path: Path) -> list[str]:
    return read_molecule_csv(path, "smiles", [])[0]


def read_peptides_smiles(path: Path) -> list[str]:
    return read_peptides_labels(path)[0]


def featurize(smiles: Sequence[str], limit: int | None) -> tuple[list[Data], int]:
    """Structure-only graphs (``x``, ``edge_index``) of the first ``limit`` SMILES that
    RDKit can read; returns them and the number of SMILES skipped on the way."""
    graphs: list[Data] = []
    skipped = 0
    for smi in smiles:
        if limit is not None and len(graphs) >= limit:
            break
        try:
            g = smiles_to_graph(smi)
        except ValueError:
            skipped += 1
            continue
        graphs.append(Data(x=torch.from_numpy(g["node_feat"]), edge_index=torch.from_numpy(g["edge_index"]),
                           num_nodes=int(g["num_nodes"])))
    return graphs, skipped


def make_transform() -> Compose:
    return Compose([AddLaplacianPE(LAP_K), AddRandomWalkSE(WALK_LENGTH)])


def time_cache(graphs: list[Data], transform: Callable[[Data], Data],
               repeats: int) -> tuple[list[Data], dict[str, float]]:
    """Run ``precompute`` cold once, then cached ``repeats`` times on the same file; the
    transformed graphs and the timings (cached: the fastest load, the usual estimator of
    the uncontended time on a shared machine)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pe.pt"
        t0 = time.perf_counter()
        out = precompute(graphs, transform, path, progress=False)
        cold = time.perf_counter() - t0
        loads = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            again = precompute(graphs, transform, path, progress=False)
            loads.append(time.perf_counter() - t0)
        cached = min(loads)
        size = path.stat().st_size
    if not all(torch.equal(a.rwse, b.rwse) and torch.equal(a.lap_eigvec, b.lap_eigvec) for a, b in zip(out, again)):
        raise RuntimeError("the cached encodings differ from the computed ones")
    return out, {"cold_s": cold, "cached_s": cached, "cache_mib": size / 2**20}


def rwse_diff_vs_pyg(graphs: list[Data], out: list[Data]) -> tuple[float, float]:
    """Seconds PyG's ``AddRandomWalkPE`` takes over ``graphs`` and its largest deviation from ours."""
    pyg = AddRandomWalkPE(WALK_LENGTH, attr_name="pe")
    t0 = time.perf_counter()
    ref = [pyg(g).pe for g in graphs]
    seconds = time.perf_counter() - t0
    diff = max(((o.rwse - r).abs().max().item() for o, r in zip(out, ref)), default=0.0)
    return seconds, diff


def lap_comparable(graph: Data, lap_mask: torch.Tensor) -> bool:
    """Connected, at least ``LAP_MIN_NODES`` nodes, full mask, and the first ``LAP_K + 1``
    non-trivial eigenvalues pairwise ``LAP_MIN_GAP`` apart (simple spectrum up to the k-th)."""
    if graph.num_nodes < LAP_MIN_NODES or not bool(lap_mask.all()):
        return False
    vals = AddLaplacianPE(LAP_K + 1)(graph).lap_eigval[0]
    if (vals[1:] - vals[:-1]).min() < LAP_MIN_GAP:
        return False
    adj = to_scipy_sparse_matrix(graph.edge_index, num_nodes=graph.num_nodes)
    return connected_components(adj)[0] == 1


def lap_diff_vs_pyg(graphs: list[Data], out: list[Data]) -> tuple[int, float | None]:
    """Number of graphs compared and the largest ``| |ours| - |PyG's| |`` (None if none compared)."""
    pyg = AddLaplacianEigenvectorPE(LAP_K, attr_name="pe", is_undirected=True)
    diffs = [(o.lap_eigvec.abs() - pyg(g).pe.abs().float()).abs().max().item()
             for g, o in zip(graphs, out) if lap_comparable(g, o.lap_mask)]
    return len(diffs), max(diffs) if diffs else None


def bench_dataset(label: str, graphs: list[Data], skipped: int, repeats: int) -> dict[str, Any]:
    sizes = torch.tensor([g.num_nodes for g in graphs], dtype=torch.float)
    transform = make_transform()
    out, timing = time_cache(graphs, transform, repeats)
    pyg_rw_s, rw_diff = rwse_diff_vs_pyg(graphs, out)
    n_lap, lap_diff = lap_diff_vs_pyg(graphs, out)
    return {
        "dataset": label, "graphs": len(graphs), "smiles_skipped": skipped,
        "nodes_mean": round(sizes.mean().item(), 1), "nodes_max": int(sizes.max()),
        "transform": repr(transform), "cold_s": round(timing["cold_s"], 3), "cached_s": round(timing["cached_s"], 3),
        "cached_repeats": repeats,
        "speedup": round(timing["cold_s"] / timing["cached_s"], 1), "cache_mib": round(timing["cache_mib"], 2),
        "pyg_rwpe_s": round(pyg_rw_s, 3), "rwse_max_abs_diff_vs_pyg": rw_diff,
        "lap_graphs_compared": n_lap, "lap_max_abs_diff_vs_pyg": lap_diff,
    }


def missing_data() -> str | None:
    """Why the benchmark cannot run here, or None when every input file is present."""
    root = data_root()
    if root is None:
        return f"benchmark data not found: set {ENV_VAR} to the offline data folder (default ../shared/data)"
    missing = [str(root.joinpath(*parts)) for parts in (BBBP_FILE, PEPTIDES_FILE) if not root.joinpath(*parts).is_file()]
    return f"missing data file(s): {', '.join(missing)}" if missing else None


@contextlib.contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` and, with threadpoolctl, the same BLAS/OpenMP limit."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    ctx = threadpool_limits(limits=threads) if threadpool_limits is not None else contextlib.nullcontext()
    try:
        with ctx:
            yield
    finally:
        torch.set_num_threads(previous)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="first 500 BBBP molecules and 200 peptides (< 2 minutes)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch and BLAS threads (default: 1)")
    p.add_argument("--repeats", type=positive_int, default=3, help="cached loads timed per dataset; the fastest counts")
    p.add_argument("--limit-bbbp", type=positive_int, default=None, help="first N BBBP molecules (default: all; quick: 500)")
    p.add_argument("--limit-peptides", type=positive_int, default=None,
                   help="first N Peptides-func peptides (default: 2000; quick: 200)")
    args = p.parse_args(argv)
    if args.limit_bbbp is None and args.quick:
        args.limit_bbbp = 500
    if args.limit_peptides is None:
        args.limit_peptides = 200 if args.quick else 2000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = missing_data()
    if reason is not None:
        print(f"bench_pe_cache: skipped: {reason}", file=sys.stderr)
        _emit({"skipped": reason})
        return 0
    root = data_root(required=True)
    assert root is not None
    bbbp_label = "BBBP" if args.limit_bbbp is None else f"BBBP[:{args.limit_bbbp}]"
    specs = [(bbbp_label, "bbbp", read_bbbp_smiles(root.joinpath(*BBBP_FILE)), args.limit_bbbp),
             (f"Peptides-func[:{args.limit_peptides}]", "peptides", read_peptides_smiles(root.joinpath(*PEPTIDES_FILE)),
              args.limit_peptides)]
    rows: dict[str, dict[str, Any]] = {}
    t_all = time.perf_counter()
    with limit_threads(args.threads):
        for label, key, smiles, limit in specs:
            graphs, skipped = featurize(smiles, limit)
            if not graphs:
                raise SystemExit(f"bench_pe_cache: no readable molecule in {label}")
            rows[key] = bench_dataset(label, graphs, skipped, args.repeats)
            _emit(rows[key])
    lap = [r["lap_max_abs_diff_vs_pyg"] for r in rows.values() if r["lap_max_abs_diff_vs_pyg"] is not None]
    _emit({
        "cache_speedup_bbbp": rows["bbbp"]["speedup"],
        "cache_speedup_peptides": rows["peptides"]["speedup"],
        "rwse_max_abs_diff_vs_pyg": max(r["rwse_max_abs_diff_vs_pyg"] for r in rows.values()),
        "lap_max_abs_diff_vs_pyg": max(lap) if lap else None,
        "lap_graphs_compared": sum(r["lap_graphs_compared"] for r in rows.values()),
        "threads": args.threads, "quick": args.quick, "wall_s": round(time.perf_counter() - t_all, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
