"""KG scorers: 1-N scores agree with triple scores and with PyG / hand formulas; training and resume."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import kge

from graphformers.evaluation.ranking import FilterIndex
from graphformers.kg.evaluate import evaluate_link_prediction
from graphformers.kg.models import ComplEx, DistMult, RotatE, TransE
from graphformers.kg.registry import MODELS, build_model
from graphformers.kg.tiny import tiny_kg
from graphformers.kg.training import (
    KGCTrainer,
    json_text,
    negative_sampling_loss,
    one_vs_all_loss,
    prepare_output_dir,
)
from graphformers.kg.config import DEFAULTS, merge
from graphformers.kg.transformer import KGTransformer
from graphformers.testing import assert_every_param_has_grad, assert_reset_changes_parameters

N, R2, D = 9, 6, 4


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread avoids oversubscription on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

BUILD = {
    "transe": dict(hidden_channels=D),
    "distmult": dict(hidden_channels=D),
    "complex": dict(hidden_channels=D),
    "rotate": dict(hidden_channels=D, chunk_size=4),  # exercises the entity chunking
    "transformer": dict(hidden_channels=8, num_layers=1, heads=2, dropout=0.0),
}


def _queries():
    g = torch.Generator().manual_seed(1)
    return torch.randint(N, (5,), generator=g), torch.randint(R2, (5,), generator=g)


@pytest.mark.parametrize("name", list(MODELS))
def test_all_tails_matches_triple_scores(name):
    model = build_model(name, N, R2, **BUILD[name]).eval()
    h, r = _queries()
    all_scores = model.score_all_tails(h, r)
    assert all_scores.shape == (5, N)
    for t in range(N):
        tail = torch.full_like(h, t)
        torch.testing.assert_close(all_scores[:, t], model.score(h, r, tail), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ours,theirs", [(TransE, kge.TransE), (DistMult, kge.DistMult), (ComplEx, kge.ComplEx)])
def test_parity_with_pyg(ours, theirs):
    model = ours(N, R2, D)
    ref = theirs(N, R2, D)
    ref.load_state_dict(model.state_dict())
    h, r = _queries()
    for t in range(N):
        tail = torch.full_like(h, t)
        torch.testing.assert_close(model.score_all_tails(h, r)[:, t], ref(h, r, tail), rtol=1e-5, atol=1e-5)


def test_rotate_hand_formula():
    model = RotatE(N, R2, D, margin=2.0)
    h, r = _queries()
    t = torch.arange(5) % N
    eh = torch.complex(model.node_emb(h), model.node_emb_im(h))
    et = torch.complex(model.node_emb(t), model.node_emb_im(t))
    rot = torch.polar(torch.ones(5, D), model.rel_emb(r))
    expected = 2.0 - (eh * rot - et).abs().sum(-1)
    torch.testing.assert_close(model.score(h, r, t), expected, rtol=1e-5, atol=1e-5)


def test_complex_hand_formula():
    model = ComplEx(N, R2, D)
    h, r = _queries()
    eh = torch.complex(model.node_emb(h), model.node_emb_im(h))
    wr = torch.complex(model.rel_emb(r), model.rel_emb_im(r))
    ent = torch.complex(model.node_emb.weight, model.node_emb_im.weight)
    expected = ((eh * wr) @ ent.conj().t()).real
    torch.testing.assert_close(model.score_all_tails(h, r), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_reset_grads_and_repr(name):
    model = build_model(name, N, R2, **BUILD[name])
    assert_reset_changes_parameters(model)
    h, r = _queries()
    batch = torch.stack([h, r, torch.arange(5)], dim=1)
    loss = one_vs_all_loss(model, batch, {"label_smoothing": 0.1}, torch.Generator())
    loss = loss + sum(f.pow(2).sum() for f in model.regularization_factors(h, r, batch[:, 2]))
    assert_every_param_has_grad(model, loss)
    assert repr(model).startswith(type(model).__name__ + f"({N}, num_relations={R2}")


def test_init_std():
    model = DistMult(500, 4, 50, init_std=1e-3)
    assert model.node_emb.weight.std().item() == pytest.approx(1e-3, rel=0.1)


def test_transformer_mask_and_dropout():
    model = KGTransformer(N, R2, 8, num_layers=1, heads=2, dropout=0.5)
    h, r = _queries()
    model.eval()
    a, b = model.score_all_tails(h, r), model.score_all_tails(h, r)
    assert torch.equal(a, b)  # deterministic in eval mode
    model.train()
    assert not torch.equal(model.score_all_tails(h, r), a)  # dropout active in training
    # encode() honours the padding mask: padded tokens do not change real outputs
    model.eval()
    x = torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    x2 = x.clone()
    x2[0, 3] = 100.0
    torch.testing.assert_close(model.encode(x, mask)[0, :3], model.encode(x2, mask)[0, :3])


@pytest.mark.parametrize("padded", [False, True])
def test_transformer_encoder_equals_torch_with_the_same_weights(padded):
    """The scorer's encoder (library TransformerLayers on complete graphs) is a standard
    pre-norm Transformer encoder: equal to torch's with copied weights, with padding too."""
    torch.manual_seed(0)
    model = KGTransformer(N, R2, 16, num_layers=2, heads=4, dropout=0.0).eval()
    ref = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(16, 4, 32, 0.0, batch_first=True, norm_first=True), 2,
        enable_nested_tensor=False).eval()
    for ours, theirs in zip(model.layers, ref.layers):
        ours.copy_to_torch(theirs)
    x = torch.randn(3, 5, 16)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False], [True] * 4 + [False]]) if padded else None
    out = model.encode(x, mask)
    expected = ref(x, src_key_padding_mask=None if mask is None else ~mask)
    if mask is not None:
        assert torch.all(out[~mask] == 0)
        out, expected = out[mask], expected[mask]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_evaluation_matches_python_loop():
    kg = tiny_kg()
    model = ComplEx(kg.num_nodes, 2 * kg.num_relations, 3)
    fi = FilterIndex(kg.all_triples(), kg.num_nodes, kg.num_relations)
    acc = evaluate_link_prediction(model, kg.test, fi, num_relations=kg.num_relations, batch_size=3)
    known = {tuple(x) for x in kg.all_triples().tolist()}
    expected = []
    for side in ("head", "tail"):
        for h, r, t in kg.test.tolist():
            with torch.no_grad():
                if side == "tail":
                    s = model.score_all_tails(torch.tensor([h]), torch.tensor([r]))[0]
                    true, others = t, [e for e in range(kg.num_nodes) if e != t and (h, r, e) not in known]
                else:
                    s = model.score_all_tails(torch.tensor([t]), torch.tensor([r + kg.num_relations]))[0]
                    true, others = h, [e for e in range(kg.num_nodes) if e != h and (e, r, t) not in known]
            better = sum(float(s[e]) > float(s[true]) for e in others)
            equal = sum(float(s[e]) == float(s[true]) for e in others)
            expected.append(1 + better + equal / 2)
    got = torch.cat([acc.ranks("head"), acc.ranks("tail")])
    assert got.tolist() == pytest.approx(expected)


