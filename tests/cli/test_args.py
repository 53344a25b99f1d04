"""argparse value types shared by the CLI and scripts/."""

from __future__ import annotations

import argparse

import pytest

from graphformers.cli.args import positive_int, seed_list


def test_positive_int_accepts_positive_and_names_bad_input():
    assert positive_int("3") == 3 and positive_int(" 12 ") == 12
    for bad in ("0", "-1", "x", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(bad)):
            positive_int(bad)


def test_seed_list_takes_lists_and_ranges_in_order():
    assert seed_list("0,1,2") == [0, 1, 2]
    assert seed_list("0-3") == [0, 1, 2, 3]
    assert seed_list("5, 0-1,9") == [5, 0, 1, 9]  # the given order
    assert seed_list("7") == [7]


@pytest.mark.parametrize(
    "bad, message",
    [("3-1", "cannot parse '3-1'"), ("a", "cannot parse 'a'"), ("", "cannot parse ''"), ("0,,1", "cannot parse ''"),
     ("-1", r"negative seeds \[-1\]"), ("0-2,1", r"repeated seeds \[1\]"), ("1,1", r"repeated seeds \[1\]")],
)
def test_seed_list_names_bad_input(bad, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        seed_list(bad)

