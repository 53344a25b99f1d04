"""KGTriples: reading TSV/gz, bad input naming file and line, PyG conversion, named benchmarks."""

from __future__ import annotations

import gzip
import warnings

import pytest
import torch

from graphformers.kg.tiny import TINY_TEST, TINY_TRAIN, TINY_VALID, tiny_kg
from graphformers.kg.triples import KGTriples, TriplesFormatError, UnseenEntityWarning, read_id_triples


def _write(folder, name, rows, gz=False):
    text = "".join("\t".join(r) + "\n" for r in rows)
    path = folder / (name + (".txt.gz" if gz else ".txt"))
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_tiny_kg_ids_and_stats():
    kg = tiny_kg()
    assert kg.statistics() == {"entities": 11, "relations": 4, "train": 16, "valid": 4, "test": 4}
    # ids round-trip to the literal names
    for split, rows in (("train", TINY_TRAIN), ("valid", TINY_VALID), ("test", TINY_TEST)):
        back = [(kg.entities[h], kg.relations[r], kg.entities[t]) for h, r, t in kg.split(split).tolist()]
        assert back == list(rows)
    assert kg.entity_id("alice") == 0 and kg.relation_id("parent_of") == 0
    assert "KGTriples('tiny', entities=11" in repr(kg)


def test_read_dir_plain_and_gz_equal(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for split, rows in (("train", TINY_TRAIN), ("valid", TINY_VALID), ("test", TINY_TEST)):
        _write(a, split, rows)
        _write(b, split, rows, gz=True)
    ka, kb = KGTriples.from_dir(a), KGTriples.from_dir(b)
    assert ka.entities == kb.entities == tiny_kg().entities
    assert torch.equal(ka.test, kb.test)


def test_wrong_field_count_names_file_and_line(tmp_path):
    _write(tmp_path, "train", [("a", "r", "b"), ("a", "r")])
    _write(tmp_path, "valid", [("a", "r", "b")])
    _write(tmp_path, "test", [("a", "r", "b")])
    with pytest.raises(TriplesFormatError, match=r"train\.txt:2: expected 3 tab-separated fields"):
        KGTriples.from_dir(tmp_path)


def _tiny_bytes(rows):
    return "".join("\t".join(r) + "\n" for r in rows).encode("utf-8")


def _tiny_folder(folder, train_bytes=None, name="train.txt"):
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(_tiny_bytes(TINY_TRAIN) if train_bytes is None else train_bytes)
    _write(folder, "valid", TINY_VALID)
    _write(folder, "test", TINY_TEST)
    return folder


def test_invalid_utf8_names_file_and_line(tmp_path):
    _tiny_folder(tmp_path, _tiny_bytes(TINY_TRAIN[:3]) + b"caf\xe9\tr\tx\n" + _tiny_bytes(TINY_TRAIN[3:]))
    with pytest.raises(TriplesFormatError, match=r"train\.txt:4: not valid UTF-8"):
        KGTriples.from_dir(tmp_path)


def test_damaged_gzip_names_the_file(tmp_path):
    good = gzip.compress(_tiny_bytes(TINY_TRAIN))
    _tiny_folder(tmp_path / "trunc", good[: len(good) // 2], name="train.txt.gz")
    with pytest.raises(TriplesFormatError, match=r"trunc/train\.txt\.gz: damaged or truncated gzip"):
        KGTriples.from_dir(tmp_path / "trunc")
    _tiny_folder(tmp_path / "plain", _tiny_bytes(TINY_TRAIN), name="train.txt.gz")  # not compressed
    with pytest.raises(TriplesFormatError, match=r"plain/train\.txt\.gz: .*not gzip at all"):
        KGTriples.from_dir(tmp_path / "plain")


def test_byte_order_mark_is_ignored(tmp_path):
    _tiny_folder(tmp_path, b"\xef\xbb\xbf" + _tiny_bytes(TINY_TRAIN))
    kg = KGTriples.from_dir(tmp_path)
    assert kg.entities == tiny_kg().entities and torch.equal(kg.train, tiny_kg().train)


def test_empty_field_is_named(tmp_path):
    _tiny_folder(tmp_path, _tiny_bytes(TINY_TRAIN) + b"alice\t \tbob\n")
    with pytest.raises(TriplesFormatError, match=r"train\.txt:17: the relation field is empty"):
        KGTriples.from_dir(tmp_path)


def test_entity_only_in_test(tmp_path):
    _write(tmp_path, "train", [("a", "r", "b"), ("b", "r", "c")])
    _write(tmp_path, "valid", [("a", "r", "c")])
    _write(tmp_path, "test", [("a", "r", "b"), ("a", "r", "zed")])
    with pytest.raises(ValueError, match=r"test\.txt:2"):
        KGTriples.from_dir(tmp_path, unseen="error")
    with pytest.warns(UnseenEntityWarning, match=r"1 test triples .*test\.txt:2.*dropped"):
        kg = KGTriples.from_dir(tmp_path, unseen="drop")
    assert kg.test.size(0) == 1 and kg.num_nodes == 3
    with pytest.warns(UnseenEntityWarning, match="kept"):
        kg = KGTriples.from_dir(tmp_path, unseen="keep")
    assert kg.test.size(0) == 2 and kg.num_nodes == 4


def test_id_out_of_range(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("0\t1\t2\n1\t5\t0\n")
    with pytest.raises(TriplesFormatError, match=r"ids\.txt:2: relation id 5 out of range \[0, 3\)"):
        read_id_triples(path, num_nodes=4, num_relations=3)
    assert read_id_triples(path, num_nodes=4, num_relations=6).tolist() == [[0, 1, 2], [1, 5, 0]]
    with pytest.raises(ValueError, match="train row 1: relation id 7 out of range"):
        KGTriples(["a", "b"], ["r"], torch.tensor([[0, 0, 1], [1, 7, 0]]), torch.zeros(0, 3, dtype=torch.long),
                  torch.zeros(0, 3, dtype=torch.long))


def test_unknown_name_close_matches():
    kg = tiny_kg()
    with pytest.raises(KeyError, match="close matches: alice"):
        kg.entity_id("alise")
    with pytest.raises(KeyError, match="lives_in"):
        kg.relation_id("lives")


def test_to_data_with_and_without_inverse():
    kg = tiny_kg()
    data = kg.to_data("train")
    assert data.num_nodes == 11 and data.edge_index.shape == (2, 16)
    assert torch.equal(data.edge_index[0], kg.train[:, 0]) and torch.equal(data.edge_type, kg.train[:, 1])
    inv = kg.to_data("train", add_inverse=True)
    assert inv.edge_index.shape == (2, 32) and inv.num_relations == 8
    assert torch.equal(inv.edge_index[:, 16:], data.edge_index.flip(0))
    assert torch.equal(inv.edge_type[16:], data.edge_type + 4)


def test_to_hetero_data():
    kg = tiny_kg()
    het = kg.to_hetero_data("train", add_inverse=True)
    assert het["entity"].num_nodes == 11
    ei = het["entity", "lives_in", "entity"].edge_index
    names = sorted((kg.entities[h], kg.entities[t]) for h, t in ei.t().tolist())
    assert names == sorted((h, t) for h, r, t in TINY_TRAIN if r == "lives_in")
    assert torch.equal(het["entity", "inv_lives_in", "entity"].edge_index, ei.flip(0))
    assert sum(het[et].edge_index.size(1) for et in het.edge_types) == 32


@pytest.mark.dataset
@pytest.mark.parametrize("name", ["fb15k-237", "wn18rr", "umls", "kinships", "nations"])
def test_named_benchmarks_match_published_counts(data_dir, name):
    from graphformers.datasets.kg import check_statistics, load_kg_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenEntityWarning)  # WN18RR / FB15k-237 have a few
        kg = load_kg_dataset(name)
    assert check_statistics(kg, name) == []


def test_download_failure_message(monkeypatch, tmp_path):
    import urllib.request

    from graphformers.datasets import kg as kgds

    def fail(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", fail)
    with pytest.raises(RuntimeError, match="set GRAPHFORMERS_DATA .* or pass --data-dir"):
        kgds.download_kg_dataset("umls", tmp_path / "umls")
    with pytest.raises(KeyError, match="known: fb15k-237"):
        kgds.dataset_spec("freebase")


def test_old_mac_line_ends_and_blank_lines_keep_line_numbers(tmp_path):
    """Lines ended by a lone carriage return (as text mode reads them) load; a blank line
    still counts, so errors name the file's line."""
    from graphformers.kg.triples import iter_triples_file

    path = tmp_path / "cr.txt"
    path.write_bytes(b"a\tr\tb\rb\tr\tc\r")
    assert list(iter_triples_file(path)) == [(1, "a", "r", "b"), (2, "b", "r", "c")]
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(b"a\tr\tb\r\n\nb\tr\r")
    with pytest.raises(TriplesFormatError, match=r"mixed.txt:3: expected 3"):
        list(iter_triples_file(mixed))
