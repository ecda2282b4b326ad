"""Genome: the architecture and per-layer bit-widths of one 1-D CNN, with a compact text form.

Text form (one token per conv block, then the head, joined by '-'):

    c16k5p2w8a8-c24k5s2w4a4-gapw8

A block token is ``c<channels>k<kernel>[s<stride>][d<dilation>][p<maxpool>]w<weight bits>a<activation bits>``
(stride, dilation and pool are written only when they are not 1). The head token is ``gapw<bits>``
(global average pool, then a linear classifier) or ``flatw<bits>`` (flatten, then a linear classifier).
The input is int8; every conv block outputs unsigned ``a``-bit codes; the classifier outputs int32 logits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harx.errors import ConfigError

BITS = (2, 4, 8)
INPUT_BITS = 8
HEADS = ("gap", "flat")
MAX_BLOCKS = 8
MAX_CHANNELS = 256
MAX_KERNEL = 15
MAX_STRIDE = 4
MAX_DILATION = 8
MAX_POOL = 4

_BLOCK_RE = re.compile(r"c(\d+)k(\d+)(?:s(\d+))?(?:d(\d+))?(?:p(\d+))?w(\d+)a(\d+)")
_HEAD_RE = re.compile(r"(gap|flat)w(\d+)")


@dataclass(frozen=True)
class Block:
    """One conv block: Conv1d (zero 'same' padding) -> BatchNorm -> ReLU/requantize -> optional max-pool."""

    channels: int
    kernel: int
    w_bits: int
    a_bits: int
    stride: int = 1
    dilation: int = 1
    pool: int = 1

    def text(self) -> str:
        s = f"c{self.channels}k{self.kernel}"
        if self.stride != 1:
            s += f"s{self.stride}"
        if self.dilation != 1:
            s += f"d{self.dilation}"
        if self.pool != 1:
            s += f"p{self.pool}"
        return s + f"w{self.w_bits}a{self.a_bits}"


@dataclass(frozen=True)
class LayerSpec:
    """Shape and precision of one integer layer, as the deployed network executes it (HWC, height 1).

    ``kind`` is one of ``conv``, ``maxpool``, ``gap`` (global average pool) or ``linear``.
    Lengths are in samples along time; ``in_bits``/``out_bits`` are activation code widths and
    ``in_signed`` says whether the input codes are signed (only the network's int8 window is; every other
    activation is unsigned; linear outputs int32).
    """

    kind: str
    cin: int
    cout: int
    lin: int
    lout: int
    in_bits: int
    out_bits: int
    w_bits: int = 0
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    pad_right: int = 0
    block: int = -1
    in_signed: bool = False

    @property
    def n_weights(self) -> int:
        if self.kind == "conv":
            return self.cout * self.kernel * self.cin
        if self.kind == "linear":
            return self.cout * self.cin
        return 0

    @property
    def macs(self) -> int:
        if self.kind == "conv":
            return self.lout * self.cout * self.kernel * self.cin
        if self.kind == "linear":
            return self.cout * self.cin
        return 0

    @property
    def in_elems(self) -> int:
        return self.cin * self.lin

    @property
    def out_elems(self) -> int:
        return self.cout * self.lout

    def describe(self) -> str:
        """One line for tables and generated comments: ``conv 9x128->16x128 k5 s2 w8a8``."""
        if self.kind == "conv":
            extra = "".join(f" {k}{v}" for k, v in (("s", self.stride), ("d", self.dilation)) if v != 1)
            return f"conv {self.cin}x{self.lin}->{self.cout}x{self.lout} k{self.kernel}{extra} w{self.w_bits}a{self.out_bits}"
        if self.kind == "linear":
            return f"linear {self.cin}->{self.cout} w{self.w_bits}"
        return f"{self.kind} {self.cin}x{self.lin}->{self.cout}x{self.lout} a{self.out_bits}"


@dataclass(frozen=True)
class Genome:
    blocks: tuple[Block, ...]
    head: str = "gap"
    head_w_bits: int = 8
    _text: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "_text", self._render())

    def _render(self) -> str:
        return "-".join([b.text() for b in self.blocks] + [f"{self.head}w{self.head_w_bits}"])

    def text(self) -> str:
        """Canonical text form; ``parse_genome(g.text()) == g``."""
        return self._text

    def __str__(self) -> str:
        return self._text

    def layers(self, in_channels: int, in_len: int, n_classes: int) -> list[LayerSpec]:
        """The integer layer sequence for an input of ``in_channels`` x ``in_len`` samples.

        Raises ConfigError if the genome is invalid for that input (see ``validate``).
        """
        self.validate(in_channels, in_len)
        out: list[LayerSpec] = []
        c, n, bits = in_channels, in_len, INPUT_BITS
        for i, b in enumerate(self.blocks):
            span = b.dilation * (b.kernel - 1)
            lout = (n - 1) // b.stride + 1
            out.append(
                LayerSpec(
                    "conv",
                    c,
                    b.channels,
                    n,
                    lout,
                    bits,
                    b.a_bits,
                    b.w_bits,
                    b.kernel,
                    b.stride,
                    b.dilation,
                    span // 2,
                    span - span // 2,
                    i,
                    in_signed=i == 0,
                )
            )
            c, n, bits = b.channels, lout, b.a_bits
            if b.pool > 1:
                lout = n // b.pool
                out.append(
                    LayerSpec("maxpool", c, c, n, lout, bits, bits, kernel=b.pool, stride=b.pool, block=i)
                )
                n = lout
        if self.head == "gap":
            out.append(LayerSpec("gap", c, c, n, 1, bits, bits, kernel=n, stride=n))
            feats = c
        else:
            feats = c * n
        out.append(LayerSpec("linear", feats, n_classes, 1, 1, bits, 32, self.head_w_bits))
        return out

    def validate(self, in_channels: int, in_len: int) -> None:
        """Reject genomes the integer kernels cannot run, naming the block and the rule."""
        where = f"genome '{self._text}'"
        if not 1 <= len(self.blocks) <= MAX_BLOCKS:
            raise ConfigError(f"{where}: needs 1 to {MAX_BLOCKS} conv blocks, has {len(self.blocks)}")
        if self.head not in HEADS:
            raise ConfigError(f"{where}: head must be one of {', '.join(HEADS)}, not '{self.head}'")
        if self.head_w_bits not in BITS:
            raise ConfigError(f"{where}: head weight bits must be one of {BITS}, not {self.head_w_bits}")
        limits = {
            "channels": (1, MAX_CHANNELS),
            "kernel": (1, MAX_KERNEL),
            "stride": (1, MAX_STRIDE),
            "dilation": (1, MAX_DILATION),
            "pool": (1, MAX_POOL),
        }
        c, n = in_channels, in_len
        for i, b in enumerate(self.blocks, start=1):
            for name, (lo, hi) in limits.items():
                v = getattr(b, name)
                if not lo <= v <= hi:
                    raise ConfigError(f"{where}: block {i} {name}={v} is outside {lo}..{hi}")
            for name in ("w_bits", "a_bits"):
                if getattr(b, name) not in BITS:
                    raise ConfigError(f"{where}: block {i} {name}={getattr(b, name)} is not one of {BITS}")
            _check_packing(where, f"block {i}", "input channels", c, b.w_bits, "weights")
            _check_packing(where, f"block {i}", "output channels", b.channels, b.a_bits, "activations")
            n = (n - 1) // b.stride + 1
            if b.pool > n:
                raise ConfigError(f"{where}: block {i} max-pool {b.pool} is longer than its {n}-sample input")
            n //= b.pool
            c = b.channels
        feats = c if self.head == "gap" else c * n
        _check_packing(where, "head", "input features", feats, self.head_w_bits, "weights")


def _check_packing(where: str, layer: str, what: str, count: int, bits: int, kind: str) -> None:
    per_byte = 8 // bits
    if count % per_byte:
        raise ConfigError(
            f"{where}: {layer} has {bits}-bit {kind} but {count} {what}; PULP-NN packing needs a multiple "
            f"of {per_byte}"
        )


def parse_genome(text: str) -> Genome:
    """Parse the compact text form; raises ConfigError naming the bad token."""
    src = text.strip()
    tokens = src.split("-")
    if len(tokens) < 2:
        raise ConfigError(f"genome '{src}': expected conv blocks and a head token such as 'gapw8'")
    blocks = []
    for i, tok in enumerate(tokens[:-1], start=1):
        m = _BLOCK_RE.fullmatch(tok)
        if not m:
            raise ConfigError(
                f"genome '{src}': block {i} '{tok}' is not of the form c<ch>k<k>[s<s>][d<d>][p<p>]w<bits>a<bits>"
            )
        ch, k, s, d, p, w, a = m.groups()
        blocks.append(Block(int(ch), int(k), int(w), int(a), int(s or 1), int(d or 1), int(p or 1)))
    m = _HEAD_RE.fullmatch(tokens[-1])
    if not m:
        raise ConfigError(f"genome '{src}': head '{tokens[-1]}' is not 'gapw<bits>' or 'flatw<bits>'")
    return Genome(tuple(blocks), m.group(1), int(m.group(2)))


def model_layers(genome: str | Genome, model) -> list[LayerSpec]:
    """The layer sequence of ``genome`` for the input and classes of ``model`` (anything with
    ``in_channels``, ``in_len`` and ``n_classes``, such as an integer model); ConfigError if invalid."""
    g = parse_genome(genome) if isinstance(genome, str) else genome
    return g.layers(model.in_channels, model.in_len, model.n_classes)
