"""Where harx keeps its files: everything lives under $HARX_HOME (default ~/.cache/harx)."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harx.errors import HarxError


def harx_home() -> Path:
    """The root of harx's cache: datasets, the default candidate store and model artifacts."""
    return Path(os.environ.get("HARX_HOME") or Path.home() / ".cache" / "harx").expanduser()


def default_store_path() -> Path:
    return harx_home() / "store.sqlite"


def artifacts_dir() -> Path:
    return harx_home() / "artifacts"


@contextmanager
def staged_dir(dest: Path) -> Iterator[Path]:
    """A temporary sibling of ``dest`` to fill. When the block ends it takes ``dest``'s place (an older
    ``dest`` is moved aside first and then removed), so a reader never sees a half-written directory; when
    the block raises, it is removed and ``dest`` is left as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
            os.replace(dest, old / dest.name)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder: no partial file on failure."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HarxError(f"{p}: cannot write the file ({exc.strerror})") from None
    return p
