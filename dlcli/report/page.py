"""The report page: what the template shows (plain data) and the Jinja2 rendering.

The template and its style sheet and script are package files (``templates/``, shipped as
package data). Autoescaping is on for every variable, so a class folder named
``<script>`` is shown as text; the page's Content-Security-Policy allows no fetch at all
(``default-src 'none'``, pictures only as ``data:`` URIs) and runs only the page's own
script, named by its SHA-256, as a second line of defence.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from dlcli.report.figures import MapLayers
from dlcli.report.gallery import Gallery, GalleryItem
from dlcli.report.images import Picture

TEMPLATE = "report.html.j2"
MAX_MATRIX_CLASSES = 40  # a larger matrix is a wall of zeros: the classes most confused
SECTIONS: tuple[tuple[str, str], ...] = (
    ("recipe", "Recipe"),
    ("data", "Data"),
    ("curves", "Curves"),
    ("metrics", "Metrics"),
    ("per-class", "Per class"),
    ("confusion", "Confusion matrix"),
    ("gallery", "Examples"),
    ("feature-maps", "Feature maps"),
)


@dataclass(frozen=True)
class ClassCount:
    name: str
    train: int | None
    validation: int | None


@dataclass(frozen=True)
class SkippedRow:
    path: str
    reason: str
    where: str  # "training" (skipped.txt) or "scoring the validation data now"


@dataclass
class DataView:
    facts: list[tuple[str, str]] = field(default_factory=list)
    classes: list[ClassCount] = field(default_factory=list)
    counted: str = "class"  # what the rows of ``classes`` count examples of: class or tag
    train_total: int | None = None
    validation_total: int | None = None
    skipped: list[SkippedRow] = field(default_factory=list)
    skipped_total: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MetricRow:
    name: str
    final: float | None
    best: float | None


@dataclass(frozen=True)
class ScoreRow:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Cell:
    true: int  # class indices into Page.class_names
    predicted: int
    count: int
    fraction: float  # of the true class (the row)


@dataclass
class Confusion:
    """The confusion matrix as shown: every class, or the ``MAX_MATRIX_CLASSES`` with the
    most mistakes (``shown`` indices, in class order) when there are more."""

    shown: list[int]
    rows: list[list[Cell]]
    total_classes: int


@dataclass(frozen=True)
class ScoredView:
    count: int
    description: str
    accuracy: float
    loss: float | None


@dataclass(frozen=True)
class GalleryGroup:
    key: str
    title: str
    empty: str
    items: list[GalleryItem]


@dataclass
class Page:
    run_name: str
    run_path: str
    version: str
    generated: str
    model_file: str | None = None
    notes: list[str] = field(default_factory=list)
    recipe_text: str | None = None
    data: DataView = field(default_factory=DataView)
    curves: Picture | None = None
    best_epoch: int | None = None
    best_monitor: str | None = None
    best_value: float | None = None
    early_stop: int | None = None
    final: list[MetricRow] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    scored: ScoredView | None = None
    scoring_error: str = "the validation data was not scored"
    class_names: list[str] = field(default_factory=list)
    per_class: list[ScoreRow] = field(default_factory=list)
    averages: list[ScoreRow] = field(default_factory=list)
    confusion: Confusion | None = None
    gallery: Gallery | None = None
    groups: list[GalleryGroup] = field(default_factory=list)
    input_noun: str = "data"
    input_shape: str = ""
    refs_are_files: bool = True
    maps: MapLayers | None = None
    maps_example: str = ""
    maps_note: str = "No feature maps: the validation data was not scored."
    sections: tuple[tuple[str, str], ...] = SECTIONS


def confusion_view(matrix: np.ndarray, limit: int = MAX_MATRIX_CLASSES) -> Confusion:
    """Cells of ``matrix`` (rows: true, columns: predicted), shaded by the row's total."""
    m = np.asarray(matrix, dtype=np.int64)
    n = len(m)
    shown = list(range(n))
    if n > limit:
        mistakes = m.sum(axis=0) + m.sum(axis=1) - 2 * np.diag(m)
        shown = sorted(int(i) for i in np.argsort(-mistakes, kind="stable")[:limit])
    totals = m.sum(axis=1)
    rows = [
        [Cell(t, p, int(m[t, p]), float(m[t, p] / totals[t]) if totals[t] else 0.0) for p in shown]
        for t in shown
    ]
    return Confusion(shown, rows, n)


def _package_text(name: str) -> str:
    return resources.files("dlcli.report").joinpath("templates", name).read_text("utf-8")


def script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render(page: Page) -> str:
    """The page as one HTML document."""
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("dlcli.report", "templates"),
        autoescape=True,  # every run string (class and file names, the recipe) escaped
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    script = _package_text("report.js")
    return env.get_template(TEMPLATE).render(
        page=page,
        style=Markup(_package_text("report.css")),
        script=Markup(script),
        script_hash=script_hash(script),
    )
