"""Named knowledge-graph completion benchmarks (FB15k-237, WN18RR, UMLS, Kinships, Nations).

Files are looked up in ``data_root()/<folder>/{train,valid,test}.txt[.gz]``
(``GRAPHFORMERS_DATA`` or ``../shared/data``), then in the cache folder. If
neither has them, :func:`load_kg_dataset` downloads the archive published with
ConvE (Dettmers et al., 2018), the common public source of all five; without
internet it fails with a message saying to set ``GRAPHFORMERS_DATA`` or pass
``--data-dir``.
"""

from __future__ import annotations

import io
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from graphformers.kg.triples import SPLITS, KGTriples, find_split_file
from graphformers.settings import ENV_VAR, cache_root, data_root

CONVE_RAW = "https://github.com/TimDettmers/ConvE/raw/f3c0eb286025410fa5b4c04696c918264163d0ca/"


@dataclass(frozen=True)
class KGDatasetSpec:
    """A named benchmark: folder, download URL, published statistics and citation."""

    folder: str
    url: str
    entities: int
    relations: int
    train: int
    valid: int
    test: int
    citation: str
    note: str = ""


DATASETS: dict[str, KGDatasetSpec] = {
    "fb15k-237": KGDatasetSpec(
        "FB15k-237", CONVE_RAW + "FB15k-237.tar.gz", 14541, 237, 272115, 17535, 20466,
        "Toutanova & Chen, Observed versus latent features for knowledge base and text inference, CVSC 2015"),
    "wn18rr": KGDatasetSpec(
        "WN18RR", CONVE_RAW + "WN18RR.tar.gz", 40943, 11, 86835, 3034, 3134,
        "Dettmers et al., Convolutional 2D Knowledge Graph Embeddings, AAAI 2018"),
    "umls": KGDatasetSpec(
        "UMLS", CONVE_RAW + "umls.tar.gz", 135, 46, 5216, 652, 661,
        "McCray, An upper-level ontology for the biomedical domain, 2003; Kok & Domingos, ICML 2007"),
    "kinships": KGDatasetSpec(
        "Kinships", CONVE_RAW + "kinship.tar.gz", 104, 25, 8544, 1068, 1074,
        "Kemp et al., Learning systems of concepts with an infinite relational model, AAAI 2006",
        "leaks through inverse relations (~48%); smoke tests only"),
    "nations": KGDatasetSpec(
        "Nations", CONVE_RAW + "nations.tar.gz", 14, 55, 1592, 199, 201,
        "Kok & Domingos, Statistical predicate invention, ICML 2007",
        "leaks through inverse relations (~95%); smoke tests only"),
}


def dataset_spec(name: str) -> KGDatasetSpec:
    """Look up a benchmark by name (case-insensitive; ``fb15k237`` and ``kinship`` accepted)."""
    key = name.lower().replace("_", "-")
    key = {"fb15k237": "fb15k-237", "kinship": "kinships"}.get(key, key)
    if key not in DATASETS:
        raise KeyError(f"unknown KG dataset {name!r}; known: {', '.join(DATASETS)} (or pass --data-dir)")
    return DATASETS[key]


def _has_splits(folder: Path) -> bool:
    try:
        for split in SPLITS:
            find_split_file(folder, split)
    except FileNotFoundError:
        return False
    return True


def download_kg_dataset(name: str, dest: Path) -> Path:
    """Download and unpack the benchmark's public archive into ``dest``.

    Raises:
        RuntimeError: when the download fails (offline machine), saying to set
            ``GRAPHFORMERS_DATA`` or pass ``--data-dir``.
    """
    spec = dataset_spec(name)
    try:
        with urllib.request.urlopen(spec.url, timeout=30) as resp:
            payload = resp.read()
    except OSError as err:
        raise RuntimeError(
            f"could not download {spec.folder} from {spec.url} ({err}); set {ENV_VAR} to a folder holding "
            f"{spec.folder}/{{train,valid,test}}.txt.gz or pass --data-dir PATH"
        ) from None
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        for member in tar.getmembers():
            base = Path(member.name).name
            if member.isfile() and base in {f"{s}.txt" for s in SPLITS}:
                fh = tar.extractfile(member)
                assert fh is not None
                (dest / base).write_bytes(fh.read())
    if not _has_splits(dest):
        raise RuntimeError(f"the archive {spec.url} did not contain train/valid/test.txt")
    return dest


def kg_dataset_dir(name: str, *, download: bool = True) -> Path:
    """Folder with the benchmark's split files: data root, else cache, else download."""
    spec = dataset_spec(name)
    root = data_root()
    if root is not None and _has_splits(root / spec.folder):
        return root / spec.folder
    cached = cache_root() / "kg" / spec.folder
    if _has_splits(cached):
        return cached
    if not download:
        raise FileNotFoundError(f"{spec.folder} not found; set {ENV_VAR} or pass --data-dir PATH")
    return download_kg_dataset(name, cached)


def load_kg_dataset(name: str, *, data_dir: str | Path | None = None, unseen: str = "keep",
                    download: bool = True) -> KGTriples:
    """Load a named benchmark (or any folder with ``data_dir``) as :class:`KGTriples`.

    Args:
        name: one of :data:`DATASETS` (ignored for look-up when ``data_dir`` is given).
        data_dir: read ``train/valid/test`` files from this folder instead.
        unseen: policy for evaluation triples with entities unseen in train
            (``keep`` / ``drop`` / ``error``; see :meth:`KGTriples.from_labeled`).
        download: allow downloading from the public source.
    """
    if data_dir is not None:
        return KGTriples.from_dir(data_dir, name=name or Path(data_dir).name, unseen=unseen)
    spec = dataset_spec(name)
    return KGTriples.from_dir(kg_dataset_dir(name, download=download), name=spec.folder, unseen=unseen)


def check_statistics(kg: KGTriples, name: str) -> list[str]:
    """Differences between ``kg`` and the published counts of benchmark ``name`` (empty = all match)."""
    spec = dataset_spec(name)
    stats = kg.statistics()
    return [f"{key}: {stats[key]} != published {getattr(spec, key)}"
            for key in ("entities", "relations", "train", "valid", "test") if stats[key] != getattr(spec, key)]
