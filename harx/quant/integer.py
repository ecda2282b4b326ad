"""The integer model: exported tensors and the numpy golden reference that runs them.

Only integer arithmetic is used (int64 numpy arrays, with every value that the C code keeps in an int32
checked to fit). Matrix products go through float64 BLAS, which is exact here: every partial sum is an
integer far below 2**53. Layout is HWC with height 1: activations are (N, L, C) arrays of codes.

Contract (DESIGN.md): conv ``acc = sum(w * x)`` (int32), ``y = clip((kappa[c]*acc + lambda[c]) >> shift,
0, 2**bits - 1)`` with an arithmetic (floor) shift; max-pool on codes; global average pool
``(sum * m) >> shift``; classifier ``logits = W x + bias`` (int32); class = argmax, lowest index on ties.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from harx.quant.packing import packed_bytes

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_CHUNK = 512  # windows per matrix product, to bound the im2col memory


class IntegerOverflow(ArithmeticError):
    """A value that the deployed C keeps in an int32 does not fit (the export bounds should prevent it)."""


def check_int32(v: np.ndarray, what: str) -> None:
    if v.size and (v.max() > INT32_MAX or v.min() < INT32_MIN):
        raise IntegerOverflow(f"{what}: value range [{v.min()}, {v.max()}] exceeds int32")


@dataclass
class IntConv:
    """Conv layer: ``weights`` are signed codes shaped (cout, kernel, cin), i.e. HWC order per output channel."""

    weights: np.ndarray
    kappa: np.ndarray
    lam: np.ndarray
    shift: int
    w_bits: int
    in_bits: int
    out_bits: int
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    pad_right: int = 0
    in_signed: bool = False
    kind: str = field(default="conv", init=False)

    @property
    def cout(self) -> int:
        return self.weights.shape[0]

    @property
    def kernel(self) -> int:
        return self.weights.shape[1]

    @property
    def cin(self) -> int:
        return self.weights.shape[2]

    def out_len(self, lin: int) -> int:
        return (lin - 1) // self.stride + 1

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """int32 accumulators (N, Lout, cout) for codes x (N, L, cin)."""
        n, length, _ = x.shape
        xp = np.pad(x, ((0, 0), (self.pad_left, self.pad_right), (0, 0)))
        lout = self.out_len(length)
        idx = np.arange(lout)[:, None] * self.stride + np.arange(self.kernel)[None, :] * self.dilation
        w = self.weights.reshape(self.cout, -1).astype(np.float64).T
        acc = np.empty((n, lout, self.cout), np.int64)
        for s in range(0, n, _CHUNK):
            cols = xp[s : s + _CHUNK][:, idx, :].reshape(-1, self.kernel * self.cin).astype(np.float64)
            acc[s : s + _CHUNK] = np.rint(cols @ w).astype(np.int64).reshape(-1, lout, self.cout)
        check_int32(acc, "conv accumulator")
        return acc

    def requantize(self, acc: np.ndarray) -> np.ndarray:
        prod = acc * self.kappa
        check_int32(prod, "conv kappa*acc")
        v = prod + self.lam
        check_int32(v, "conv kappa*acc+lambda")
        return np.clip(v >> self.shift, 0, 2**self.out_bits - 1)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.requantize(self.accumulate(x))


@dataclass
class IntMaxPool:
    size: int
    bits: int
    kind: str = field(default="maxpool", init=False)

    def out_len(self, lin: int) -> int:
        return lin // self.size

    def run(self, x: np.ndarray) -> np.ndarray:
        n, length, c = x.shape
        lout = length // self.size
        return x[:, : lout * self.size].reshape(n, lout, self.size, c).max(axis=2)


@dataclass
class IntGap:
    """Global average pool: ``(sum over time * m) >> shift`` on unsigned codes."""

    m: int
    shift: int
    bits: int
    kind: str = field(default="gap", init=False)

    def out_len(self, lin: int) -> int:
        return 1

    def run(self, x: np.ndarray) -> np.ndarray:
        v = x.sum(axis=1, keepdims=True) * self.m
        check_int32(v, "gap sum*m")
        return v >> self.shift


@dataclass
class IntLinear:
    """Classifier: ``weights`` (cout, cin) signed codes over the HWC-flattened input; int32 bias and logits."""

    weights: np.ndarray
    bias: np.ndarray
    w_bits: int
    in_bits: int
    kind: str = field(default="linear", init=False)

    @property
    def cout(self) -> int:
        return self.weights.shape[0]

    @property
    def cin(self) -> int:
        return self.weights.shape[1]

    def out_len(self, lin: int) -> int:
        return 1

    def run(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(x.shape[0], -1).astype(np.float64)
        acc = np.rint(flat @ self.weights.astype(np.float64).T).astype(np.int64)
        check_int32(acc, "linear accumulator")
        out = acc + self.bias
        check_int32(out, "linear logits")
        return out


IntLayer = IntConv | IntMaxPool | IntGap | IntLinear


@dataclass
class IntegerModel:
    """A sequence of integer layers from an int8 (N, T, C) window to int32 logits.

    ``exits`` maps a layer index i to an early-exit head (an IntGap and an IntLinear) that reads the output
    of layer i; adaptive inference uses them.
    """

    layers: list[IntLayer]
    in_channels: int
    in_len: int
    n_classes: int
    input_scale: float
    exits: dict[int, list[IntLayer]] = field(default_factory=dict)

    def run(self, x: np.ndarray, return_exits: bool = False):
        """Logits (N, n_classes) int64 holding int32 values for int8 codes ``x`` of shape (N, T, C)."""
        if x.ndim != 3 or x.shape[1:] != (self.in_len, self.in_channels):
            raise ValueError(f"expected input (N, {self.in_len}, {self.in_channels}), got {x.shape}")
        h = x.astype(np.int64)
        exit_logits = {}
        for i, layer in enumerate(self.layers):
            h = layer.run(h)
            if i in self.exits:
                e = h
                for el in self.exits[i]:
                    e = el.run(e)
                exit_logits[i] = e
        return (h, exit_logits) if return_exits else h

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.run(x), axis=1)

    def weight_bytes(self) -> int:
        """Packed weight bytes of the main network (what the C stores in flash for weights alone)."""
        return sum(
            packed_bytes(layer.weights.size, layer.w_bits)
            for layer in self.layers
            if isinstance(layer, IntConv | IntLinear)
        )

    def shapes(self) -> list[tuple[int, int]]:
        """(length, channels) of each layer's output."""
        out, length, ch = [], self.in_len, self.in_channels
        for layer in self.layers:
            length = layer.out_len(length)
            ch = layer.cout if isinstance(layer, IntConv | IntLinear) else ch
            out.append((length, ch))
        return out

    def peak_activation_bytes(self) -> int:
        """Largest input+output pair of packed activation buffers over the layer sequence."""
        sizes, length, ch, bits = [], self.in_len, self.in_channels, 8
        sizes.append(packed_bytes(length * ch, bits))
        for layer in self.layers:
            length = layer.out_len(length)
            if isinstance(layer, IntConv):
                ch, bits = layer.cout, layer.out_bits
            elif isinstance(layer, IntLinear):
                ch, bits = layer.cout, 32
            sizes.append(packed_bytes(length * ch, bits))
        return max(a + b for a, b in itertools.pairwise(sizes))
