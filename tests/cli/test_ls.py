"""`graphformers ls models|datasets`."""

from __future__ import annotations

import json

from graphformers.cli import main


def test_ls_models_json(capsys):
    assert main(["ls", "models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("transe", "distmult", "complex", "rotate", "transformer"):
        assert rows[name]["task"] == "kgc" and rows[name]["citation"]
    assert "Trouillon" in rows["complex"]["citation"]


def test_ls_datasets(capsys):
    assert main(["ls", "datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["fb15k-237"]["entities"] == 14541 and rows["wn18rr"]["test"] == 3134
    assert "smoke" in rows["nations"]["note"]
    assert main(["ls", "datasets"]) == 0
    assert "Dettmers" in capsys.readouterr().out
