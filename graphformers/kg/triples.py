"""Knowledge-graph triples: reading TSV files, vocabularies, id tensors, PyG graphs.

A knowledge graph here is a set of ``(head, relation, tail)`` triples split into
train / valid / test. :class:`KGTriples` holds the entity and relation
vocabularies (name lists, position = id) and one ``LongTensor`` of shape
``[T, 3]`` (columns ``head_index, rel_type, tail_index``) per split.

Files are the common tab-separated ``head<TAB>relation<TAB>tail`` format in
UTF-8 (a byte-order mark is ignored), plain or gzip-compressed (``.gz``). Bad
lines, bytes that are not UTF-8 and damaged ``.gz`` files raise
:class:`TriplesFormatError` naming the file and the 1-based line number.
"""

from __future__ import annotations

import gzip
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

SPLITS: tuple[str, ...] = ("train", "valid", "test")
UNSEEN_POLICIES: tuple[str, ...] = ("keep", "drop", "error")


class TriplesFormatError(ValueError):
    """A triples file has a malformed line (the message names file and line)."""


class UnseenEntityWarning(UserWarning):
    """Evaluation triples use entities or relations that never occur in training."""


def _split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines ended by ``\n``, ``\r\n`` or a lone ``\r`` (as text mode reads them), without
    their ends; an empty line stays an (empty) line, so line numbers are the file's."""
    for chunk in chunks:
        yield from chunk.splitlines() or [b""]


def _raw_lines(path: Path) -> Iterator[bytes]:
    """The lines of ``path`` as bytes (``.gz`` decompressed); gzip errors name the file."""
    if path.suffix != ".gz":
        with open(path, "rb") as fh:
            yield from _split_lines(fh)
        return
    lineno = 0
    try:
        with gzip.open(path, "rb") as fh:
            for lineno, raw in enumerate(_split_lines(fh), start=1):
                yield raw
    except (EOFError, OSError, zlib.error) as err:
        if isinstance(err, FileNotFoundError):
            raise
        where = f" after line {lineno}" if lineno else ""
        raise TriplesFormatError(f"{path}: damaged or truncated gzip file, or not gzip at all "
                                 f"(failed{where}: {err})") from None


def iter_triples_file(path: str | Path) -> Iterator[tuple[int, str, str, str]]:
    """Yield ``(line_number, head, relation, tail)`` from a TSV triples file.

    The file is UTF-8 (a leading byte-order mark is ignored), plain or gzip
    (``.gz``). Blank lines are skipped. A line with other than three
    tab-separated fields, an empty field, bytes that are not UTF-8, or a
    damaged ``.gz`` raise :class:`TriplesFormatError` naming ``path:line``.
    """
    path = Path(path)
    for lineno, raw in enumerate(_raw_lines(path), start=1):
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise TriplesFormatError(
                f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start} of the line): {raw[:80]!r}"
            ) from None
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise TriplesFormatError(
                f"{path}:{lineno}: expected 3 tab-separated fields "
                f"(head, relation, tail), got {len(parts)}: {line[:80]!r}"
            )
        for what, part in zip(("head", "relation", "tail"), parts):
            if not part.strip():
                raise TriplesFormatError(f"{path}:{lineno}: the {what} field is empty: {line[:80]!r}")
        yield lineno, parts[0].strip(), parts[1].strip(), parts[2].strip()


def read_id_triples(path: str | Path, num_nodes: int, num_relations: int) -> Tensor:
    """Read a TSV file of integer ids ``h<TAB>r<TAB>t`` and check their ranges.

    Returns:
        ``LongTensor [T, 3]``. Raises :class:`TriplesFormatError` naming
        ``path:line`` for a non-integer id or an id outside
        ``[0, num_nodes)`` / ``[0, num_relations)``.
    """
    rows: list[tuple[int, int, int]] = []
    for lineno, h, r, t in iter_triples_file(path):
        try:
            hi, ri, ti = int(h), int(r), int(t)
        except ValueError:
            raise TriplesFormatError(f"{path}:{lineno}: ids must be integers, got {(h, r, t)}") from None
        if not 0 <= ri < num_relations:
            raise TriplesFormatError(
                f"{path}:{lineno}: relation id {ri} out of range [0, {num_relations})"
            )
        for name, val in (("head", hi), ("tail", ti)):
            if not 0 <= val < num_nodes:
                raise TriplesFormatError(f"{path}:{lineno}: {name} id {val} out of range [0, {num_nodes})")
        rows.append((hi, ri, ti))
    return torch.tensor(rows, dtype=torch.long).view(-1, 3)


