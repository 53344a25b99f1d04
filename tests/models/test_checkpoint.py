"""Activation checkpointing of GraphGPS and MPNN layers: same values, less memory kept."""

import copy

import pytest
import torch
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import Batch

from graphformers.models.factory import build_model
from graphformers.testing import random_graph
from graphformers.utils.checkpoint import buffer_contexts, checkpoint_layer


def config(name="gps", local="gine", attn="full", **extra):
    model = {
        "name": name, "channels": 16, "num_layers": 4, "dropout": 0.2,
        "node_encoder": {"name": "linear", "in_channels": 8},
        "edge_encoder": {"name": "linear", "in_channels": 4},
        "local": {"name": local},
        "head": {"level": "graph", "pool": "mean"},
        **extra,
    }
    if name == "gps":
        model["attention"] = {"name": attn, "heads": 4, "dropout": 0.3} if attn else None
    return {"model": model}


def batch():
    g = torch.Generator().manual_seed(0)
    return Batch.from_data_list([random_graph(n, 2 * n, channels=8, edge_dim=4, generator=g) for n in (5, 9, 30, 1)])


def forward_saving(model, data, seed):
    """Output of ``model(data)`` (RNG seeded) and the bytes autograd saved for the backward."""
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torch.manual_seed(seed)
        out = model(data)
    return out, saved[0]


CASES = [
    ("gps", "gine", "full", {}),
    ("gps", "gatedgcn", "performer", {}),
    ("gps", "gine", "linear", {}),
    ("mpnn", "gine", None, {"virtual_node": True}),
]


@pytest.mark.parametrize("name,local,attn,extra", CASES)
def test_checkpointing_keeps_values_gradients_and_norm_statistics(name, local, attn, extra):
    torch.manual_seed(0)
    plain = build_model(config(name, local, attn, **extra), out_channels=2).train()
    ckpt = build_model(config(name, local, attn, checkpoint=True, **extra), out_channels=2).train()
    ckpt.load_state_dict(plain.state_dict())
    assert ckpt.checkpoint and not plain.checkpoint
    data = batch()
    for step in range(2):  # two steps: running statistics and num_batches_tracked must match after each
        out_plain, saved_plain = forward_saving(plain, data, seed=step)
        out_ckpt, saved_ckpt = forward_saving(ckpt, data, seed=step)
        # dropout draws the same masks (RNG state replayed in the recomputation)
        torch.testing.assert_close(out_ckpt, out_plain, rtol=0, atol=0)
        # 4 layers: only the layers' inputs (and encoder/head activations) are kept
        assert saved_ckpt < saved_plain / 2
        plain.zero_grad()
        ckpt.zero_grad()
        out_plain.square().sum().backward()
        out_ckpt.square().sum().backward()
        for (pname, p), q in zip(plain.named_parameters(), ckpt.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-6, atol=1e-7, msg=pname)
        for (bname, b), c in zip(plain.named_buffers(), ckpt.buffers()):
            assert torch.equal(c, b), f"{bname} differs after step {step}"


def test_plain_torch_checkpoint_would_update_batch_norm_twice():
    """The reason for ``buffer_contexts``: torch's checkpoint alone recomputes the
    BatchNorm forward in the backward and moves the running mean again."""
    torch.manual_seed(0)
    model = build_model(config(), out_channels=2).train()
    layer = model.layers[0]
    x = torch.randn(12, 16, requires_grad=True)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    edge_attr = torch.randn(4, 16)
    means = []
    for run in (lambda: checkpoint(layer, x, edge_index, None, edge_attr=edge_attr, use_reentrant=False),
                lambda: checkpoint_layer(layer, x, edge_index, None, edge_attr=edge_attr)):
        layer.norm_out.module.reset_running_stats()
        torch.manual_seed(1)
        out, _ = run()
        after_forward = layer.norm_out.module.running_mean.clone()
        out.sum().backward()
        means.append((after_forward, layer.norm_out.module.running_mean.clone()))
    (fwd_plain, bwd_plain), (fwd_ours, bwd_ours) = means
    assert not torch.equal(bwd_plain, fwd_plain)  # torch alone: updated again in the backward
    assert torch.equal(bwd_ours, fwd_ours)
    assert torch.equal(fwd_ours, fwd_plain)


