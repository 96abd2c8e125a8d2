"""``train.stages`` as written in a recipe, read into resolved :class:`StageSpec` objects.

What the stages mean, and the checks against the model's layers, are in
:mod:`dlcli.recipe.stages`; this module reads the YAML: each stage's keys, its
``trainable`` form, and its optimizer and schedule (the train section's by default).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dlcli.errors import Problem
from dlcli.recipe import catalog
from dlcli.recipe.layers import did_you_mean
from dlcli.recipe.spec import LRScheduleSpec, OptimizerSpec, StageSpec, TrainableSpec
from dlcli.recipe.stages import TRAINABLE_EXPECTED, TRAINABLE_KEYS, TRAINABLE_WORDS
from dlcli.recipe.yamlread import KeyPath, Positions, make_problem

STAGE_KEYS = ("name", "epochs", "trainable", "optimizer", "learning_rate", "lr_schedule")


class StageParser:
    """Turns the raw ``train.stages`` list into resolved :class:`StageSpec` objects."""

    def __init__(self, positions: Positions, problems: list[Problem]) -> None:
        self.positions, self.problems = positions, problems

    def problem(self, path: KeyPath, message: str, **kw: Any) -> None:
        self.problems.append(make_problem(self.positions, path, message, **kw))

    def parse(
        self, raw: Any, optimizer: Any, lr_schedule: Any, epochs: Any
    ) -> list[StageSpec] | None:
        """Stages from the raw list; ``optimizer``/``lr_schedule`` are the train section's raw
        values (the defaults of each stage), ``epochs`` its raw ``epochs`` (None: left out)."""
        where: KeyPath = ("train", "stages")
        if not isinstance(raw, list) or not raw:
            self.problem(where, "bad stages", expected="a list of one or more stages", received=raw)
            return None
        before = len(self.problems)
        stages = [
            self._stage(item, i, optimizer, lr_schedule) for i, item in enumerate(raw, start=1)
        ]
        names = [s.name for s in stages if s is not None]
        for i, stage in enumerate(stages, start=1):
            if stage is not None and names.count(stage.name) > 1:
                self.problem((*where, i - 1, "name"), f"two stages are named {stage.name!r}")
                break
        if len(self.problems) > before:
            return None
        resolved = [s for s in stages if s is not None]
        total = sum(s.epochs for s in resolved)
        if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > total:
            self.problem(
                ("train", "epochs"),
                f"train.epochs ({epochs}) is more than the stages' epochs ({total})",
                expected=f"at most {total}, or leave train.epochs out (with stages: their sum)",
                received=epochs,
                hint="give the last stage more epochs, or add a stage",
            )
            return None
        return resolved

    def _stage(self, raw: Any, index: int, optimizer: Any, schedule: Any) -> StageSpec | None:
        where: KeyPath = ("train", "stages", index - 1)
        if not isinstance(raw, dict):
            self.problem(where, "bad stage", expected="a mapping with epochs and trainable")
            return None
        ok = True
        for key in raw:
            if key not in STAGE_KEYS:
                hint = (
                    did_you_mean(str(key), list(STAGE_KEYS)) or f"allowed: {', '.join(STAGE_KEYS)}"
                )
                self.problem((*where, key), f"unknown key {key!r}", key=True, hint=hint)
                ok = False
        for key in ("epochs", "trainable"):
            if key not in raw:
                self.problem(where, f"missing required key {key!r} in stage {index}")
                ok = False
        name = raw.get("name", f"stage_{index}")
        if not isinstance(name, str) or not name.strip():
            self.problem((*where, "name"), "bad stage name", expected="text", received=name)
            ok = False
        epochs = raw.get("epochs")
        if "epochs" in raw and (
            isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
        ):
            self.problem(
                (*where, "epochs"), "bad epochs", expected="an integer >= 1", received=epochs
            )
            ok = False
        trainable = self._trainable(raw["trainable"], where) if "trainable" in raw else None
        opt = self._optimizer(raw, where, optimizer)
        sched = self._schedule(raw.get("lr_schedule", schedule), where, "lr_schedule" in raw)
        if not ok or trainable is None or opt is None or sched is False:
            return None
        return StageSpec(
            name=name,
            epochs=epochs,
            trainable=trainable,
            optimizer=opt,
            lr_schedule=sched if isinstance(sched, LRScheduleSpec) else None,
        )

    def _trainable(self, raw: Any, where: KeyPath) -> TrainableSpec | None:
        path = (*where, "trainable")
        if isinstance(raw, str) and raw.strip():
            kind = raw if raw in TRAINABLE_WORDS else "pattern"
            return TrainableSpec(kind=kind, value=None if kind != "pattern" else raw)
        if isinstance(raw, dict) and len(raw) == 1:
            key, value = next(iter(raw.items()))
            if key == "top":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    self.problem(
                        (*path, "top"), "bad top", expected="a layer count >= 1", received=value
                    )
                    return None
                return TrainableSpec(kind="top", value=value)
            if key == "from":
                if not isinstance(value, str) or not value.strip():
                    self.problem(
                        (*path, "from"), "bad from", expected="a layer name", received=value
                    )
                    return None
                return TrainableSpec(kind="from", value=value)
            hint = did_you_mean(str(key), list(TRAINABLE_KEYS))
            self.problem(
                (*path, key),
                f"unknown key {key!r}",
                key=True,
                expected=TRAINABLE_EXPECTED,
                hint=hint,
            )
            return None
        self.problem(path, "bad trainable", expected=TRAINABLE_EXPECTED, received=raw)
        return None

    def _optimizer(self, raw: dict[str, Any], where: KeyPath, default: Any) -> OptimizerSpec | None:
        from dlcli.recipe.sections import OPTIMIZERS

        given = raw.get("optimizer", default)
        path = (*where, "optimizer") if "optimizer" in raw else ("train", "optimizer")
        if given is None:
            given = "adam"
        if isinstance(given, str):
            given = {"name": given}
        if not isinstance(given, dict):
            self.problem(path, "bad optimizer", expected="a name or a mapping", received=given)
            return None
        args = dict(given)
        name = args.pop("name", "adam")
        if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
            if "optimizer" in raw:  # the train section reports its own optimizer
                hint = did_you_mean(str(name).lower(), list(OPTIMIZERS))
                self.problem(
                    path, f"unknown optimizer {name!r}", expected=", ".join(OPTIMIZERS), hint=hint
                )
            return None
        if "learning_rate" in raw:
            args["learning_rate"] = raw["learning_rate"]
        spec = OptimizerSpec(name=name.lower(), args=args)
        if "optimizer" in raw or "learning_rate" in raw:
            self._check_args(spec, where, raw)
        return spec

    def _check_args(self, spec: OptimizerSpec, where: KeyPath, raw: dict[str, Any]) -> None:
        from dlcli.recipe.train_checks import OPTIMIZER_RANGES

        known = catalog.optimizer_args(spec.name)
        for arg, value in spec.args.items():
            at = (
                (*where, "learning_rate")
                if arg == "learning_rate" and "learning_rate" in raw
                else (*where, "optimizer", arg)
            )
            if known is not None and arg not in known:
                hint = did_you_mean(arg, list(known)) or f"it takes: {', '.join(known)}"
                self.problem(
                    at, f"optimizer {spec.name!r} takes no argument {arg!r}", key=True, hint=hint
                )
                continue
            allowed = OPTIMIZER_RANGES.get(arg)
            number = (
                None
                if isinstance(value, bool) or not isinstance(value, int | float)
                else float(value)
            )
            if allowed is not None and number is not None and not allowed.holds(number):
                self.problem(
                    at,
                    f"bad {arg} for optimizer {spec.name!r}",
                    expected=allowed.text(),
                    received=value,
                    hint=allowed.why or None,
                )

    def _schedule(self, raw: Any, where: KeyPath, own: bool) -> LRScheduleSpec | bool | None:
        """The stage's schedule, None for none, False when it is bad (reported)."""
        if raw is None or isinstance(raw, LRScheduleSpec):
            return raw
        path = (*where, "lr_schedule") if own else ("train", "lr_schedule")
        try:
            return LRScheduleSpec.model_validate(raw)
        except ValidationError as exc:
            if own:  # a bad train.lr_schedule is reported by the train section
                for err in exc.errors():
                    loc = tuple(err["loc"])
                    self.problem(
                        (*path, *loc), "bad value", expected=err["msg"], received=err.get("input")
                    )
            return False
