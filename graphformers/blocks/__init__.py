"""Composite layers built only from encodings, attention and local message passing."""

from graphformers.blocks.feed_forward import FeedForward
from graphformers.blocks.gps import GPSLayer
from graphformers.blocks.graph_transformer import GraphTransformerLayer
from graphformers.blocks.transformer import TransformerLayer
from graphformers.blocks.virtual_node import VirtualNode

__all__ = ["FeedForward", "GPSLayer", "GraphTransformerLayer", "TransformerLayer", "VirtualNode"]
