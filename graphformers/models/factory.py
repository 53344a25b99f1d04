"""Build graph models and their transforms from config dictionaries.

A run config's ``model`` section mirrors the constructors (PyKEEN's
"the constructor is the schema"): components are written
``{name: <entry>, **kwargs}`` and resolved here, at the edge, through the
explicit name tables below. Layers themselves never see strings.

Example (``graphformers/configs/gps/molecules_gine_transformer_rwse.yaml``)::

    model:
      name: gps                     # gps | mpnn | graph_transformer
      channels: 64
      num_layers: 3
      dropout: 0.0
      node_encoder: {name: atom}    # atom | linear | embedding
      edge_encoder: {name: bond}    # bond | linear | null
      pe: [{name: rwse, walk_length: 16, channels: 16}]   # rwse | lap_linear | lap_signnet
      local: {name: gine}           # gine | gatedgcn | null
      attention: {name: full, heads: 4, dropout: 0.5}     # full | performer | linear | null
      norm: batch                   # batch | layer | null
      head: {level: graph, pool: mean, num_layers: 2}
      virtual_node: false           # mpnn only
      heads: 8                      # graph_transformer only (its PE is added, so
                                    # pe[0].channels defaults to channels)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from torch import Tensor, nn
from torch_geometric.transforms import BaseTransform

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class LinearNodeEncoder(nn.Module):
    """``Linear`` on node features (``data.x [N, F] -> [N, C]``, any numeric dtype, cast
    to the layer's)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.lin = nn.Linear(in_channels, out_channels)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 1:
            x = x.unsqueeze(-1)
        return self.lin(x.to(self.lin.weight.dtype))


class EmbeddingNodeEncoder(nn.Module):
    """Embedding of one categorical node feature (``data.x [N] or [N, 1] -> [N, C]``)."""

    def __init__(self, num_embeddings: int, out_channels: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(num_embeddings, out_channels)

    def reset_parameters(self) -> None:
        self.emb.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.emb(x.view(-1).long())


def _atom(width: int, **_: Any) -> nn.Module:
    from ogb.graphproppred.mol_encoder import AtomEncoder

    return AtomEncoder(width)


def _bond(width: int, **_: Any) -> nn.Module:
    from ogb.graphproppred.mol_encoder import BondEncoder

    return BondEncoder(width)


NODE_ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "atom": _atom,
    "linear": lambda width, in_channels: LinearNodeEncoder(in_channels, width),
    "embedding": lambda width, num_embeddings: EmbeddingNodeEncoder(num_embeddings, width),
}
EDGE_ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "bond": _bond,
    "linear": lambda width, in_channels: LinearNodeEncoder(in_channels, width),
    "embedding": lambda width, num_embeddings: EmbeddingNodeEncoder(num_embeddings, width),
}


def _pe_tables() -> tuple[dict[str, Callable[..., nn.Module]], dict[str, Callable[..., BaseTransform]]]:
    from graphformers.encodings import LinearLapPE, RWSEEncoder, SignNetLapPE
    from graphformers.transforms.positional import AddLaplacianPE, AddRandomWalkSE

    # a pe spec holds the encoder's arguments and the transform's: the attribute names
    # (attr_name / attr_prefix) go to both, the Laplacian's solver options only to the transform
    lap_only = ("normalization", "is_undirected")

    def encoder_kw(kw: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in kw.items() if k not in lap_only}

    def lap_transform(k: int, attr_prefix: str = "lap", normalization: str | None = "sym",
                      is_undirected: bool = True, **_: Any) -> BaseTransform:
        return AddLaplacianPE(k, attr_prefix=attr_prefix, normalization=normalization, is_undirected=is_undirected)

    encoders = {
        "rwse": lambda channels, walk_length, **kw: RWSEEncoder(walk_length, channels, **kw),
        "lap_linear": lambda channels, k, **kw: LinearLapPE(k, channels, **encoder_kw(kw)),
        "lap_signnet": lambda channels, k, **kw: SignNetLapPE(k, channels, **encoder_kw(kw)),
    }
    transforms = {
        "rwse": lambda walk_length, attr_name="rwse", **_: AddRandomWalkSE(walk_length, attr_name=attr_name),
        "lap_linear": lap_transform,
        "lap_signnet": lap_transform,
    }
    return encoders, transforms


