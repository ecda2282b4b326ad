"""Hand a harx model to other toolchains: ``harx.export.graph`` builds its ONNX graph, ``harx.export.onnx``
writes the file and checks it against the integer golden model."""

from harx.export.graph import CARRIERS, FORMATS, INPUT_NAME, OUTPUT_NAME, ExportError, build_graph
from harx.export.onnx import ExportResult, RuntimeCheck, export_onnx

__all__ = [
    "CARRIERS",
    "FORMATS",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "ExportError",
    "ExportResult",
    "RuntimeCheck",
    "build_graph",
    "export_onnx",
]