def _cfg(**training):
    cfg = merge(DEFAULTS, {"model": {"name": "complex", "hidden_channels": 8},
                           "training": {"epochs": 4, "batch_size": 8, "lr": 0.1, **training},
                           "regularizer": {"name": "n3", "weight": 0.001},
                           "evaluation": {"batch_size": 16, "every": 1, "patience": 10}})
    return cfg


@pytest.mark.parametrize("loss", ["1vsall", "negative_sampling"])
def test_training_fits_tiny_kg(tmp_path, loss):
    kg = tiny_kg()
    torch.manual_seed(0)
    model = ComplEx(kg.num_nodes, 2 * kg.num_relations, 8)
    cfg = _cfg(epochs=40, loss=loss, num_negatives=5)
    cfg["evaluation"]["every"] = 40
    trainer = KGCTrainer(model, kg, cfg, prepare_output_dir(tmp_path / "run"), progress=False)
    res = trainer.fit()
    # the model memorizes the training graph: filtered train MRR is high
    acc = evaluate_link_prediction(model, kg.train, trainer.filter, num_relations=kg.num_relations)
    assert acc.summary()["both"]["mrr"] > 0.9
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"] == res["test"]


@pytest.mark.parametrize("name,loss", [("complex", "negative_sampling"), ("transformer", "1vsall")])
def test_resume_reaches_same_result(tmp_path, name, loss):
    kg = tiny_kg()
    kwargs = {"hidden_channels": 8} if name == "complex" else {"hidden_channels": 8, "num_layers": 1, "heads": 2,
                                                                 "dropout": 0.3}

    def make():
        torch.manual_seed(7)
        model = build_model(name, kg.num_nodes, 2 * kg.num_relations, **kwargs)
        cfg = _cfg(loss=loss, num_negatives=4, optimizer="adam", lr=0.01)
        cfg["evaluation"]["every"] = 2
        return model, cfg

    model, cfg = make()
    straight = KGCTrainer(model, kg, cfg, prepare_output_dir(tmp_path / "a"), progress=False).fit()
    weights = copy.deepcopy(model.state_dict())

    model_b, cfg = make()
    first = KGCTrainer(model_b, kg, cfg, prepare_output_dir(tmp_path / "b"), progress=False)
    assert first.fit(stop_after=2) == {"interrupted": True, "epoch": 2}
    torch.manual_seed(999)  # a new process: global RNG differs until the checkpoint restores it
    model_c = build_model(name, kg.num_nodes, 2 * kg.num_relations, **kwargs)
    second = KGCTrainer(model_c, kg, cfg, tmp_path / "b", progress=False)
    second.resume()
    resumed = second.fit()
    for key, val in weights.items():
        torch.testing.assert_close(model_c.state_dict()[key], val, rtol=0, atol=0)
    assert resumed["test"] == straight["test"] and resumed["valid"] == straight["valid"]
    assert (tmp_path / "b" / "early_stopping.jsonl").read_text().count("\n") == 2


