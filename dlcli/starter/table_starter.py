"""Starter recipes for tables (``data.kind: table``): numbers and categories, or a column of
image or sound file names (the Kaggle-style ``filename,label``), or sentences."""

from __future__ import annotations

from dlcli.data.kinds.table_kind import NAME, TableData
from dlcli.data.table_columns import ColumnSpec
from dlcli.data.table_read import is_table
from dlcli.errors import DataError
from dlcli.starter.audio_starter import sound_model, sound_settings
from dlcli.starter.base import Claim, Draft, Entry, Finding, Source, Starter, data_name
from dlcli.starter.image_starter import image_model, image_settings
from dlcli.starter.labels import count_findings
from dlcli.starter.table_look import FILE_TYPES, TableLook, look_at_table
from dlcli.starter.targets import (
    check_supported,
    output_layer,
    target_entry,
    targets_supported,
    train_entries,
)
from dlcli.starter.text_starter import text_model
from dlcli.starter.training import imbalance_advice

VECTOR_TYPES = ("number", "category")


def _input_columns(look: TableLook) -> tuple[list[ColumnSpec], list[Finding]]:
    """The columns the one model input reads, and a note on the ones left out."""
    features = look.features
    vector = [c for c in features if c.type in VECTOR_TYPES]
    others = [c for c in features if c.type not in VECTOR_TYPES]
    if vector:
        chosen = vector
    elif others:
        chosen = others[:1]
    else:
        raise DataError(
            "the table has no feature column besides the label",
            file=look.table.path,
            line=1,
            received=look.table.header,
        )
    left = [c for c in features if c not in chosen]
    notes = []
    if left:
        names = ", ".join(c.name for c in left)
        notes.append(
            Finding(
                "left out",
                names,
                "a starter model has one input; reading these too takes model.inputs "
                "(docs/recipes.md): set their type in data.columns and add an input",
                warning=True,
            )
        )
    return chosen, notes


def _column_findings(columns: list[ColumnSpec]) -> list[Finding]:
    """The feature columns by guessed type, one line per type."""
    by_type: dict[str, list[ColumnSpec]] = {}
    for c in columns:
        by_type.setdefault(c.type, []).append(c)
    findings = []
    for kind, cols in by_type.items():
        names = ", ".join(c.name for c in cols[:6]) + (", ..." if len(cols) > 6 else "")
        why = cols[0].why if len({c.why for c in cols}) == 1 else "by their values"
        topic = "ignored columns" if kind == "ignore" else f"{kind} columns"
        findings.append(Finding(topic, f"{len(cols)}: {names}", why))
    return findings


def _vector_model(look: TableLook, counts: dict[str, int]) -> list[Entry]:
    """recipes/mlp_tabular.yaml: standardise, two hidden layers."""
    return [
        Entry("BatchNormalization", {"momentum": 0.9, "name": "standardise"}, "scales columns"),
        Entry("Dense", {"units": 64, "activation": "relu"}),
        Entry("Dropout", 0.2),
        Entry("Dense", {"units": 32, "activation": "relu"}),
        output_layer(look.target, counts),
    ]


class TableStarter(Starter):
    kind = NAME

    def claim(self, source: Source) -> Claim | None:
        if source.train.is_file() and is_table(source.train):
            look = look_at_table(source.train, source.label)
            types = ", ".join(sorted({c.type for c in look.features})) or "no features"
            why = f"a table of {len(look.table.header)} columns ({types})"
            trains = look.target.classes or targets_supported(TableData)
            # A target this kind cannot train: another kind may (or draft says why not).
            return Claim(0.5 if trains else 0.3, why)
        return None

    def draft(self, source: Source) -> Draft:
        look = look_at_table(source.train, source.label)
        check_supported(look.target, TableData, str(source.train))
        chosen, findings = _input_columns(look)
        counts = dict(look.counts())
        settings: list[Entry] = []
        first = chosen[0]
        if first.type in FILE_TYPES:
            layers, settings, found = self._files(look, first, counts)
            findings = [*found, *findings]
            rate = 0.002
        elif first.type == "text":
            layers = [*text_model(len(counts))[:-1], output_layer(look.target, counts)]
            rate = 0.001
        else:
            layers, rate = _vector_model(look, counts), 0.01
        declared = {c.name: (c.type if c in chosen else "ignore") for c in look.columns}
        rows = len(look.table.rows)
        data = [
            Entry("kind", NAME, f"{rows:,} rows, {len(look.table.header)} columns"),
            *source.split_entries(),
            Entry("label", look.label, look.target.why),
            *target_entry(look.target),
            Entry("columns", declared, "types guessed from the values; change them here"),
            *settings,
            Entry("batch_size", 32 if rows >= 1000 else 16),
        ]
        findings = [
            look.label_finding(),
            Finding("target", look.target.type, "what the label column holds"),
            *_column_findings(look.columns),
            *findings,
            *count_findings(counts, "tag" if look.target.tags else "class"),
        ]
        if look.target.classes:
            findings += imbalance_advice(counts)
        return Draft(
            kind=NAME,
            name=data_name(source.given),
            data=data,
            layers=layers,
            train=train_entries(look.target, rate, counts),
            findings=findings,
        )

    def _files(
        self, look: TableLook, column: ColumnSpec, counts: dict[str, int]
    ) -> tuple[list[Entry], list[Entry], list[Finding]]:
        """Model, data settings and findings for a column of image or sound file names."""
        paths = look.files(column.name)
        if column.type == "image":
            size, mode, found = image_settings(paths)
            settings = [
                Entry("image_size", list(size), found[0].why),
                Entry("color_mode", mode, found[1].why),
            ]
            layers = [*image_model(size, len(counts))[:-1], output_layer(look.target, counts)]
            return layers, settings, found
        rate, duration, found = sound_settings(paths)
        settings = [
            Entry("sample_rate", rate, found[0].why),
            Entry("duration", duration, "seconds: covers 95% of the clips"),
        ]
        layers = [*sound_model(rate, duration, len(counts))[:-1], output_layer(look.target, counts)]
        return layers, settings, found
