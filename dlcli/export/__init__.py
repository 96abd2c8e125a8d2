"""Export trained models to SavedModel, TFLite and ONNX (the formats registered in
:mod:`dlcli.modeling.formats`), with a parity check against Keras."""

from dlcli.export.engine import ExportResult, default_output, export_model
from dlcli.export.formats import quantize_choices
from dlcli.modeling.formats import format_names

__all__ = ["ExportResult", "default_output", "export_model", "format_names", "quantize_choices"]
