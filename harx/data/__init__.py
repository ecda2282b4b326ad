"""Datasets: the registry of official archives, download and verification, parsers, the cache, and splits.

from harx.data import load_dataset, subject_split
ds = load_dataset("uci-har")                 # after `harx fetch uci-har`
split = subject_split(ds, n_val_subjects=4, seed=0)
X_train = ds.X[split.train]
"""

from harx.data.dataset import Dataset, load_dataset
from harx.data.fetcher import DatasetInfo, FetchResult, fetch, import_dataset, list_datasets
from harx.data.splits import DEFAULT_VAL_SUBJECTS, Split, channel_stats, subject_folds, subject_split

__all__ = [
    "DEFAULT_VAL_SUBJECTS",
    "Dataset",
    "DatasetInfo",
    "FetchResult",
    "Split",
    "channel_stats",
    "fetch",
    "import_dataset",
    "list_datasets",
    "load_dataset",
    "subject_folds",
    "subject_split",
]