def test_output_dir_not_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_output_dir(out)
    prepare_output_dir(out, overwrite=True)
    assert not (out / "metrics.json").exists()


def test_negative_sampling_loss_value():
    # with temperature 0 the weights are uniform: hand-compute the loss
    model = DistMult(4, 2, 2)
    with torch.no_grad():
        model.node_emb.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -1.0]]))
        model.rel_emb.weight.copy_(torch.tensor([[2.0, 1.0], [1.0, 1.0]]))
    batch = torch.tensor([[0, 0, 2]])
    gen = torch.Generator().manual_seed(3)
    neg = torch.randint(4, (1, 3), generator=torch.Generator().manual_seed(3))
    loss = negative_sampling_loss(model, batch, {"num_negatives": 3, "adversarial_temperature": 0.0}, gen)
    pos = model.score(batch[:, 0], batch[:, 1], batch[:, 2])
    negs = model.score(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), neg[0])
    expected = -F.logsigmoid(pos) - F.logsigmoid(-negs).mean()
    torch.testing.assert_close(loss, expected.squeeze())


@pytest.mark.parametrize("metric", ["mr", "hits@1", "mrr"])
def test_early_stopping_follows_evaluation_metric(tmp_path, metric):
    kg = tiny_kg()
    torch.manual_seed(0)  # a run where MR, MRR and Hits@1 peak at different rounds
    model = ComplEx(kg.num_nodes, 2 * kg.num_relations, 8)
    cfg = _cfg(epochs=12, lr=0.2)
    cfg["evaluation"].update(every=1, patience=3, metric=metric)
    trainer = KGCTrainer(model, kg, cfg, prepare_output_dir(tmp_path / "run"), progress=False)
    res = trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "early_stopping.jsonl").read_text().splitlines()]
    better = min if metric == "mr" else max
    best, best_epoch, bad = None, 0, 0
    for row in rows:  # replay early stopping by hand on the logged values
        value = row[f"valid_{metric}"]
        if best is None or (value < best if metric == "mr" else value > best):
            best, best_epoch, bad = value, row["epoch"], 0
        else:
            bad += 1
        assert (row[f"best_{metric}"], row["best_epoch"], row["bad_rounds"]) == (best, best_epoch, bad)
    assert best == better(r[f"valid_{metric}"] for r in rows)
    if metric != "mrr":  # the scenario tells the metrics apart: MRR alone would pick another round
        assert best_epoch != max(rows, key=lambda r: r["valid_mrr"])["epoch"]
    assert res["best_epoch"] == best_epoch and res["metric"] == metric
    assert rows[-1]["stopped"] == (len(rows) < 12)
    # best.pt holds the weights of the best round
    assert res["valid"]["realistic"]["both"][metric] == best


def test_resume_without_checkpoint_restarts_at_epoch_zero(tmp_path):
    kg = tiny_kg()

    def make():
        torch.manual_seed(5)
        return ComplEx(kg.num_nodes, 2 * kg.num_relations, 8)

    cfg = _cfg()
    straight = KGCTrainer(make(), kg, cfg, prepare_output_dir(tmp_path / "a"), progress=False).fit()
    trainer = KGCTrainer(make(), kg, cfg, prepare_output_dir(tmp_path / "b"), progress=False)
    assert trainer.resume() is False and trainer.epoch == 0
    resumed = trainer.fit()
    for key in ("valid", "test", "epochs_trained", "best_epoch"):
        assert resumed[key] == straight[key], key
    # a finished run whose checkpoint was removed is not silently trained again
    (tmp_path / "a" / "checkpoint.pt").unlink()
    with pytest.raises(FileNotFoundError, match="refusing to train again"):
        KGCTrainer(make(), kg, cfg, tmp_path / "a", progress=False).resume()


def test_empty_splits_rejected():
    kg = tiny_kg()
    model = ComplEx(kg.num_nodes, 2 * kg.num_relations, 8)
    empty = torch.zeros(0, 3, dtype=torch.long)
    for split in ("train", "valid", "test"):
        parts = {s: kg.split(s) for s in ("train", "valid", "test")}
        parts[split] = empty
        bad = type(kg)(kg.entities, kg.relations, parts["train"], parts["valid"], parts["test"], name="t")
        with pytest.raises(ValueError, match=f"t: the {split} split has no triples"):
            KGCTrainer(model, bad, _cfg(), "unused", progress=False)


def test_json_text_is_strict():
    text = json_text({"mrr": float("nan"), "x": [1.5, float("inf")], "n": 0})
    assert text == '{"mrr": null, "x": [1.5, null], "n": 0}'