def _check_pe_attributes(pe_specs: list[Any]) -> None:
    """Two PE/SE of a config must not write the same graph attributes (the second
    transform would overwrite the first's values, e.g. two LapPEs of other ``k``)."""
    seen: dict[str, int] = {}
    for i, spec in enumerate(pe_specs):
        if not isinstance(spec, Mapping):
            continue  # _resolve reports it
        name = spec.get("name")
        attr = spec.get("attr_name", "rwse") if name == "rwse" else spec.get("attr_prefix", "lap") + "_*"
        if attr in seen:
            key = "attr_name" if name == "rwse" else "attr_prefix"
            raise ValueError(f"model.pe[{seen[attr]}] and model.pe[{i}] both write {attr!r}; "
                             f"give one of them another {key}")
        seen[attr] = i


def _local_table() -> dict[str, Callable[..., nn.Module]]:
    from graphformers.local.gated_gcn import GatedGCN
    from graphformers.local.gine import GINE

    return {
        "gine": lambda channels, **kw: GINE(channels, **kw),
        "gatedgcn": lambda channels, dropout=0.0, **kw: GatedGCN(channels, dropout=dropout, **kw),
    }


def _attention_table() -> dict[str, Callable[..., nn.Module]]:
    from graphformers.attention import LinearAttention, MultiheadAttention, PerformerAttention

    return {
        "full": lambda channels, heads=1, **kw: MultiheadAttention(channels, heads, **kw),
        "performer": lambda channels, heads=1, **kw: PerformerAttention(channels, heads, **kw),
        "linear": lambda channels, heads=1, **kw: LinearAttention(channels, heads, **kw),
    }


def _batch_norm(channels: int) -> nn.Module:
    from graphformers.local.norm import batch_norm

    return batch_norm(channels)


NORMS: dict[str, Callable[[int], nn.Module] | None] = {
    "batch": _batch_norm,
    "layer": nn.LayerNorm,
    "none": None,
}


def _resolve(table: Mapping[str, Callable[..., Any]], spec: Mapping[str, Any] | None, what: str, **fixed: Any) -> Any:
    if spec is None:
        return None
    if "name" not in spec:
        raise ValueError(f"{what}: missing 'name' in {dict(spec)}")
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    name = spec["name"]
    if name not in table:
        raise ValueError(f"{what}: unknown name {name!r}; choose one of {sorted(table)}")
    try:
        return table[name](**fixed, **kwargs)
    except TypeError as err:
        raise ValueError(f"{what} {name!r}: bad arguments {kwargs}: {err}") from err


def build_transforms(cfg: Mapping[str, Any]) -> list[BaseTransform]:
    """The precompute transforms (PE/SE) that the model config needs."""
    _, transforms = _pe_tables()
    model = cfg.get("model", cfg)
    _check_pe_attributes(list(model.get("pe", [])))
    return [_resolve(transforms, {k: v for k, v in pe.items() if k != "channels"}, "pe") for pe in model.get("pe", [])]


