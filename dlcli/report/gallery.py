"""The gallery: chosen validation examples as thumbnails with their Grad-CAM overlays.

Inputs that are pictures (``H x W x C`` with 1, 3 or 4 channels) get a thumbnail and the
Grad-CAM heat map of the *predicted* class over it (:func:`dlcli.explain.gradcam`: where
the model looked to say what it said). Other inputs (table rows, documents, sound) are
listed by file or row, with the document's text or a short row of numbers; the page says
why there are no pictures. Pictures are added while the page's picture budget lasts:
the top mistakes and least sure right answers always, the per-cell extras only while it
lasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dlcli.errors import DlcliError
from dlcli.report.images import Picture, pixels_to_uint8, thumbnail
from dlcli.report.scoring import Scored
from dlcli.report.selection import CELL, Chosen, choose_examples

BUDGET_BYTES = 3_000_000  # pictures of the gallery, of the < 5 MB page
READ_CHUNK = 64
SNIPPET_CHARS = 240
MAX_SHOWN_VALUES = 16


@dataclass
class GalleryItem:
    chosen: Chosen
    ref: str  # file path or "example N"
    true_name: str
    predicted_name: str
    picture: Picture | None = None
    overlay: Picture | None = None
    snippet: str | None = None  # a document's text, or a short row of numbers


@dataclass
class Gallery:
    items: list[GalleryItem] = field(default_factory=list)
    pictures: bool = False  # inputs are images: thumbnails (and overlays when possible)
    gradcam: bool = False
    notes: list[str] = field(default_factory=list)
    left_out: int = 0  # per-cell examples dropped to keep the page small


def is_image_batch(x: np.ndarray) -> bool:
    """``N x H x W x C`` numbers with 1, 3 or 4 channels: a batch of pictures."""
    return x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.dtype.kind in "fiu"


def build_gallery(
    model: object, scored: Scored, *, top: int, per_cell: int, per_mistake_cell: int
) -> Gallery:
    chosen = choose_examples(
        scored.y,
        scored.probabilities,
        top=top,
        per_cell=per_cell,
        per_mistake_cell=per_mistake_cell,
    )
    gallery = Gallery()
    names = scored.class_names
    used = 0
    for start in range(0, len(chosen), READ_CHUNK):
        part = chosen[start : start + READ_CHUNK]
        x = scored.inputs([c.index for c in part])
        if start == 0:
            gallery.pictures = is_image_batch(x)
            gallery.gradcam = gallery.pictures
        heat = _heat_maps(model, x, part, gallery) if gallery.gradcam else None
        for k, c in enumerate(part):
            item = GalleryItem(c, scored.refs[c.index], names[c.true], names[c.predicted])
            if gallery.pictures:
                image = pixels_to_uint8(x[k])
                item.picture = thumbnail(image)
                if heat is not None:
                    item.overlay = thumbnail(_overlay(x[k], heat[k]))
                size = item.picture.nbytes + (item.overlay.nbytes if item.overlay else 0)
                if c.group == CELL and used + size > BUDGET_BYTES:
                    gallery.left_out += 1
                    continue
                used += size
            else:
                item.snippet = _snippet(x[k])
            gallery.items.append(item)
    return gallery


def _heat_maps(
    model: object, x: np.ndarray, part: Sequence[Chosen], gallery: Gallery
) -> np.ndarray | None:
    """Grad-CAM of each example's predicted class; None (and a note) when it cannot run."""
    from dlcli.explain import gradcam

    predicted = np.asarray([c.predicted for c in part], dtype=np.int64)
    try:
        return gradcam(model, x.astype(np.float32), predicted)
    except DlcliError as exc:
        gallery.gradcam = False
        gallery.notes.append(f"no Grad-CAM overlays: {exc.format()}")
        return None


def _overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    from dlcli.explain import overlay

    return np.asarray(overlay(image, heat), dtype=np.uint8)


def _snippet(row: np.ndarray) -> str | None:
    value = np.asarray(row)
    if value.dtype == object or value.dtype.kind in "SU":
        text = str(value.item() if value.ndim == 0 else value.ravel()[0])
        return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
    flat = value.ravel()
    if flat.size > MAX_SHOWN_VALUES:
        return None  # a waveform or a long vector: the file or row name says more
    return ", ".join(f"{v:.4g}" for v in flat.astype(np.float64))
