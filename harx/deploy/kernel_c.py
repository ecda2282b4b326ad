"""The C of the kernels a network calls: PULP-NN-mixed argument lists over harx's reference or optimized C.

Which kernel runs a layer (its name, type tags, geometry and implementation) is decided by
``harx.cost.lowering``; this module writes its C. Argument lists follow the XpulpV2/32bit headers of
pulp-platform/pulp-nn-mixed (``pulp_nn_kernels.h``); the dilated conv that only harx has takes the conv
arguments plus ``dilation_x, dilation_y``. Each kernel a network needs becomes one file in the generated
project that defines that function by calling harx's generic reference (``csrc/harx_ref.h``, functions
``harx_*``) or its optimized twin (``csrc/harx_opt.h``, functions ``harx_opt_*``, same arguments) with
constant bit widths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harx.cost.lowering import HEADERS, Kernel, Lowered

TEMPLATES = Path(__file__).resolve().parent / "templates"
_PLACEHOLDER = re.compile(r"@[A-Z0-9_]+@")

_CONV_PARAMS = (
    ("IN_T *", "pIn"),
    ("IN_T *", "pIm2ColBuffer"),
    ("int8_t *", "pBias"),
    ("uint8_t *", "pOut"),
    ("int8_t *", "pWeight"),
    ("int32_t *", "pKappa"),
    ("int32_t *", "pLambda"),
    ("uint16_t", "out_mult"),
    ("uint16_t", "out_shift"),
    ("uint16_t", "dim_in_x"),
    ("uint16_t", "dim_in_y"),
    ("uint16_t", "ch_in"),
    ("uint16_t", "dim_out_x"),
    ("uint16_t", "dim_out_y"),
    ("uint16_t", "ch_out"),
    ("uint16_t", "dim_kernel_x"),
    ("uint16_t", "dim_kernel_y"),
    ("uint16_t", "padding_y_top"),
    ("uint16_t", "padding_y_bottom"),
    ("uint16_t", "padding_x_left"),
    ("uint16_t", "padding_x_right"),
    ("uint16_t", "stride_x"),
    ("uint16_t", "stride_y"),
    ("uint8_t", "flag_relu"),
    ("uint8_t", "flag_batchnorm"),
)
_DILATION_PARAMS = (("uint16_t", "dilation_x"), ("uint16_t", "dilation_y"))
_POOL_DIMS = (
    ("uint16_t", "dim_im_in_x"),
    ("uint16_t", "dim_im_in_y"),
    ("uint16_t", "ch_im_in"),
    ("uint16_t", "dim_im_out_x"),
    ("uint16_t", "dim_im_out_y"),
    ("uint16_t", "dim_kernel_x"),
    ("uint16_t", "dim_kernel_y"),
    ("uint16_t", "padding_t"),
    ("uint16_t", "padding_b"),
    ("uint16_t", "padding_l"),
    ("uint16_t", "padding_r"),
    ("uint16_t", "stride_x"),
    ("uint16_t", "stride_y"),
)
_MAXPOOL_PARAMS = (("uint8_t *", "pIn"), ("uint8_t *", "pOut"), *_POOL_DIMS)
_AVGPOOL_PARAMS = (
    ("uint8_t *", "pIn"),
    ("uint8_t *", "pOut"),
    ("int32_t", "lambda"),
    ("uint16_t", "out_shift"),
    ("int32_t", "out_add"),
    *_POOL_DIMS,
    ("int", "flag_requant"),
)
_LINEAR_PARAMS = (
    ("uint8_t *", "pIn"),
    ("int8_t *", "pBias"),
    ("int8_t *", "pOut"),
    ("int8_t *", "pWeight"),
    ("uint16_t", "dim_vec"),
    ("uint16_t", "num_o_neurons"),
)
# pulp-nn-mixed source folders (XpulpV2/32bit/src/...) of each kind, for the GAP8 build with PULP_NN_MIXED=1.
_LIBRARY_DIRS = {
    "conv": "Convolution",
    "maxpool": "Pooling/MaxPool",
    "avgpool": "Pooling/AvgPool",
    "linear_i32": "LinearNoQuant",
}


# Arguments that are read together, one comment each in a generated call: a reader of network.c sees which
# number is which without the header at hand.
_ARG_GROUPS = (
    ("pIn", "pIm2ColBuffer", "pBias", "pOut"),
    ("pIn", "pBias", "pOut"),
    ("pIn", "pOut"),
    ("pWeight", "pKappa", "pLambda"),
    ("pWeight",),
    ("out_mult", "out_shift"),
    ("lambda", "out_shift", "out_add"),
    ("dim_in_x", "dim_in_y", "ch_in"),
    ("dim_im_in_x", "dim_im_in_y", "ch_im_in"),
    ("dim_out_x", "dim_out_y", "ch_out"),
    ("dim_im_out_x", "dim_im_out_y"),
    ("dim_kernel_x", "dim_kernel_y"),
    ("padding_y_top", "padding_y_bottom", "padding_x_left", "padding_x_right"),
    ("padding_t", "padding_b", "padding_l", "padding_r"),
    ("stride_x", "stride_y"),
    ("flag_relu", "flag_batchnorm"),
    ("flag_requant",),
    ("dilation_x", "dilation_y"),
    ("dim_vec", "num_o_neurons"),
)


def call(kernel: Kernel, args: dict[str, str], macro: str, function: str) -> str:
    """``macro(function(...));`` with the arguments ``args`` (parameter name -> C expression) in the
    kernel's order, one line per group of related arguments headed by a comment naming them."""
    names = [n for _, n in params(kernel)]
    if set(args) != set(names):
        raise ValueError(
            f"{kernel.name}: arguments {sorted(set(args) ^ set(names))} do not match its parameters"
        )
    lines, i = [f"    {macro}({function}("], 0
    while i < len(names):
        group = next(g for g in _ARG_GROUPS if tuple(names[i : i + len(g)]) == g)
        values = ", ".join(args[n] for n in group)
        i += len(group)
        lines.append(f"        /* {', '.join(group)} */ {values}{',' if i < len(names) else '));'}")
    return "\n".join(lines)


