"""The structure of harx's optimized kernels (``deploy/csrc/harx_opt.h``) as lowering, memory and latency need it.

Which layers the optimized kernels run exactly, the lane family and drain interval of each (the proof
that no lane carries), and the sizes of their buffers live here, below ``harx.cost.lowering``, so the
cost model and ``harx deploy`` read one decision; ``harx.deploy.opt_layout`` lays the weights out after
it. Families (``harx_opt_family`` in C computes the same):

- ``S`` (signed int8 input, or 8-bit input with 8-bit weights): blocks of 4 output channels, one product
  per multiplication, int32 accumulators;
- ``L16`` (other unsigned inputs): blocks of 8 channels, two 16-bit lanes per multiplication;
- ``L8`` (2-bit input, 2-bit weights, ``taps * 9 <= 65535``): blocks of 16 channels, four 8-bit lanes.

**Lane bound.** An unsigned activation code is at most ``2^in_bits - 1`` and an offset weight at most
``2^w_bits - 1``, so a lane of ``L`` bits takes ``floor((2^L - 1) / ((2^in_bits - 1)(2^w_bits - 1)))``
products without a carry into its neighbour; the kernel drains the lanes into int32 sums every
``drain_taps`` taps (that count rounded down to a multiple of 4). L8's 8-bit lanes are drained into
16-bit lanes, which must hold the whole tap count. Every partial sum stays inside int32.
"""

from __future__ import annotations

from dataclasses import dataclass

from harx.models.genome import LayerSpec

BITS = (2, 4, 8)
# Output pixels a conv computes at once: its im2col holds PIXELS pixels' taps, one byte per code.
PIXELS = 4
# Input codes the linear kernel unpacks at once, into a stack buffer of as many bytes.
LINEAR_CHUNK = 256
INT32_MAX = 2**31 - 1
BLOCK_CHANNELS = {"S": 4, "L16": 8, "L8": 16}
LANE_BITS = {"S": 32, "L16": 16, "L8": 8}
# L8's 8-bit lanes are collected in 16-bit lanes over the whole tap count.
L8_TOTAL_LANE_MAX = 0xFFFF


@dataclass(frozen=True)
class LanePlan:
    """How the optimized kernel accumulates one layer exactly.

    ``drain_taps`` is how many taps a lane accumulates before it is added to int32 sums (0 for ``S``:
    no lanes); ``weight_offset`` is what the stored weight codes carry on top of the signed codes.
    """

    family: str
    taps: int
    in_bits: int
    w_bits: int
    drain_taps: int

    @property
    def block_channels(self) -> int:
        return BLOCK_CHANNELS[self.family]

    @property
    def lane_bits(self) -> int:
        return LANE_BITS[self.family]

    @property
    def lanes(self) -> int:
        return 32 // self.lane_bits

    @property
    def weight_offset(self) -> int:
        return 0 if self.family == "S" else 1 << (self.w_bits - 1)


def product_max(in_bits: int, w_bits: int) -> int:
    """Largest product of an unsigned activation code and an offset (non-negative) weight code."""
    return ((1 << in_bits) - 1) * ((1 << w_bits) - 1)


def lane_plan(in_bits: int, in_signed: bool, w_bits: int, taps: int, where: str = "layer") -> LanePlan:
    """The family and drain interval of a layer with ``taps`` taps per output (``harx_opt_family`` and
    ``harx_opt_drain_taps`` in C compute the same). Raises ValueError, naming ``where``, when the layer
    cannot run exactly."""
    if in_bits not in BITS or w_bits not in BITS:
        raise ValueError(f"{where}: input bits {in_bits} and weight bits {w_bits} must be among {BITS}")
    if in_signed and in_bits != 8:
        raise ValueError(f"{where}: a signed input must be 8-bit, not {in_bits}-bit")
    if taps < 1:
        raise ValueError(f"{where}: needs at least one tap, has {taps}")
    a_max = 128 if in_signed else (1 << in_bits) - 1
    if taps * a_max * (1 << (w_bits - 1)) > INT32_MAX or taps * product_max(in_bits, w_bits) > INT32_MAX:
        raise ValueError(
            f"{where}: {taps} taps of {in_bits}-bit codes x {w_bits}-bit weights can overflow int32"
        )
    if in_signed or (in_bits == 8 and w_bits == 8):
        return LanePlan("S", taps, in_bits, w_bits, 0)
    pmax = product_max(in_bits, w_bits)
    family = "L8" if in_bits == 2 and w_bits == 2 and taps * pmax <= L8_TOTAL_LANE_MAX else "L16"
    drain = ((1 << LANE_BITS[family]) - 1) // pmax // 4 * 4
    if drain < 4:  # cannot happen for BITS; kept so a new width cannot slip through unchecked
        raise ValueError(f"{where}: a {LANE_BITS[family]}-bit lane holds fewer than 4 products of {pmax}")
    return LanePlan(family, taps, in_bits, w_bits, drain)


def max_lane_sum(plan: LanePlan) -> int:
    """The largest value a lane reaches between drains (the proof that it never carries)."""
    return plan.drain_taps * product_max(plan.in_bits, plan.w_bits)


def check_channels(where: str, what: str, count: int, bits: int) -> None:
    """The optimized kernels unpack and read whole bytes per pixel (activations) and per tap row (weights)."""
    if count < 1 or count % (8 // bits):
        raise ValueError(
            f"{where}: {count} {what} cannot be packed at {bits} bits (need a multiple of {8 // bits})"
        )


def conv_where(cin: int, cout: int, kernel: int, w_bits: int, in_bits: int, in_signed: bool) -> str:
    return f"conv {cin}->{cout} channels, k={kernel}, w{w_bits}, {'i' if in_signed else 'u'}{in_bits} input"


def linear_where(dim: int, cout: int, w_bits: int, in_bits: int) -> str:
    return f"linear {dim}->{cout}, w{w_bits}, u{in_bits} input"


def conv_plan(cin: int, cout: int, kernel: int, w_bits: int, in_bits: int, in_signed: bool) -> LanePlan:
    """The lane plan of a conv; raises ValueError naming the geometry when the optimized kernels cannot run
    it exactly."""
    where = conv_where(cin, cout, kernel, w_bits, in_bits, in_signed)
    check_channels(where, "input channels", cin, w_bits)
    check_channels(where, "input channels", cin, in_bits)
    return lane_plan(in_bits, in_signed, w_bits, kernel * cin, where)


def linear_plan(dim: int, cout: int, w_bits: int, in_bits: int) -> LanePlan:
    """The lane plan of a linear layer (unsigned input); raises ValueError as ``conv_plan`` does."""
    where = linear_where(dim, cout, w_bits, in_bits)
    check_channels(where, "input features", dim, w_bits)
    check_channels(where, "input features", dim, in_bits)
    return lane_plan(in_bits, False, w_bits, dim, where)


def layer_plan(layer: LayerSpec) -> LanePlan | None:
    """The lane plan of a conv or linear ``layer`` (None for a pool, which needs none); raises ValueError,
    naming the geometry, when the optimized kernels cannot run it exactly (the reference then runs it)."""
    if layer.kind == "conv":
        return conv_plan(layer.cin, layer.cout, layer.kernel, layer.w_bits, layer.in_bits, layer.in_signed)
    if layer.kind == "linear":
        return linear_plan(layer.cin, layer.cout, layer.w_bits, layer.in_bits)
    return None


def im2col_bytes(cin: int, kernel: int) -> int:
    """Bytes of im2col the optimized conv needs (``HARX_OPT_IM2COL_BYTES``): 4 pixels' taps, one byte each."""
    return PIXELS * kernel * cin
