"""PyG transforms that precompute, once, what encoders and models need.

Positional/structural encodings (deterministic, cacheable with
:func:`~graphformers.transforms.cache.precompute`) and the graph constructors
that express sequences and images as graphs.
"""

from graphformers.transforms.cache import precompute, structure_hash
from graphformers.transforms.image import ImageToGridGraph, ImageToPatchGraph
from graphformers.transforms.positional import AddLaplacianPE, AddRandomWalkSE
from graphformers.transforms.sequence import SequenceToGraph

__all__ = [
    "AddLaplacianPE",
    "AddRandomWalkSE",
    "ImageToGridGraph",
    "ImageToPatchGraph",
    "SequenceToGraph",
    "precompute",
    "structure_hash",
]
