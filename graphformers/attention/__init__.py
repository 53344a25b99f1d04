"""Global attention over batched graphs: no graph attends to another graph of its batch.

All modules share :class:`~graphformers.attention.base.GlobalAttention`'s call
signature ``attn(x, batch, attn_mask=None, attn_bias=None)``.
"""

from graphformers.attention.base import GlobalAttention
from graphformers.attention.full import MultiheadAttention
from graphformers.attention.kernels import EluFeatureMap, FavorPlusFeatureMap, FeatureMap
from graphformers.attention.linear import KernelAttention, LinearAttention, PerformerAttention
from graphformers.attention.native import native_softmax_attention
from graphformers.attention.packed import dense_slots, packed_softmax_attention, padding_mask

__all__ = [
    "EluFeatureMap",
    "FavorPlusFeatureMap",
    "FeatureMap",
    "GlobalAttention",
    "KernelAttention",
    "LinearAttention",
    "MultiheadAttention",
    "PerformerAttention",
    "dense_slots",
    "native_softmax_attention",
    "packed_softmax_attention",
    "padding_mask",
]
