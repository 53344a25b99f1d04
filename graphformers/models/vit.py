r"""The Vision Transformer as a graph transformer on the complete graph of image patches."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from graphformers.models.sequence import LearnedPositionEncoding, SequenceEncoder
from graphformers.transforms.image import sincos_2d_encoding
from graphformers.typing import OptTensor

__all__ = ["SinCos2DPositionEncoding", "TorchViT", "ViT"]


class SinCos2DPositionEncoding(nn.Module):
    """Fixed 2-D sine-cosine encoding of patch positions (MAE, He et al., 2022; "simple ViT").

    A buffer holds :func:`~graphformers.transforms.image.sincos_2d_encoding` of
    every patch's ``(row, col)`` in the order of the patch graph's ``position``
    index (class token first, encoded as zeros); ``forward(position)`` looks
    rows up, so it drops into :class:`ViT` as ``pos_encoder``.

    Args:
        grid_size: patches per column and per row ``(H / p, W / p)``.
        channels: ``C`` (divisible by 4).
        class_token: whether position 0 is a class token.
    """

    table: Tensor

    def __init__(self, grid_size: tuple[int, int], channels: int, *, class_token: bool = True) -> None:
        super().__init__()
        self.grid_size = tuple(grid_size)
        self.channels = channels
        self.class_token = class_token
        rows, cols = torch.meshgrid(torch.arange(grid_size[0]), torch.arange(grid_size[1]), indexing="ij")
        pos = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1)
        if class_token:
            pos = torch.cat([torch.full((1, 2), -1), pos])
        self.register_buffer("table", sincos_2d_encoding(pos, channels), persistent=False)

    def reset_parameters(self) -> None:
        pass

    def forward(self, position: Tensor) -> Tensor:
        return self.table[position]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.grid_size}, {self.channels}, class_token={self.class_token})"


class ViT(nn.Module):
    r"""ViT (Dosovitskiy et al., ICLR 2021, "An Image is Worth 16x16 Words",
    https://arxiv.org/abs/2010.11929) as a graph model.

    .. math::
        z_0 &= [x_{\mathrm{class}};\, x_p^1 E; \dots; x_p^P E] + E_{\mathrm{pos}}, \\
        z_l &= \mathrm{TransformerLayer}_l(z_{l-1}, G_{\mathrm{complete}}), \qquad
        y = \mathrm{Head}(\mathrm{LN}(z_L^0))

    The input is the patch graph of
    :func:`~graphformers.transforms.image.images_to_patch_graphs`: node features
    are flattened patches (``[N, C p^2]``), ``class_mask`` marks class-token
    nodes (their features are replaced by the learned class token),
    ``position`` indexes the learned position table (or ``pos_encoder`` maps
    it, e.g. a fixed 2-D sine-cosine table), and attention runs over the
    graph's edges through the same :class:`~graphformers.blocks.transformer.TransformerLayer`
    stack as :class:`~graphformers.models.sequence.SequenceEncoder`.
    Pre-norm layers and a final LayerNorm, as in the paper. Without a class
    token the head reads the mean over patch nodes (global average pooling).
    Deviation from the paper: the head is a single linear layer (the paper's
    fine-tuning head), and the FFN is ``2C`` wide by default (paper: ``4C``).

    Args:
        patch_dim: ``C_img p^2``, the width of a flattened patch.
        channels: width ``C``.
        num_layers: number of layers.
        num_classes: output classes.
        num_patches: ``P`` (size of the learned position table, ``P + 1`` with a class token).
        heads: attention heads.
        hidden_channels: FFN width (default ``2C``).
        dropout: dropout rate.
        class_token: read out a class token (else mean pooling).
        pos_encoder: maps ``position [N]`` to ``[N, C]`` (default learned table).

    Shapes:
        - input: ``x [N, C p^2]``, ``edge_index [2, E]`` or ``None``, ``batch [N]``,
          ``position [N]``, ``class_mask [N]``
        - output: ``[B, num_classes]`` logits
    """

    #: the paper this model implements (listed by ``graphformers ls models``).
    citation: str = "Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale, ICLR 2021"

    def __init__(
        self,
        patch_dim: int,
        channels: int,
        num_layers: int,
        num_classes: int,
        num_patches: int,
        *,
        heads: int = 1,
        hidden_channels: int | None = None,
        dropout: float = 0.0,
        class_token: bool = True,
        pos_encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.patch_dim = patch_dim
        self.channels = channels
        self.num_classes = num_classes
        self.num_patches = num_patches
        self.class_token = class_token
        self.patch_embed = nn.Linear(patch_dim, channels)
        self.cls = nn.Parameter(torch.zeros(channels)) if class_token else None
        self.dropout = nn.Dropout(dropout)
        self.encoder = SequenceEncoder(
            channels,
            num_layers,
            heads=heads,
            hidden_channels=hidden_channels,
            dropout=dropout,
            norm_first=True,
            final_norm=True,
            pos_encoder=pos_encoder or LearnedPositionEncoding(num_patches + int(class_token), channels),
        )
        self.head = nn.Linear(channels, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.patch_embed.reset_parameters()
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)
        self.encoder.reset_parameters()
        self.head.reset_parameters()

    def forward(
        self,
        x: Tensor,
        edge_index: OptTensor = None,
        batch: OptTensor = None,
        *,
        position: Tensor,
        class_mask: OptTensor = None,
    ) -> Tensor:
        h = self.patch_embed(x)
        if self.cls is not None:
            if class_mask is None:
                raise ValueError("ViT(class_token=True) needs 'class_mask' (from images_to_patch_graphs)")
            h = torch.where(class_mask.unsqueeze(-1), self.cls.expand_as(h), h)
        # the encoder adds the position encoding: z_0 = Dropout(tokens) + E_pos (as TorchViT)
        h = self.encoder(self.dropout(h), edge_index, batch, position=position)
        if self.cls is not None:
            out = h[class_mask]
        else:
            out = global_mean_pool(h, batch)
        return self.head(out)

    def __repr__(self) -> str:
        e = self.encoder
        return (
            f"{type(self).__name__}({self.patch_dim}, {self.channels}, num_layers={e.num_layers}, "
            f"num_classes={self.num_classes}, heads={e.heads}, class_token={self.class_token})"
        )


class TorchViT(nn.Module):
    """The plain-PyTorch ViT reference (Dosovitskiy et al., 2021): ``Conv2d`` patch embedding +
    ``nn.TransformerEncoder``.

    The same architecture as :class:`ViT` written the usual way on ``[B, C, H, W]``
    tensors; :meth:`load_from_graph` copies a :class:`ViT`'s weights so both
    compute the same function (tested to 1e-5) and train from the same start.
    """

    def __init__(
        self,
        in_channels: int,
        patch_size: int,
        image_size: int,
        channels: int,
        num_layers: int,
        num_classes: int,
        *,
        heads: int = 1,
        hidden_channels: int | None = None,
        dropout: float = 0.0,
        class_token: bool = True,
    ) -> None:
        super().__init__()
        num_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, channels, patch_size, stride=patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, channels)) if class_token else None
        self.pos = nn.Parameter(torch.zeros(1, num_patches + int(class_token), channels))
        nn.init.normal_(self.pos, std=0.02)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            channels, heads, hidden_channels or 2 * channels, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(channels), enable_nested_tensor=False)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        h = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, P, C)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(h.size(0), -1, -1), h], dim=1)
        h = self.encoder(self.dropout(h) + self.pos)
        return self.head(h[:, 0] if self.cls is not None else h.mean(dim=1))

    @torch.no_grad()
    def load_from_graph(self, model: ViT) -> TorchViT:
        """Copy the weights of a :class:`ViT` with a learned position table."""
        self.patch_embed.weight.copy_(model.patch_embed.weight.view_as(self.patch_embed.weight))
        self.patch_embed.bias.copy_(model.patch_embed.bias)
        if self.cls is not None and model.cls is not None:
            self.cls.copy_(model.cls.view_as(self.cls))
        self.pos.copy_(model.encoder.pos_encoder.embedding.weight.view_as(self.pos))
        for theirs, ours in zip(self.encoder.layers, model.encoder.layers):
            ours.copy_to_torch(theirs)
        self.encoder.norm.load_state_dict(model.encoder.norm.state_dict())
        self.head.load_state_dict(model.head.state_dict())
        return self
