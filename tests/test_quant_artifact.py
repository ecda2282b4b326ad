import json

import numpy as np
import pytest

from harx.errors import DataError
from harx.quant import artifact
from harx.quant.export import export_net, input_codes
from tests.helpers import random_quant_net


@pytest.fixture(scope="module")
def art():
    net, x = random_quant_net("c8k3p2w8a4-c16k5s2w4a2-flatw4", 40, seed=7)
    model = export_net(net, 9, 40)
    a = artifact.Artifact(
        model,
        "c8k3p2w8a4-c16k5s2w4a2-flatw4",
        "toy",
        "fp",
        [0.0] * 9,
        [1.0] * 9,
        [f"class{i}" for i in range(6)],
        {"test_acc": 0.5},
        {"epochs_qat": 1},
    )
    return a, input_codes(net, x)


def test_round_trip_runs_identically(art, tmp_path):
    a, codes = art
    path = artifact.save(a, tmp_path / "model")
    b = artifact.load(path)
    assert b.genome == a.genome and b.metrics == a.metrics and b.class_names == a.class_names
    assert set(b.model.exits) == set(a.model.exits)
    np.testing.assert_array_equal(b.model.run(codes), a.model.run(codes))
    be, ae = b.model.run(codes, return_exits=True)[1], a.model.run(codes, return_exits=True)[1]
    for k in ae:
        np.testing.assert_array_equal(be[k], ae[k])


def test_save_replaces_atomically(art, tmp_path):
    a, _ = art
    artifact.save(a, tmp_path / "model")
    artifact.save(a, tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_newer_format_is_refused(art, tmp_path):
    a, _ = art
    path = artifact.save(a, tmp_path / "model")
    meta = json.loads((path / "model.json").read_text())
    meta["format_version"] = artifact.FORMAT_VERSION + 1
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"model\.json: format_version 2 is not supported"):
        artifact.load(path)


def test_missing_and_corrupt_artifacts(tmp_path):
    with pytest.raises(DataError, match="no such artifact"):
        artifact.load(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        artifact.load(tmp_path / "bad")
