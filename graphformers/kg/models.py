"""Knowledge-graph embedding scorers behind one interface.

Every scorer answers

* ``score(head_index [B], rel_type [B], tail_index [B]) -> [B]``: one triple each,
* ``score_all_tails(head_index [B], rel_type [B]) -> [B, N]``: 1-N scoring of every entity,
* ``regularization_factors(head_index, rel_type, tail_index) -> list[Tensor]``: the
  embedding factors that N3 / L2 penalties act on (Lacroix et al., 2018),

where ``N`` is the number of entities. Heads are predicted through reciprocal
relations (Lacroix et al., 2018; Kazemi & Poole, 2018): the models are built with
``2R`` relations and the query ``(?, r, t)`` is asked as ``(t, r + R, ?)``.

TransE, DistMult and ComplEx subclass PyG's :mod:`torch_geometric.nn.kge` models
(their ``forward`` is the triple score) and add the 1-N scoring. RotatE follows the
paper's distance (sum of complex moduli), which PyG's RotatE replaces with one
Euclidean norm over all coordinates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import kge


class KGEScorerMixin:
    """The scoring interface shared by all KG scorers (see the module docstring).

    Subclasses define :meth:`score_all_tails` and :meth:`regularization_factors`;
    :meth:`score` defaults to the model's ``forward``.
    """

    #: citation shown by ``graphformers ls models``
    citation: str = ""

    def reset_parameters(self) -> None:
        """PyG's initialization, or ``N(0, init_std^2)`` when the model has ``init_std`` set."""
        super().reset_parameters()  # type: ignore[misc]
        std = getattr(self, "init_std", None)
        if std is not None:
            for p in self.parameters():  # type: ignore[attr-defined]
                torch.nn.init.normal_(p, std=std)

    def score(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> Tensor:
        """Score of each triple: ``[B]``."""
        return self(head_index, rel_type, tail_index)  # type: ignore[operator]

    def score_all_tails(self, head_index: Tensor, rel_type: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def regularization_factors(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> list[Tensor]:
        raise NotImplementedError  # pragma: no cover


class TransE(KGEScorerMixin, kge.TransE):
    r"""TransE from `"Translating Embeddings for Modeling Multi-relational Data"
    <https://papers.nips.cc/paper/5071>`_ (Bordes et al., NeurIPS 2013), via PyG.

    .. math::
        f(h, r, t) = -\left\| \frac{e_h}{\|e_h\|_p} + e_r - \frac{e_t}{\|e_t\|_p} \right\|_p

    The entity normalization is PyG's (it normalizes at scoring time instead
    of projecting the weights after each step as the paper does).

    Args:
        num_nodes: number of entities ``N``.
        num_relations: number of relations (``2R`` with reciprocal relations).
        hidden_channels: embedding size ``d``.
        p_norm: the norm order ``p`` (default: ``1.0``).
        margin: margin of PyG's ranking loss (unused by our trainers).
    """

    citation = "Bordes et al., Translating Embeddings for Modeling Multi-relational Data, NeurIPS 2013"

    def __init__(self, num_nodes: int, num_relations: int, hidden_channels: int, *, p_norm: float = 1.0,
                 margin: float = 1.0) -> None:
        super().__init__(num_nodes, num_relations, hidden_channels, margin=margin, p_norm=p_norm)

    def score_all_tails(self, head_index: Tensor, rel_type: Tensor) -> Tensor:
        h = F.normalize(self.node_emb(head_index), p=self.p_norm, dim=-1) + self.rel_emb(rel_type)
        tails = F.normalize(self.node_emb.weight, p=self.p_norm, dim=-1)
        return -torch.cdist(h, tails, p=self.p_norm)

    def regularization_factors(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> list[Tensor]:
        return [self.node_emb(head_index), self.rel_emb(rel_type), self.node_emb(tail_index)]


class DistMult(KGEScorerMixin, kge.DistMult):
    r"""DistMult from `"Embedding Entities and Relations for Learning and Inference in
    Knowledge Bases" <https://arxiv.org/abs/1412.6575>`_ (Yang et al., ICLR 2015), via PyG.

    .. math::
        f(h, r, t) = \langle e_h, w_r, e_t \rangle = \sum_i e_{h,i}\, w_{r,i}\, e_{t,i}

    Args:
        num_nodes: number of entities ``N``.
        num_relations: number of relations (``2R`` with reciprocal relations).
        hidden_channels: embedding size ``d``.
        init_std: if set, initialize all embeddings from ``N(0, init_std^2)``
            instead of PyG's Xavier initialization.
    """

    citation = "Yang et al., Embedding Entities and Relations for Learning and Inference in KBs, ICLR 2015"

    def __init__(self, num_nodes: int, num_relations: int, hidden_channels: int, *,
                 init_std: float | None = None) -> None:
        self.init_std = init_std
        super().__init__(num_nodes, num_relations, hidden_channels)

    def score_all_tails(self, head_index: Tensor, rel_type: Tensor) -> Tensor:
        return (self.node_emb(head_index) * self.rel_emb(rel_type)) @ self.node_emb.weight.t()

    def regularization_factors(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> list[Tensor]:
        return [self.node_emb(head_index), self.rel_emb(rel_type), self.node_emb(tail_index)]


class ComplEx(KGEScorerMixin, kge.ComplEx):
    r"""ComplEx from `"Complex Embeddings for Simple Link Prediction"
    <https://arxiv.org/abs/1606.06357>`_ (Trouillon et al., ICML 2016), via PyG.

    .. math::
        f(h, r, t) = \mathrm{Re}\left(\sum_i e_{h,i}\, w_{r,i}\, \bar{e}_{t,i}\right),
        \quad e, w \in \mathbb{C}^d

    ``hidden_channels = d`` is the complex rank, so each entity holds ``2d`` reals
    ("ComplEx-200" in LibKGE's sense is ``hidden_channels=100``).
    The regularization factors are the complex moduli, as in Lacroix et al. (2018).

    Args:
        num_nodes: number of entities ``N``.
        num_relations: number of relations (``2R`` with reciprocal relations).
        hidden_channels: complex rank ``d``.
        init_std: if set, initialize from ``N(0, init_std^2)`` instead of Xavier.
    """

    citation = "Trouillon et al., Complex Embeddings for Simple Link Prediction, ICML 2016"

    def __init__(self, num_nodes: int, num_relations: int, hidden_channels: int, *,
                 init_std: float | None = None) -> None:
        self.init_std = init_std
        super().__init__(num_nodes, num_relations, hidden_channels)

    def _query(self, head_index: Tensor, rel_type: Tensor) -> tuple[Tensor, Tensor]:
        h_re, h_im = self.node_emb(head_index), self.node_emb_im(head_index)
        r_re, r_im = self.rel_emb(rel_type), self.rel_emb_im(rel_type)
        return h_re * r_re - h_im * r_im, h_re * r_im + h_im * r_re

    def score_all_tails(self, head_index: Tensor, rel_type: Tensor) -> Tensor:
        q_re, q_im = self._query(head_index, rel_type)  # [B, d] each
        q = torch.cat([q_re, q_im], dim=-1)  # [B, 2d]
        ent = torch.cat([self.node_emb.weight, self.node_emb_im.weight], dim=-1)  # [N, 2d]
        return q @ ent.t()

    def regularization_factors(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> list[Tensor]:
        def modulus(re: Tensor, im: Tensor) -> Tensor:
            return torch.sqrt(re**2 + im**2 + 1e-12)

        return [modulus(self.node_emb(head_index), self.node_emb_im(head_index)),
                modulus(self.rel_emb(rel_type), self.rel_emb_im(rel_type)),
                modulus(self.node_emb(tail_index), self.node_emb_im(tail_index))]


class RotatE(KGEScorerMixin, kge.RotatE):
    r"""RotatE from `"RotatE: Knowledge Graph Embedding by Relational Rotation in
    Complex Space" <https://arxiv.org/abs/1902.10197>`_ (Sun et al., ICLR 2019).

    .. math::
        f(h, r, t) = \gamma - \sum_i \left| e_{h,i}\, e^{\mathrm{i}\theta_{r,i}} - e_{t,i} \right|

    Deviation from PyG's :class:`~torch_geometric.nn.kge.RotatE` (whose
    parameters we reuse): PyG takes one Euclidean norm over all ``2d`` real
    coordinates; we use the paper's sum of complex moduli (an L1 norm over
    the ``d`` complex coordinates), which the published numbers were made with.

    Args:
        num_nodes: number of entities ``N``.
        num_relations: number of relations (``2R`` with reciprocal relations).
        hidden_channels: complex dimension ``d``.
        margin: the constant :math:`\gamma` (default: ``1.0``; shifts scores only).
        chunk_size: entities scored at once in :meth:`score_all_tails`
            (bounds the ``[B, chunk, d]`` intermediate).
    """

    citation = "Sun et al., RotatE: Knowledge Graph Embedding by Relational Rotation in Complex Space, ICLR 2019"

    def __init__(self, num_nodes: int, num_relations: int, hidden_channels: int, *, margin: float = 1.0,
                 chunk_size: int = 1024) -> None:
        self.chunk_size = chunk_size
        super().__init__(num_nodes, num_relations, hidden_channels, margin=margin)

    def _rotate(self, head_index: Tensor, rel_type: Tensor) -> tuple[Tensor, Tensor]:
        h_re, h_im = self.node_emb(head_index), self.node_emb_im(head_index)
        theta = self.rel_emb(rel_type)
        r_re, r_im = torch.cos(theta), torch.sin(theta)
        return h_re * r_re - h_im * r_im, h_re * r_im + h_im * r_re

    def forward(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> Tensor:
        q_re, q_im = self._rotate(head_index, rel_type)
        d_re = q_re - self.node_emb(tail_index)
        d_im = q_im - self.node_emb_im(tail_index)
        return self.margin - torch.sqrt(d_re**2 + d_im**2 + 1e-12).sum(-1)

    def score_all_tails(self, head_index: Tensor, rel_type: Tensor) -> Tensor:
        q_re, q_im = self._rotate(head_index, rel_type)  # [B, d]
        e_re, e_im = self.node_emb.weight, self.node_emb_im.weight  # [N, d]
        step = max(1, self.chunk_size)
        out = []
        for s in range(0, e_re.size(0), step):
            d_re = q_re.unsqueeze(1) - e_re[s:s + step].unsqueeze(0)  # [B, n, d]
            d_im = q_im.unsqueeze(1) - e_im[s:s + step].unsqueeze(0)
            out.append(self.margin - torch.sqrt(d_re**2 + d_im**2 + 1e-12).sum(-1))
        return torch.cat(out, dim=1)

    def regularization_factors(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> list[Tensor]:
        return [self.node_emb(head_index), self.node_emb_im(head_index),
                self.node_emb(tail_index), self.node_emb_im(tail_index)]

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_nodes}, num_relations={self.num_relations}, "
                f"hidden_channels={self.hidden_channels}, margin={self.margin})")

