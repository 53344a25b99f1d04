"""LinearLapPE (training-time sign flip) and SignNetLapPE (sign-invariant) encoders."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from graphformers.encodings import LinearLapPE, SignNetLapPE
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_reset_changes_parameters,
    random_graph,
)
from graphformers.transforms.positional import AddLaplacianPE

K = 4


def pe_graphs(sizes=(6, 3, 11, 2)) -> list[Data]:
    g = torch.Generator().manual_seed(0)
    t = AddLaplacianPE(K)
    return [t(random_graph(n, 2 * n, channels=8, generator=g)) for n in sizes]


@pytest.fixture
def pe_batch() -> Batch:
    return Batch.from_data_list(pe_graphs())


def with_garbage_in_padding(batch: Batch) -> Batch:
    out = batch.clone()
    pad = ~out.lap_mask
    assert pad.any(), "the test batch must contain padded eigenpairs"
    out.lap_eigvec = out.lap_eigvec.masked_fill(pad, float("nan"))
    out.lap_eigval = out.lap_eigval.masked_fill(pad, 1e3)
    return out


def flip_eigvector_signs(batch: Batch, seed: int = 7) -> Batch:
    """Flip a random subset of each graph's eigenvectors (one sign per graph and column)."""
    sign = torch.randint(0, 2, (batch.num_graphs, K), generator=torch.Generator().manual_seed(seed)) * 2 - 1
    assert (sign == -1).any()
    out = batch.clone()
    out.lap_eigvec = out.lap_eigvec * sign[out.batch]
    return out


ENCODERS = {
    "linear": lambda: LinearLapPE(K, 6),
    "linear_no_eigval_bn": lambda: LinearLapPE(K, 6, use_eigval=False, raw_norm=nn.BatchNorm1d(K)),
    "signnet": lambda: SignNetLapPE(K, 6, hidden_channels=8),
    "signnet_gin": lambda: SignNetLapPE(K, 6, hidden_channels=8, phi_conv_layers=2),
}


def test_linear_matches_hand_computation_in_eval(pe_batch):
    enc = LinearLapPE(K, 5).eval()
    x = torch.cat([pe_batch.lap_eigvec, pe_batch.lap_eigval], dim=-1)
    torch.testing.assert_close(enc(pe_batch), x @ enc.lin.weight.T + enc.lin.bias)


def test_linear_sign_flip_per_graph_and_eigvector_in_training_only(pe_batch):
    enc = LinearLapPE(K, 2 * K)
    with torch.no_grad():  # identity map: output = [s * eigvec, eigval]
        enc.lin.weight.copy_(torch.eye(2 * K))
        enc.lin.bias.zero_()
    vec = pe_batch.lap_eigvec
    enc.eval()
    torch.testing.assert_close(enc(pe_batch), enc(pe_batch))
    torch.testing.assert_close(enc(pe_batch)[:, :K], vec)

    enc.train()
    outs = [enc(pe_batch) for _ in range(3)]
    assert not torch.equal(outs[0], outs[1]) or not torch.equal(outs[1], outs[2])
    for out in outs:
        torch.testing.assert_close(out[:, K:], pe_batch.lap_eigval)  # eigenvalues untouched
        torch.testing.assert_close(out[:, :K].abs(), vec.abs())
        nz = vec.abs() > 1e-4
        ratio = torch.where(nz, out[:, :K] / torch.where(nz, vec, torch.ones_like(vec)), torch.zeros_like(vec))
        for g in range(pe_batch.num_graphs):
            for j in range(K):
                signs = ratio[(pe_batch.batch == g) & nz[:, j], j].round().unique()
                assert len(signs) <= 1, f"graph {g}, eigvector {j} got several signs {signs}"
    # the generator makes the training flip reproducible
    a = enc(pe_batch, generator=torch.Generator().manual_seed(3))
    b = enc(pe_batch, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_linear_sign_flip_on_a_single_graph():
    data = pe_graphs((6,))[0]
    enc = LinearLapPE(K, 3).train()
    out = enc(data, generator=torch.Generator().manual_seed(0))
    assert out.shape == (6, 3)


@pytest.mark.parametrize("phi_conv_layers", [0, 2])
def test_signnet_is_sign_invariant_in_train_and_eval(pe_batch, phi_conv_layers):
    enc = SignNetLapPE(K, 6, phi_conv_layers=phi_conv_layers)
    flipped = flip_eigvector_signs(pe_batch)
    for mode in (True, False):
        enc.train(mode)
        torch.testing.assert_close(enc(flipped), enc(pe_batch))
    # and not a constant map: nodes of the 11-node graph get different encodings
    out = enc(pe_batch)[pe_batch.batch == 2]
    assert (out - out.mean(0)).abs().max() > 1e-3


@pytest.mark.parametrize("phi_conv_layers", [0, 1])
def test_signnet_ignores_eigenpair_order(pe_batch, phi_conv_layers):
    enc = SignNetLapPE(K, 6, phi_conv_layers=phi_conv_layers).eval()
    perm = torch.tensor([2, 0, 3, 1])
    shuffled = pe_batch.clone()
    for name in ("lap_eigvec", "lap_eigval", "lap_mask"):
        shuffled[name] = shuffled[name][:, perm]
    torch.testing.assert_close(enc(shuffled), enc(pe_batch))


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_padded_eigenpairs_do_not_affect_output(name, pe_batch):
    enc = ENCODERS[name]()
    garbage = with_garbage_in_padding(pe_batch)
    for mode in (True, False):
        enc.train(mode)
        kw = {"generator": torch.Generator().manual_seed(1)} if isinstance(enc, LinearLapPE) else {}
        kw2 = {"generator": torch.Generator().manual_seed(1)} if kw else {}
        out = enc(garbage, **kw)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, enc(pe_batch, **kw2))


