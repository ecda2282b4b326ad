"""The download path against a local HTTP server on 127.0.0.1: mirror URLs, the official URL, bad transfers."""

import dataclasses
import hashlib
import http.server
import socket
import threading

import pytest

from harx.data import fetch, load_dataset, registry
from harx.data.archive import download
from harx.errors import DataError
from tests.fixtures.har_archives import write_uci_har_zip, write_wisdm_tar


class _Server(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `files` by name under any folder but /empty/; under /truncated/ it announces the full length
    but sends half and hangs up."""

    def _respond(self, body: bool):
        name = self.path.rsplit("/", 1)[-1]
        data = None if self.path.startswith("/empty/") else self.server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data[: len(data) // 2] if self.path.startswith("/truncated/") else data)
            self.wfile.flush()
            self.close_connection = True

    def do_GET(self):
        self._respond(body=True)

    def do_HEAD(self):
        self._respond(body=False)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    har = folder / "uci-har.zip"
    write_uci_har_zip(har)
    wisdm = folder / "WISDM_ar_latest.tar.gz"
    write_wisdm_tar(wisdm)
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.files = {"uci-har.zip": har.read_bytes(), "WISDM_ar_latest.tar.gz": wisdm.read_bytes()}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.files
    httpd.shutdown()
    httpd.server_close()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_download_streams_the_whole_file(tmp_path, server):
    base, files = server
    dest = tmp_path / "got.zip"
    assert download(f"{base}/files/uci-har.zip", dest, progress=True) == len(files["uci-har.zip"])
    assert dest.read_bytes() == files["uci-har.zip"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/truncated/uci-har.zip",
            "truncated download from {url}: got \\d+ bytes, the server announced \\d+",
        ),
        ("/files/missing.zip", "cannot download {url}: HTTP 404"),
    ],
)
def test_download_failures_name_the_url(tmp_path, server, path, message):
    base, _ = server
    url = base + path
    with pytest.raises(DataError, match=message.format(url=url.replace(".", r"\."))):
        download(url, tmp_path / "x")


def _closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_from_a_closed_port_is_a_data_error(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/uci-har.zip"
    with pytest.raises(DataError, match=f"cannot download {url}: "):
        download(url, tmp_path / "x")


def test_fetch_through_a_url_mirror(tmp_path, server, monkeypatch):
    base, files = server
    home = tmp_path / "home"
    monkeypatch.setenv("HARX_DATA_MIRROR", f"{base}/files")
    result = fetch("uci-har", home=home, sha256=_sha(files["uci-har.zip"]))
    assert result.source_kind == "mirror" and result.source == f"{base}/files/uci-har.zip"
    assert load_dataset("uci-har", home=home).source_sha256 == _sha(files["uci-har.zip"])
    assert sorted(p.name for p in (home / "datasets").iterdir()) == ["uci-har"]


def test_mirror_download_with_an_unknown_checksum_caches_nothing(tmp_path, server, monkeypatch):
    base, _ = server
    home = tmp_path / "home"
    monkeypatch.setenv("HARX_DATA_MIRROR", f"{base}/files/")
    with pytest.raises(
        DataError, match=rf"{base}/files/uci-har\.zip: wrong checksum: sha256 is [0-9a-f]{{64}}"
    ):
        fetch("uci-har", home=home)
    assert list((home / "datasets").iterdir()) == []


def test_truncated_mirror_download_caches_nothing(tmp_path, server, monkeypatch):
    base, files = server
    home = tmp_path / "home"
    monkeypatch.setenv("HARX_DATA_MIRROR", f"{base}/truncated")
    with pytest.raises(DataError, match=r"truncated download from .*/truncated/uci-har\.zip"):
        fetch("uci-har", home=home, sha256=_sha(files["uci-har.zip"]))
    assert list((home / "datasets").iterdir()) == []


def test_official_url_of_a_dataset_without_known_checksum_warns_and_records_it(tmp_path, server, monkeypatch):
    base, files = server
    spec = registry.get_spec("wisdm")
    local = dataclasses.replace(
        spec, archive=dataclasses.replace(spec.archive, url=f"{base}/official/WISDM_ar_latest.tar.gz")
    )
    monkeypatch.setitem(registry._load(), "wisdm", local)
    # A mirror that lacks the archive (HTTP 404) is passed over for the official URL.
    monkeypatch.setenv("HARX_DATA_MIRROR", f"{base}/empty")
    home = tmp_path / "home"
    result = fetch("wisdm", home=home)
    assert result.source_kind == "official" and result.source == local.archive.url
    assert result.verified is False and "NO CHECKSUM IS KNOWN for wisdm" in result.warnings[0]
    assert load_dataset("wisdm", home=home).source_sha256 == _sha(files["WISDM_ar_latest.tar.gz"])


def test_unreachable_url_mirror_is_an_error_not_skipped(tmp_path, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("HARX_DATA_MIRROR", f"http://127.0.0.1:{port}/mirror")
    with pytest.raises(DataError, match=rf"mirror http://127\.0\.0\.1:{port}/mirror/"):
        fetch("uci-har", home=tmp_path)
    assert list((tmp_path / "datasets").iterdir()) == []
