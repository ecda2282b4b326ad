"""Lowering: a layer spec and a target give the one kernel that runs the layer, and how it is called.

This is the single place that decides, for every layer, the kernel function the generated C calls (its
PULP-NN-mixed name and type tags), the geometry it is called with (which of H or W carries the 1-D
signal), where it runs (the whole cluster, or core 0 only) and which implementation provides it (the
library on gap8, harx's optimized or reference kernels elsewhere, by the kernel set: ``opt`` runs every
layer the optimized kernels can run exactly with them and the others with the reference, see
``harx.cost.opt_kernels``). ``harx.cost`` prices that choice and ``harx.deploy`` emits it; neither works it
out again.

Kernel names follow the XpulpV2/32bit headers of pulp-platform/pulp-nn-mixed (``pulp_nn_kernels.h``): type
tags ``i8`` (the signed int8 window) or ``u<bits>`` for activations and ``i<bits>`` for weights. The one
kernel harx needs that pulp-nn-mixed lacks, a dilated convolution, is ``harx_conv_dil_<i>_<o>_<w>``: the
conv argument list plus ``dilation_x, dilation_y``; it is harx's reference on every target.
"""

from __future__ import annotations

from dataclasses import dataclass

from harx.cost.latency import cycles, pulp_conv_time_on_h, pulp_conv_time_on_w
from harx.cost.opt_kernels import layer_plan
from harx.cost.target import Target
from harx.models.genome import LayerSpec

# Which kernel family each layer kind lowers to.
KERNEL_KIND = {"conv": "conv", "maxpool": "maxpool", "gap": "avgpool", "linear": "linear_i32"}
# Where the kernels come from: a kernel library (gap8: pulp-nn-mixed when built with PULP_NN_MIXED=1),
# harx's portable reference kernels (csrc/harx_ref.h) or its optimized ones (csrc/harx_opt.h).
IMPLEMENTATIONS = ("pulp_nn", "harx_ref", "harx_opt")
# The C header of each implementation harx provides.
HEADERS = {"harx_ref": "harx_ref.h", "harx_opt": "harx_opt.h"}


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
    ``implementation``: one of IMPLEMENTATIONS. ``fallback``: why the ``opt`` kernel set runs this layer
    with the reference ("" when it does not).
    """

    kernel: Kernel
    time_axis: str
    core0: bool
    implementation: str
    fallback: str = ""

    @property
    def function(self) -> str:
        """The C function the layer calls: the kernel's name, or ``<name>_ref`` for a layer the ``opt`` set
        runs with the reference (so one network can hold both bodies of one kernel)."""
        return f"{self.kernel.name}_ref" if self.fallback else self.kernel.name

    @property
    def label(self) -> str:
        """The kernel and its geometry, for tables: ``pulp_nn_conv_i8_u8_i4 (time on H)``."""
        where = [f"time on {self.time_axis}"] if self.time_axis else []
        if self.core0:
            where.append("core 0")
        elif self.implementation in HEADERS:
            where.insert(0, HEADERS[self.implementation])
        return f"{self.function} ({', '.join(where)})" if where else self.function


def _cluster_axis(layer: LayerSpec, target: Target) -> str:
    """pulp-nn-mixed conv: the geometry with fewer cycles on the busiest core (ties to H)."""
    on_h, on_w = (
        cycles(pulp_conv_time_on_h(layer, target), target),
        cycles(pulp_conv_time_on_w(layer, target), target),
    )
    return "H" if on_h <= on_w else "W"


def lower(layer: LayerSpec, target: Target, kernels: str | None = None) -> Lowered:
    """The kernel, geometry and placement of ``layer`` on ``target`` (by its YAML ``kernel_model``) with the
    kernel set ``kernels`` (None: the target's default; ConfigError if the target does not price it)."""
    kernel_set = target.kernel_set(kernels)
    kernel = kernel_of(layer)
    if target.kernel_model != "pulp_nn_cluster":
        axis = "" if layer.kind == "linear" else "W"
        if kernel_set == "opt":
            try:
                layer_plan(layer)
            except ValueError as exc:  # the optimized kernels cannot run it exactly: the reference does
                return Lowered(kernel, axis, False, "harx_ref", str(exc))
            return Lowered(kernel, axis, False, "harx_opt")
        return Lowered(kernel, axis, False, "harx_ref")
    if kernel.harx_only:
        # pulp-nn-mixed has no dilation: harx's reference (the portable C loops) runs on core 0.
        return Lowered(kernel, "W", True, "harx_ref")
    axis = {"conv": "", "maxpool": "H", "gap": "W", "linear": ""}[layer.kind]
    if layer.kind == "conv":
        axis = _cluster_axis(layer, target)
    return Lowered(kernel, axis, False, "pulp_nn")


def lower_network(layers: list[LayerSpec], target: Target, kernels: str | None = None) -> list[Lowered]:
    return [lower(layer, target, kernels) for layer in layers]
