"""The PE-cache benchmark end to end on a few molecules written in the real files' layouts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")


MOLECULES = [
    "CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C(O)c1ccccc1OC(C)=O", "not a smiles",
]
PEPTIDES = ["NCC(=O)NCC(=O)NCC(=O)O", "C[C@H](N)C(=O)N[C@@H](C)C(=O)N[C@@H](Cc1ccccc1)C(=O)O"]


def _write_data(root: Path) -> None:
    (root / "MoleculeNet").mkdir()
    with gzip.open(root / "MoleculeNet" / "bbbp.csv.gz", "wt") as fh:
        fh.write("smiles,p_np\n" + "".join(f"{s},1\n" for s in MOLECULES))
    (root / "Peptides-func").mkdir()
    labels = '"[0, 1, 0, 0, 0, 0, 0, 0, 0, 1]"'
    with gzip.open(root / "Peptides-func" / "peptide_multi_class_dataset.csv.gz", "wt") as fh:
        fh.write(",smiles,peptide_seq,labels,identifier\n"
                 + "".join(f"{i},{s},GGG,{labels},{i}\n" for i, s in enumerate(PEPTIDES)))


def test_quick_run_on_tiny_data(tmp_path, monkeypatch, capsys, load_script):
    _write_data(tmp_path)
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path))
    assert load_script("bench_pe_cache").main(["--quick"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["dataset"] for r in lines[:-1]] == ["BBBP[:500]", "Peptides-func[:200]"]
    assert lines[0]["graphs"] == 6 and lines[0]["smiles_skipped"] == 1 and lines[1]["graphs"] == 2
    summary = lines[-1]
    assert {"cache_speedup_bbbp", "cache_speedup_peptides", "rwse_max_abs_diff_vs_pyg",
            "lap_max_abs_diff_vs_pyg"} <= set(summary)
    assert summary["cache_speedup_bbbp"] > 0 and summary["cache_speedup_peptides"] > 0
    assert summary["rwse_max_abs_diff_vs_pyg"] < 1e-5
    assert summary["lap_max_abs_diff_vs_pyg"] is None or summary["lap_max_abs_diff_vs_pyg"] < 1e-3


def test_missing_data_is_skipped_with_exit_0(tmp_path, monkeypatch, capsys, load_script):
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path))  # an empty folder: no CSVs
    assert load_script("bench_pe_cache").main(["--quick"]) == 0
    captured = capsys.readouterr()
    last = json.loads(captured.out.strip().splitlines()[-1])
    assert "bbbp.csv.gz" in last["skipped"] and "skipped" in captured.err


@pytest.mark.parametrize(("extra", "label"), [(["--limit-bbbp", "3"], "BBBP[:3]"), ([], "BBBP")])
def test_bbbp_label_names_the_limit(tmp_path, monkeypatch, capsys, load_script, extra, label):
    _write_data(tmp_path)
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path))
    assert load_script("bench_pe_cache").main(["--repeats", "1", *extra]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert first["dataset"] == label
