"""`harx export`: a static model as an ONNX file (QDQ or float), checked by onnx.checker and onnxruntime."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from harx.cli.common import out, print_json
from harx.deploy.pipeline import candidate_artifact
from harx.errors import ConfigError
from harx.export import CARRIERS, FORMATS, INPUT_NAME, OUTPUT_NAME, ExportResult, export_onnx
from harx.paths import default_store_path


def command(
    candidate: int = typer.Argument(
        None, metavar="CANDIDATE_ID", help="A candidate id in the store (or --artifact)."
    ),
    artifact: Path = typer.Option(
        None, "--artifact", "-a", help="An artifact directory from `harx quantize`."
    ),
    fmt: str = typer.Option(
        "onnx",
        "--format",
        "-f",
        help="onnx: QDQ graph that reproduces the integer model; onnx-float: its float graph.",
    ),
    out_file: Path = typer.Option(..., "--out", "-o", help="The ONNX file to write (replaced if it exists)."),
    carrier: str = typer.Option(
        "int8",
        "--carrier",
        help="How 2- and 4-bit codes travel: int8 (opset 13) or native INT4/INT2 types (opset 21/25).",
    ),
    windows: int = typer.Option(
        None, "--windows", min=1, help="Check on the first N test-subject windows (default: all of them)."
    ),
    store: Path = typer.Option(None, "--store", help="Candidate store (default: $HARX_HOME/store.sqlite)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
) -> None:
    """Write a static model as an ONNX file for other toolchains (converters, onnxruntime, Netron).

    Input: the window normalised with the model's mean and std (stored in the file's metadata), float32
    N x C x L; output: the logits (the integer logits times logit_scale). The graph is checked by
    onnx.checker and run by onnxruntime on real test windows against the integer golden model before the
    file is written; see docs/export.md for what is exact and what is not.
    """
    if (candidate is not None) == (artifact is not None):
        raise ConfigError("give exactly one of CANDIDATE_ID or --artifact PATH")
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    if carrier not in CARRIERS:
        raise ConfigError(f"--carrier: unknown carrier '{carrier}' (known: {', '.join(CARRIERS)})")
    source = (
        artifact if artifact is not None else candidate_artifact(store or default_store_path(), candidate)
    )
    result = export_onnx(source, out_file, fmt, carrier, windows)
    if as_json:
        print_json({"candidate": candidate, **result.to_json()})
    else:
        render(result, candidate)


def render(r: ExportResult, candidate: int | None) -> None:
    source = "" if candidate is None else f" (candidate {candidate})"
    n, c, length = r.input_shape
    exponent = math.log2(r.logit_scale)
    scale = f"2**{exponent:.0f}" if exponent.is_integer() else f"{r.logit_scale:g}"
    out.print(f"[bold]{r.genome}[/]{source} -> {r.path}", highlight=False)
    out.print(
        f"{r.format}, {r.carrier} carriers, opset {r.opset}, {r.file_bytes:,} B; input '{INPUT_NAME}' float32 "
        f"{n} x {c} x {length} (normalised), output '{OUTPUT_NAME}' = integer logits x {scale}",
        highlight=False,
    )
    if r.format == "onnx":
        out.print(
            f"conv channels requantised exactly with an int32 bias: {r.exact_channels} of {r.conv_channels}",
            highlight=False,
        )
    out.print(
        f"onnx.checker passed; onnxruntime {r.ort_version} on {r.check.windows:,} windows ({r.window_source}), "
        "against the integer model:",
        highlight=False,
    )
    t = Table()
    for col in ("graph", "argmax agreement", "differ", "exact", "max logit diff"):
        t.add_column(col, justify="left" if col == "graph" else "right")
    for ch in r.checks:
        label = _LABELS[ch.optimization]
        if ch.error is None:
            t.add_row(
                label,
                f"{100 * ch.argmax_agreement:.2f}%",
                str(ch.disagreeing_windows),
                f"{ch.exact_windows:,}",
                f"{ch.max_logit_diff:g}",
            )
    out.print(t)
    for ch in r.checks:
        if ch.error is not None:
            out.print(
                f"[yellow]{_LABELS[ch.optimization]}: onnxruntime cannot run it:[/] {ch.error}",
                highlight=False,
            )


_LABELS = {"disabled": "as written", "default": "default optimizations"}


def register(app: typer.Typer) -> None:
    app.command("export")(command)
