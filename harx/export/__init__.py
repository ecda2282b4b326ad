"""Hand a harx model to other toolchains: ``harx.export.onnx`` writes it as an ONNX file and checks it."""

from harx.export.onnx import (
    CARRIERS,
    FORMATS,
    INPUT_NAME,
    OUTPUT_NAME,
    ExportError,
    ExportResult,
    RuntimeCheck,
    export_onnx,
)

__all__ = [
    "CARRIERS",
    "FORMATS",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "ExportError",
    "ExportResult",
    "RuntimeCheck",
    "export_onnx",
]
