"""dlcli's metadata JSON inside a ``.tflite`` file: written by export, read by predict.

The TFLite schema's ``Model.metadata`` is a list of named buffers meant for exactly this:
the converter keeps ``min_runtime_version`` there, and interpreters skip names they do not
know. ``dlcli export`` adds an entry named :data:`EMBEDDED_METADATA_KEY` holding the same
JSON as the ``model.tflite.json`` sidecar, so a ``.tflite`` file copied on its own still
knows its class names and preprocessing. The flatbuffer is read and rewritten with the
schema's generated Python classes (LiteRT's copy, else TensorFlow's), as TensorFlow's own
``tensorflow.lite.tools.flatbuffer_utils`` does; any TFLite tool can list the entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlcli.errors import ModelLoadError

EMBEDDED_METADATA_KEY = "dlcli"  # also the ONNX metadata_props key
TFLITE_FILE_IDENTIFIER = b"TFL3"


def _schema() -> Any:
    """The generated flatbuffer classes of the TFLite schema (LiteRT's, else TensorFlow's)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated  # TF's copy of the same file
    return schema_py_generated


def _name(name: bytes | str | None) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name or "")


def read_tflite_metadata(path: Path) -> str | None:
    """The text of the ``dlcli`` metadata entry of a ``.tflite`` file, or None."""
    data = path.read_bytes()
    schema = _schema()
    try:
        model = schema.Model.GetRootAs(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if _name(entry.Name()) != EMBEDDED_METADATA_KEY:
                continue
            buffer = model.Buffers(entry.Buffer())
            if buffer.Offset() > 1:  # stored after the flatbuffer (models over 2 GB)
                raw = data[buffer.Offset() : buffer.Offset() + buffer.Size()]
            else:
                raw = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
            return raw.decode("utf-8")
    except (UnicodeDecodeError, IndexError, ValueError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"cannot read the metadata stored in the TFLite file ({type(exc).__name__})",
            file=path,
        ) from exc
    return None


def embed_tflite_metadata(path: Path, text: str) -> None:
    """Store ``text`` in the ``.tflite`` file at ``path`` (replacing an earlier entry)."""
    import flatbuffers
    import numpy as np

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    entries = [m for m in (model.metadata or []) if _name(m.name) != EMBEDDED_METADATA_KEY]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    model.buffers = [*(model.buffers or []), buffer]
    entry = schema.MetadataT()
    entry.name = EMBEDDED_METADATA_KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*entries, entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_FILE_IDENTIFIER)
    path.write_bytes(bytes(builder.Output()))
