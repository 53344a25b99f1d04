"""OGB drivers' results folders: --resume after a kill, --overwrite, smoke folders, strict JSON, file modes."""

from __future__ import annotations

import json
import os
import stat

import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

SMOKE = ["--smoke", "--no-progress"]


def _strict(path):
    """The file parsed as strict JSON (NaN / Infinity are errors)."""

    def refuse(token):
        raise AssertionError(f"{path}: non-standard JSON constant {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


class Killed(BaseException):
    """Stands for the process being killed (not an Exception: nothing may catch it)."""


def _kill_at_seed(monkeypatch, drv, seed):
    original = drv.run_seed

    def run_seed(cfg, *args, **kwargs):
        if args[-1] == seed:
            raise Killed
        return original(cfg, *args, **kwargs)

    monkeypatch.setattr(drv, "run_seed", run_seed)


def test_resume_runs_only_the_missing_seeds(tmp_path, monkeypatch, load_script, capsys):
    drv = load_script("ogb_graphprop")
    straight = tmp_path / "straight"
    assert drv.main([*SMOKE, "--seeds", "0-2", "--out", str(straight)]) == 0

    out = tmp_path / "killed"
    _kill_at_seed(monkeypatch, drv, 1)
    with pytest.raises(Killed):
        drv.main([*SMOKE, "--seeds", "0-2", "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "seed_0.json"]
    seed0 = (out / "seed_0.json").read_text()
    monkeypatch.undo()

    ran = []
    original = drv.run_seed
    monkeypatch.setattr(drv, "run_seed", lambda cfg, *a, **kw: ran.append(a[-1]) or original(cfg, *a, **kw))
    assert drv.main([*SMOKE, "--seeds", "0-2", "--out", str(out), "--resume"]) == 0
    assert ran == [1, 2]  # seed 0 is not trained again
    assert (out / "seed_0.json").read_text() == seed0
    for seed in (1, 2):  # the resumed seeds equal a run that was never interrupted
        assert _strict(out / f"seed_{seed}.json")["test"] == _strict(straight / f"seed_{seed}.json")["test"]
    summary, reference = _strict(out / "summary.json"), _strict(straight / "summary.json")
    assert summary["seeds"] == [0, 1, 2] and summary["test_mean"] == pytest.approx(reference["test_mean"])
    def row(folder):  # without the s/epoch column
        return (folder / "row.md").read_text().rsplit("|", 2)[0]

    assert row(out) == row(straight)

    # every seed present: nothing trains, the summary is written over all seeds in the folder
    ran.clear()
    assert drv.main([*SMOKE, "--seeds", "1", "--out", str(out), "--resume"]) == 0
    assert ran == [] and _strict(out / "summary.json")["seeds"] == [0, 1, 2]


def test_resume_refuses_another_config_and_changes_nothing(tmp_path, load_script, capsys):
    drv = load_script("ogb_graphprop")
    out = tmp_path / "run"
    assert drv.main([*SMOKE, "--seeds", "0", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert drv.main([*SMOKE, "--seeds", "0-1", "--out", str(out), "--resume", "--set", "train.epochs=3"]) == 2
    err = capsys.readouterr().err
    assert "train.epochs: 2 -> 3" in err and "config.json" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_resume_needs_a_recorded_run(tmp_path, load_script, capsys):
    drv = load_script("ogb_graphprop")
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert drv.main([*SMOKE, "--out", str(out), "--resume"]) == 2
    assert "no run to resume" in capsys.readouterr().err
    (out / "seed_0.json").write_text("{truncated")
    assert drv.main([*SMOKE, "--out", str(out), "--resume"]) == 2
    assert "seed_0.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        drv.main([*SMOKE, "--out", str(out), "--resume", "--overwrite"])


def test_killed_overwrite_leaves_no_stale_summary(tmp_path, monkeypatch, load_script):
    drv = load_script("ogb_graphprop")
    out = tmp_path / "run"
    assert drv.main([*SMOKE, "--seeds", "4-5", "--out", str(out)]) == 0
    _kill_at_seed(monkeypatch, drv, 1)
    with pytest.raises(Killed):
        drv.main([*SMOKE, "--seeds", "0-1", "--out", str(out), "--overwrite"])
    # the old results (seeds 4, 5 and their summary) are gone, the new seed 0 is kept
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "seed_0.json"]
    monkeypatch.undo()
    assert drv.main([*SMOKE, "--seeds", "0-1", "--out", str(out), "--resume"]) == 0
    assert _strict(out / "summary.json")["seeds"] == [0, 1]


def test_nodeprop_resume(tmp_path, monkeypatch, load_script, capsys):
    drv = load_script("ogb_nodeprop")
    out = tmp_path / "run"
    assert drv.main([*SMOKE, "--seeds", "0", "--out", str(out)]) == 0
    assert drv.main([*SMOKE, "--seeds", "0-1", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert drv.main([*SMOKE, "--seeds", "0-1", "--out", str(out), "--resume", "--set", "train.lr=0.1"]) == 2
    assert "train.lr: 0.01 -> 0.1" in capsys.readouterr().err
    seed0 = (out / "seed_0.json").read_text()
    assert drv.main([*SMOKE, "--seeds", "0-1", "--out", str(out), "--resume"]) == 0
    assert (out / "seed_0.json").read_text() == seed0
    assert _strict(out / "summary.json")["seeds"] == [0, 1]


def test_one_seed_summary_is_strict_json_with_null_std(tmp_path, load_script):
    drv = load_script("ogb_graphprop")
    out = tmp_path / "run"
    assert drv.main([*SMOKE, "--seeds", "0", "--out", str(out)]) == 0
    summary = _strict(out / "summary.json")
    assert summary["num_seeds"] == 1 and summary["test_std"] is None and summary["valid_std"] is None
    assert "±" not in (out / "row.md").read_text().split("|")[4]


@pytest.mark.parametrize("script", ["ogb_graphprop", "ogb_nodeprop"])
def test_smoke_runs_default_to_their_own_folder(tmp_path, monkeypatch, load_script, script):
    monkeypatch.chdir(tmp_path)
    drv = load_script(script)
    assert drv.main([*SMOKE, "--seeds", "0"]) == 0
    (folder,) = (tmp_path / "results" / "ogb").iterdir()
    assert folder.name.startswith("smoke_")
    record = _strict(folder / "seed_0.json")
    assert record["smoke"] is True and record["dataset"].endswith("(smoke)")
    assert _strict(folder / "config.json")["smoke"] is True


def test_result_files_follow_the_umask(tmp_path, load_script):
    drv = load_script("ogb_graphprop")
    out = tmp_path / "run"
    old = os.umask(0o022)
    try:
        assert drv.main([*SMOKE, "--seeds", "0", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {"config.json": 0o644, "seed_0.json": 0o644, "summary.json": 0o644, "row.md": 0o644}


def test_a_seed_without_a_finite_metric_fails_with_a_message(load_script, capsys):
    drv = load_script("ogb_graphprop")
    assert drv.exit_code([{"seed": 0, "test": 0.7}, {"seed": 3, "test": 0.6}]) == 0
    assert drv.exit_code([{"seed": 0, "test": 0.7}, {"seed": 3, "test": None}, {"seed": 4, "test": float("nan")}]) == 1
    assert "seeds [3, 4]" in capsys.readouterr().err


def test_smoke_run_of_another_config_resumes(tmp_path, load_script, capsys):
    """``--smoke --config molbbbp`` trains on the smoke set (ogbg-molbace): the folder and
    the recorded config name that dataset, so ``--resume`` compares like with like."""
    drv = load_script("ogb_graphprop")
    out = tmp_path / "run"
    args = [*SMOKE, "--config", "molbbbp", "--model", "molecules_gine", "--out", str(out)]
    assert drv.main([*args, "--seeds", "0"]) == 0
    assert drv.main([*args, "--seeds", "0,1", "--resume"]) == 0
    assert sorted(p.name for p in out.glob("seed_*.json")) == ["seed_0.json", "seed_1.json"]
    assert "ogbg-molbace" in drv.default_out({"model_name": "m", "dataset": drv.SMOKE_DATASET}, smoke=True).name