def build_model(cfg: Mapping[str, Any], *, out_channels: int) -> nn.Module:
    """Build a :class:`GraphGPS`, :class:`MPNN` or :class:`GraphTransformer` from a config.

    Args:
        cfg: a run config (with a ``model`` section) or the ``model`` section itself.
        out_channels: targets (tasks or classes) of the head.
    """
    from graphformers.blocks.gps import GPSLayer
    from graphformers.encodings import FeatureEncoder
    from graphformers.models.gps import GraphGPS

    model = dict(cfg.get("model", cfg))
    known = {"name", "channels", "num_layers", "dropout", "node_encoder", "edge_encoder", "pe", "local",
             "attention", "norm", "head", "virtual_node", "heads", "checkpoint"}
    unknown = set(model) - known
    if unknown:
        raise ValueError(f"model config: unknown keys {sorted(unknown)}; known keys are {sorted(known)}")
    name = model.get("name", "gps")
    channels = int(model.get("channels", 64))
    num_layers = int(model.get("num_layers", 3))
    dropout = float(model.get("dropout", 0.0))
    norm_name = model.get("norm", "batch") or "none"
    if norm_name not in NORMS:
        raise ValueError(f"model.norm: unknown {norm_name!r}; choose one of {sorted(NORMS)}")
    norm = NORMS[norm_name]

    checkpoint = model.get("checkpoint", False)
    if not isinstance(checkpoint, bool):
        raise ValueError(f"model.checkpoint must be true or false, got {checkpoint!r}")
    if name == "graph_transformer":
        if checkpoint:
            raise ValueError("model.checkpoint is supported for name: gps and name: mpnn")
        return _graph_transformer(model, channels, num_layers, dropout, norm, out_channels)
    if "heads" in model:
        raise ValueError(f"model.heads is for name: graph_transformer (use attention.heads for name: {name})")

    pe_encoders_table, _ = _pe_tables()
    pe_specs = list(model.get("pe", []))
    _check_pe_attributes(pe_specs)
    pe_encoders = [_resolve(pe_encoders_table, spec, "model.pe") for spec in pe_specs]
    pe_width = sum(int(spec["channels"]) for spec in pe_specs)
    if pe_width >= channels:
        raise ValueError(f"model.pe widths sum to {pe_width}, which leaves no room in channels={channels}")
    node_encoder = _resolve(NODE_ENCODERS, model.get("node_encoder", {"name": "atom"}), "model.node_encoder",
                            width=channels - pe_width)
    encoder = FeatureEncoder(node_encoder, pe_encoders)
    edge_encoder = _resolve(EDGE_ENCODERS, model.get("edge_encoder"), "model.edge_encoder", width=channels)
    # built after the encoders and before the layers: the order fixes which random
    # numbers each module's initialisation draws, so a seed keeps giving the same model
    head = _head(model, channels, out_channels)

    local_table = _local_table()

    def make_local() -> nn.Module | None:
        return _resolve(local_table, model.get("local"), "model.local", channels=channels)

    if name == "gps":
        attn_table = _attention_table()
        layers = [
            GPSLayer(
                channels,
                make_local(),
                _resolve(attn_table, model.get("attention"), "model.attention", channels=channels),
                dropout=dropout,
                norm=norm,
            )
            for _ in range(num_layers)
        ]
        return GraphGPS(encoder, layers, head, edge_encoder=edge_encoder, checkpoint=checkpoint)
    if name == "mpnn":
        from graphformers.models.mpnn import MPNN

        if model.get("attention") is not None:
            raise ValueError("model.attention must be null for name: mpnn")
        if pe_specs:
            raise ValueError("model.pe is not supported for name: mpnn (use name: gps with attention: null)")
        layers = [make_local() for _ in range(num_layers)]
        return MPNN(node_encoder, layers, head, edge_encoder=edge_encoder,
                    virtual_node=bool(model.get("virtual_node", False)), dropout=dropout, norm=norm,
                    checkpoint=checkpoint)
    raise ValueError(f"model.name: unknown {name!r}; choose 'gps', 'mpnn' or 'graph_transformer'")


def _head(model: Mapping[str, Any], channels: int, out_channels: int) -> nn.Module:
    from graphformers.heads import GraphHead, NodeHead

    head_spec = dict(model.get("head", {"level": "graph"}))
    level = head_spec.pop("level", "graph")
    if level == "graph":
        return GraphHead(channels, out_channels, **head_spec)
    if level == "node":
        return NodeHead(channels, out_channels, **head_spec)
    raise ValueError(f"model.head.level must be 'graph' or 'node', got {level!r}")


