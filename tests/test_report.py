"""``dlcli report RUN``: one self-contained page whose numbers agree with the model itself.

The oracle is the run's ``best.keras`` called directly on the validation pictures read with
Pillow; the page is parsed with the standard library's HTML parser.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from report_helpers import (
    CSV_SCRIPT_LABEL,
    IMAGE_CLASSES,
    SCRIPT_CLASS,
    csv_run,
    image_run,
    make_report,
)

# What the page must have (issue 18), written out here rather than read from the page module.
SECTIONS = (
    "recipe",
    "data",
    "curves",
    "metrics",
    "per-class",
    "confusion",
    "gallery",
    "feature-maps",
)

REPO = Path(__file__).resolve().parent.parent
FIVE_MB = 5 * 1024 * 1024


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        """Tags whose attributes equal ``wanted`` (``class_``: one of the classes)."""

        def matches(attrs: dict[str, str], key: str, value: str) -> bool:
            if key == "class_":
                return value in attrs.get("class", "").split()
            return attrs.get(key.replace("_", "-")) == value

        return [
            a for t, a in self.tags if t == tag and all(matches(a, k, v) for k, v in wanted.items())
        ]


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report_runs")


@pytest.fixture(scope="module")
def image_page(runs_root: Path) -> tuple[Path, str]:
    run = image_run(runs_root)
    out = runs_root / "image_report.html"
    code, err = make_report(run, out)
    assert code == 0, err
    return run, out.read_text(encoding="utf-8")


def oracle(run: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(validation files, true classes, probabilities): Pillow pixels, the model called."""
    from dlcli.backend import keras

    names = json.loads((run / "labels.json").read_text(encoding="utf-8"))["class_names"]
    paths = sorted(str(p) for p in (run.parent.parent / "valid").glob("*/*.png"))
    y = np.array([names.index(Path(p).parent.name) for p in paths])
    model = keras.saving.load_model(run / "best.keras")
    return paths, y, np.asarray(model(oracle_pixels(paths)))


