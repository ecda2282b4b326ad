"""Where harx keeps its files: everything lives under $HARX_HOME (default ~/.cache/harx)."""

import os
from pathlib import Path


def harx_home() -> Path:
    """The root of harx's cache: datasets, the default candidate store and model artifacts."""
    return Path(os.environ.get("HARX_HOME") or Path.home() / ".cache" / "harx").expanduser()


def datasets_dir() -> Path:
    return harx_home() / "datasets"


def default_store_path() -> Path:
    return harx_home() / "store.sqlite"


def artifacts_dir() -> Path:
    return harx_home() / "artifacts"
