"""Project-level promises: README's set-up commands, CI, exports, CLI wiring."""

import importlib
import json
import re
from pathlib import Path

import pytest

from graphformers.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must open with a ```bash block holding the two set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_setup_commands_and_ci_runs_the_test_one():
    cmds = readme_commands()
    assert len(cmds) == 2, cmds
    install_and_run, install_and_test = cmds
    assert "torch==2.13.0" in install_and_run and "graphformers quickstart" in install_and_run
    assert "torch==2.13.0" in install_and_test and "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test in ci, ".ci/run must run README's test command verbatim"


def test_no_unpinned_torch_in_install_files():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"torch>=2\.6,<=2\.14\.1"', pyproject), "torch must stay capped in pyproject.toml"


@pytest.mark.parametrize(
    "module",
    ["graphformers.attention", "graphformers.blocks", "graphformers.encodings", "graphformers.heads",
     "graphformers.local", "graphformers.models", "graphformers.transforms", "graphformers.datasets",
     "graphformers.evaluation", "graphformers.kg"],
)
def test_all_lists_resolve(module):
    mod = importlib.import_module(module)
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{module}.__all__ names {name}, which is missing"


def test_cli_help_and_version(capsys):
    parser = build_parser()
    assert {"quickstart", "version"} <= set(parser._subparsers._group_actions[0].choices)
    assert main(["version", "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert "torch" in versions and "native-attention" in versions
    assert main([]) == 2


def test_module_and_console_entry_points_run():
    """``python -m graphformers`` and the ``graphformers`` console script (pyproject) both reach the CLI."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "graphformers", "version", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and '"graphformers"' in done.stdout, done.stderr
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("graphformers") == "graphformers.cli:main"


def test_every_model_docstring_cites_its_paper():
    models = importlib.import_module("graphformers.models")
    for name in getattr(models, "__all__", []):
        doc = getattr(models, name).__doc__ or ""
        assert re.search(r"(19|20)\d\d", doc) and ("http" in doc or "et al" in doc or '"' in doc), (
            f"{name}'s docstring must cite its paper (authors, title, year)"
        )
        assert re.search(r"(19|20)\d\d", getattr(models, name).citation), f"{name}.citation (for `ls models`)"
