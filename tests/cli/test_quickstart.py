import json

import pytest

from graphformers.cli import main


def test_quickstart_trains_both_models_and_refuses_to_overwrite(small_freesolv, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRAPHFORMERS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    argv = ["quickstart", "--out", str(out), "--epochs", "2", "--seeds", "0", "--csv", str(small_freesolv), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == set(summary["summary"])
    for model in results["models"].values():
        assert model["runs"][0]["test_rmse"] > 0
        assert len(model["runs"]) == 1
    # a second run into the same folder is refused, and the results survive
    assert main(argv) == 1
    assert "not empty" in capsys.readouterr().err
    assert json.loads((out / "results.json").read_text()) == results
