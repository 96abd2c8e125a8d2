"""Reading text documents: ``.txt`` files (one document each), CSV/JSONL tables (one per
row, from a text column) and standard input (one per line).

Everything streams: files are read one at a time and tables line by line, so predicting
on a million rows holds one batch at a time. Bytes must be UTF-8; an invalid byte gives a
:class:`Unreadable` naming the file and byte offset (``errors="replace"`` reads it with
U+FFFD instead). A document that is empty (only whitespace) is :class:`Unreadable` too,
with that reason. ``max_length`` cuts a document after that many words (whitespace-
separated), so one huge file cannot fill the memory. No TensorFlow here.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from dlcli.errors import DataError

TEXT_SUFFIXES = (".txt",)
TABLE_SUFFIXES = (".csv", ".jsonl")
STDIN = "-"
_WORD = re.compile(r"\S+")
MAX_FIELD_CHARS = 64 << 20  # a CSV cell may hold a long document (csv's default is 128 KiB)


@dataclass(frozen=True)
class Document:
    source: str  # file, file:row or -:line
    text: str
    label: str | None = None


@dataclass(frozen=True)
class Unreadable:
    source: str
    reason: str
    bad_bytes: bool = False  # invalid UTF-8 (an error when training), else e.g. empty


Item = Document | Unreadable


@dataclass(frozen=True)
class TextOptions:
    """How documents are read: the table columns, UTF-8 strictness and the word cap."""

    text_column: str = "text"
    label_column: str | None = "label"
    errors: str = "strict"  # or "replace"
    max_length: int | None = None


def is_table(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def truncate(text: str, max_length: int | None) -> str:
    """``text`` up to the end of its ``max_length``-th word (unchanged when shorter)."""
    if max_length is None:
        return text
    words = list(islice(_WORD.finditer(text), max_length + 1))
    if len(words) <= max_length:
        return text
    return text[: words[max_length - 1].end()]


def _document(source: str, text: str, label: str | None, options: TextOptions) -> Item:
    if not text.strip():
        return Unreadable(source, "empty document (no text)")
    return Document(source, truncate(text, options.max_length), label)


def _decode(data: bytes, source: str, offset: int, errors: str) -> str | Unreadable:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if errors == "replace":
            return data.decode("utf-8", errors="replace")
        at = offset + exc.start
        bad = data[exc.start : exc.start + 4]
        return Unreadable(
            source,
            f"invalid UTF-8 at byte offset {at} ({bad!r})",
            bad_bytes=True,
        )


def read_text_file(path: str, label: str | None, options: TextOptions) -> Item:
    """One ``.txt`` file as a document."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Unreadable(path, f"cannot read: {exc.strerror or exc}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = _decode(data, path, 0, options.errors)
    if isinstance(text, Unreadable):
        return text
    return _document(path, text, label, options)


def _lines(fh: BinaryIO, name: str, errors: str) -> Iterator[tuple[int, str | Unreadable]]:
    """(line number, decoded line or why not) for each line of a binary stream."""
    offset = 0
    for number, raw in enumerate(fh, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw, offset = raw[3:], 3
        yield number, _decode(raw, f"{name}:{number}", offset, errors)
        offset += len(raw)


def read_stdin(options: TextOptions, stream: BinaryIO | None = None) -> Iterator[Item]:
    """Each line of standard input as a document (``-:N``)."""
    fh = stream if stream is not None else sys.stdin.buffer
    for number, line in _lines(fh, STDIN, options.errors):
        if isinstance(line, Unreadable):
            yield line
            continue
        yield _document(f"{STDIN}:{number}", line.rstrip("\r\n"), None, options)


def read_table(path: str, options: TextOptions) -> Iterator[Item]:
    """Rows of a CSV (header line first) or JSONL table, streamed; a missing text or label
    column is a :class:`DataError` naming the file, the column and the columns found."""
    try:
        fh = open(path, "rb")  # noqa: SIM115  (closed by the with below, after the check)
    except OSError as exc:
        raise DataError(f"cannot read the table: {exc.strerror or exc}", file=path) from exc
    with fh:
        if Path(path).suffix.lower() == ".jsonl":
            yield from _jsonl_rows(fh, path, options)
        else:
            yield from _csv_rows(fh, path, options)


def _missing(path: str, column: str, what: str, found: Iterable[str]) -> DataError:
    return DataError(
        f"no {what} column {column!r}",
        file=path,
        field=f"data.{'text' if what == 'text' else 'label'}",
        expected=f"a column named {column!r}",
        received=sorted(found),
        hint="name the column with data.text / data.label (predict: --text-column NAME)",
    )


def _csv_rows(fh: BinaryIO, path: str, options: TextOptions) -> Iterator[Item]:
    bad: list[Unreadable] = []

    def decoded() -> Iterator[str]:
        for _, line in _lines(fh, path, options.errors):
            if isinstance(line, Unreadable):
                bad.append(line)
                yield "\n"  # an empty line: csv skips it, the reason is reported
            else:
                yield line

    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    reader = csv.reader(decoded())
    header = next(reader, None)
    if header is None:
        raise DataError("the table is empty (no header line)", file=path)
    header = [h.strip() for h in header]
    if options.text_column not in header:
        raise _missing(path, options.text_column, "text", header)
    if options.label_column is not None and options.label_column not in header:
        raise _missing(path, options.label_column, "label", header)
    t = header.index(options.text_column)
    lab = header.index(options.label_column) if options.label_column is not None else None
    try:
        for row in reader:
            while bad:
                yield bad.pop(0)
            if not row:
                continue
            source = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                yield Unreadable(source, f"{len(row)} fields, the header has {len(header)}")
                continue
            label = row[lab].strip() if lab is not None else None
            yield _document(source, row[t], label, options)
    except csv.Error as exc:
        raise DataError(
            f"not a readable CSV file: {exc}", file=f"{path}:{reader.line_num}"
        ) from None
    yield from bad


def _jsonl_rows(fh: BinaryIO, path: str, options: TextOptions) -> Iterator[Item]:
    for number, line in _lines(fh, path, options.errors):
        source = f"{path}:{number}"
        if isinstance(line, Unreadable):
            yield line
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Unreadable(source, f"not a JSON object: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(row, dict):
            yield Unreadable(source, "not a JSON object")
            continue
        if options.text_column not in row:
            raise _missing(source, options.text_column, "text", row)
        if options.label_column is not None and options.label_column not in row:
            raise _missing(source, options.label_column, "label", row)
        text = row[options.text_column]
        if not isinstance(text, str):
            yield Unreadable(source, f"the text column holds {type(text).__name__}, not text")
            continue
        label = None if options.label_column is None else str(row[options.label_column]).strip()
        yield _document(source, text, label, options)


def read_class_folders(root: Path, options: TextOptions) -> tuple[list[str], list[Item]]:
    """``root/<class>/*.txt`` (searched recursively under each class folder): the class
    names (sorted) and every document or reason, in a stable order."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items: list[Item] = []
    for cls in classes:
        for path in text_files(root / cls, recursive=True):
            items.append(read_text_file(path, cls, options))
    return classes, items


def text_files(folder: Path, *, recursive: bool) -> list[str]:
    """``.txt`` files in ``folder`` (sorted; hidden files and folders left out)."""
    pattern = "**/*" if recursive else "*"
    found = []
    for p in folder.glob(pattern):
        rel = p.relative_to(folder).parts
        if any(part.startswith(".") for part in rel):
            continue
        if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES:
            found.append(str(p))
    return sorted(found)
