"""Starter recipes for text: class folders of ``.txt`` files, or a CSV table whose one
feature column holds sentences (``text,label``)."""

from __future__ import annotations

from dlcli.data.kinds.text_kind import NAME
from dlcli.starter.base import Claim, Draft, Entry, Finding, Source, Starter, data_name
from dlcli.starter.image_starter import folder_claim, folder_mismatch
from dlcli.starter.labels import count_findings
from dlcli.starter.table_look import look_at_table
from dlcli.starter.training import classification_train, imbalance_advice

TEXT_TABLES = (".csv",)  # the tables the text kind reads that init looks into


def text_model(classes: int) -> list[Entry]:
    """recipes/text_bow.yaml: word and word-pair presence, one hidden layer."""
    return [
        Entry(
            "TextVectorization",
            {
                "max_tokens": 20000,
                "ngrams": 2,
                "output_mode": "multi_hot",
                "pad_to_max_tokens": True,
            },
            "vocabulary learnt from the training text",
        ),
        Entry("Dense", {"units": 64, "activation": "relu"}),
        Entry("Dropout", 0.5),
        Entry("Dense", {"units": classes, "activation": "softmax", "name": "probs"}, "classes"),
    ]


class TextStarter(Starter):
    kind = NAME

    def claim(self, source: Source) -> Claim | None:
        if source.train.is_dir():
            return folder_claim(source.train, frozenset({".txt"}), "text")
        if source.train.suffix.lower() not in TEXT_TABLES:
            return None
        look = look_at_table(source.train, source.label)
        features = look.features
        if not look.target.classes or len(features) != 1 or features[0].type != "text":
            return None
        return Claim(0.9, f"one text column {features[0].name!r} ({features[0].why})")

    def draft(self, source: Source) -> Draft:
        if source.train.is_dir():
            return self._folders(source)
        look = look_at_table(source.train, source.label)
        (column,) = look.features
        counts = look.counts()
        data = [
            Entry("kind", NAME, f"{len(look.table.rows):,} documents in a table"),
            *source.split_entries(),
            Entry("text", column.name, column.why),
            Entry("label", look.label, look.target.why),
            Entry("batch_size", 32),
        ]
        findings = [
            look.label_finding(),
            Finding("text column", column.name, column.why),
            *count_findings(counts),
            *imbalance_advice(counts),
        ]
        return self._draft(source, data, counts, findings)

    def _folders(self, source: Source) -> Draft:
        from dlcli.data.text_read import text_files
        from dlcli.starter.layout import class_dirs

        files = {d.name: text_files(d, recursive=True) for d in class_dirs(source.train)}
        counts = {c: len(f) for c, f in files.items() if f}
        findings = [*count_findings(counts), *imbalance_advice(counts)]
        if source.validation is not None:
            val = sorted(d.name for d in class_dirs(source.validation))
            findings += folder_mismatch(sorted(counts), val)
        data = [
            Entry("kind", NAME, f"{sum(counts.values()):,} .txt files in {len(counts)} folders"),
            *source.split_entries(),
            Entry("batch_size", 32),
        ]
        return self._draft(source, data, counts, findings)

    def _draft(
        self, source: Source, data: list[Entry], counts: dict[str, int], findings: list[Finding]
    ) -> Draft:
        return Draft(
            kind=NAME,
            name=data_name(source.given),
            data=data,
            layers=text_model(len(counts)),
            train=classification_train(0.001, counts),
            findings=findings,
        )
