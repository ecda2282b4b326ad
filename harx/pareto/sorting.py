"""The exact hypervolume of a front, on objective matrices where every column is minimised.

A maximised objective (accuracy) enters negated. The non-dominated sort is ``harx.objectives.nondominated``.
"""

from __future__ import annotations

import numpy as np

from harx.objectives import nondominated


def _matrix(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError(f"objective matrix must be 2-D (points x objectives), got shape {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError("objective matrix holds NaN or infinite values")
    return F


def _hv2(P: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by 2-D points that all lie strictly below ``ref``: a sweep along the first axis."""
    order = np.lexsort((P[:, 1], P[:, 0]))
    area, best_y = 0.0, ref[1]
    xs = np.append(P[order, 0], ref[0])
    for k, i in enumerate(order):
        best_y = min(best_y, P[i, 1])
        area += (xs[k + 1] - xs[k]) * (ref[1] - best_y)
    return float(area)


def _hv(P: np.ndarray, ref: np.ndarray) -> float:
    d = P.shape[1]
    if len(P) == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - P[:, 0].min())
    if d == 2:
        return _hv2(P, ref)
    # Slice along the last axis: between consecutive levels the dominated region is the (d-1)-volume of the
    # points at or below that level, times the slab's thickness.
    order = np.argsort(P[:, -1], kind="stable")
    levels = np.append(P[order, -1], ref[-1])
    volume = 0.0
    for k in range(len(order)):
        thickness = levels[k + 1] - levels[k]
        if thickness > 0:
            volume += _hv(P[order[: k + 1], :-1], ref[:-1]) * thickness
    return float(volume)


def hypervolume(F: np.ndarray, ref: np.ndarray | tuple[float, ...]) -> float:
    """Exact hypervolume dominated by the rows of ``F`` (minimised objectives) and bounded by ``ref``.

    Rows that are not strictly better than ``ref`` in every column add nothing. Exact in any dimension; the
    slicing costs O(n^(d-1) log n), which is instant for the 2- and 3-objective fronts of a search.
    """
    pts = _matrix(F)
    ref = np.asarray(ref, dtype=float)
    if ref.shape != (pts.shape[1],):
        raise ValueError(f"reference point has {ref.size} values for {pts.shape[1]} objectives")
    if not np.all(np.isfinite(ref)):
        raise ValueError("reference point holds NaN or infinite values")
    inside = pts[np.all(pts < ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    front = np.unique(inside[nondominated(inside)], axis=0)
    return _hv(front, ref)
