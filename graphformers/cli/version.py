"""``graphformers version``: an environment table for bug reports."""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("graphformers", "torch", "torch-geometric", "ogb", "scipy", "networkx", "rdkit", "torch-scatter"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    out["native-attention"] = _native_kernel()
    return out


def _native_kernel() -> str:
    """Where the compiled attention kernel is loaded from (built now if needed), or why not."""
    import warnings

    from graphformers.attention import native

    if not native.enabled():
        return f"off ({native.NATIVE_ENV}=0)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = native.library()
    if lib is not None:
        return str(lib._name)
    return "unavailable" + (f" ({caught[0].message})" if caught else "")


def run(args: argparse.Namespace) -> int:
    versions = _versions()
    if args.json:
        print(json.dumps(versions))
    else:
        width = max(map(len, versions))
        for key, value in versions.items():
            print(f"{key:<{width}}  {value}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="print package versions for bug reports")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
