"""Export trained models to SavedModel, TFLite and ONNX, with a parity check against Keras."""

from dlcli.export.engine import ExportResult, default_output, export_model
from dlcli.export.formats import FORMATS, QUANTIZE

__all__ = ["FORMATS", "QUANTIZE", "ExportResult", "default_output", "export_model"]
