"""Published models, each composing the shared blocks (one file per model).

Graph-level: :class:`GraphGPS`, :class:`MPNN` (GINE / GatedGCN, optionally with a
virtual node), :class:`GraphTransformer` (Dwivedi & Bresson). Sequence and vision
models expressed as graphs: :class:`SequenceEncoder`, :class:`CausalDecoder`,
:class:`ViT`, :class:`ConvNet`. :func:`~graphformers.models.factory.build_model`
builds the graph models from config dictionaries.
"""

from graphformers.models.convnet import ConvNet
from graphformers.models.gps import GraphGPS
from graphformers.models.graph_transformer import GraphTransformer
from graphformers.models.mpnn import MPNN
from graphformers.models.sequence import CausalDecoder, SequenceEncoder
from graphformers.models.vit import ViT

__all__ = ["CausalDecoder", "ConvNet", "GraphGPS", "GraphTransformer", "MPNN", "SequenceEncoder", "ViT"]
