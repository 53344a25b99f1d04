"""utils.io writes strict JSON (null for NaN / inf) with the umask's file mode."""

from __future__ import annotations

import json
import math
import os
import stat

import pytest

from graphformers.utils.io import json_safe, write_atomic, write_json_atomic


def test_json_safe_replaces_non_finite_floats():
    obj = {"a": math.nan, "b": [1.0, math.inf, (-math.inf, 2)], "c": "NaN", "d": None, "e": 3}
    assert json_safe(obj) == {"a": None, "b": [1.0, None, [None, 2]], "c": "NaN", "d": None, "e": 3}


def test_write_json_atomic_is_strict(tmp_path):
    write_json_atomic(tmp_path / "r.json", {"std": float("nan"), "runs": [{"rmse": float("inf")}]})
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"std": None, "runs": [{"rmse": None}]}


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "f.txt", "x")
        write_json_atomic(tmp_path / "f.json", {})
    finally:
        os.umask(old)
    for name in ("f.txt", "f.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "f.txt"]  # no temporary file left
