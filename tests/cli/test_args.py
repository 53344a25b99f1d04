"""argparse value types shared by the CLI and scripts/."""

from __future__ import annotations

import argparse

import pytest

from graphformers.cli.args import positive_int


def test_positive_int_accepts_positive_and_names_bad_input():
    assert positive_int("3") == 3 and positive_int(" 12 ") == 12
    for bad in ("0", "-1", "x", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(bad)):
            positive_int(bad)
