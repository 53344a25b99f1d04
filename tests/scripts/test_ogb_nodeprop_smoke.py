"""The OGB node-property driver end to end on a 60-node graph in the ogbn-arxiv raw layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ogb")

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_nodeprop_smoke(tmp_path, capsys, load_script):
    drv = load_script("ogb_nodeprop")
    out = tmp_path / "run"
    assert drv.main(["--smoke", "--out", str(out), "--no-progress"]) == 0
    recs = [json.loads((out / f"seed_{s}.json").read_text()) for s in (0, 1)]
    for rec in recs:
        assert rec["metric"] == "acc" and len(rec["history"]) == 3
        best = max(rec["history"], key=lambda h: h["valid"])
        assert rec["valid"] == best["valid"] and rec["test"] == best["test"]
        # accuracies on 12 validation nodes are multiples of 1/12
        assert abs(rec["valid"] * 12 - round(rec["valid"] * 12)) < 1e-9
    assert json.loads((out / "summary.json").read_text())["num_seeds"] == 2
    assert drv.main(["--smoke", "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_arxiv_config_builds_a_model():
    import yaml

    from graphformers.models.factory import build_model

    cfg = yaml.safe_load((SCRIPTS / "configs" / "ogb" / "arxiv.yaml").read_text())
    model = build_model(cfg, out_channels=40)
    assert sum(p.numel() for p in model.parameters()) > 0
