"""Fixtures of the command-line tests."""

import pytest


@pytest.fixture
def small_freesolv(tmp_path):
    """100 real FreeSolv rows (from the embedded copy) so the run takes seconds."""
    pytest.importorskip("rdkit")
    from graphformers.datasets.embedded import freesolv_path, load_freesolv

    try:
        freesolv_path()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    smiles, values = load_freesolv()
    path = tmp_path / "freesolv_small.csv"
    path.write_text("smiles,expt\n" + "".join(f"{s},{v}\n" for s, v in list(zip(smiles, values))[:100]))
    return path
