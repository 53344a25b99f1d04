"""The OGB graph-property driver end to end on its built-in 40-molecule smoke dataset."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")


@pytest.mark.parametrize("model", ["molecules_gine_transformer_rwse", "molecules_gine_vn", "molecules_graph_transformer_lappe"])
def test_smoke_run_writes_results(tmp_path, model, capsys, load_script):
    drv = load_script("ogb_graphprop")
    out = tmp_path / "run"
    assert drv.main(["--smoke", "--model", model, "--seeds", "0-1", "--out", str(out), "--no-progress"]) == 0
    seeds = [json.loads((out / f"seed_{s}.json").read_text()) for s in (0, 1)]
    for rec in seeds:
        assert rec["metric"] == "rocauc" and 0.0 <= rec["test"] <= 1.0 and 0.0 <= rec["valid"] <= 1.0
        assert len(rec["history"]) == 2 and 1 <= rec["best_epoch"] <= 2
        # selection on validation only: the reported test is the test at the best-validation epoch
        best = max(rec["history"], key=lambda h: h["valid"])
        assert rec["valid"] == best["valid"] and rec["test"] == rec["history"][rec["best_epoch"] - 1]["test"]
        assert rec["params"] > 0 and rec["config"]["model"]["num_layers"] == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    mean = (seeds[0]["test"] + seeds[1]["test"]) / 2
    assert summary["test_mean"] == pytest.approx(mean)
    assert summary["test_std"] == pytest.approx(abs(seeds[0]["test"] - seeds[1]["test"]) / math.sqrt(2))
    # a smoke run is labelled as one, never as the real dataset's result
    assert (out / "row.md").read_text().startswith(f"| {model} | ogbg-molbace (smoke) | rocauc |")
    assert summary["smoke"] is True and all(rec["smoke"] is True for rec in seeds)
    # an existing results folder is not overwritten without --overwrite
    assert drv.main(["--smoke", "--model", model, "--seeds", "0", "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "seed_1.json").exists()


def test_bad_config_is_reported(tmp_path, capsys, load_script):
    drv = load_script("ogb_graphprop")
    assert drv.main(["--config", str(tmp_path / "nope.yaml"), "--model", "molecules_gine", "--out",
                     str(tmp_path / "o")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_restrict_train_keeps_official_order_and_reindexes(load_script):
    import torch

    drv = load_script("ogb_graphprop")
    graphs = [f"g{i}" for i in range(10)]
    split = {"train": torch.tensor([7, 1, 4, 0]), "valid": torch.tensor([2, 9]), "test": torch.tensor([5])}
    kept, new = drv.restrict_train(graphs, split, 2)
    assert kept == ["g7", "g1", "g2", "g9", "g5"]
    assert {k: v.tolist() for k, v in new.items()} == {"train": [0, 1], "valid": [2, 3], "test": [4]}
    assert drv.restrict_train(graphs, split, None) == (graphs, split)
    with pytest.raises(ValueError, match="subset"):
        drv.restrict_train(graphs, split, 0)


def test_borrowed_evaluator_uses_the_dataset_task_count(load_script):
    import torch
    from sklearn.metrics import average_precision_score

    drv = load_script("ogb_graphprop")
    metric, name = drv.make_metric("ogbg-molpcba", 2)  # Peptides-func borrows molpcba's AP (128 tasks in master.csv)
    y = torch.tensor([[1.0, 0.0], [0.0, float("nan")], [1.0, 1.0], [0.0, 0.0]])
    p = torch.tensor([[0.9, 0.2], [0.4, 0.5], [0.3, 0.8], [0.1, 0.6]])
    expected = (average_precision_score([1, 0, 1, 0], [0.9, 0.4, 0.3, 0.1])
                + average_precision_score([0, 1, 0], [0.2, 0.8, 0.6])) / 2
    assert name == "ap" and metric(y, p) == pytest.approx(expected)