def params(kernel: Kernel) -> tuple[tuple[str, str], ...]:
    """The (C type, name) argument list of ``kernel``, as in the pulp-nn-mixed headers."""
    if kernel.kind == "conv":
        in_t = "int8_t *" if kernel.in_signed else "uint8_t *"
        conv = tuple((in_t if t == "IN_T *" else t, n) for t, n in _CONV_PARAMS)
        return conv + (_DILATION_PARAMS if kernel.dilated else ())
    return {"maxpool": _MAXPOOL_PARAMS, "avgpool": _AVGPOOL_PARAMS, "linear_i32": _LINEAR_PARAMS}[kernel.kind]


def signature(kernel: Kernel, function: str) -> str:
    """``void function(type arg, ...)`` with one argument per line, as in the pulp-nn-mixed headers."""
    args = ",\n".join(f"    {t}{'' if t.endswith('*') else ' '}{n}" for t, n in params(kernel))
    return f"void {function}(\n{args})"


def library_sources(kernel: Kernel) -> tuple[str, ...]:
    """pulp-nn-mixed sources (relative to XpulpV2/32bit/src) ``kernel`` needs; () for harx-only ones.

    A conv also needs the matmul it calls on the 8-bit im2col: ``pulp_nn_matmul_<i8|u8>_<out>_<w>``.
    """
    if kernel.harx_only:
        return ()
    own = f"{_LIBRARY_DIRS[kernel.kind]}/{kernel.name}.c"
    if kernel.kind != "conv":
        return (own,)
    col = "i8" if kernel.in_signed else "u8"
    return own, f"MatrixMultiplication/pulp_nn_matmul_{col}_u{kernel.out_bits}_i{kernel.w_bits}.c"


# What each implementation's kernel file says it is, and the prefix of the generic functions it calls.
_IMPLEMENTED_BY = {
    "harx_ref": ("harx reference", "harx_"),
    "harx_opt": ("harx optimized kernel", "harx_opt_"),
}


def source(kernel: Kernel, implementation: str, function: str) -> str:
    """The kernel's C file: its signature (named ``function``) over the call into
    ``implementation``'s header (harx_ref.h or harx_opt.h) with constant bit widths."""
    template = (TEMPLATES / f"kernel_{kernel.kind}.c.in").read_text()
    what, prefix = _IMPLEMENTED_BY[implementation]
    values = {
        "NAME": function,
        "WHAT": what,
        "HEADER": HEADERS[implementation],
        "FN": prefix,
        "SIGNATURE": signature(kernel, function),
        "IN_BITS": str(kernel.in_bits),
        "IN_SIGNED": "1" if kernel.in_signed else "0",
        "OUT_BITS": str(kernel.out_bits),
        "W_BITS": str(kernel.w_bits),
        "DILATION_X": "dilation_x" if kernel.dilated else "1",
        "DILATION_Y": "dilation_y" if kernel.dilated else "1",
    }
    return fill(template, values)


def fill(template: str, values: dict[str, str]) -> str:
    """Replace ``@KEY@`` placeholders (templates are C and make files, full of ``$`` and braces)."""
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    left = _PLACEHOLDER.search(template)
    if left:
        raise ValueError(f"template placeholder {left.group(0)} was not filled")
    return template


@dataclass(frozen=True)
class KernelFile:
    """One kernel file of a project: the C ``function`` it defines, the kernel's arguments and what
    implements it (``harx_opt``, ``harx_ref`` or ``pulp_nn``, whose host build runs harx's reference)."""

    function: str
    kernel: Kernel
    implementation: str

    @property
    def body(self) -> str:
        """What the file's C calls: harx's optimized or reference kernels (a library kernel's file is its
        host build's, harx's reference)."""
        return self.implementation if self.implementation in HEADERS else "harx_ref"

    @property
    def own(self) -> bool:
        """Not a pulp-nn-mixed function: harx's dilated conv, or a reference body under its ``_ref`` name."""
        return self.kernel.harx_only or self.function != self.kernel.name


def kernel_files(lowered: Iterable[Lowered]) -> list[KernelFile]:
    """The distinct kernel functions of a program's lowered layers, by name."""
    files = {low.function: KernelFile(low.function, low.kernel, low.implementation) for low in lowered}
    return [files[name] for name in sorted(files)]


def implementations(kernels: list[KernelFile]) -> dict[str, str]:
    """Kernel function -> implementation, for harx_project.json."""
    return {k.function: k.implementation for k in kernels}
