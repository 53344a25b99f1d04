"""Sphinx configuration: ``pip install -e ".[docs]" && sphinx-build -b html docs docs/_build/html``."""

from __future__ import annotations

import graphformers

project = "graphformers"
author = "graphformers developers"
release = graphformers.__version__
extensions = [
    "myst_parser",  # the guides are Markdown
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style docstrings
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "sphinx_rtd_theme"
suppress_warnings = ["myst.header", "myst.xref_missing", "myst.xref_ambiguous"]
