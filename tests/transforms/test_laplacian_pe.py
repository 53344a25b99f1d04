"""AddLaplacianPE against closed-form spectra and the dense/sparse solvers."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphformers.testing import permute_graph, random_graph
from graphformers.transforms.positional import AddLaplacianPE


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Dense LAPACK on a busy 2-core machine is far faster single-threaded."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _undirected(pairs: list[tuple[int, int]], num_nodes: int, **attrs) -> Data:
    ei = torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)
    return Data(edge_index=torch.cat([ei, ei.flip(0)], dim=1), num_nodes=num_nodes, **attrs)


def path(n: int, offset: int = 0) -> list[tuple[int, int]]:
    return [(offset + i, offset + i + 1) for i in range(n - 1)]


def cycle(n: int) -> list[tuple[int, int]]:
    return [(i, (i + 1) % n) for i in range(n)]


def clique(n: int, offset: int = 0) -> list[tuple[int, int]]:
    return [(offset + i, offset + j) for i in range(n) for j in range(i + 1, n)]


def sym_laplacian(data: Data) -> torch.Tensor:
    """I - D^-1/2 A D^-1/2 in float64, built independently of the transform."""
    n = data.num_nodes
    adj = torch.zeros(n, n, dtype=torch.float64)
    w = data.edge_weight.double() if data.get("edge_weight") is not None else torch.ones(data.num_edges).double()
    adj.index_put_(tuple(data.edge_index), w, accumulate=True)
    adj.fill_diagonal_(0.0)
    deg = adj.sum(1)
    d = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    return torch.diag((deg > 0).double()) - d[:, None] * adj * d[None, :]


def assert_eigenpairs(data: Data, out: Data, atol: float = 1e-5) -> None:
    """Masked-in columns are orthonormal eigenvectors of L with the stored eigenvalues."""
    lap = sym_laplacian(data)
    cols = out.lap_mask[0]
    vec = out.lap_eigvec[:, cols].double()
    val = out.lap_eigval[0, cols].double()
    torch.testing.assert_close(lap @ vec, vec * val, atol=atol, rtol=0)
    torch.testing.assert_close(vec.T @ vec, torch.eye(vec.size(1), dtype=torch.float64), atol=atol, rtol=0)


def assert_equal_up_to_sign(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> None:
    sign = torch.sign((a * b).sum(0))
    assert (sign != 0).all()
    torch.testing.assert_close(a * sign, b, atol=atol, rtol=0)


def test_cycle_closed_form_eigenvalues():
    n, k = 8, 5
    data = _undirected(cycle(n), n)
    out = AddLaplacianPE(k)(data)
    expected = sorted(1 - math.cos(2 * math.pi * j / n) for j in range(1, n))[:k]
    torch.testing.assert_close(out.lap_eigval, torch.tensor(expected).expand(n, k), atol=1e-6, rtol=0)
    assert out.lap_mask.all()
    # eigenvalues of the cycle come in degenerate pairs: check the eigenspace, not the basis
    assert_eigenpairs(data, out)
    # orthogonal to the trivial eigenvector D^1/2 1 (regular graph: the constant vector)
    torch.testing.assert_close(out.lap_eigvec.sum(0), torch.zeros(k), atol=1e-5, rtol=0)


def test_path_closed_form_eigenpairs():
    n, k = 7, 4
    data = _undirected(path(n), n)
    out = AddLaplacianPE(k)(data)
    j = torch.arange(1, k + 1, dtype=torch.float64)
    theta = math.pi * j / (n - 1)
    torch.testing.assert_close(out.lap_eigval[0].double(), 1 - torch.cos(theta), atol=1e-6, rtol=0)
    # random-walk eigenvector f_j(i) = cos(pi j i / (n-1)); symmetric one is D^1/2 f_j
    i = torch.arange(n, dtype=torch.float64)
    deg = torch.full((n,), 2.0, dtype=torch.float64)
    deg[[0, -1]] = 1.0
    u = deg.sqrt()[:, None] * torch.cos(i[:, None] * theta[None, :])
    u = u / u.norm(dim=0)
    assert_equal_up_to_sign(out.lap_eigvec.double(), u)


def test_combinatorial_laplacian_path():
    n, k = 6, 3
    out = AddLaplacianPE(k, normalization=None)(_undirected(path(n), n))
    j = torch.arange(1, k + 1, dtype=torch.float64)
    torch.testing.assert_close(out.lap_eigval[0].double(), 2 - 2 * torch.cos(math.pi * j / n), atol=1e-6, rtol=0)
    i = torch.arange(n, dtype=torch.float64)
    u = torch.cos(math.pi * j[None, :] * (i[:, None] + 0.5) / n)
    assert_equal_up_to_sign(out.lap_eigvec.double(), u / u.norm(dim=0))


def test_two_cliques_skip_every_zero_eigenvalue():
    # K_4 on nodes 0..3 and K_3 on nodes 4..6: spectra {0, 4/3 x3} and {0, 3/2 x2}
    data = _undirected(clique(4) + clique(3, offset=4), 7)
    out = AddLaplacianPE(6)(data)
    expected = torch.tensor([4 / 3] * 3 + [1.5] * 2 + [0.0])
    torch.testing.assert_close(out.lap_eigval, expected.expand(7, 6), atol=1e-6, rtol=0)
    assert out.lap_mask.tolist() == [[True] * 5 + [False]] * 7
    vec = out.lap_eigvec
    # the 4/3 eigenvectors live on K_4, the 3/2 ones on K_3, each orthogonal to its constant
    assert vec[4:, :3].abs().max() < 1e-6 and vec[:4, 3:5].abs().max() < 1e-6
    torch.testing.assert_close(vec[:4, :3].sum(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(vec[4:, 3:5].sum(0), torch.zeros(2), atol=1e-5, rtol=0)
    assert (vec[:, 5] == 0).all()
    assert_eigenpairs(data, out)


def test_fewer_nodes_than_k_is_padded_and_masked():
    out = AddLaplacianPE(4)(_undirected(cycle(3), 3))  # triangle: {0, 3/2, 3/2}
    torch.testing.assert_close(out.lap_eigval, torch.tensor([1.5, 1.5, 0.0, 0.0]).expand(3, 4), atol=1e-6, rtol=0)
    assert out.lap_mask.tolist() == [[True, True, False, False]] * 3
    assert (out.lap_eigvec[:, 2:] == 0).all()
    assert out.lap_eigvec.shape == (3, 4)


@pytest.mark.parametrize("num_nodes", [1, 4])
def test_graph_without_edges(num_nodes):
    data = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=num_nodes)
    out = AddLaplacianPE(3)(data)
    for name in ("lap_eigvec", "lap_eigval", "lap_mask"):
        assert out[name].shape == (num_nodes, 3)
    assert not out.lap_mask.any() and (out.lap_eigvec == 0).all() and (out.lap_eigval == 0).all()


def test_isolated_node_contributes_nothing():
    out = AddLaplacianPE(2)(_undirected([(0, 1)], 3))  # K_2 has {0, 2}; node 2 is isolated
    assert out.lap_mask[0].tolist() == [True, False]
    torch.testing.assert_close(out.lap_eigval[:, 0], torch.full((3,), 2.0))
    s = 1 / math.sqrt(2)
    assert_equal_up_to_sign(out.lap_eigvec[:, :1], torch.tensor([[s], [-s], [0.0]]))


def test_sparse_solver_agrees_with_dense_on_600_node_path():
    n, k = 600, 6
    data = _undirected(path(n), n)
    sparse = AddLaplacianPE(k)
    assert n > sparse.SPARSE_THRESHOLD
    dense = AddLaplacianPE(k)
    dense.SPARSE_THRESHOLD = n  # force the dense solver on this instance only
    with one_blas_thread():
        a, b = sparse(data), dense(data)
    j = torch.arange(1, k + 1, dtype=torch.float64)
    torch.testing.assert_close(a.lap_eigval[0].double(), 1 - torch.cos(math.pi * j / (n - 1)), atol=1e-9, rtol=1e-6)
    torch.testing.assert_close(a.lap_eigval, b.lap_eigval, atol=1e-7, rtol=1e-5)
    assert_equal_up_to_sign(a.lap_eigvec, b.lap_eigvec, atol=1e-4)


def test_sparse_and_dense_merge_components_alike():
    # a 130-node connected random graph (sparse solver) next to a 9-node path (dense)
    g = torch.Generator().manual_seed(3)
    big = random_graph(130, 400, channels=1, generator=g)
    ring = torch.stack([torch.arange(130), (torch.arange(130) + 1) % 130])  # keep it connected
    ei = torch.cat([big.edge_index, ring, ring.flip(0), _undirected(path(9, offset=130), 139).edge_index], dim=1)
    data = Data(edge_index=torch.unique(ei, dim=1), num_nodes=139)
    sparse, dense = AddLaplacianPE(12), AddLaplacianPE(12)
    sparse.SPARSE_THRESHOLD, dense.SPARSE_THRESHOLD = 50, 1000
    a, b = sparse(data), dense(data)
    torch.testing.assert_close(a.lap_eigval, b.lap_eigval, atol=1e-6, rtol=0)
    vals = a.lap_eigval[0]
    assert (vals[1:] - vals[:-1]).min() > 1e-4, "test graph should have a simple spectrum"
    assert_equal_up_to_sign(a.lap_eigvec, b.lap_eigvec, atol=1e-4)
    # both components are represented, and no column is the trivial one
    assert (a.lap_eigvec[130:].abs().sum(0) > 0).any() and (a.lap_eigvec[:130].abs().sum(0) > 0).any()
    assert_eigenpairs(data, a, atol=1e-5)


def test_eigenvectors_permute_with_nodes():
    g = torch.Generator().manual_seed(0)
    data = random_graph(14, 30, channels=2, generator=g)
    t = AddLaplacianPE(5)
    out = t(data)
    vals = out.lap_eigval[0]
    assert out.lap_mask.all() and (vals[1:] - vals[:-1]).min() > 1e-4  # simple spectrum
    perm = torch.randperm(14, generator=g)
    out_perm = t(permute_graph(data, perm))
    torch.testing.assert_close(out_perm.lap_eigval, out.lap_eigval[perm], atol=1e-6, rtol=0)
    torch.testing.assert_close(out_perm.lap_eigvec.abs(), out.lap_eigvec.abs()[perm], atol=1e-5, rtol=0)


def test_deterministic_and_no_global_rng():
    data = random_graph(10, 20, generator=torch.Generator().manual_seed(1))
    state = torch.get_rng_state()
    a, b = AddLaplacianPE(3)(data), AddLaplacianPE(3)(data)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.lap_eigvec, b.lap_eigvec)
    assert "lap_eigvec" not in data  # the input graph is not modified


def test_self_loops_are_ignored_and_weights_used():
    data = _undirected(path(5), 5)
    loops = torch.arange(5).repeat(2, 1)
    looped = Data(edge_index=torch.cat([data.edge_index, loops], dim=1), num_nodes=5)
    t = AddLaplacianPE(3)
    torch.testing.assert_close(t(looped).lap_eigvec, t(data).lap_eigvec)

    w = torch.tensor([1.0, 2.0, 0.5, 3.0])
    weighted = _undirected(path(5), 5, edge_weight=torch.cat([w, w]))
    out = t(weighted)
    assert_eigenpairs(weighted, out)
    scaled = _undirected(path(5), 5, edge_weight=torch.cat([w, w]) * 7)
    torch.testing.assert_close(t(scaled).lap_eigval, out.lap_eigval)


@pytest.mark.parametrize("threshold", [200, 2])  # dense and sparse adjacency code paths
def test_directed_input(threshold):
    directed = Data(edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), num_nodes=5)
    strict, loose = AddLaplacianPE(2), AddLaplacianPE(2, is_undirected=False)
    strict.SPARSE_THRESHOLD = loose.SPARSE_THRESHOLD = threshold
    with pytest.raises(ValueError, match="is_undirected=False"):
        strict(directed)
    a = loose(directed)
    b = strict(_undirected(path(5), 5))
    torch.testing.assert_close(a.lap_eigval, b.lap_eigval)
    torch.testing.assert_close(a.lap_eigvec.abs(), b.lap_eigvec.abs())
    with pytest.raises(ValueError, match="edge_weight"):
        strict(_undirected(path(3), 3, edge_weight=torch.tensor([1.0, -1.0, 1.0, -1.0])))


def test_batches_by_concatenation():
    t = AddLaplacianPE(3, attr_prefix="pe")
    graphs = [t(_undirected(cycle(5), 5)), t(_undirected(path(2), 2))]
    batch = Batch.from_data_list(graphs)
    assert batch.pe_eigvec.shape == batch.pe_eigval.shape == batch.pe_mask.shape == (7, 3)
    assert batch.pe_mask.sum(1).tolist() == [3] * 5 + [1] * 2
    torch.testing.assert_close(batch.pe_eigval[5:, 0], torch.full((2,), 2.0))


def test_repr_and_bad_arguments():
    assert repr(AddLaplacianPE(8)) == "AddLaplacianPE(k=8, attr_prefix='lap', normalization='sym', is_undirected=True)"
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            AddLaplacianPE(bad)
    with pytest.raises(ValueError, match="normalization"):
        AddLaplacianPE(2, normalization="rw")
    with pytest.raises(ValueError, match="attr_prefix"):
        AddLaplacianPE(2, attr_prefix="")


@pytest.mark.parametrize("num_nodes", [20, 140])  # PyG's dense and sparse (N >= 100) paths
def test_parity_with_pyg_on_connected_graph(num_nodes):
    from torch_geometric.transforms import AddLaplacianEigenvectorPE

    g = torch.Generator().manual_seed(num_nodes)
    data = random_graph(num_nodes, 3 * num_nodes, channels=1, generator=g)
    ring = torch.stack([torch.arange(num_nodes), (torch.arange(num_nodes) + 1) % num_nodes])
    data.edge_index = torch.unique(torch.cat([data.edge_index, ring, ring.flip(0)], dim=1), dim=1)
    ours = AddLaplacianPE(6)(data)
    vals = ours.lap_eigval[0]
    assert (vals[1:] - vals[:-1]).min() > 1e-4  # simple spectrum: eigenvectors unique up to sign
    # PyG drops the first eigenvector (the only trivial one here) and flips signs at random
    theirs = AddLaplacianEigenvectorPE(6, attr_name="pe", is_undirected=True)(data).pe
    torch.testing.assert_close(ours.lap_eigvec.abs(), theirs.abs().float(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("normalization", ["sym", None])
def test_both_sparse_solvers_agree_with_dense(monkeypatch, normalization):
    """The product-only solver (on c I - L) and the shift-invert fallback (forced by
    allowing no restarts) give the dense solver's eigenpairs, with and without normalization."""
    import graphformers.transforms.positional as positional

    g = torch.Generator().manual_seed(5)
    n = 300
    big = random_graph(n, 1200, channels=1, generator=g)
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])  # connected
    data = Data(edge_index=torch.unique(torch.cat([big.edge_index, ring, ring.flip(0)], 1), dim=1), num_nodes=n)
    dense = AddLaplacianPE(6, normalization=normalization)
    dense.SPARSE_THRESHOLD = 10 * n
    expected = dense(data.clone())
    calls = []
    original = positional.eigsh
    monkeypatch.setattr(positional, "eigsh", lambda *a, **kw: calls.append(kw.get("sigma")) or original(*a, **kw))
    for restarts in (AddLaplacianPE.MATVEC_RESTARTS, 1):
        calls.clear()
        sparse = AddLaplacianPE(6, normalization=normalization)
        sparse.SPARSE_THRESHOLD, sparse.MATVEC_RESTARTS = 50, restarts
        out = sparse(data.clone())
        # products only first (no shift); with 1 restart it cannot converge and falls back
        assert calls[0] is None and (calls[1:] == [] if restarts > 1 else calls[1:] == [sparse.SHIFT])
        torch.testing.assert_close(out.lap_eigval, expected.lap_eigval, atol=1e-6, rtol=1e-6)
        assert_equal_up_to_sign(out.lap_eigvec, expected.lap_eigvec, atol=1e-4)
