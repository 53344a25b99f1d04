"""precompute(): compute once, reload on a matching key, recompute otherwise."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.transforms import BaseTransform, Compose

from graphformers.testing import random_graph
from graphformers.transforms.cache import precompute, structure_hash
from graphformers.transforms.positional import AddLaplacianPE, AddRandomWalkSE


def make_graphs(n: int = 5, seed: int = 0) -> list[Data]:
    g = torch.Generator().manual_seed(seed)
    return [random_graph(3 + i, 2 * (3 + i), channels=4, generator=g) for i in range(n)]


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """Counts AddLaplacianPE.forward calls."""
    counter = []
    original = AddLaplacianPE.forward

    def counting(self, data):
        counter.append(1)
        return original(self, data)

    monkeypatch.setattr(AddLaplacianPE, "forward", counting)
    return counter


def assert_same_pe(a: list[Data], b: list[Data], names=("lap_eigvec", "lap_eigval", "lap_mask")) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for name in names:
            assert torch.equal(x[name], y[name]), name


def test_second_call_loads_without_recomputing(tmp_path, calls):
    graphs, path = make_graphs(), tmp_path / "cache" / "lap.pt"
    first = precompute(graphs, AddLaplacianPE(3), path, progress=False)
    assert len(calls) == 5 and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["lap.pt"]  # no temporary file left
    second = precompute(graphs, AddLaplacianPE(3), path, progress=False)
    assert len(calls) == 5
    assert_same_pe(first, second)
    assert all("lap_eigvec" not in g for g in graphs)  # inputs untouched
    assert second[0].lap_mask.dtype == torch.bool and second[2].lap_eigvec.shape == (5, 3)


def test_features_are_always_the_current_ones(tmp_path, calls):
    graphs, path = make_graphs(), tmp_path / "lap.pt"
    precompute(graphs, AddLaplacianPE(2), path, progress=False)
    for g in graphs:
        g.x = g.x + 1.0  # same structure, new features: the cache still applies
    out = precompute(graphs, AddLaplacianPE(2), path, progress=False)
    assert len(calls) == 5
    assert all(torch.equal(o.x, g.x) for o, g in zip(out, graphs))


@pytest.mark.parametrize("change", ["edges", "edge_weight", "num_graphs", "transform"])
def test_changed_key_recomputes(tmp_path, calls, change):
    graphs, path = make_graphs(), tmp_path / "lap.pt"
    transform = AddLaplacianPE(3)
    precompute(graphs, transform, path, progress=False)
    if change == "edges":
        ei = graphs[1].edge_index
        u, v = ei[:, 0].tolist()
        keep = ~(((ei[0] == u) & (ei[1] == v)) | ((ei[0] == v) & (ei[1] == u)))
        graphs[1].edge_index = ei[:, keep]  # one undirected edge fewer
    elif change == "edge_weight":
        graphs[4].edge_weight = torch.ones(graphs[4].num_edges)
    elif change == "num_graphs":
        graphs = graphs[:4]
    else:
        transform = AddLaplacianPE(3, normalization=None)
    out = precompute(graphs, transform, path, progress=False)
    assert len(calls) == 5 + len(graphs)
    assert_same_pe(out, [transform(g) for g in graphs])
    precompute(graphs, transform, path, progress=False)  # and the new result is cached
    assert len(calls) == 2 * len(graphs) + 5


def corrupt_garbage(path):
    path.write_bytes(b"\x00not a torch file")


def corrupt_truncated(path):
    path.write_bytes(path.read_bytes()[:100])


def corrupt_foreign(path):
    torch.save({"something": torch.ones(2)}, path)


def corrupt_unsafe_pickle(path):
    torch.save(AddLaplacianPE(3), path)  # an arbitrary object: refused by weights_only=True


@pytest.mark.parametrize("corrupt", [corrupt_garbage, corrupt_truncated, corrupt_foreign, corrupt_unsafe_pickle])
def test_unreadable_cache_is_recomputed_with_a_warning(tmp_path, calls, corrupt):
    graphs, path = make_graphs(), tmp_path / "lap.pt"
    reference = precompute(graphs, AddLaplacianPE(3), path, progress=False)
    corrupt(path)
    with pytest.warns(UserWarning, match="cannot be used.*recomputing"):
        out = precompute(graphs, AddLaplacianPE(3), path, progress=False)
    assert len(calls) == 10
    assert_same_pe(out, reference)
    precompute(graphs, AddLaplacianPE(3), path, progress=False)  # repaired
    assert len(calls) == 10


def test_composed_transforms_and_scalar_attributes(tmp_path):
    class CountEdges(BaseTransform):
        def forward(self, data):
            data.n_edges = torch.tensor(data.num_edges)  # a 0-dim tensor
            return data

    transform = Compose([AddLaplacianPE(2), AddRandomWalkSE(3), CountEdges()])
    graphs, path = make_graphs(), tmp_path / "pe.pt"
    first = precompute(graphs, transform, path, progress=False)
    second = precompute(graphs, transform, path, progress=False)
    assert_same_pe(first, second, names=("lap_eigvec", "lap_mask", "rwse", "n_edges"))
    assert second[3].n_edges.dim() == 0 and int(second[3].n_edges) == graphs[3].num_edges


def test_bad_transforms_and_paths(tmp_path):
    class NonTensor(BaseTransform):
        def forward(self, data):
            data.name = "a string"
            return data

    class Dropping(BaseTransform):
        def forward(self, data):
            del data.x
            return data

    graphs = make_graphs(2)
    with pytest.raises(ValueError, match="'name'.*only tensor"):
        precompute(graphs, NonTensor(), tmp_path / "a.pt", progress=False)
    with pytest.raises(ValueError, match=r"removed \['x'\]"):
        precompute(graphs, Dropping(), tmp_path / "b.pt", progress=False)
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(ValueError, match="is a folder"):
        precompute(graphs, AddLaplacianPE(2), tmp_path, progress=False)
    with pytest.warns(UserWarning, match="memory address"):
        precompute(graphs, lambda d: d, tmp_path / "c.pt", progress=False)


def test_structure_hash_sees_structure_only():
    graphs = make_graphs(3)
    h = structure_hash(graphs)
    graphs[0].x = torch.zeros_like(graphs[0].x)
    assert structure_hash(graphs) == h
    graphs[0].num_nodes = graphs[0].num_nodes + 1
    assert structure_hash(graphs) != h
    assert structure_hash(graphs, key_attrs=("edge_index", "x")) != structure_hash(graphs)


class TinyDataset(InMemoryDataset):
    """Four small graphs made in process(): no download, no raw files."""

    def __init__(self, root, pre_transform=None):
        super().__init__(str(root), pre_transform=pre_transform)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self):
        return []

    @property
    def processed_file_names(self):
        return ["data.pt"]

    def download(self):  # pragma: no cover - nothing to download
        pass

    def process(self):
        graphs = make_graphs(4, seed=1)
        if self.pre_transform is not None:
            graphs = [self.pre_transform(g) for g in graphs]
        self.save(graphs, self.processed_paths[0])


def test_works_as_pre_transform_of_an_in_memory_dataset(tmp_path, calls):
    ds = TinyDataset(tmp_path, pre_transform=AddLaplacianPE(3))
    assert len(calls) == 4
    reloaded = TinyDataset(tmp_path, pre_transform=AddLaplacianPE(3))
    assert len(calls) == 4  # loaded from PyG's processed folder
    expected = [AddLaplacianPE(3)(g) for g in make_graphs(4, seed=1)]
    assert_same_pe(list(reloaded), expected)
    assert_same_pe(list(ds), expected)
    # the informative repr lets PyG notice a different pre_transform
    with pytest.warns(UserWarning, match="pre_transform"):
        TinyDataset(tmp_path, pre_transform=AddLaplacianPE(4))
