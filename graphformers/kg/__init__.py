"""Knowledge-graph completion: triples, scorers, training and evaluation.

Data flows ``triples`` (read TSV, vocabularies) -> ``models`` / ``transformer``
(scorers with ``score_all_tails``) -> ``training`` (1-N or negative sampling,
checkpoints) -> ``evaluate`` (filtered ranks via
:mod:`graphformers.evaluation.ranking`). ``registry`` maps names to classes for
the command line.
"""

from graphformers.kg.evaluate import evaluate_link_prediction
from graphformers.kg.models import ComplEx, DistMult, RotatE, TransE
from graphformers.kg.registry import MODELS, build_model
from graphformers.kg.tiny import tiny_kg
from graphformers.kg.training import KGCTrainer
from graphformers.kg.transformer import KGTransformer
from graphformers.kg.triples import KGTriples, TriplesFormatError, UnseenEntityWarning, read_id_triples

__all__ = classes = [
    "KGTriples",
    "TriplesFormatError",
    "UnseenEntityWarning",
    "read_id_triples",
    "tiny_kg",
    "TransE",
    "DistMult",
    "ComplEx",
    "RotatE",
    "KGTransformer",
    "MODELS",
    "build_model",
    "KGCTrainer",
    "evaluate_link_prediction",
]
