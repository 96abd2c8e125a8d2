"""Starter recipes for tables of numbers (``data.kind: csv``): the kind that reads every
target type (classes, tags, numbers), chosen over the table kind when the table kind
cannot train what the label column holds."""

from __future__ import annotations

from dlcli.data.kinds.csv_kind import NAME, CsvData
from dlcli.data.kinds.table_kind import TableData
from dlcli.data.table_read import is_table
from dlcli.starter.base import Claim, Draft, Entry, Finding, Source, Starter, data_name
from dlcli.starter.labels import count_findings
from dlcli.starter.table_look import look_at_table
from dlcli.starter.targets import (
    check_supported,
    output_layer,
    target_entry,
    targets_supported,
    train_entries,
)
from dlcli.starter.training import imbalance_advice

CSV_SUFFIXES = (".csv",)


class CsvStarter(Starter):
    kind = NAME

    def claim(self, source: Source) -> Claim | None:
        if not (source.train.is_file() and is_table(source.train)):
            return None
        if source.train.suffix.lower() not in CSV_SUFFIXES:
            return None
        look = look_at_table(source.train, source.label)
        if not look.features or any(c.type != "number" for c in look.features):
            return None
        why = f"{len(look.features)} number columns"
        if not look.target.classes and not targets_supported(TableData):
            return Claim(0.6, f"{why} and a {look.target.type} target")
        return Claim(0.4, why)  # the table kind reads these too, and is asked first

    def draft(self, source: Source) -> Draft:
        look = look_at_table(source.train, source.label)
        check_supported(look.target, CsvData, str(source.train))
        counts = dict(look.counts())
        names = [c.name for c in look.features]
        ignored = [c.name for c in look.columns if c.type == "ignore"]
        rows = len(look.table.rows)
        data = [
            Entry("kind", NAME, f"{rows:,} rows of numbers"),
            *source.split_entries(),
            Entry("label", look.label, look.target.why),
            *target_entry(look.target),
        ]
        if ignored:
            data.append(Entry("features", names, f"left out: {', '.join(ignored)}"))
        data.append(Entry("batch_size", 32 if rows >= 1000 else 16))
        layers = [
            Entry("BatchNormalization", {"momentum": 0.9, "name": "standardise"}, "scales columns"),
            Entry("Dense", {"units": 64, "activation": "relu"}),
            Entry("Dropout", 0.2),
            Entry("Dense", {"units": 32, "activation": "relu"}),
            output_layer(look.target, counts),
        ]
        findings = [
            look.label_finding(),
            Finding("target", look.target.type, "what the label column holds"),
            Finding("number columns", f"{len(names)}: {', '.join(names[:6])}", "the features"),
            *count_findings(counts, "tag" if look.target.tags else "class"),
        ]
        if look.target.classes:
            findings += imbalance_advice(counts)
        if look.target.numbers:
            findings.append(_value_range(look.labels))
        return Draft(
            kind=NAME,
            name=data_name(source.given),
            data=data,
            layers=layers,
            train=train_entries(look.target, 0.01, counts),
            findings=findings,
        )


def _value_range(values: list[str]) -> Finding:
    numbers = sorted(float(v) for v in values if v)
    middle = numbers[len(numbers) // 2]
    return Finding(
        "values", f"{numbers[0]:g} to {numbers[-1]:g}", f"median {middle:g}; standardised"
    )
