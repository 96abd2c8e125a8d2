"""Warm start (``model.init_from``): copy an earlier model's weights into a new one by layer name.

The source is a run folder (its ``best.keras``, as ``dlcli predict`` chooses) or a
``.keras`` file, opened through dlcli's safe loading (config walk, ``safe_mode=True``).
Every layer of the new model that holds weights ends up in exactly one group:

- ``matched``: the source has a layer of that name whose weights have the same shapes:
  copied (a ``Backbone`` is one layer: all its weights move together);
- ``reinitialised``: the source has the name but other shapes (typically the head of a
  model for another number of classes): left as freshly initialised, and said so;
- ``missing``: no layer of that name in the source: freshly initialised.

``unused`` lists the source's layers with weights that the new model has no place for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Shapes = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Misfit:
    layer: str
    shapes: Shapes  # in the new model
    source_shapes: Shapes


@dataclass(frozen=True)
class WarmStartReport:
    source: Path  # the model file the weights came from
    matched: tuple[str, ...] = ()
    reinitialised: tuple[Misfit, ...] = ()
    missing: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    copied_params: int = 0

    def lines(self) -> list[str]:
        """What a run says about it, one line each (the first is the summary)."""
        out = [
            f"warm start from {self.source}: {len(self.matched)} layer(s) copied by name "
            f"({self.copied_params:,} weights), {len(self.reinitialised)} re-initialised "
            f"(other shapes), {len(self.missing)} not in the source"
        ]
        for misfit in self.reinitialised:
            out.append(
                f"layer {misfit.layer!r} re-initialised: weights {_text(misfit.shapes)} here, "
                f"{_text(misfit.source_shapes)} in the source (e.g. another number of classes)"
            )
        if self.missing:
            out.append(f"not in the source, freshly initialised: {', '.join(self.missing)}")
        if self.unused:
            out.append(f"source layers not used here: {', '.join(self.unused)}")
        return out


@dataclass
class _Tally:
    matched: list[str] = field(default_factory=list)
    misfits: list[Misfit] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    copied: int = 0


def _text(shapes: Shapes) -> str:
    return ", ".join(str(s) for s in shapes)  # (36, 5), (5,)


def _shapes(layer: Any) -> Shapes:
    return tuple(tuple(int(d) for d in w.shape) for w in layer.weights)


def warm_start(model: Any, init_from: Path) -> WarmStartReport:
    """Copy ``init_from``'s weights into ``model`` by layer name; report what happened."""
    from dlcli.modeling.loading import chosen_model_path, load_model_file

    source_path = chosen_model_path(init_from)
    source = load_model_file(source_path)
    by_name = {layer.name: layer for layer in source.layers if layer.weights}
    tally = _Tally()
    for layer in model.layers:
        if not layer.weights:
            continue
        other = by_name.get(layer.name)
        if other is None:
            tally.missing.append(layer.name)
        elif _shapes(other) != _shapes(layer):
            tally.misfits.append(Misfit(layer.name, _shapes(layer), _shapes(other)))
        else:
            layer.set_weights(other.get_weights())
            tally.matched.append(layer.name)
            tally.copied += sum(math.prod(w.shape) for w in layer.weights)
    names = {layer.name for layer in model.layers}
    return WarmStartReport(
        source=source_path,
        matched=tuple(tally.matched),
        reinitialised=tuple(tally.misfits),
        missing=tuple(tally.missing),
        unused=tuple(n for n in by_name if n not in names),
        copied_params=tally.copied,
    )
