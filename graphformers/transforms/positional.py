"""Positional and structural encodings computed once per graph.

Two deterministic :class:`~torch_geometric.transforms.BaseTransform` subclasses
whose outputs the learnable encoders in :mod:`graphformers.encodings` embed:

* :class:`AddLaplacianPE`: the ``k`` smallest non-trivial eigenpairs of the
  graph Laplacian (``lap_eigvec``, ``lap_eigval``, ``lap_mask``);
* :class:`AddRandomWalkSE`: random-walk landing probabilities (``rwse``).

Neither draws random numbers: the training-time eigenvector sign flip lives in
:class:`graphformers.encodings.LinearLapPE`, so a cached or ``pre_transform``-ed
dataset never freezes one sign draw on disk.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackNoConvergence, eigsh
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphformers.utils.checks import out_of_range

__all__ = ["AddLaplacianPE", "AddRandomWalkSE"]

_NORMALIZATIONS = ("sym", None)


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _num_nodes(data: Data) -> int:
    n = data.num_nodes
    if n is None:
        raise ValueError("data.num_nodes is unknown: set num_nodes or x on the graph")
    return int(n)


def _device(data: Data) -> torch.device:
    """Where the outputs go: the device of ``edge_index`` (CPU when absent)."""
    edge_index = data.get("edge_index")
    return edge_index.device if isinstance(edge_index, Tensor) else torch.device("cpu")


def _edge_weight(data: Data, num_edges: int) -> np.ndarray:
    """``data.edge_weight`` as float64 numpy (ones when absent), shape checked."""
    weight = data.get("edge_weight")
    if weight is None:
        return np.ones(num_edges, dtype=np.float64)
    weight = torch.as_tensor(weight).detach().cpu().reshape(-1)
    if weight.numel() != num_edges:
        raise ValueError(f"data.edge_weight has {weight.numel()} entries but edge_index has {num_edges} edges")
    return weight.double().numpy()


def _adjacency(data: Data, num_nodes: int, *, dense: bool) -> np.ndarray | sp.csr_array:
    """Weighted adjacency ``A[i, j]`` = sum of weights of edges ``i -> j`` (float64).

    A numpy array when ``dense`` (small graphs: no scipy.sparse overhead), else CSR.
    """
    edge_index = data.get("edge_index")
    if edge_index is None:
        edge_index = torch.empty(2, 0, dtype=torch.long)
    bad = out_of_range(edge_index, num_nodes)
    if bad is not None:
        raise ValueError(f"edge_index holds node {bad}, outside the graph's {num_nodes} nodes (0..{num_nodes - 1})")
    row, col = edge_index.detach().cpu().numpy()
    weight = _edge_weight(data, row.shape[0])
    if dense:
        flat = np.bincount(row * num_nodes + col, weights=weight, minlength=num_nodes * num_nodes)
        return flat.astype(np.float64).reshape(num_nodes, num_nodes)  # empty bincount is int64
    adj = sp.coo_array((weight, (row, col)), shape=(num_nodes, num_nodes)).tocsr()
    adj.sum_duplicates()
    return adj


class AddLaplacianPE(BaseTransform):
    r"""Adds the ``k`` smallest non-trivial Laplacian eigenpairs to a graph.

    The Laplacian positional encoding of `"Benchmarking Graph Neural Networks"
    <https://arxiv.org/abs/2003.00982>`_ as used (with eigenvalues) by GraphGPS,
    `"Recipe for a General, Powerful, Scalable Graph Transformer"
    <https://arxiv.org/abs/2205.12454>`_. With the symmetric normalization

    .. math::
        \mathbf{L} = \mathbf{I} - \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2},
        \qquad \mathbf{L} \mathbf{u}_j = \lambda_j \mathbf{u}_j,

    (``normalization=None`` uses :math:`\mathbf{L} = \mathbf{D} - \mathbf{A}`),
    the transform stores

    * ``data.{prefix}_eigvec`` ``[N, k]`` float: unit-norm eigenvectors, column ``j``
      is :math:`\mathbf{u}_j`;
    * ``data.{prefix}_eigval`` ``[N, k]`` float: :math:`\lambda_j`, repeated on every
      node (as GraphGPS does) so that graphs batch by concatenation;
    * ``data.{prefix}_mask`` ``[N, k]`` bool: ``False`` in padded columns.

    **Trivial eigenvectors.** Every connected component :math:`C` has exactly one
    eigenvalue-0 eigenvector, :math:`\mathbf{D}^{1/2}\mathbf{1}_C` (``sym``) or
    :math:`\mathbf{1}_C` (``None``); it carries no position inside :math:`C`.
    All of these are skipped, one per component, so a graph with ``c``
    components and ``N`` nodes has ``N - c`` non-trivial eigenpairs; the ``k``
    smallest are kept and missing columns are zero with mask ``False``. An
    isolated node is a component of its own: it contributes no eigenpair and its
    row of ``eigvec`` is zero. The spectrum is computed per component (the
    Laplacian is block-diagonal), so every eigenvector is supported on one
    component; columns are ordered by eigenvalue, ties between components by the
    component's smallest node id.
    GraphGPS keeps the first eigenvector instead (and, on a disconnected graph,
    mixes the components' null vectors); PyG's
    :class:`~torch_geometric.transforms.AddLaplacianEigenvectorPE` drops only one.

    **Signs.** Eigenvector signs are whatever the solver returns (deterministic
    for a given input and library version); no random flip happens here. Inside a
    repeated eigenvalue the basis is arbitrary too. Encoders must therefore be
    sign-invariant or randomly flip signs in training
    (:class:`~graphformers.encodings.LinearLapPE`,
    :class:`~graphformers.encodings.SignNetLapPE`).

    **Solvers.** Components with at most :attr:`SPARSE_THRESHOLD` nodes use the
    dense ``scipy.linalg.eigh`` (only the wanted eigenpairs); larger ones use
    ``scipy.sparse.linalg.eigsh``, first on :math:`c\mathbf{I} - \mathbf{L}` (``c`` a
    bound on the spectrum: 2, or twice the largest degree without normalization), whose
    largest eigenpairs are the smallest of :math:`\mathbf{L}`, with matrix-vector
    products only (at most :attr:`MATVEC_RESTARTS` restarts); if that does not converge
    (graphs whose smallest eigenvalues lie very close together, e.g. long paths), in
    shift-invert mode around :math:`\sigma` = :attr:`SHIFT` (the eigenvalues nearest
    :math:`\sigma` are the smallest, as :math:`\mathbf{L}` is positive semi-definite).
    Shift-invert factorizes :math:`\mathbf{L} - \sigma\mathbf{I}`, which on random,
    expander-like graphs fills in almost completely: one component of 20,000 nodes and
    average degree 10 took 553 s that way and 0.5 s with products only (a 20,000-node path
    0.8 s, falling back; it took 11.8 s with the former shift of -1e-2). A fixed start
    vector keeps results reproducible.
    Many small graphs are transformed fastest with single-threaded LAPACK
    (``OPENBLAS_NUM_THREADS=1`` or ``threadpoolctl.threadpool_limits(1)``): on a
    busy machine threads cost more than the tiny eigenproblems themselves.
    Self-loops are removed; duplicate edges add their weights; ``data.edge_weight``
    (positive, shape ``[E]``) is used when present.

    Args:
        k (int): number of non-trivial eigenpairs to keep.
        attr_prefix (str, optional): prefix of the three attributes.
            (default: ``"lap"``)
        normalization (str or None, optional): ``"sym"`` for the symmetric
            normalized Laplacian, ``None`` for :math:`\mathbf{D} - \mathbf{A}`.
            (default: ``"sym"``)
        is_undirected (bool, optional): the edges are given in both directions.
            When ``True`` a non-symmetric adjacency raises :class:`ValueError`;
            when ``False`` the graph is symmetrized as
            :math:`\max(\mathbf{A}, \mathbf{A}^\top)`. (default: ``True``)

    Shapes:
        - **input:** ``edge_index`` ``[2, E]``, ``num_nodes`` ``N``
        - **output:** the three attributes above, each ``[N, k]``
    """

    #: Components with more nodes than this use the sparse ``eigsh`` solver.
    SPARSE_THRESHOLD: int = 200
    #: Shift of the sparse shift-invert fallback (below the spectrum; closer to 0 separates
    #: the tiny eigenvalues of long paths better: a 20,000-node path 0.3 s at -1e-4, 11.8 s at -1e-2).
    SHIFT: float = -1e-4
    #: ARPACK restarts of the product-only solver before the shift-invert fallback.
    MATVEC_RESTARTS: int = 50

    def __init__(
        self,
        k: int,
        *,
        attr_prefix: str = "lap",
        normalization: str | None = "sym",
        is_undirected: bool = True,
    ) -> None:
        self.k = _check_positive_int(k, "k")
        if not isinstance(attr_prefix, str) or not attr_prefix:
            raise ValueError(f"attr_prefix must be a non-empty string, got {attr_prefix!r}")
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
        self.attr_prefix = attr_prefix
        self.normalization = normalization
        self.is_undirected = bool(is_undirected)

    @property
    def attr_names(self) -> tuple[str, str, str]:
        """Names of the stored ``(eigvec, eigval, mask)`` attributes."""
        p = self.attr_prefix
        return f"{p}_eigvec", f"{p}_eigval", f"{p}_mask"

    def forward(self, data: Data) -> Data:
        n = _num_nodes(data)
        adj = self._undirected_adjacency(data, n)
        num_comp, labels = connected_components(sp.csr_array(adj) if isinstance(adj, np.ndarray) else adj,
                                                directed=False)
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(num_comp + 1))

        vals, vecs, nodes = [], [], []  # one entry per component
        for c in range(num_comp):
            idx = order[bounds[c] : bounds[c + 1]]
            if idx.size < 2:
                continue
            val, vec = self._component_eigpairs(self._component(adj, idx))
            vals.append(val)
            vecs.append(vec)
            nodes.append(idx)

        eigvec = np.zeros((n, self.k))
        eigval = np.zeros(self.k)
        mask = np.zeros(self.k, dtype=bool)
        if vals:
            comp_of = np.concatenate([np.full(v.size, i) for i, v in enumerate(vals)])
            col_of = np.concatenate([np.arange(v.size) for v in vals])
            chosen = np.argsort(np.concatenate(vals), kind="stable")[: self.k]
            for out_col, j in enumerate(chosen):
                ci, cj = comp_of[j], col_of[j]
                eigvec[nodes[ci], out_col] = vecs[ci][:, cj]
                eigval[out_col] = vals[ci][cj]
                mask[out_col] = True

        vec_name, val_name, mask_name = self.attr_names
        device = _device(data)
        data[vec_name] = torch.from_numpy(eigvec).float().to(device)
        data[val_name] = torch.from_numpy(eigval).float().expand(n, -1).clone().to(device)
        data[mask_name] = torch.from_numpy(mask).expand(n, -1).clone().to(device)
        return data

    def _undirected_adjacency(self, data: Data, n: int) -> np.ndarray | sp.csr_array:
        """Adjacency without self-loops; symmetric (checked, or made so)."""
        adj = _adjacency(data, n, dense=n <= self.SPARSE_THRESHOLD)
        if isinstance(adj, np.ndarray):
            np.fill_diagonal(adj, 0.0)
            weights = adj[adj != 0]
        else:
            adj.setdiag(0)
            adj.eliminate_zeros()
            weights = adj.data
        if weights.size and weights.min() <= 0:
            raise ValueError("data.edge_weight must be positive for AddLaplacianPE")
        if not self.is_undirected:
            return np.maximum(adj, adj.T) if isinstance(adj, np.ndarray) else adj.maximum(adj.T).tocsr()
        tol = 1e-12 * max(1.0, float(weights.max(initial=0.0)))
        asym = abs(adj - adj.T)
        if asym.size and asym.max() > tol:  # .size is nnz for a sparse array
            raise ValueError(
                "edge_index (with edge_weight) is not symmetric; pass is_undirected=False "
                "to AddLaplacianPE to symmetrize it"
            )
        return adj

    def _component(self, adj: np.ndarray | sp.csr_array, idx: np.ndarray) -> np.ndarray | sp.csr_array:
        """The component's adjacency: dense up to ``SPARSE_THRESHOLD`` nodes, else CSR."""
        if isinstance(adj, np.ndarray):
            return adj[np.ix_(idx, idx)]
        sub = adj[idx][:, idx]
        return sub.toarray() if idx.size <= self.SPARSE_THRESHOLD else sub.tocsr()

    def _laplacian(self, adj: np.ndarray | sp.csr_array) -> np.ndarray | sp.csc_array:
        """Laplacian of a connected component (every degree is positive)."""
        deg = np.asarray(adj.sum(axis=1)).reshape(-1)
        if isinstance(adj, np.ndarray):
            if self.normalization == "sym":
                d_inv_sqrt = 1.0 / np.sqrt(deg)
                return np.eye(deg.size) - d_inv_sqrt[:, None] * adj * d_inv_sqrt[None, :]
            return np.diag(deg) - adj
        if self.normalization == "sym":
            d_inv_sqrt = sp.diags_array(1.0 / np.sqrt(deg))
            return (sp.eye_array(deg.size) - d_inv_sqrt @ adj @ d_inv_sqrt).tocsc()
        return (sp.diags_array(deg) - adj).tocsc()

    def _component_eigpairs(self, adj: np.ndarray | sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
        """The (up to) ``k`` smallest non-trivial eigenpairs of one component."""
        lap = self._laplacian(adj)
        n = lap.shape[0]
        nev = min(self.k + 1, n)
        if isinstance(lap, np.ndarray) or nev >= n - 1:
            dense = lap if isinstance(lap, np.ndarray) else lap.toarray()
            val, vec = scipy.linalg.eigh(dense, subset_by_index=[0, nev - 1])
        else:
            val, vec = self._sparse_eigpairs(lap, nev)
            perm = np.argsort(val, kind="stable")
            val, vec = val[perm], vec[:, perm]
        # column 0 is the component's eigenvalue-0 (trivial) eigenvector
        return np.clip(val[1:nev], 0.0, None), vec[:, 1:nev]

    def _sparse_eigpairs(self, lap: sp.csc_array, nev: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``nev`` smallest eigenpairs of a sparse Laplacian (see the class notes)."""
        n = lap.shape[0]
        start = np.random.default_rng(0).standard_normal(n)  # fixed: no global RNG
        ncv = min(n, max(4 * nev, 40))  # a wide Krylov space: clustered low ends converge in few restarts
        # every eigenvalue lies in [0, c]: 2 for the normalized Laplacian, Gershgorin's bound otherwise
        bound = 2.0 if self.normalization == "sym" else 2.0 * float(lap.diagonal().max())
        flipped = (bound * sp.eye_array(n, format="csr") - lap).tocsr()
        try:
            val, vec = eigsh(flipped, k=nev, which="LA", v0=start, ncv=ncv, maxiter=self.MATVEC_RESTARTS)
            return bound - val, vec
        except ArpackNoConvergence:
            return eigsh(lap, k=nev, sigma=self.SHIFT, which="LM", v0=start, ncv=ncv)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(k={self.k}, attr_prefix={self.attr_prefix!r}, "
            f"normalization={self.normalization!r}, is_undirected={self.is_undirected})"
        )


class AddRandomWalkSE(BaseTransform):
    r"""Adds random-walk landing probabilities (RWSE) to a graph.

    The random-walk structural encoding of `"Graph Neural Networks with Learnable
    Structural and Positional Representations" <https://arxiv.org/abs/2110.07875>`_,
    as used by GraphGPS (`arXiv:2205.12454 <https://arxiv.org/abs/2205.12454>`_):

    .. math::
        \mathbf{P} = \mathbf{D}^{-1} \mathbf{A}, \qquad
        \texttt{rwse}_{i, t-1} = (\mathbf{P}^{t})_{ii}, \quad t = 1, \dots, T,

    the probability that a walk from node :math:`i` is back at :math:`i` after
    :math:`t` steps. Edges are taken as given (directed walks on a directed
    graph; self-loops and duplicate edges count, ``data.edge_weight`` weights
    the steps). A node without out-edges has a zero row in :math:`\mathbf{P}`, so
    all its landing probabilities are 0 (as in PyG's
    :class:`~torch_geometric.transforms.AddRandomWalkPE`), not 1.

    Only the powers up to :math:`\lceil T/2 \rceil` are formed;
    :math:`\operatorname{diag}(\mathbf{P}^{a}\mathbf{P}^{b}) =
    \sum_j (\mathbf{P}^{a})_{ij} (\mathbf{P}^{b})_{ji}` gives the rest, which
    halves the matrix products. Graphs with at most :attr:`SPARSE_THRESHOLD`
    nodes use dense float64 arrays, larger ones scipy sparse matrices (memory
    then grows with the :math:`\lceil T/2 \rceil`-hop neighbourhoods).

    Args:
        walk_length (int): number of steps :math:`T`.
        attr_name (str, optional): attribute that receives the ``[N, T]`` tensor.
            (default: ``"rwse"``)

    Shapes:
        - **input:** ``edge_index`` ``[2, E]``, ``num_nodes`` ``N``
        - **output:** ``data.rwse`` ``[N, T]`` float
    """

    #: Graphs with more nodes than this use sparse matrix powers.
    SPARSE_THRESHOLD: int = 2000

    def __init__(self, walk_length: int, *, attr_name: str = "rwse") -> None:
        self.walk_length = _check_positive_int(walk_length, "walk_length")
        if not isinstance(attr_name, str) or not attr_name:
            raise ValueError(f"attr_name must be a non-empty string, got {attr_name!r}")
        self.attr_name = attr_name

    def forward(self, data: Data) -> Data:
        n = _num_nodes(data)
        dense = n <= self.SPARSE_THRESHOLD
        adj = _adjacency(data, n, dense=dense)
        deg = np.asarray(adj.sum(axis=1)).reshape(-1)
        inv_deg = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg != 0)
        trans = adj * inv_deg[:, None] if isinstance(adj, np.ndarray) else (sp.diags_array(inv_deg) @ adj).tocsr()
        data[self.attr_name] = torch.from_numpy(self._landing_probabilities(trans)).float().to(_device(data))
        return data

    def _landing_probabilities(self, trans: np.ndarray | sp.csr_array) -> np.ndarray:
        """``[N, T]`` diagonals of ``P^1..P^T`` from the powers up to ``ceil(T/2)``.

        ``diag(P^a P^b)_i = sum_j (P^a)_ij (P^b)_ji`` with ``a = ceil(t/2)``,
        ``b = floor(t/2)``: about half the matrix products of computing every power.
        """
        powers = [trans]
        for _ in range(math.ceil(self.walk_length / 2) - 1):
            nxt = powers[-1] @ trans
            powers.append(nxt if isinstance(nxt, np.ndarray) else nxt.tocsr())
        cols = []
        for t in range(1, self.walk_length + 1):
            a, b = powers[math.ceil(t / 2) - 1], powers[t // 2 - 1] if t > 1 else None
            if b is None:
                cols.append(a.diagonal())
            elif isinstance(a, np.ndarray):
                cols.append(np.einsum("ij,ji->i", a, b))
            else:
                cols.append(np.asarray(a.multiply(b.T).sum(axis=1)).reshape(-1))
        return np.stack(cols, axis=-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(walk_length={self.walk_length}, attr_name={self.attr_name!r})"
