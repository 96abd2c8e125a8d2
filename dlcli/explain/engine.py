"""``dlcli explain``'s engine: read inputs as the model's data kind does, score, explain.

Nothing is printed and nothing is written here: :func:`explain_files` yields one
:class:`ExplainedBatch` per batch of inputs (bad files in ``errors``, never raised), and
the command draws and saves them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from dlcli.data.listing import SkippedFile
from dlcli.errors import ModelLoadError, UsageError
from dlcli.explain.explainers import Attribution, Explainer, explainer_for
from dlcli.prediction.engine import class_names_for, output_converter, top_indices

if TYPE_CHECKING:
    from dlcli.modeling.loading import LoadedModel

BATCH_SIZE = 8  # inputs per batch: attributions cost a forward and backward pass each


@dataclass
class Explanation:
    """One input: what the model predicts, which class is explained, and the attribution."""

    path: str
    method: str
    layer: str | None  # Grad-CAM's layer
    view: str  # "image", "spectrogram", "token"
    predicted: int
    explained: int
    class_names: list[str]
    probabilities: np.ndarray  # one per class
    top_k: list[tuple[str, float]]  # the k likeliest, then the explained class if not among them
    attribution: Attribution

    @property
    def explained_name(self) -> str:
        return self.class_names[self.explained]

    @property
    def predicted_name(self) -> str:
        return self.class_names[self.predicted]


@dataclass
class ExplainedBatch:
    explanations: list[Explanation]
    errors: list[SkippedFile] = field(default_factory=list)


def resolve_class(spec: str | None, class_names: Sequence[str]) -> int | None:
    """``--class`` as an output index: a class name first, else an index; None: predicted."""
    if spec is None:
        return None
    names = [str(n) for n in class_names]
    if spec in names:
        return names.index(spec)
    text = spec.strip()
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
        return int(text)
    import difflib

    close = difflib.get_close_matches(spec, names, n=3)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise UsageError(
        f"unknown class {spec!r}",
        field="--class",
        expected=f"a class name ({shown}) or an index 0..{len(names) - 1}",
        hint=f"did you mean {', '.join(close)}?" if close else None,
    )


@dataclass
class ExplainSetup:
    """Everything checked before any input is read."""

    loaded: LoadedModel
    explainer: Explainer
    class_names: list[str]
    target: int | None  # --class, else None (each input's predicted class)


def prepare(
    loaded: LoadedModel,
    *,
    method: str | None,
    class_spec: str | None,
    layer: str | None,
    steps: int,
) -> ExplainSetup:
    """Check the model can be explained this way; errors (exit 2) before reading inputs."""
    model = loaded.model
    if model is None:
        raise ModelLoadError(
            f"an exported {loaded.format} model holds no gradients to explain",
            file=loaded.source,
            expected="the run directory or .keras file it was exported from",
        )
    if len(model.outputs) > 1:  # model.outputs: which output a map explains is not said
        raise UsageError(
            f"explain works on models with one output; this one has {len(model.outputs)} "
            "named outputs",
            file=loaded.source,
            hint="evaluate and predict report every output",
        )
    try:
        explainer = explainer_for(model, method, layer, steps)
    except UsageError as exc:  # the model's structure or --layer: say which model
        problems = [p if p.file else replace(p, file=str(loaded.source)) for p in exc.problems]
        raise UsageError(problems=problems) from None
    units = int(model.outputs[0].shape[-1])
    names = class_names_for(loaded, 2 if units == 1 else units)
    return ExplainSetup(loaded, explainer, names, resolve_class(class_spec, names))


def explain_files(
    setup: ExplainSetup,
    paths: Sequence[str],
    *,
    top_k: int = 3,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
) -> Iterator[ExplainedBatch]:
    """Explanations in input order, a batch at a time; unreadable inputs in ``errors``."""
    loaded = setup.loaded
    convert = _probabilities(loaded)
    for batch in loaded.kind.iter_inputs(
        loaded.preprocessing,
        paths,
        batch_size=batch_size,
        workers=workers,
        source=loaded.source,
    ):
        if not batch.paths:
            yield ExplainedBatch([], batch.errors)
            continue
        yield ExplainedBatch(
            _explain_batch(setup, batch.images, batch.paths, top_k, convert), batch.errors
        )


def _probabilities(loaded: LoadedModel) -> Callable[[np.ndarray], np.ndarray]:
    """Class scores as probabilities summing to 1 (:func:`output_converter`); a tag
    model's sigmoid units (a target that does not classify) are each their own tag's
    probability, kept as they are (normalised, three sure tags would read 0.333 each)."""
    from dlcli.targets import target_of

    convert = output_converter(loaded)
    if target_of(loaded.target).classifies or convert.activation != "sigmoid":
        return convert
    return lambda outputs: np.asarray(outputs, dtype=np.float32)


def _explain_batch(
    setup: ExplainSetup,
    x: np.ndarray,
    paths: list[str],
    top_k: int,
    convert: Callable[[np.ndarray], np.ndarray],
) -> list[Explanation]:
    probs = convert(setup.loaded.predict_batch(x))
    predicted = np.argmax(probs, axis=-1)
    explained = predicted if setup.target is None else np.full(len(x), setup.target)
    attributions = setup.explainer.explain(x, explained)
    k = max(1, min(top_k, probs.shape[-1]))
    names = setup.class_names
    out = []
    for i, (path, order) in enumerate(zip(paths, top_indices(probs, k), strict=True)):
        if explained[i] not in order:  # --class outside the top k: shown too, last
            order = [*order, explained[i]]
        out.append(
            Explanation(
                path=path,
                method=setup.explainer.method,
                layer=setup.explainer.layer_used,
                view=setup.explainer.view,
                predicted=int(predicted[i]),
                explained=int(explained[i]),
                class_names=names,
                probabilities=probs[i],
                top_k=[(names[int(j)], float(probs[i, int(j)])) for j in order],
                attribution=attributions[i],
            )
        )
    return out
