"""Lowering: a layer spec and a target give the one kernel that runs the layer, and how it is called.

This is the single place that decides, for every layer, the kernel function the generated C calls (its
PULP-NN-mixed name and type tags), the geometry it is called with (which of H or W carries the 1-D
signal), where it runs (the whole cluster, or core 0 only) and which implementation provides it (the
library on gap8, harx's portable reference elsewhere). ``harx.cost`` prices that choice and
``harx.deploy`` emits it; neither works it out again.

Kernel names follow the XpulpV2/32bit headers of pulp-platform/pulp-nn-mixed (``pulp_nn_kernels.h``): type
tags ``i8`` (the signed int8 window) or ``u<bits>`` for activations and ``i<bits>`` for weights. The one
kernel harx needs that pulp-nn-mixed lacks, a dilated convolution, is ``harx_conv_dil_<i>_<o>_<w>``: the
conv argument list plus ``dilation_x, dilation_y``; it is harx's reference on every target.
"""

from __future__ import annotations

from dataclasses import dataclass

from harx.cost.latency import cycles, pulp_conv_time_on_h, pulp_conv_time_on_w
from harx.cost.target import Target
from harx.models.genome import LayerSpec

# Which kernel family each layer kind lowers to.
KERNEL_KIND = {"conv": "conv", "maxpool": "maxpool", "gap": "avgpool", "linear": "linear_i32"}
# Where the kernels come from: a kernel library (gap8: pulp-nn-mixed when built with PULP_NN_MIXED=1) or
# harx's portable reference kernels (csrc/harx_ref.h).
IMPLEMENTATIONS = ("pulp_nn", "harx_ref")


@dataclass(frozen=True)
class Kernel:
    """One kernel function: ``kind`` is conv, maxpool, avgpool or linear_i32; bits as the type tags say.

    ``in_signed`` only for a conv reading the int8 window; ``dilated`` selects harx's dilated extension.
    """

    kind: str
    in_bits: int
    out_bits: int = 0
    w_bits: int = 0
    in_signed: bool = False
    dilated: bool = False

    @property
    def in_tag(self) -> str:
        return f"{'i' if self.in_signed else 'u'}{self.in_bits}"

    @property
    def name(self) -> str:
        if self.kind == "conv":
            prefix = "harx_conv_dil" if self.dilated else "pulp_nn_conv"
            return f"{prefix}_{self.in_tag}_u{self.out_bits}_i{self.w_bits}"
        if self.kind == "maxpool":
            return f"pulp_nn_maxpool_{self.in_tag}"
        if self.kind == "avgpool":
            return f"pulp_nn_avgpool_{self.in_tag}_u{self.out_bits}"
        return f"pulp_nn_linear_{self.in_tag}_i32_i{self.w_bits}"

    @property
    def harx_only(self) -> bool:
        """True for a kernel pulp-nn-mixed does not have (harx's reference runs it on every target)."""
        return self.dilated


def kernel_of(layer: LayerSpec) -> Kernel:
    """The kernel function that runs ``layer`` (the same name on every target)."""
    kind = KERNEL_KIND[layer.kind]
    if kind == "conv":
        return Kernel(kind, layer.in_bits, layer.out_bits, layer.w_bits, layer.in_signed, layer.dilation > 1)
    if kind == "maxpool":
        return Kernel(kind, layer.in_bits, in_signed=layer.in_signed)
    if kind == "avgpool":
        return Kernel(kind, layer.in_bits, layer.in_bits, in_signed=layer.in_signed)
    return Kernel(kind, layer.in_bits, w_bits=layer.w_bits, in_signed=layer.in_signed)


@dataclass(frozen=True)
class Lowered:
    """How one layer runs on one target.

    ``time_axis``: ``"H"`` (the 1-D signal along H, W = 1), ``"W"`` (along W, H = 1) or ``""`` (no spatial
    axis: the classifier). ``core0``: harx's reference on core 0 of a cluster while the other cores wait.
    ``implementation``: one of IMPLEMENTATIONS.
    """

    kernel: Kernel
    time_axis: str
    core0: bool
    implementation: str

    @property
    def label(self) -> str:
        """The kernel and its geometry, for tables: ``pulp_nn_conv_i8_u8_i4 (time on H)``."""
        where = [f"time on {self.time_axis}"] if self.time_axis else []
        if self.core0:
            where.append("core 0")
        elif self.implementation == "harx_ref":
            where.insert(0, "harx_ref.h")
        return f"{self.kernel.name} ({', '.join(where)})" if where else self.kernel.name


def _cluster_axis(layer: LayerSpec, target: Target) -> str:
    """pulp-nn-mixed conv: the geometry with fewer cycles on the busiest core (ties to H)."""
    on_h, on_w = (
        cycles(pulp_conv_time_on_h(layer, target), target),
        cycles(pulp_conv_time_on_w(layer, target), target),
    )
    return "H" if on_h <= on_w else "W"


def lower(layer: LayerSpec, target: Target) -> Lowered:
    """The kernel, geometry and placement of ``layer`` on ``target`` (by its YAML ``kernel_model``)."""
    kernel = kernel_of(layer)
    if target.kernel_model != "pulp_nn_cluster":
        return Lowered(kernel, "" if layer.kind == "linear" else "W", False, "harx_ref")
    if kernel.harx_only:
        # pulp-nn-mixed has no dilation: harx's reference (the portable C loops) runs on core 0.
        return Lowered(kernel, "W", True, "harx_ref")
    axis = {"conv": "", "maxpool": "H", "gap": "W", "linear": ""}[layer.kind]
    if layer.kind == "conv":
        axis = _cluster_axis(layer, target)
    return Lowered(kernel, axis, False, "pulp_nn")


def lower_network(layers: list[LayerSpec], target: Target) -> list[Lowered]:
    return [lower(layer, target) for layer in layers]