@dataclass
class KGTriples:
    """Entity/relation vocabularies and id triples for train, valid and test.

    Attributes:
        entities: entity names; the position is the entity id.
        relations: relation names; the position is the relation id.
        train, valid, test: ``LongTensor [T, 3]`` of ``(head_index, rel_type, tail_index)``.
        name: a label for logs (e.g. ``"UMLS"``).
    """

    entities: list[str]
    relations: list[str]
    train: Tensor
    valid: Tensor
    test: Tensor
    name: str = "kg"
    _entity_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _relation_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._entity_index = {e: i for i, e in enumerate(self.entities)}
        self._relation_index = {r: i for i, r in enumerate(self.relations)}
        self.validate()

    # ------------------------------------------------------------------ sizes
    @property
    def num_nodes(self) -> int:
        """Number of entities (PyG's word for it)."""
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        """Number of relations (without inverses)."""
        return len(self.relations)

    def split(self, name: str) -> Tensor:
        """The id triples of split ``name`` (``train``, ``valid`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def all_triples(self) -> Tensor:
        """Train, valid and test stacked: ``[T_all, 3]`` (the filter set)."""
        return torch.cat([self.train, self.valid, self.test], dim=0)

    def validate(self) -> None:
        """Check shapes, dtypes and id ranges; errors name the split and row."""
        for split in SPLITS:
            t = getattr(self, split)
            if t.dtype != torch.long or t.dim() != 2 or t.size(1) != 3:
                raise ValueError(f"{split}: expected a LongTensor [T, 3], got {tuple(t.shape)} {t.dtype}")
            if t.numel() == 0:
                continue
            for col, size, what in ((0, self.num_nodes, "head"), (1, self.num_relations, "relation"),
                                    (2, self.num_nodes, "tail")):
                bad = ((t[:, col] < 0) | (t[:, col] >= size)).nonzero()
                if bad.numel():
                    row = int(bad[0, 0])
                    raise ValueError(
                        f"{split} row {row}: {what} id {int(t[row, col])} out of range [0, {size}) "
                        f"({bad.numel()} such rows)"
                    )

    def statistics(self) -> dict[str, int]:
        """Counts: entities, relations and triples per split."""
        return {"entities": self.num_nodes, "relations": self.num_relations,
                **{split: int(getattr(self, split).size(0)) for split in SPLITS}}

    # -------------------------------------------------------------- look-ups
    def entity_id(self, name: str) -> int:
        """Id of entity ``name``; :class:`KeyError` lists close matches."""
        return lookup_name(self._entity_index, name, "entity")

    def relation_id(self, name: str) -> int:
        """Id of relation ``name``; :class:`KeyError` lists close matches."""
        return lookup_name(self._relation_index, name, "relation")

    # ---------------------------------------------------------- construction
    @classmethod
    def from_labeled(
        cls,
        splits: dict[str, Sequence[tuple[str, str, str]]],
        *,
        name: str = "kg",
        unseen: str = "keep",
        sources: dict[str, Sequence[str]] | None = None,
    ) -> KGTriples:
        """Build from labeled triples per split.

        Entity and relation ids are assigned in order of first appearance over
        train, valid, test (so they are deterministic).

        Args:
            splits: ``{"train": [(h, r, t), ...], "valid": ..., "test": ...}``.
            name: label for logs.
            unseen: what to do with valid/test triples whose entity or relation
                never occurs in train: ``"keep"`` (the standard protocol of the
                published benchmarks; counted warning), ``"drop"`` (counted
                warning) or ``"error"``.
            sources: optional ``"file:line"`` strings parallel to ``splits``,
                used in warnings and errors.
        """
        if unseen not in UNSEEN_POLICIES:
            raise ValueError(f"unseen={unseen!r}; expected one of {UNSEEN_POLICIES}")
        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise ValueError(f"missing splits {missing}")
        seen_e = {x for h, _, t in splits["train"] for x in (h, t)}
        seen_r = {r for _, r, _ in splits["train"]}
        kept: dict[str, list[tuple[str, str, str]]] = {"train": list(splits["train"])}
        for split in ("valid", "test"):
            rows, where = list(splits[split]), (sources or {}).get(split)
            bad = [i for i, (h, r, t) in enumerate(rows) if h not in seen_e or t not in seen_e or r not in seen_r]
            if bad:
                first = where[bad[0]] if where else f"{split} row {bad[0]}"
                msg = (f"{len(bad)} {split} triples use an entity or relation that never occurs "
                       f"in train (first: {first}: {rows[bad[0]]})")
                if unseen == "error":
                    raise ValueError(msg)
                if unseen == "drop":
                    bad_set = set(bad)
                    rows = [x for i, x in enumerate(rows) if i not in bad_set]
                    warnings.warn(msg + "; dropped", UnseenEntityWarning, stacklevel=2)
                else:
                    warnings.warn(msg + "; kept (standard protocol)", UnseenEntityWarning, stacklevel=2)
            kept[split] = rows
        ent: dict[str, int] = {}
        rel: dict[str, int] = {}
        tensors = {}
        for split in SPLITS:
            ids = [(ent.setdefault(h, len(ent)), rel.setdefault(r, len(rel)), ent.setdefault(t, len(ent)))
                   for h, r, t in kept[split]]
            tensors[split] = torch.tensor(ids, dtype=torch.long).view(-1, 3)
        return cls(list(ent), list(rel), tensors["train"], tensors["valid"], tensors["test"], name=name)

    @classmethod
    def from_files(
        cls,
        train: str | Path,
        valid: str | Path,
        test: str | Path,
        *,
        name: str = "kg",
        unseen: str = "keep",
    ) -> KGTriples:
        """Read three TSV files (plain or ``.gz``); see :meth:`from_labeled`."""
        splits, sources = {}, {}
        for split, path in zip(SPLITS, (train, valid, test)):
            rows = list(iter_triples_file(path))
            splits[split] = [(h, r, t) for _, h, r, t in rows]
            sources[split] = [f"{path}:{n}" for n, *_ in rows]
        return cls.from_labeled(splits, name=name, unseen=unseen, sources=sources)

    @classmethod
    def from_dir(cls, path: str | Path, *, name: str | None = None, unseen: str = "keep") -> KGTriples:
        """Read ``train/valid/test`` files (``.txt``, ``.tsv``, or either ``.gz``) from a folder."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"data folder {path} does not exist")
        files = [find_split_file(path, split) for split in SPLITS]
        return cls.from_files(*files, name=name or path.name, unseen=unseen)

    # ------------------------------------------------------------ PyG graphs
    def to_data(self, split: str = "train", *, add_inverse: bool = False):
        """The triples of ``split`` as a homogeneous PyG :class:`~torch_geometric.data.Data`.

        ``edge_index [2, E]`` runs head -> tail, ``edge_type [E]`` holds the
        relation id. With ``add_inverse=True`` every edge gets a reversed copy
        tail -> head with relation ``r + num_relations`` (so ``E = 2T``).
        """
        from torch_geometric.data import Data

        trip = self.split(split)
        edge_index = trip[:, [0, 2]].t().contiguous()
        edge_type = trip[:, 1].clone()
        num_rel = self.num_relations
        if add_inverse:
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
            edge_type = torch.cat([edge_type, edge_type + num_rel])
            num_rel *= 2
        return Data(edge_index=edge_index, edge_type=edge_type, num_nodes=self.num_nodes,
                    num_relations=num_rel)

    def to_hetero_data(self, split: str = "train", *, add_inverse: bool = False, node_type: str = "entity"):
        """The triples of ``split`` as a :class:`~torch_geometric.data.HeteroData`.

        One node type (``node_type``) and one edge type
        ``(node_type, relation_name, node_type)`` per relation that occurs in the
        split; with ``add_inverse=True`` also ``(node_type, "inv_" + name, node_type)``.
        """
        from torch_geometric.data import HeteroData

        trip = self.split(split)
        data = HeteroData()
        data[node_type].num_nodes = self.num_nodes
        for r in trip[:, 1].unique().tolist():
            sel = trip[trip[:, 1] == r]
            ei = sel[:, [0, 2]].t().contiguous()
            data[node_type, self.relations[r], node_type].edge_index = ei
            if add_inverse:
                data[node_type, "inv_" + self.relations[r], node_type].edge_index = ei.flip(0)
        return data

    def __repr__(self) -> str:
        s = self.statistics()
        return (f"KGTriples({self.name!r}, entities={s['entities']}, relations={s['relations']}, "
                f"train={s['train']}, valid={s['valid']}, test={s['test']})")


def find_split_file(folder: Path, split: str) -> Path:
    """Return ``folder/<split>.{txt,tsv}[.gz]``; raises naming the folder if absent."""
    for ext in (".txt", ".txt.gz", ".tsv", ".tsv.gz", ""):
        cand = folder / f"{split}{ext}"
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{folder}: no {split}.txt, {split}.tsv or their .gz found")


def lookup_name(index: dict[str, int], name: str, what: str) -> int:
    """``index[name]``, or a :class:`KeyError` that lists close matches of ``name``."""
    if name in index:
        return index[name]
    import difflib

    close = difflib.get_close_matches(name, list(index), n=5, cutoff=0.5)
    if not close:  # substring matches help with long Freebase / WordNet ids
        close = [k for k in index if name.lower() in k.lower()][:5]
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise KeyError(f"unknown {what} {name!r}{hint}")
