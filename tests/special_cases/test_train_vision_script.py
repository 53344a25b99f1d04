"""Smoke test of scripts/train_vision.py: both forms train from the same weights, JSON is written."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_vision.py"


@pytest.fixture(scope="module")
def train_vision():
    spec = importlib.util.spec_from_file_location("train_vision", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.slow
def test_smoke_run_writes_runs_and_summary(train_vision, tmp_path):
    out = tmp_path / "run"
    argv = ["--dataset", "digits", "--epochs", "1", "--limit", "96", "--seeds", "0", "1", "--out", str(out)]
    assert train_vision.main(argv) == 0
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert {(r["model"], r["form"], r["seed"]) for r in runs} == {
        (m, f, s) for m in ("vit", "convnet") for f in ("graph", "torch") for s in (0, 1)
    }
    summary = json.loads((out / "summary.json").read_text())["results"]
    for kind in ("vit", "convnet"):
        assert summary[kind]["graph_over_torch_time_ratio"] > 0
        # same function, same start, same minibatches: the two forms stay (almost) identical
        assert abs(summary[kind]["graph"]["test_acc_mean"] - summary[kind]["torch"]["test_acc_mean"]) < 0.02
    assert train_vision.main(argv) == 2  # refuses to overwrite a non-empty --out
