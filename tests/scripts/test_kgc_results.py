"""scripts/kgc_results.py: reuse of finished runs only with the same settings; single-seed std."""

from __future__ import annotations

import json

import pytest
import yaml

from graphformers.kg.config import resolve_config


def _fake_finished_run(run_dir, overrides):
    run_dir.mkdir(parents=True)
    cfg = resolve_config(dataset="nations", model="complex", overrides=overrides)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (run_dir / "metrics.json").write_text(json.dumps({"epochs_trained": cfg["training"]["epochs"]}))


def _no_training(monkeypatch):
    calls = []

    def fake_main(args):
        calls.append(args)
        return 0

    monkeypatch.setattr("graphformers.cli.main", fake_main)
    return calls


def test_reuses_a_run_with_the_same_config(load_script, tmp_path, monkeypatch):
    mod = load_script("kgc_results")
    calls = _no_training(monkeypatch)
    _fake_finished_run(tmp_path / "nations-complex-seed0", ["seed=0", "training.epochs=20"])
    got = mod.run_one(tmp_path, "nations", "complex", 0, ["training.epochs=20"])
    assert got == {"epochs_trained": 20} and calls == []


def test_refuses_a_quick_run_for_a_full_request(load_script, tmp_path, monkeypatch):
    mod = load_script("kgc_results")
    calls = _no_training(monkeypatch)
    _fake_finished_run(tmp_path / "nations-complex-seed0", ["seed=0", "training.epochs=20"])
    with pytest.raises(SystemExit, match=r"nations-complex-seed0.*training\.epochs: 20 -> .*--overwrite"):
        mod.run_one(tmp_path, "nations", "complex", 0, [])
    assert calls == []


def test_refuses_a_run_without_config(load_script, tmp_path, monkeypatch):
    mod = load_script("kgc_results")
    _no_training(monkeypatch)
    run = tmp_path / "nations-complex-seed0"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit, match="no readable config.yaml"):
        mod.run_one(tmp_path, "nations", "complex", 0, [])


def test_overwrite_retrains_a_run_with_other_settings(load_script, tmp_path, monkeypatch):
    mod = load_script("kgc_results")
    calls = _no_training(monkeypatch)
    _fake_finished_run(tmp_path / "nations-complex-seed0", ["seed=0", "training.epochs=20"])
    mod.run_one(tmp_path, "nations", "complex", 0, [], threads=2, overwrite=True)
    (args,) = calls
    assert "--overwrite" in args and "training.epochs=20" not in args
    assert args[args.index("--threads") + 1] == "2" and "seed=0" in args


def _metrics(mrr):
    side = {"both": {"mrr": mrr, "hits@1": mrr, "hits@3": mrr, "hits@10": mrr}}
    return {"seed": 0, "test": {"realistic": side}, "valid": {"realistic": side}, "train_seconds": 1.0,
            "epochs_trained": 5, "best_epoch": 5}


def test_single_seed_std_is_null(load_script):
    mod = load_script("kgc_results")
    one = mod.aggregate([_metrics(0.5)])
    assert one["mrr"] == {"mean": 0.5, "std": None}
    two = mod.aggregate([_metrics(0.5), _metrics(0.7)])
    assert two["mrr"]["std"] == pytest.approx(0.1414213, rel=1e-5)
