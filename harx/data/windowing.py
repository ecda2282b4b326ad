"""Cutting labelled streams into fixed-length windows that never cross a segment boundary."""

from __future__ import annotations

import numpy as np


def segment_window_starts(seg_start: np.ndarray, seg_end: np.ndarray, window: int, step: int) -> np.ndarray:
    """Window start rows for segments `seg_start..seg_end` (end inclusive), `window` samples every `step`.

    The first window starts at the segment's first sample; a segment of L samples gives
    (L - window) // step + 1 windows, none when L < window. Returns (n_windows, 2): start row, segment index.
    """
    seg_start = np.asarray(seg_start, dtype=np.int64)
    length = np.asarray(seg_end, dtype=np.int64) - seg_start + 1
    counts = np.where(length >= window, (length - window) // step + 1, 0)
    seg_index = np.repeat(np.arange(len(seg_start)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    offset = (np.arange(int(counts.sum())) - first) * step
    return np.stack([seg_start[seg_index] + offset, seg_index], axis=1)


def cut_windows(signal: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Windows of `signal` (n_samples, C) at `starts`, as float32 (N, C, window)."""
    index = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(window)
    return np.ascontiguousarray(signal[index].transpose(0, 2, 1), dtype=np.float32)


def runs(keys: list[np.ndarray], breaks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of consecutive rows with equal `keys`, also split before every row where `breaks` is True.

    Returns (start, end) row indices, end inclusive.
    """
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    if breaks is not None:
        change |= breaks
    start = np.flatnonzero(change)
    end = np.append(start[1:] - 1, n - 1)
    return start, end
