"""Mean ± unbiased std, parameter counts, summaries and Markdown rows of seed results."""

from __future__ import annotations

import json
import math

import pytest
import torch

from graphformers.evaluation.aggregate import (
    count_parameters,
    load_seed_results,
    markdown_row,
    mean_std,
    summarize,
    write_json,
)


def test_mean_std_is_unbiased():
    mean, std = mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and std == pytest.approx(math.sqrt(5 / 3))  # sum sq dev 5, n-1 = 3
    assert std == pytest.approx(torch.tensor([1.0, 2.0, 3.0, 4.0]).std(unbiased=True).item())
    m, s = mean_std([0.7])
    assert m == 0.7 and math.isnan(s)
    with pytest.raises(ValueError):
        mean_std([])


def test_count_parameters_counts_shared_once_and_skips_frozen():
    lin = torch.nn.Linear(3, 2)  # 8
    model = torch.nn.Sequential(lin, lin, torch.nn.Linear(2, 1))  # + 3
    assert count_parameters(model) == 11
    model[2].weight.requires_grad_(False)
    assert count_parameters(model) == 9 and count_parameters(model, trainable_only=False) == 11


def _rec(seed, test, valid=0.8, params=100):
    return {"model": "gine", "dataset": "ogbg-molbbbp", "metric": "rocauc", "seed": seed, "test": test,
            "valid": valid, "params": params, "seconds_per_epoch": 2.0}


def test_summarize_and_row():
    summary = summarize([_rec(1, 0.70), _rec(0, 0.60)])
    assert summary["seeds"] == [0, 1] and summary["test_mean"] == pytest.approx(0.65)
    assert summary["test_std"] == pytest.approx(math.sqrt(0.005))
    row = markdown_row(summary)
    assert row == "| gine | ogbg-molbbbp | rocauc | 65.00 ± 7.07 | 80.00 ± 0.00 | 100 | 2 | 2.0 |"


def test_summarize_rejects_mixed_and_duplicated():
    with pytest.raises(ValueError, match="params"):
        summarize([_rec(0, 0.6), _rec(1, 0.7, params=5)])
    with pytest.raises(ValueError, match="duplicated"):
        summarize([_rec(0, 0.6), _rec(0, 0.7)])
    with pytest.raises(ValueError):
        summarize([])


def test_seed_files_roundtrip(tmp_path):
    for s, t in [(2, 0.5), (0, 0.7)]:
        write_json(tmp_path / f"seed_{s}.json", _rec(s, t))
    assert [r["seed"] for r in load_seed_results(tmp_path)] == [0, 2]
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    (tmp_path / "seed_9.json").write_text("{not json")
    with pytest.raises(ValueError, match="seed_9.json"):
        load_seed_results(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_seed_results(tmp_path / "empty")
    assert json.loads((tmp_path / "seed_0.json").read_text())["test"] == 0.7


def test_aggregate_script(tmp_path, capsys, load_script):
    module = load_script("aggregate")
    run = tmp_path / "gine_molbbbp"
    for s, t in [(0, 0.6), (1, 0.7)]:
        write_json(run / f"seed_{s}.json", _rec(s, t))
    assert module.main([str(run), "--table", str(tmp_path / "t.md")]) == 0
    assert "65.00 ± 7.07" in (tmp_path / "t.md").read_text()
    assert json.loads((run / "summary.json").read_text())["num_seeds"] == 2
    assert module.main([str(tmp_path / "missing")]) == 1
    assert "no seed_*.json" in capsys.readouterr().err


def _strict_load(path):
    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_one_seed_has_an_undefined_std_written_as_null(tmp_path):
    summary = summarize([_rec(0, 0.7)])
    assert summary["test_mean"] == 0.7 and summary["test_std"] is None and summary["valid_std"] is None
    assert markdown_row(summary) == "| gine | ogbg-molbbbp | rocauc | 70.00 | 80.00 | 100 | 1 | 2.0 |"
    write_json(tmp_path / "summary.json", summary)
    assert _strict_load(tmp_path / "summary.json")["test_std"] is None


def test_write_json_is_strict_and_follows_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "seed_0.json", _rec(0, float("nan"), valid=float("-inf")))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "seed_0.json").stat().st_mode) == 0o644
    record = _strict_load(tmp_path / "seed_0.json")
    assert record["test"] is None and record["valid"] is None
    # a seed whose metric is undefined makes the mean undefined, not a crash
    summary = summarize(load_seed_results(tmp_path))
    assert summary["test_mean"] is None and "| n/a |" in markdown_row(summary)
