"""Sub-byte packing as PULP-NN lays it out: element 0 in the lowest bits of byte 0."""

from __future__ import annotations

import numpy as np


def packed_bytes(n_elems: int, bits: int) -> int:
    return (n_elems * bits + 7) // 8


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack a flat sequence of codes (signed or unsigned, two's complement) into uint8 bytes."""
    flat = np.asarray(codes).reshape(-1).astype(np.int64)
    if bits == 8:
        return (flat & 0xFF).astype(np.uint8)
    per = 8 // bits
    pad = (-flat.size) % per
    field = (np.concatenate([flat, np.zeros(pad, np.int64)]) & ((1 << bits) - 1)).reshape(-1, per)
    shifts = np.arange(per, dtype=np.int64) * bits
    return (field << shifts).sum(axis=1).astype(np.uint8)


def unpack(data: np.ndarray, bits: int, n_elems: int, signed: bool) -> np.ndarray:
    """Inverse of ``pack``: the first ``n_elems`` codes as int64, sign-extended when ``signed``."""
    raw = np.asarray(data, dtype=np.uint8).astype(np.int64)
    if bits == 8:
        vals = raw
    else:
        per = 8 // bits
        shifts = np.arange(per, dtype=np.int64) * bits
        vals = ((raw[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)
    vals = vals[:n_elems]
    if signed:
        vals = np.where(vals >= 1 << (bits - 1), vals - (1 << bits), vals)
    return vals
