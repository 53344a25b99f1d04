"""The ``graphformers`` command line.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers) -> None``; the parser it adds sets ``func`` (a callable
taking the parsed :class:`argparse.Namespace` and returning an exit code). Heavy
imports (torch, datasets) happen inside those functions so that ``--help`` is
instant. Machine-readable output goes to stdout, logs and progress to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (subcommand module) in the order they appear in --help.
SUBCOMMANDS: tuple[str, ...] = (
    "graphformers.cli.quickstart",
    "graphformers.cli.kgc",
    "graphformers.cli.ls",
    "graphformers.cli.version",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available subcommand mounted."""
    parser = argparse.ArgumentParser(
        prog="graphformers",
        description="Graph transformers on PyG: train, evaluate and list models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a subcommand not yet installed
            if err.name == name:
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError) as err:
        print(f"graphformers {args.command}: error: {err}", file=sys.stderr)
        return 1
