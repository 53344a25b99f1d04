"""quickstart: strict JSON, an undefined (null / n/a) std for one seed, and epochs >= 1."""

from __future__ import annotations

import json

import pytest

from graphformers.cli import main


def _strict(text):
    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("epochs", ["0", "-1", "abc"])
def test_epochs_must_be_positive(tmp_path, capsys, epochs):
    with pytest.raises(SystemExit) as info:
        main(["quickstart", "--out", str(tmp_path / "run"), "--epochs", epochs])
    assert info.value.code == 2 and "--epochs" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_one_seed_reports_an_undefined_std(small_freesolv, tmp_path, capsys, monkeypatch):
    csv = small_freesolv
    monkeypatch.setenv("GRAPHFORMERS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["quickstart", "--out", str(out), "--epochs", "1", "--seeds", "0", "--csv", str(csv), "--json"]) == 0
    printed = _strict(capsys.readouterr().out.strip().splitlines()[-1])
    results = _strict((out / "results.json").read_text())
    for label, model in results["models"].items():
        assert model["test_rmse_std"] is None and model["test_rmse_mean"] > 0
        assert printed["summary"][label]["test_rmse_std"] is None
    out2 = tmp_path / "run2"
    assert main(["quickstart", "--out", str(out2), "--epochs", "1", "--seeds", "0", "--csv", str(csv)]) == 0
    assert "± n/a" in capsys.readouterr().out