def oracle_pixels(paths: list[str]) -> np.ndarray:
    """``N x H x W x 1`` float32 grey levels 0..255, read with Pillow."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("L"), np.float32)[..., None] for p in paths])


def test_page_is_self_contained_small_and_has_every_section(image_page: tuple[Path, str]) -> None:
    _, html = image_page
    assert len(html.encode("utf-8")) < FIVE_MB
    tags = parse(html)
    for section in SECTIONS:
        assert tags.find("section", id=section), f"no section {section}"
    links = [a[k] for _, a in tags.tags for k in ("src", "href") if k in a]
    assert links and all(link.startswith(("data:", "#")) for link in links), links
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
    assert len(tags.find("script")) == 1  # the page's own, nothing a class name made
    assert len(tags.find("img")) > 4 and all(
        i["src"].startswith("data:image/") for i in tags.find("img")
    )


def test_every_class_and_file_name_is_escaped(image_page: tuple[Path, str]) -> None:
    _, html = image_page
    for name in IMAGE_CLASSES:
        assert name not in html  # never raw...
        assert name in "".join(parse(html).text) or name in html.replace("&#34;", '"')
    assert "&lt;script&gt;alert(1)" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert not parse(html).find("img", src="x")
    text = "".join(parse(html).text)
    assert SCRIPT_CLASS in text  # ...and read back as text


def test_confusion_matrix_and_gallery_agree_with_the_model(image_page: tuple[Path, str]) -> None:
    run, html = image_page
    paths, y, probs = oracle(run)
    names = json.loads((run / "labels.json").read_text(encoding="utf-8"))["class_names"]
    pred = probs.argmax(axis=1)
    tags = parse(html)
    cells = tags.find("button", class_="cell")
    assert len(cells) == len(names) ** 2
    for cell in cells:
        t, p = int(cell["data-true"]), int(cell["data-pred"])
        assert int(cell["data-count"]) == int(np.sum((y == t) & (pred == p)))
        assert cell["data-true-name"] == names[t] and cell["data-pred-name"] == names[p]
    accuracy = float(np.mean(pred == y))
    assert f"accuracy <strong>{accuracy:.4f}</strong>" in html

    confidence = probs.max(axis=1)
    wrong = [i for i in np.argsort(-confidence, kind="stable") if pred[i] != y[i]][:12]
    right = [i for i in np.argsort(confidence, kind="stable") if pred[i] == y[i]][:12]
    assert wrong, "the fixture files two pictures under the wrong class"
    for group, expected in (("mistake", wrong), ("unsure", right)):
        shown = [f for f in tags.find("figure", data_group=group)]
        assert [(int(f["data-true"]), int(f["data-pred"])) for f in shown] == [
            (y[i], pred[i]) for i in expected
        ]
    alts = [a["alt"] for a in tags.find("img") if "alt" in a]
    mistakes_shown = [a for a in alts if a in paths]
    assert mistakes_shown[: len(wrong)] == [paths[i] for i in wrong]


def test_thumbnails_are_the_pixels_and_overlays_the_predicted_class(
    image_page: tuple[Path, str],
) -> None:
    """Each thumbnail is the file's pixels; its overlay is the Grad-CAM of the class the
    model (called directly) predicts, over those pixels (the wiring; Grad-CAM itself is
    checked against a hand-written GradientTape in the explain tests)."""
    from dlcli.explain import gradcam, overlay

    run, html = image_page
    paths, _, probs = oracle(run)
    x = oracle_pixels(paths)
    from dlcli.backend import keras

    model = keras.saving.load_model(run / "best.keras")
    by_alt = {a["alt"]: a["src"] for a in parse(html).find("img")}
    shown = [i for i, path in enumerate(paths) if path in by_alt]
    assert len(shown) >= 5
    for i in shown:
        assert by_alt[paths[i]].startswith("data:image/png;")  # small pictures stay exact
        np.testing.assert_array_equal(_decode(by_alt[paths[i]]), x[i, ..., 0])
        heat = gradcam(model, x[i : i + 1], int(probs[i].argmax()))[0]
        expected = overlay(x[i], heat)
        # One example at a time here, a batch in the report: float sums may round apart.
        got = _decode(by_alt[f"Grad-CAM of {paths[i]}"])
        np.testing.assert_allclose(got, expected, atol=2)


def _decode(uri: str) -> np.ndarray:
    from PIL import Image

    data = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)


def test_data_section_counts_and_skipped_file(image_page: tuple[Path, str]) -> None:
    run, html = image_page
    text = " ".join(parse(html).text)
    assert "broken.png" in text and "not an image" in text  # skipped.txt, with its reason
    best = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["best"]
    with open(run / "history.csv", encoding="utf-8", newline="") as fh:
        history = list(csv.DictReader(fh))
    best_epoch = min(history, key=lambda r: float(r["val_loss"]))["epoch"]  # monitor: val_loss
    assert best["monitor"] == "val_loss"
    assert f"the best epoch ({best_epoch}, best val_loss" in html


def test_refuses_to_overwrite_and_writes_atomically(
    image_page: tuple[Path, str], tmp_path: Path
) -> None:
    run, _ = image_page
    out = tmp_path / "mine.html"
    out.write_text("my notes", encoding="utf-8")
    code, err = make_report(run, out)
    assert code == 2 and "exists" in err and "--overwrite" in err
    assert out.read_text(encoding="utf-8") == "my notes"
    code, err = make_report(run, out, "--overwrite")
    assert code == 0, err
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.html"]  # no temporary left


def test_not_a_run_and_wrong_suffix_are_usage_errors(tmp_path: Path, image_page) -> None:
    code, err = make_report(tmp_path, tmp_path / "r.html")
    assert code == 2 and "not a run directory" in err
    code, err = make_report(image_page[0], tmp_path / "r.png")
    assert code == 2 and ".html" in err


def test_missing_validation_data_and_early_stop_still_make_a_page(
    image_page: tuple[Path, str], tmp_path: Path
) -> None:
    run = shutil.copytree(image_page[0], tmp_path / "run")
    recipe = (run / "recipe.yaml").read_text(encoding="utf-8")
    gone = str(tmp_path / "gone")
    valid = str(run.parent.parent / "valid")
    recipe = re.sub(r"(validation: ).*", lambda m: m.group(1) + gone, recipe, count=1)
    (run / "recipe.yaml").write_text(recipe, encoding="utf-8")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    metrics["stopped_early"] = True
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    code, err = make_report(run, tmp_path / "r.html")
    assert code == 0, err
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "cannot be scored" in html and gone in html and valid not in html
    assert "note: the validation data cannot be scored" in err  # said on stderr too
    assert "early stopping ended the run after epoch 2" in html
    assert parse(html).find("img", alt="training curves")


def test_csv_run_lists_rows_without_thumbnails(runs_root: Path, tmp_path: Path) -> None:
    run = csv_run(runs_root)
    code, err = make_report(run, tmp_path / "r.html")
    assert code == 0, err
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    tags = parse(html)
    assert CSV_SCRIPT_LABEL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert len(tags.find("script")) == 1
    assert [i["alt"] for i in tags.find("img")] == ["training curves"]  # no thumbnails
    assert "No thumbnails or Grad-CAM overlays: this model reads csv data" in html
    cells = tags.find("button", class_="cell")
    wrong = sum(int(c["data-count"]) for c in cells if c["data-true"] != c["data-pred"])
    assert len(tags.find("tr", data_group="mistake")) == min(wrong, 12)
    assert "No feature maps" in html


def test_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    """A non-editable install has the page's template, style sheet and script."""
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("setuptools")  # the build backend, used without network isolation
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "dlcli", source / "dlcli", ignore=shutil.ignore_patterns("__pycache__"))
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist")]
    subprocess.run(
        [sys.executable, "-m", "pip", *build, str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("dlcli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = REPO / "dlcli" / "report" / "templates"
    shipped = {f"dlcli/report/templates/{p.name}" for p in templates.iterdir()}
    assert len(shipped) >= 3 and shipped <= names, shipped - names


def test_a_regression_run_gets_a_page_without_class_counts(tmp_path: Path) -> None:
    """Before: the data section counted the targets as class indices and the report failed
    (exit 1, 'object too deep for desired array') on every regression run."""
    from train_helpers import write_recipe

    from dlcli.cli import main

    data = {
        "kind": "csv",
        "train": str(REPO / "data" / "diabetes.csv"),
        "label": "progression",
        "target": "regression",
        "validation_split": 0.2,
    }
    recipe = write_recipe(tmp_path / "r.yaml", data=data, layers=[{"Dense": 1}], epochs=1)
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    page = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "Examples per" not in html
    assert "No examples per class: this run&#39;s target is regression" in html
