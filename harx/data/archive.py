"""Getting an archive onto disk (download, mirror, local file), checking its sha256, and reading its members.

Every failure is a DataError naming the archive (file or URL) and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx import __version__
from harx.data.registry import ArchiveSpec
from harx.errors import DataError

MIRROR_ENV = "HARX_DATA_MIRROR"
_CHUNK_BYTES = 1 << 20
_TIMEOUT_S = 60.0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, *, progress: bool = False) -> int:
    """Stream `url` into `dest`, returning the byte count; a short or failed transfer is a DataError."""
    request = urllib.request.Request(url, headers={"User-Agent": f"harx/{__version__}"})
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _progress_bar(url, total) if progress else None
            try:
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar[0].update(bar[1], completed=received)
            finally:
                if bar is not None:
                    bar[0].stop()
    except urllib.error.HTTPError as exc:
        raise DataError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except http.client.IncompleteRead as exc:
        raise DataError(
            f"truncated download from {url}: the connection closed after {received} bytes"
        ) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"cannot download {url}: {reason}") from exc
    if total is not None and received != total:
        raise DataError(f"truncated download from {url}: got {received} bytes, the server announced {total}")
    return received


def _progress_bar(url: str, total: int | None):
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(
        TextColumn("[bold]downloading[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(Path(urllib.parse.urlparse(url).path).name or url, total=total)
    bar.start()
    return bar, task


@dataclass(frozen=True)
class MirrorHit:
    """An archive found through HARX_DATA_MIRROR: a local path, or a URL to download."""

    location: str
    is_url: bool


def find_in_mirror(archive: ArchiveSpec, mirror: str | None = None) -> MirrorHit | None:
    """Look for the archive under the mirror (a directory or a URL prefix), official file name first.

    A URL mirror is probed with HEAD requests; a name it does not hold (HTTP 404) is skipped.
    """
    mirror = os.environ.get(MIRROR_ENV, "") if mirror is None else mirror
    if not mirror:
        return None
    if urllib.parse.urlparse(mirror).scheme in ("http", "https", "file"):
        prefix = mirror if mirror.endswith("/") else mirror + "/"
        for name in archive.mirror_names:
            url = prefix + urllib.parse.quote(name)
            if _url_exists(url):
                return MirrorHit(url, is_url=True)
        return None
    folder = Path(mirror).expanduser()
    for name in archive.mirror_names:
        if (folder / name).is_file():
            return MirrorHit(str(folder / name), is_url=False)
    return None


def _url_exists(url: str) -> bool:
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": f"harx/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S):
            return True
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            return False
        raise DataError(f"mirror {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"mirror {url}: {getattr(exc, 'reason', None) or exc}") from exc


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (some, like tarfile's, span several)."""
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(":") if text else type(exc).__name__


class Archive:
    """Read-only access to the members of a zip or tar archive, by exact name or by path suffix.

    When the archive wraps the dataset in an inner zip (the UCI static downloads of UCI-HAR do), `open`
    with a `marker` member descends into the inner zip that holds it.
    """

    def __init__(self, label: str, names: list[str], reader):
        self.label = label
        self._names = names
        self._reader = reader

    @classmethod
    def open(cls, path: Path, marker: str) -> Archive:
        outer = cls._open_file(path)
        if outer.find(marker, required=False) is not None:
            return outer
        for inner_name in (n for n in outer.names() if n.lower().endswith(".zip")):
            inner = cls._open_zip_bytes(f"{outer.label}!{inner_name}", outer.read(inner_name))
            if inner.find(marker, required=False) is not None:
                return inner
        raise DataError(f"{outer.label}: missing member '{marker}' (not the expected archive layout)")

    @classmethod
    def _open_file(cls, path: Path) -> Archive:
        label = str(path)
        if zipfile.is_zipfile(path):
            try:
                zf = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(f"{label}: corrupt zip archive ({reason(exc)})") from exc
            return cls._from_zip(label, zf)
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":
                raise DataError(
                    f"{label}: truncated or corrupt zip archive (no central directory at its end)"
                )
        try:
            tf = tarfile.open(path, "r:*")  # noqa: SIM115 -- stays open while the Archive reads members
            members = {m.name: m for m in tf.getmembers() if m.isfile()}
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{label}: not a readable zip or tar archive ({reason(exc)})") from exc

        def read_tar(name: str) -> bytes:
            handle = tf.extractfile(members[name])
            if handle is None:
                raise DataError(f"{label}: member '{name}' is not a regular file")
            return handle.read()

        return cls(label, list(members), read_tar)

    @classmethod
    def _open_zip_bytes(cls, label: str, data: bytes) -> Archive:
        try:
            return cls._from_zip(label, zipfile.ZipFile(io.BytesIO(data)))
        except zipfile.BadZipFile as exc:
            raise DataError(f"{label}: corrupt zip archive ({reason(exc)})") from exc

    @classmethod
    def _from_zip(cls, label: str, zf: zipfile.ZipFile) -> Archive:
        return cls(label, [i.filename for i in zf.infolist() if not i.is_dir()], zf.read)

    def names(self) -> list[str]:
        return list(self._names)

    def find(self, suffix: str, *, required: bool = True) -> str | None:
        """The one member named `suffix` or ending in '/' + `suffix`; DataError when missing or ambiguous."""
        hits = [n for n in self._names if n == suffix or n.endswith("/" + suffix)]
        if len(hits) > 1:
            raise DataError(f"{self.label}: member '{suffix}' is ambiguous ({', '.join(sorted(hits)[:3])})")
        if not hits:
            if required:
                raise DataError(f"{self.label}: missing member '{suffix}'")
            return None
        return hits[0]

    def read_table(self, name: str, dtype: type, n_cols: int | None = None) -> np.ndarray:
        """A whitespace-separated numeric text member as a 2-D array; DataError naming it if malformed."""
        try:
            table = np.loadtxt(io.BytesIO(self.read(name)), dtype=dtype, ndmin=2)
        except ValueError as exc:
            reason = str(exc).splitlines()[0]
            raise DataError(f"{self.label}: member '{name}' is not a numeric table ({reason})") from exc
        if n_cols is not None and table.size and table.shape[1] != n_cols:
            raise DataError(f"{self.label}: member '{name}' has {table.shape[1]} columns, expected {n_cols}")
        return table

    def read(self, name: str) -> bytes:
        if name not in self._names:
            raise DataError(f"{self.label}: missing member '{name}'")
        try:
            return self._reader(name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, tarfile.TarError) as exc:
            raise DataError(f"{self.label}: member '{name}' is corrupt ({reason(exc)})") from exc
