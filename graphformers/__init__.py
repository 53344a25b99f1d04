"""graphformers: graph transformers as a PyTorch Geometric extension.

Building blocks live in role folders (``transforms``, ``encodings``, ``attention``,
``local``, ``blocks``); models in ``models`` compose them. Importing the package
has no registration side effects.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