def _graph_transformer(model: Mapping[str, Any], channels: int, num_layers: int, dropout: float,
                       norm: Callable[[int], nn.Module] | None, out_channels: int) -> nn.Module:
    """Dwivedi & Bresson's Graph Transformer: the PE is *added* to the node embedding,
    so the node encoder and the (single) PE encoder are both ``channels`` wide."""
    from graphformers.models.graph_transformer import GraphTransformer

    for key in ("local", "attention", "virtual_node"):
        if model.get(key) not in (None, False):
            raise ValueError(f"model.{key} is not used by name: graph_transformer (its layer is fixed by the paper)")
    pe_specs = list(model.get("pe", []))
    if len(pe_specs) > 1:
        raise ValueError("model.pe: name: graph_transformer takes at most one PE (it is added to the input)")
    pe_encoder = None
    if pe_specs:
        spec = {"channels": channels, **pe_specs[0]}
        if int(spec["channels"]) != channels:
            raise ValueError(f"model.pe[0].channels must equal channels={channels} (the PE is added), "
                             f"got {spec['channels']}")
        pe_encoder = _resolve(_pe_tables()[0], spec, "model.pe")
    node_encoder = _resolve(NODE_ENCODERS, model.get("node_encoder", {"name": "atom"}), "model.node_encoder",
                            width=channels)
    edge_encoder = _resolve(EDGE_ENCODERS, model.get("edge_encoder"), "model.edge_encoder", width=channels)
    head = _head(model, channels, out_channels)
    return GraphTransformer(node_encoder, channels, int(model.get("heads", 8)), num_layers, head,
                            edge_encoder=edge_encoder, pe_encoder=pe_encoder, dropout=dropout, norm=norm)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config: a file path, or a bare name looked up in the packaged ``configs/``.

    Args:
        path: a YAML file (anything with a folder part or a ``.yaml`` / ``.yml``
            suffix, which must exist), or a bare name such as ``molecules_gine``
            (``configs/*/molecules_gine.yaml``).

    Raises:
        FileNotFoundError: a path that does not exist (it is never replaced by a
            packaged config of the same name), or an unknown bare name.
        ValueError: a name matching several packaged configs, a file that is not
            valid YAML, or a config without a ``model`` mapping.
    """
    text = str(path)
    if "/" in text or "\\" in text or text.endswith((".yaml", ".yml")):  # a file, never a packaged stand-in
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} not found (a bare name such as 'molecules_gine' "
                                    f"selects a packaged config under {CONFIG_DIR})")
    else:
        candidates = sorted(c for c in CONFIG_DIR.rglob("*.yaml") if c.stem == text)
        if not candidates:
            names = sorted(c.stem for c in CONFIG_DIR.rglob("*.yaml"))
            raise FileNotFoundError(f"config {str(path)!r} not found: not a packaged config name ({names}); "
                                    "give a path with a folder or a .yaml suffix for your own file")
        if len(candidates) > 1:
            raise ValueError(f"config name {str(path)!r} is ambiguous: {[str(c) for c in candidates]}")
        p = candidates[0]
    try:
        with open(p) as fh:
            cfg = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise ValueError(f"{p}: not valid YAML: {err}") from err
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise ValueError(f"{p}: a config must be a mapping with a 'model' section (a mapping)")
    return cfg


def apply_overrides(cfg: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted ``key.sub=value`` overrides (values parsed as YAML).

    Only the syntax is checked here (a ``key=value`` pair, non-empty key parts,
    a value YAML can parse, a path through mappings); which keys and types a
    section accepts is the caller's check.

    Raises:
        ValueError: naming the override, for a malformed one.
    """
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ValueError(f"--set {item!r}: empty key part in {key!r}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            reason = " ".join(str(err).split())
            raise ValueError(f"--set {item!r}: the value {raw!r} is not valid YAML ({reason})") from None
        node = cfg
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                where = ".".join(parts[: depth + 1])
                raise ValueError(f"--set {item!r}: {where!r} is {node!r}, not a section")
        node[parts[-1]] = value
    return cfg
