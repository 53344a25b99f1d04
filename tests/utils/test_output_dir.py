"""Guarded output folders (graphformers.utils.io): one rule for every command that writes runs."""

from __future__ import annotations

import pytest

from graphformers.kg import training as kg_training
from graphformers.utils.io import check_output_dir, output_dir_problem, prepare_output_dir


def test_problems_named_with_label_and_hint(tmp_path):
    file = tmp_path / "f"
    file.write_text("x")
    assert output_dir_problem(file) == f"output path {file} exists and is not a folder"
    assert output_dir_problem(file, label="--out") == f"--out {file} exists and is not a folder"
    full = tmp_path / "full"
    full.mkdir()
    (full / "a.json").write_text("{}")
    assert output_dir_problem(full, label="results folder", hint="pass --resume") == (
        f"results folder {full} exists and is not empty; pass --resume")
    assert output_dir_problem(full, overwrite=True) is None
    assert output_dir_problem(tmp_path / "new") is None  # made later, nothing written now
    assert not (tmp_path / "new").exists()
    with pytest.raises(FileExistsError, match="not empty; pass --overwrite or choose another --out"):
        check_output_dir(full)


def test_overwrite_deletes_only_the_stale_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("checkpoint.pt", "notes.txt"):
        (out / name).write_text("old")
    with pytest.raises(FileExistsError):
        prepare_output_dir(out, stale=("checkpoint.pt",))
    assert (out / "checkpoint.pt").exists()  # a refused call deletes nothing
    with pytest.raises(TypeError, match="not the single string"):
        prepare_output_dir(out, overwrite=True, stale="checkpoint.pt")
    assert prepare_output_dir(out, overwrite=True, stale=("checkpoint.pt",)) == out
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_kg_runs_advise_resume_and_drop_their_checkpoints(tmp_path):
    out = tmp_path / "kg"
    out.mkdir()
    for name in kg_training.RUN_FILES + ("extra.txt",):
        (out / name).write_text("old")
    with pytest.raises(FileExistsError, match=f"pass --overwrite or use --resume {out}"):
        kg_training.check_output_dir(out)
    kg_training.prepare_output_dir(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["extra.txt"]
