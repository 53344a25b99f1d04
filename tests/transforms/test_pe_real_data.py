"""Real molecules (BBBP): our PE/SE agree with PyG's transforms and survive the cache."""

from __future__ import annotations

import csv
import gzip

import pytest
import torch
from scipy.sparse.csgraph import connected_components
from torch_geometric.data import Data
from torch_geometric.transforms import AddLaplacianEigenvectorPE, AddRandomWalkPE, Compose
from torch_geometric.utils import to_scipy_sparse_matrix

from graphformers.transforms.cache import precompute
from graphformers.transforms.positional import AddLaplacianPE, AddRandomWalkSE

pytestmark = pytest.mark.dataset


def bbbp(data_dir, limit: int = 120) -> list[Data]:
    smiles2graph = pytest.importorskip("ogb.utils").smiles2graph
    pytest.importorskip("rdkit")
    graphs = []
    with gzip.open(data_dir / "MoleculeNet" / "bbbp.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            try:
                g = smiles2graph(row["smiles"])
            except Exception:  # a few SMILES fail RDKit sanitization (see the data README)
                continue
            graphs.append(Data(x=torch.from_numpy(g["node_feat"]), edge_index=torch.from_numpy(g["edge_index"]),
                               num_nodes=g["num_nodes"]))
            if len(graphs) == limit:
                break
    return graphs


def test_agrees_with_pyg_and_round_trips_through_the_cache(data_dir, tmp_path):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1):  # small LAPACK calls: threads only add overhead
        check_against_pyg(bbbp(data_dir), tmp_path)


def check_against_pyg(graphs: list[Data], tmp_path) -> None:
    pre = Compose([AddLaplacianPE(8), AddRandomWalkSE(20)])
    out = precompute(graphs, pre, tmp_path / "pe.pt", progress=False)
    again = precompute(graphs, pre, tmp_path / "pe.pt", progress=False)
    pyg_lap = AddLaplacianEigenvectorPE(8, attr_name="pe", is_undirected=True)
    compared = 0
    for g, o, a in zip(graphs, out, again):
        assert torch.equal(o.lap_eigvec, a.lap_eigvec) and torch.equal(o.rwse, a.rwse)
        torch.testing.assert_close(o.rwse, AddRandomWalkPE(20, attr_name="pe")(g).pe, atol=1e-6, rtol=1e-5)
        vals = AddLaplacianPE(9)(g).lap_eigval[0]
        adj = to_scipy_sparse_matrix(g.edge_index, num_nodes=g.num_nodes)
        simple = g.num_nodes >= 10 and (vals[1:] - vals[:-1]).min() > 1e-3
        if simple and connected_components(adj)[0] == 1:
            torch.testing.assert_close(o.lap_eigvec.abs(), pyg_lap(g).pe.abs().float(), atol=2e-4, rtol=0)
            compared += 1
    assert compared > 40
