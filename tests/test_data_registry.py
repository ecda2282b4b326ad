"""The dataset registry: consistent entries, pinned checksums with provenance, variants."""

import re

import pytest

from harx.data.archive import find_in_mirror
from harx.data.registry import dataset_specs, get_spec
from harx.errors import ConfigError


@pytest.mark.parametrize("spec", dataset_specs(), ids=lambda s: s.name)
def test_every_entry_is_consistent(spec):
    assert spec.archive.url.startswith("https://")
    assert len(spec.channel_units) == spec.n_channels
    if spec.class_names is not None:
        assert len(spec.class_names) == spec.n_classes
    assert set(spec.test_subjects) < set(range(1, spec.n_subjects + 1))
    assert spec.license and spec.citation and spec.citation_short
    for known in spec.archive.known:
        assert re.fullmatch(r"[0-9a-f]{64}", known.sha256) and known.provenance


def test_official_checksums_and_rebuild_mirrors_are_told_apart():
    har = get_spec("uci-har").archive
    official = {k.sha256[:16] for k in har.known if k.official}
    assert official == {"c00b803081a5c797", "2045e435c955214b"}
    rebuild = har.match("46cb18fec660a0745c01ce88d670ecf50b292c324cda05c544d3dbe211d47067")
    assert rebuild is not None and not rebuild.official and "not the official bytes" in rebuild.provenance
    hapt = get_spec("uci-hapt").archive
    assert {k.official for k in hapt.known} == {True, False}
    assert get_spec("wisdm").archive.known == () and get_spec("unimib-shar").archive.known == ()


def test_variants_resolve_by_option():
    assert get_spec("uci-hapt", classes=6).name == "uci-hapt-6"
    assert get_spec("uci-hapt", classes=12).name == "uci-hapt"
    assert get_spec("uci-hapt-6", classes=6).name == "uci-hapt-6"
    assert get_spec("unimib-shar", subset="adl").name == "unimib-shar-adl"
    assert get_spec("unimib-shar-fall").class_names[0] == "FallingForw"
    assert get_spec("uci-hapt-6").fetch_command == "uci-hapt --classes 6"
    with pytest.raises(ConfigError, match="conflicts with the options given"):
        get_spec("uci-hapt-6", classes=12)
    with pytest.raises(ConfigError, match="--subset does not apply to dataset 'uci-har'"):
        get_spec("uci-har", subset="adl")


def test_mirror_folder_is_searched_official_name_first(tmp_path):
    archive = get_spec("uci-har").archive
    assert find_in_mirror(archive, str(tmp_path)) is None
    (tmp_path / "uci-har.zip").write_bytes(b"x")
    assert find_in_mirror(archive, str(tmp_path)).location == str(tmp_path / "uci-har.zip")
    official = archive.mirror_names[0]
    assert official == "human+activity+recognition+using+smartphones.zip"
    (tmp_path / official).write_bytes(b"x")
    assert find_in_mirror(archive, str(tmp_path)).location == str(tmp_path / official)
    assert find_in_mirror(archive, "") is None
