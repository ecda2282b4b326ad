"""The kernels a network calls: PULP-NN-mixed names and argument lists, and harx's reference wrappers.

Names and argument lists follow the XpulpV2/32bit headers of pulp-platform/pulp-nn-mixed
(``pulp_nn_kernels.h``): type tags ``i8`` (the signed int8 window) or ``u<bits>`` for activations and
``i<bits>`` for weights. Each kernel a network needs becomes one file in the generated project that
defines that function by calling harx's generic reference (``csrc/harx_ref.h``) with constant bit widths.
The one kernel harx needs that pulp-nn-mixed lacks, a dilated convolution, is ``harx_conv_dil_<i>_<o>_<w>``:
the conv argument list plus ``dilation_x, dilation_y``; it is harx's reference on every target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Kernel:
    """One kernel function: ``kind`` is conv, maxpool, avgpool or linear_i32; bits as the type tags say.

    ``in_signed`` only for the first conv (it reads the int8 window); ``dilated`` selects harx's extension.
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

    def params(self) -> tuple[tuple[str, str], ...]:
        if self.kind == "conv":
            in_t = "int8_t *" if self.in_signed else "uint8_t *"
            conv = tuple((in_t if t == "IN_T *" else t, n) for t, n in _CONV_PARAMS)
            return conv + (_DILATION_PARAMS if self.dilated else ())
        return {"maxpool": _MAXPOOL_PARAMS, "avgpool": _AVGPOOL_PARAMS, "linear_i32": _LINEAR_PARAMS}[
            self.kind
        ]

    def signature(self) -> str:
        """``void name(type arg, ...)`` with one argument per line, as in the pulp-nn-mixed headers."""
        args = ",\n".join(f"    {t}{'' if t.endswith('*') else ' '}{n}" for t, n in self.params())
        return f"void {self.name}(\n{args})"

    def library_sources(self) -> tuple[str, ...]:
        """pulp-nn-mixed sources (relative to XpulpV2/32bit/src) this kernel needs; () for harx-only ones.

        A conv also needs the matmul it calls on the 8-bit im2col: ``pulp_nn_matmul_<i8|u8>_<out>_<w>``.
        """
        if self.harx_only:
            return ()
        own = f"{_LIBRARY_DIRS[self.kind]}/{self.name}.c"
        if self.kind != "conv":
            return (own,)
        col = "i8" if self.in_signed else "u8"
        return own, f"MatrixMultiplication/pulp_nn_matmul_{col}_u{self.out_bits}_i{self.w_bits}.c"

    def source(self) -> str:
        """The kernel's C file: its signature over the call into harx_ref.h with constant bit widths."""
        template = (TEMPLATES / f"kernel_{self.kind}.c.in").read_text()
        values = {
            "NAME": self.name,
            "SIGNATURE": self.signature(),
            "IN_BITS": str(self.in_bits),
            "IN_SIGNED": "1" if self.in_signed else "0",
            "OUT_BITS": str(self.out_bits),
            "W_BITS": str(self.w_bits),
            "DILATION_X": "dilation_x" if self.dilated else "1",
            "DILATION_Y": "dilation_y" if self.dilated else "1",
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
