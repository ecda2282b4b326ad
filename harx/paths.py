"""Where harx keeps its files: everything lives under $HARX_HOME (default ~/.cache/harx)."""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harx.errors import ConfigError, HarxError


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
    """Write ``data`` to ``path`` through a temporary file in the same folder (created if need be): no
    partial file on failure."""
    p = check_output(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise HarxError(f"{p}: cannot write the file ({exc.strerror})") from None
    return p


def check_output(path: str | os.PathLike[str], *, kind: str = "file", flag: str | None = None) -> Path:
    """``path`` if harx can create it as a ``kind`` ('file' or 'dir'); call it before any work is done.
    Refused (ConfigError, exit 4, naming ``flag`` such as '--out' and the path): an existing directory where
    a file is wanted, an existing non-directory where a directory is, a path below a regular file, and a
    path whose nearest existing folder is not writable (a file or a directory is written through a
    temporary sibling, so that folder must take new entries)."""
    p = Path(path)
    where = f"{flag} {p}" if flag else str(p)
    if kind == "file" and (p.name in ("", "..") or p.is_dir()):
        raise ConfigError(f"{where}: is a directory; give the path of a file to write")
    if kind == "dir" and (p.exists() or p.is_symlink()) and not p.is_dir():
        raise ConfigError(f"{where}: exists and is not a directory")
    folder = p.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{where}: {folder} is a regular file, not a directory")
    if not os.access(folder, os.W_OK | os.X_OK) or os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise ConfigError(f"{where}: cannot write in {folder} (permission denied or a read-only file system)")
    return p


# ---- directories harx generates: a manifest of its files, so that a rewrite never loses the user's --------


def sha256_file(path: Path) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_manifest(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root`` by its relative POSIX path: what a generated directory
    records of itself."""
    return {rel: sha256_file(root / rel) for rel in _entries(root) if _is_file(root / rel)}


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _entries(root: Path, outputs: tuple[str, ...] = ()) -> list[str]:
    """Relative POSIX paths of every file, symlink and empty folder under ``root``, sorted; the top-level
    names in ``outputs`` are left out."""
    found = []
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root)
        if rel_folder == Path("."):
            dirs[:] = [d for d in dirs if d not in outputs]
            files = [f for f in files if f not in outputs]
        links = [d for d in dirs if (Path(folder) / d).is_symlink()]
        dirs[:] = [d for d in dirs if d not in links]
        for name in (*files, *links):
            found.append((rel_folder / name).as_posix())
        if not dirs and not files and not links and rel_folder != Path("."):
            found.append(rel_folder.as_posix())
    return sorted(found)


@dataclass(frozen=True)
class Existing:
    """What a directory harx is about to rewrite holds besides its own unchanged files: files the user
    added (``unknown``) and generated files edited since (``edited``), relative POSIX paths."""

    unknown: tuple[str, ...] = ()
    edited: tuple[str, ...] = ()


def check_generated_dir(
    out: str | os.PathLike[str],
    meta_file: str,
    what: str,
    *,
    force: bool = False,
    outputs: tuple[str, ...] = (),
    flag: str = "--out",
) -> Existing:
    """Whether harx may rewrite ``out`` (``what`` it generates, e.g. 'a project', recorded by ``meta_file``
    whose "files" maps each generated file to its sha256): yes when it does not exist or is empty; when it
    holds ``meta_file``, only if every other entry is a generated file unchanged since, or with ``force``.
    ``outputs`` are top-level names of build outputs, never the user's (a rewrite removes them). Refused
    with a one-line ConfigError naming the first file that would be lost; returns what ``force`` keeps."""
    out = check_output(out, kind="dir", flag=flag)
    if not out.exists():
        return Existing()
    meta_path = out / meta_file
    if not meta_path.is_file():
        entries = _entries(out)
        if entries:
            raise ConfigError(
                f"{flag} {out}: exists and is not {what} harx generated ({entries[0]} is in it, {meta_file} "
                "is not); choose another directory"
            )
        return Existing()
    try:
        manifest = json.loads(meta_path.read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        manifest = None
    if not isinstance(manifest, dict):
        if not force:
            raise ConfigError(
                f"{meta_path}: lists no generated files (written by an older harx), so harx cannot tell its "
                "files from yours; give --force to overwrite harx's files and keep the rest"
            )
        manifest = {}
    unknown, edited = [], []
    for rel in _entries(out, outputs):
        if rel == meta_file:
            continue
        if rel not in manifest:
            if not any(str(name).startswith(f"{rel}/") for name in manifest):  # a generated folder emptied
                unknown.append(rel)
        elif not _is_file(out / rel) or sha256_file(out / rel) != manifest[rel]:
            edited.append(rel)
    found = Existing(tuple(unknown), tuple(edited))
    if force or not (unknown or edited):
        return found
    first = min((*unknown, *edited))
    more = len(unknown) + len(edited) - 1
    others = f" (and {more} more)" if more else ""
    if first in edited:
        problem = f"{first} was generated by harx and edited since{others}"
    else:
        problem = f"{first} is not a file harx generated{others}"
    raise ConfigError(
        f"{flag} {out}: {problem}; move it away, or give --force to overwrite harx's files and keep the rest"
    )


@contextmanager
def regenerated_dir(
    out: str | os.PathLike[str],
    meta_file: str,
    what: str,
    *,
    force: bool = False,
    outputs: tuple[str, ...] = (),
    flag: str = "--out",
) -> Iterator[Path]:
    """A temporary directory to fill with the new contents of ``out`` (``meta_file`` last, with the
    ``file_manifest`` of the rest), swapped in as ``staged_dir`` does once the block ends. ``out`` is checked
    first (``check_generated_dir``); with ``force``, the user's files and edited generated files that the
    block did not write again are carried over (copied, so a failure loses nothing); build ``outputs`` and
    generated files no longer written are removed."""
    found = check_generated_dir(out, meta_file, what, force=force, outputs=outputs, flag=flag)
    out = Path(os.path.abspath(out))
    with staged_dir(out) as tmp:
        yield tmp
        for rel in (*found.unknown, *found.edited):
            _carry(out / rel, tmp, rel)


def _carry(src: Path, tmp: Path, rel: str) -> None:
    """Copy ``src`` to ``tmp/rel`` unless the new contents have something at that path or above it."""
    dest = tmp / rel
    if any(p.exists() and not p.is_dir() for p in dest.parents) or dest.exists() or dest.is_symlink():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
    elif src.is_dir():
        dest.mkdir()
    else:
        shutil.copy2(src, dest)