@pytest.mark.parametrize("phi_conv_layers", [0, 2])
def test_signnet_padded_pairs_contribute_nothing(phi_conv_layers):
    # the triangle has 2 non-trivial eigenpairs: k=4 (2 padded) must equal k=2 (none padded)
    tri = pe_graphs((3,))[0]
    assert tri.lap_mask[0].tolist() == [True, True, False, False]
    short = tri.clone()
    for name in ("lap_eigvec", "lap_eigval", "lap_mask"):
        short[name] = tri[name][:, :2]
    enc4 = SignNetLapPE(K, 6, phi_conv_layers=phi_conv_layers).eval()
    enc2 = SignNetLapPE(2, 6, phi_conv_layers=phi_conv_layers).eval()
    enc2.load_state_dict(enc4.state_dict())  # phi/rho do not depend on k
    torch.testing.assert_close(enc4(tri), enc2(short))


@pytest.mark.parametrize("raw_norm", [None, "batch_norm"])
def test_linear_padded_pairs_contribute_nothing(raw_norm):
    tri = pe_graphs((3,))[0]
    enc = LinearLapPE(K, 6, raw_norm=nn.BatchNorm1d(2 * K) if raw_norm else None)
    if raw_norm:
        with torch.no_grad():  # a norm that maps 0 to non-zero values
            enc.raw_norm.bias.fill_(1.0)
    before = enc(tri, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # weights that read padded eigvec/eigval columns 2, 3, 6, 7
        enc.lin.weight[:, [2, 3, K + 2, K + 3]] += 5.0
    torch.testing.assert_close(enc(tri, generator=torch.Generator().manual_seed(0)), before)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_batch_independent_in_eval(name):
    enc = ENCODERS[name]()
    enc(Batch.from_data_list(pe_graphs()))  # one training step of BatchNorm statistics
    enc.eval()
    graphs = pe_graphs((5, 3, 12, 2))
    assert_batch_independent(enc, graphs[0], graphs[1:])
    assert_batch_independent(enc, graphs[1], [graphs[0], graphs[2]])  # padded graph in the middle


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_gradients_reset_and_shape(name, pe_batch):
    enc = ENCODERS[name]()
    out = enc(pe_batch)
    assert out.shape == (pe_batch.num_nodes, 6)
    assert_every_param_has_grad(enc, (out**2).sum())
    assert_reset_changes_parameters(enc)


def test_repr():
    assert repr(LinearLapPE(8, 16)) == (
        "LinearLapPE(k=8, out_channels=16, use_eigval=True, raw_norm=None, sign_flip=True)"
    )
    assert repr(SignNetLapPE(8, 16, hidden_channels=32)) == (
        "SignNetLapPE(k=8, out_channels=16, hidden_channels=32, phi_layers=2, rho_layers=2, "
        "phi_conv_layers=0, use_eigval=True)"
    )


def test_errors_name_the_problem(pe_batch):
    for cls in (LinearLapPE, SignNetLapPE):
        with pytest.raises(ValueError, match="k must be"):
            cls(0, 4)
        with pytest.raises(ValueError, match="out_channels must be"):
            cls(2, 0)
        with pytest.raises(ValueError, match=r"k=3"):
            cls(3, 4)(pe_batch)  # the batch was transformed with k=4
        bare = Batch.from_data_list([random_graph(4, 4)])
        with pytest.raises(ValueError, match=r"'lap_eigvec'.*AddLaplacianPE"):
            cls(K, 4)(bare)
    with pytest.raises(ValueError, match="phi_conv_layers must be"):
        SignNetLapPE(K, 4, phi_conv_layers=-1)
    no_edges = pe_batch.clone()
    del no_edges.edge_index
    with pytest.raises(ValueError, match="edge_index"):
        SignNetLapPE(K, 4, phi_conv_layers=1)(no_edges)
    with pytest.raises(ValueError, match="'pe_eigvec'"):
        LinearLapPE(K, 4, attr_prefix="pe")(pe_batch)


def test_gin_phi_layer_matches_dense_formula():
    from graphformers.encodings.laplacian import _EigvecGIN

    data = pe_graphs((7,))[0]
    layer = _EigvecGIN(2, 5)
    with torch.no_grad():
        layer.eps.fill_(0.3)
    x = torch.randn(7, K, 2)
    adj = torch.zeros(7, 7)
    adj.index_put_((data.edge_index[1], data.edge_index[0]), torch.ones(data.num_edges), accumulate=True)
    expected = torch.relu(layer.mlp(1.3 * x + torch.einsum("ij,jkc->ikc", adj, x)))
    torch.testing.assert_close(layer(x, data.edge_index), expected)


def test_gin_signnet_end_to_end_permutation_equivariant():
    from graphformers.testing import assert_permutation_equivariant

    g = torch.Generator().manual_seed(0)
    data = random_graph(14, 30, channels=2, generator=g)
    t = AddLaplacianPE(K)
    vals = t(data).lap_eigval[0]
    assert (vals[1:] - vals[:-1]).min() > 1e-4  # eigenvectors unique up to sign
    enc = SignNetLapPE(K, 6, phi_conv_layers=2).eval()
    assert_permutation_equivariant(lambda d: enc(t(d)), data, atol=1e-4)
    # the GIN phi sees the graph: moving an edge changes the encoding
    plain = enc(t(data))
    assert not ((data.edge_index[0] == 1) & (data.edge_index[1] == 6)).any()
    rewired = data.clone()
    rewired.edge_index = torch.cat([data.edge_index, torch.tensor([[1, 6], [6, 1]])], dim=1)
    assert not torch.allclose(enc(t(rewired)), plain, atol=1e-3)
