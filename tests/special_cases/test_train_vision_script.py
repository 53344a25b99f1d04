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


def _run(form: str, seconds: float) -> dict:
    return {"model": "convnet", "form": form, "seed": 0, "test_acc": 0.5, "train_time_s": seconds}


def test_summarize_survives_a_zero_reference_time(train_vision):
    # a run faster than 5 ms used to be recorded as 0.0 s, then divided by
    summary = train_vision.summarize([_run("graph", 0.01), _run("torch", 0.0)])
    assert summary["convnet"]["graph_over_torch_time_ratio"] is None
    assert '"graph_over_torch_time_ratio": null' in train_vision.strict_json_dumps(summary)
    ratio = train_vision.summarize([_run("graph", 0.004), _run("torch", 0.002)])["convnet"]["graph_over_torch_time_ratio"]
    assert ratio == pytest.approx(2.0)


class _Clock:
    """A perf_counter that advances 3 ms per call."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.003
        return self.now


def test_train_records_unrounded_times(train_vision, monkeypatch):
    import torch

    from graphformers.datasets.vision import ImageSplit

    data = ImageSplit("tiny", torch.rand(8, 1, 4, 4), torch.arange(8) % 2, torch.rand(4, 1, 4, 4), torch.arange(4) % 2, 2)
    cfg = train_vision.Config(2, 8, 1, 2, (4,), {"vit": (1, 1e-3), "convnet": (1, 1e-3)}, batch_size=8)
    monkeypatch.setattr(train_vision, "time", _Clock())
    result = train_vision.train(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)), data, cfg, 1, 1e-3, 0, "t")
    assert result["train_time_s"] == pytest.approx(0.003)  # was round(0.003, 2) == 0.0
    assert result["eval_time_s"] == pytest.approx(0.003)


def test_one_cycle_schedule_is_valid_for_every_step_count(train_vision):
    import torch

    for steps in range(1, 41):
        param = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([param], lr=1e-2)
        sched = train_vision.one_cycle(opt, 1e-2, steps)  # OneCycleLR(pct_start=0.1) divided by zero at 10 steps
        lrs = []
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        assert all(0 < lr <= 1e-2 * (1 + 1e-9) for lr in lrs), steps
        if steps > 10:  # longer runs keep exactly the schedule they always had
            ref_opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
            ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=1e-2, total_steps=steps, pct_start=0.1)
            ref_lrs = []
            for _ in range(steps):
                ref_lrs.append(ref_opt.param_groups[0]["lr"])
                ref_opt.step()
                ref.step()
            assert lrs == ref_lrs
    with pytest.raises(ValueError, match="at least one step"):
        train_vision.one_cycle(torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]), 1e-2, 0)


def test_ten_step_run_trains_and_writes_a_summary(train_vision, tmp_path):
    out = tmp_path / "run"
    # 600 images / batch 64 = 10 steps: the run used to crash and leave an empty runs.jsonl behind
    argv = ["--dataset", "digits", "--models", "convnet", "--epochs", "1", "--limit", "600", "--seeds", "0", "--out", str(out)]
    assert train_vision.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())["results"]["convnet"]
    assert summary["graph_over_torch_time_ratio"] > 0
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--epochs", "-1"], ["--limit", "0"], ["--threads", "0"]])
def test_non_positive_counts_are_argparse_errors(train_vision, tmp_path, capsys, bad):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        train_vision.main([*bad, "--out", str(out)])
    assert info.value.code == 2
    assert f"argument {bad[0]}" in capsys.readouterr().err
    assert not out.exists()


def test_out_that_is_a_file_is_a_clear_error(train_vision, tmp_path, capsys):
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    assert train_vision.main(["--out", str(out)]) == 2
    assert f"--out {out} exists and is not a folder" in capsys.readouterr().err
    assert out.read_text() == "keep me"


def test_missing_data_leaves_no_out_folder(train_vision, tmp_path, monkeypatch, capsys):
    (tmp_path / "data" / "vision" / "MNIST").mkdir(parents=True)  # a data root without the MNIST files
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert train_vision.main(["--dataset", "mnist", "--out", str(out)]) == 2
    assert "t10k-images-idx3-ubyte.gz" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path / "nowhere"))  # no data root at all
    assert train_vision.main(["--dataset", "mnist", "--out", str(out)]) == 2
    assert "GRAPHFORMERS_DATA" in capsys.readouterr().err
    assert not out.exists()


def test_a_model_that_cannot_be_built_leaves_no_out_folder(train_vision, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("cannot build")

    monkeypatch.setattr(train_vision, "build", broken)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="cannot build"):
        train_vision.main(["--models", "convnet", "--out", str(out)])
    assert not out.exists()


def test_overwrite_removes_the_old_summary_before_training(train_vision, tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text('{"results": {"convnet": "old"}}\n')
    (out / "runs.jsonl").write_text('{"model": "convnet"}\n')

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_vision, "train", killed)
    with pytest.raises(KeyboardInterrupt):
        train_vision.main(["--models", "vit", "--seeds", "3", "--overwrite", "--out", str(out)])
    assert not (out / "summary.json").exists()  # no summary of other runs next to the new runs.jsonl
    assert (out / "runs.jsonl").read_text() == ""