def test_checkpoint_is_skipped_without_autograd_and_in_eval_keeps_values():
    torch.manual_seed(0)
    plain = build_model(config(), out_channels=2).eval()
    ckpt = build_model(config(checkpoint=True), out_channels=2).eval()
    ckpt.load_state_dict(plain.state_dict())
    data = batch()
    with torch.no_grad():
        torch.testing.assert_close(ckpt(data), plain(data), rtol=0, atol=0)
    out, saved = forward_saving(ckpt, data, seed=0)  # eval with gradients (e.g. saliency): checkpointed
    assert saved < forward_saving(plain, data, seed=0)[1] / 4
    out.sum().backward()


def test_performer_redraw_in_the_recomputation_uses_the_forward_features():
    """A Performer that redraws its features on this very call: the recomputation must
    run with the features the forward drew (the call counter is replayed), else the
    gradients would belong to other features."""
    torch.manual_seed(0)
    cfg = config(local="gine", attn="performer")
    plain = build_model(cfg, out_channels=2).train()
    ckpt = build_model({"model": {**cfg["model"], "checkpoint": True}}, out_channels=2).train()
    ckpt.load_state_dict(plain.state_dict())
    for model in (plain, ckpt):
        for layer in model.layers:
            layer.attn.feature_map.redraw_interval = 1
            layer.attn.feature_map.calls_since_redraw.fill_(1)  # redraw on the next call
    data = batch()
    grads = []
    for model in (plain, ckpt):
        torch.manual_seed(3)
        model(data).sum().backward()
        grads.append([p.grad for p in model.parameters()])
    for g_plain, g_ckpt in zip(*grads):
        torch.testing.assert_close(g_ckpt, g_plain, rtol=1e-6, atol=1e-7)
    for b_plain, b_ckpt in zip(plain.buffers(), ckpt.buffers()):
        assert torch.equal(b_ckpt, b_plain)


def test_buffer_contexts_replay_and_restore_even_on_error():
    bn = torch.nn.BatchNorm1d(3)
    forward, recomputation = buffer_contexts(bn)
    with forward:
        bn(torch.randn(5, 3) + 1.0)
    after_forward = bn.running_mean.clone()
    seen = []
    with pytest.raises(RuntimeError, match="boom"):
        with recomputation:
            seen.append((bn.running_mean.clone(), int(bn.num_batches_tracked)))  # the state the forward found
            bn(torch.randn(5, 3))
            raise RuntimeError("boom")
    assert torch.equal(seen[0][0], torch.zeros(3)) and seen[0][1] == 0
    assert torch.equal(bn.running_mean, after_forward) and int(bn.num_batches_tracked) == 1


def test_checkpoint_config_errors():
    with pytest.raises(ValueError, match="model.checkpoint must be true or false"):
        build_model(config(checkpoint="yes"), out_channels=2)
    gt = {"model": {"name": "graph_transformer", "channels": 16, "num_layers": 2, "heads": 4,
                    "node_encoder": {"name": "linear", "in_channels": 8}, "checkpoint": True}}
    with pytest.raises(ValueError, match="supported for name: gps and name: mpnn"):
        build_model(gt, out_channels=2)
    with pytest.raises(TypeError, match="pass 'owner'"):
        checkpoint_layer(lambda t: t * 2, torch.ones(2, requires_grad=True))
    assert "checkpoint=True" in repr(build_model(config(checkpoint=True), out_channels=2))
    assert "checkpoint=True" in repr(build_model(config("mpnn", checkpoint=True), out_channels=2))
    model = copy.deepcopy(build_model(config(checkpoint=True), out_channels=2))
    assert model.checkpoint
