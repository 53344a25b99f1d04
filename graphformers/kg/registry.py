"""Explicit name -> class tables for KG scorers (read by the CLI and ``graphformers ls``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from graphformers.kg.models import ComplEx, DistMult, RotatE, TransE
from graphformers.kg.transformer import KGTransformer


@dataclass(frozen=True)
class ModelSpec:
    """A KG scorer class and its citation."""

    cls: type[nn.Module]
    citation: str
    description: str


MODELS: dict[str, ModelSpec] = {
    "transe": ModelSpec(TransE, TransE.citation, "translation h + r ~ t (PyG)"),
    "distmult": ModelSpec(DistMult, DistMult.citation, "diagonal bilinear (PyG)"),
    "complex": ModelSpec(ComplEx, ComplEx.citation, "complex diagonal bilinear (PyG)"),
    "rotate": ModelSpec(RotatE, RotatE.citation, "rotation in complex space"),
    "transformer": ModelSpec(KGTransformer, KGTransformer.citation,
                             "Transformer over [entity, relation, MASK] tokens (CoKE-style)"),
}


def build_model(name: str, num_nodes: int, num_relations: int, **kwargs: Any) -> nn.Module:
    """Instantiate the scorer ``name`` with ``num_relations`` (reciprocal count) relations.

    Raises:
        KeyError: for an unknown name (the message lists the known ones).
    """
    key = name.lower()
    if key not in MODELS:
        raise KeyError(f"unknown KG model {name!r}; known: {', '.join(MODELS)}")
    try:
        return MODELS[key].cls(num_nodes, num_relations, **kwargs)
    except TypeError as err:
        raise ValueError(f"model {name!r}: bad arguments {sorted(kwargs)}: {err}") from None
