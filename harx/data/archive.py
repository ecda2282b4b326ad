"""Getting an archive onto disk (download, mirror, local file), checking its sha256, and reading its members.

Every failure is a DataError naming the archive (file or URL) and what is wrong with it.
"""

from __future__ import annotations

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
from harx.errors import ConfigError, DataError

MIRROR_ENV = "HARX_DATA_MIRROR"
MAX_UNPACKED_ENV = "HARX_MAX_UNPACKED_MIB"
# The most one archive member or one .npz array may unpack to. The largest real ones harx reads: the inner
# `UCI HAR Dataset.zip` of the official UCI-HAR download (61.0 MB), the uci-har cache's X array (48.0 MB),
# the official WISDM raw text (about 49 MB); the workplace mirror uci-har.zip's largest member is 15.2 MB.
DEFAULT_MAX_UNPACKED_BYTES = 256 << 20
LIMIT_HINT = f"raise it with --max-unpacked-mib N or ${MAX_UNPACKED_ENV}"
# Members compressed otherwise are refused: zipfile inflates bzip2 and lzma data without an output bound
# before it cuts the result to the size the header claims (a 285-byte zip whose bzip2 member claims 1 kB
# took 458 MB here).
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_CHUNK_BYTES = 1 << 20
_TIMEOUT_S = 60.0


def unpacked_limit(max_unpacked_bytes: int | None = None) -> int:
    """The limit on one archive member's or one .npz array's unpacked size, in bytes: `max_unpacked_bytes`
    when given, else $HARX_MAX_UNPACKED_MIB (whole MiB), else DEFAULT_MAX_UNPACKED_BYTES."""
    if max_unpacked_bytes is not None:
        if not isinstance(max_unpacked_bytes, int) or max_unpacked_bytes < 1:
            raise ConfigError(f"max_unpacked_bytes {max_unpacked_bytes!r}: expected a positive byte count")
        return max_unpacked_bytes
    text = os.environ.get(MAX_UNPACKED_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_UNPACKED_BYTES
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ConfigError(f"${MAX_UNPACKED_ENV} {text!r}: expected a positive whole number of MiB")
    return int(text) << 20


def size_text(n_bytes: int) -> str:
    """A byte count for a message: '812 bytes', '256 MiB', '4.3 GiB'."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = 0
    while power < len(units) - 1 and n_bytes >= 1024 ** (power + 1):
        power += 1
    if power == 0:
        return f"{n_bytes} bytes"
    value = n_bytes / 1024**power
    return f"{value:.0f} {units[power]}" if value.is_integer() else f"{value:.1f} {units[power]}"


def over_limit(what: str, n_bytes: int, limit_bytes: int) -> DataError:
    return DataError(
        f"{what} unpacks to {size_text(n_bytes)}, over the {size_text(limit_bytes)} limit ({LIMIT_HINT})"
    )


def read_capped(handle, limit_bytes: int, what: str) -> bytes:
    """All of `handle` (a binary file object), read in chunks, stopping with a DataError naming `what` as soon
    as more than `limit_bytes` came out: the size a header claims is checked before, but may be a lie."""
    chunks, total = [], 0
    while chunk := handle.read(min(_CHUNK_BYTES, limit_bytes + 1 - total)):
        total += len(chunk)
        if total > limit_bytes:
            raise DataError(f"{what} unpacks to more than the {size_text(limit_bytes)} limit ({LIMIT_HINT})")
        chunks.append(chunk)
    return b"".join(chunks)


def check_zip_method(info: zipfile.ZipInfo, what: str) -> None:
    if info.compress_type not in _ZIP_METHODS:
        method = zipfile.compressor_names.get(info.compress_type, f"method {info.compress_type}")
        raise DataError(f"{what} is compressed with {method}; harx reads stored or deflated zip members only")


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

    No member unpacks to more than `limit_bytes` (see `unpacked_limit`): the size its header claims (the zip
    central directory, the tar header) is checked before a byte is inflated, and reading stops as soon as more
    comes out. A tar member over the limit is refused while the archive is listed, since listing a compressed
    tar inflates every member on the way.
    """

    def __init__(self, label: str, sizes: dict[str, int], opener, limit_bytes: int):
        self.label = label
        self.limit_bytes = limit_bytes
        self._sizes = sizes  # member name -> the unpacked size its header claims
        self._opener = opener  # member name -> a binary file object

    @classmethod
    def open(cls, path: Path, marker: str, *, max_unpacked_bytes: int | None = None) -> Archive:
        limit = unpacked_limit(max_unpacked_bytes)
        outer = cls._open_file(path, limit)
        if outer.find(marker, required=False) is not None:
            return outer
        for inner_name in (n for n in outer.names() if n.lower().endswith(".zip")):
            inner = cls._open_zip_bytes(f"{outer.label}!{inner_name}", outer.read(inner_name), limit)
            if inner.find(marker, required=False) is not None:
                return inner
        raise DataError(f"{outer.label}: missing member '{marker}' (not the expected archive layout)")

    @classmethod
    def _open_file(cls, path: Path, limit: int) -> Archive:
        label = str(path)
        if zipfile.is_zipfile(path):
            try:
                zf = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(f"{label}: corrupt zip archive ({reason(exc)})") from exc
            return cls._from_zip(label, zf, limit)
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":
                raise DataError(
                    f"{label}: truncated or corrupt zip archive (no central directory at its end)"
                )
        try:
            tf = tarfile.open(path, "r:*")  # noqa: SIM115 -- stays open while the Archive reads members
            members = {}
            for member in tf:
                if member.isfile():
                    if member.size > limit:
                        raise over_limit(f"{label}: member '{member.name}'", member.size, limit)
                    members[member.name] = member
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{label}: not a readable zip or tar archive ({reason(exc)})") from exc
        return cls(
            label, {n: m.size for n, m in members.items()}, lambda n: tf.extractfile(members[n]), limit
        )

    @classmethod
    def _open_zip_bytes(cls, label: str, data: bytes, limit: int) -> Archive:
        try:
            return cls._from_zip(label, zipfile.ZipFile(io.BytesIO(data)), limit)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{label}: corrupt zip archive ({reason(exc)})") from exc

    @classmethod
    def _from_zip(cls, label: str, zf: zipfile.ZipFile, limit: int) -> Archive:
        infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}

        def opener(name: str):
            check_zip_method(infos[name], f"{label}: member '{name}'")
            return zf.open(infos[name])

        return cls(label, {n: i.file_size for n, i in infos.items()}, opener, limit)

    def names(self) -> list[str]:
        return list(self._sizes)

    def find(self, suffix: str, *, required: bool = True) -> str | None:
        """The one member named `suffix` or ending in '/' + `suffix`; DataError when missing or ambiguous."""
        hits = [n for n in self._sizes if n == suffix or n.endswith("/" + suffix)]
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
        """The member's bytes; DataError when missing, corrupt, or unpacking to more than the limit."""
        if name not in self._sizes:
            raise DataError(f"{self.label}: missing member '{name}'")
        what = f"{self.label}: member '{name}'"
        if self._sizes[name] > self.limit_bytes:
            raise over_limit(what, self._sizes[name], self.limit_bytes)
        try:
            with self._opener(name) as handle:
                return read_capped(handle, self.limit_bytes, what)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, tarfile.TarError) as exc:
            raise DataError(
                f"{what} is corrupt ({reason(exc)})"
            ) from exc  # RuntimeError: an encrypted member
