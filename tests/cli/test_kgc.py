"""`graphformers kgc` train / evaluate / predict / resume on the tiny literal KG (via --data-dir)."""

from __future__ import annotations

import json

import pytest
import torch

from graphformers.cli import main
from graphformers.kg.tiny import TINY_TEST, TINY_TRAIN, TINY_VALID

FAST = ["--set", "model.hidden_channels=8", "--set", "training.epochs=4", "--set", "training.batch_size=8",
        "--set", "evaluation.every=2", "--set", "regularizer.weight=0.001", "--no-progress", "--threads", "1"]


@pytest.fixture(autouse=True)
def _restore_threads():
    """``--threads 1`` sets torch's global thread count; give it back after each test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_dir(tmp_path):
    folder = tmp_path / "tinykg"
    folder.mkdir()
    for split, rows in (("train", TINY_TRAIN), ("valid", TINY_VALID), ("test", TINY_TEST)):
        (folder / f"{split}.txt").write_text("".join("\t".join(r) + "\n" for r in rows))
    return folder


def _train(tiny_dir, out, *extra):
    return main(["kgc", "train", "--dataset", "tiny", "--model", "complex", "--data-dir", str(tiny_dir),
                 "--out", str(out), "--json", *FAST, *extra])


def test_train_evaluate_predict(tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_dir, out) == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("config.yaml", "vocab.json", "checkpoint.pt", "best.pt", "early_stopping.jsonl", "metrics.json"):
        assert (out / name).is_file(), name
    assert result["epochs_trained"] == 4
    assert json.loads((out / "metrics.json").read_text())["test"] == result["test"]
    assert len((out / "early_stopping.jsonl").read_text().splitlines()) == 2
    # the checkpoint loads with weights_only=True
    torch.load(out / "checkpoint.pt", weights_only=True)

    assert main(["kgc", "evaluate", str(out), "--json", "--no-progress"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["test"] == result["test"]

    assert main(["kgc", "predict", str(out), "--head", "alice", "--relation", "lives_in", "--top-k", "3",
                 "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert [p["rank"] for p in pred["predictions"]] == [1, 2, 3]
    scores = [p["score"] for p in pred["predictions"]]
    assert scores == sorted(scores, reverse=True)
    assert main(["kgc", "predict", str(out), "--tail", "paris", "--relation", "lives_in"]) == 0
    assert "top 10 heads" in capsys.readouterr().out


def test_predict_unknown_name_close_matches(tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_dir, out) == 0
    capsys.readouterr()
    assert main(["kgc", "predict", str(out), "--head", "alise", "--relation", "lives_in"]) == 1
    err = capsys.readouterr().err
    assert "unknown entity 'alise'" in err and "alice" in err
    assert main(["kgc", "predict", str(out), "--head", "alice", "--relation", "live_in"]) == 1
    assert "lives_in" in capsys.readouterr().err


def test_out_folder_not_overwritten(tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert _train(tiny_dir, out) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"
    assert _train(tiny_dir, out, "--overwrite") == 0


def test_resume_after_kill_matches_uninterrupted(tiny_dir, tmp_path, capsys, monkeypatch):
    from graphformers.kg.training import KGCTrainer

    assert _train(tiny_dir, tmp_path / "straight") == 0
    straight = json.loads(capsys.readouterr().out)

    original = KGCTrainer.save_checkpoint
    calls = {"n": 0}

    def killed_after_two(self):
        original(self)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies right after epoch 2's checkpoint

    monkeypatch.setattr(KGCTrainer, "save_checkpoint", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_dir, tmp_path / "killed")
    monkeypatch.setattr(KGCTrainer, "save_checkpoint", original)
    capsys.readouterr()
    assert not (tmp_path / "killed" / "metrics.json").exists()
    torch.manual_seed(4321)  # a fresh process would not share the global RNG state
    assert main(["kgc", "train", "--resume", str(tmp_path / "killed"), "--json", "--no-progress"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["test"] == straight["test"] and resumed["valid"] == straight["valid"]
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # resume refuses extra options that would change the run
    assert main(["kgc", "train", "--resume", str(tmp_path / "killed"), "--model", "rotate"]) == 1


def test_bad_config_key_and_missing_data(tiny_dir, tmp_path, capsys, monkeypatch):
    assert _train(tiny_dir, tmp_path / "a", "--set", "training.lrate=0.1") == 1
    assert "unknown config key 'training.lrate'" in capsys.readouterr().err
    assert _train(tiny_dir, tmp_path / "b", "--set", "training.loss=hinge") == 1
    assert "training.loss" in capsys.readouterr().err

    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path))
    monkeypatch.setenv("GRAPHFORMERS_CACHE", str(tmp_path / "cache"))
    assert main(["kgc", "train", "--dataset", "umls", "--out", str(tmp_path / "c"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "GRAPHFORMERS_DATA" in err and "--data-dir" in err
