"""What a run reports about itself: ``metrics.json`` and TensorBoard scalars."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    from dlcli import __version__
    from dlcli.backend import keras, tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "dlcli": __version__,
    }


def metrics_document(
    *,
    name: str,
    history: list[dict[str, float]],
    best: dict[str, Any],
    epochs_planned: int,
    stopped_early: bool,
    totals: dict[str, float],
    plan: Any,
    global_batch_size: int,
    seed: int,
    bundle: Any,
    started: str,
    adapted: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``metrics.json`` of docs/architecture.md (plus a few extra, documented keys)."""
    final = {k: v for k, v in (history[-1] if history else {}).items() if k not in _BOOKKEEPING}
    train_time = totals.get("train_time_s", 0.0)
    samples = totals.get("train_samples", 0.0)
    return {
        "name": name,
        "final": final,
        "best": {"monitor": best["monitor"], "value": best["value"], "epoch": best["epoch"]},
        "epochs_run": int(history[-1]["epoch"]) if history else 0,
        "epochs_planned": int(epochs_planned),
        "stopped_early": bool(stopped_early),
        "wall_time_s": round(totals.get("wall_time_s", 0.0), 3),
        "train_time_s": round(train_time, 3),
        "samples_per_s": round(samples / train_time, 1) if train_time > 0 else None,
        "versions": versions(),
        "device": plan.device_label,
        "strategy": plan.strategy_kind,
        "replicas": plan.replicas,
        "precision": plan.precision_label,
        "precision_policy": plan.precision_policy,
        "onednn_bfloat16": plan.onednn_bfloat16,
        "jit_compile": plan.jit_compile,
        "global_batch_size": global_batch_size,
        "seed": seed,
        "num_train": bundle.num_train,
        "num_validation": bundle.num_validation,
        "skipped": len(bundle.skipped),
        "adapted": [{k: v for k, v in a.items() if k != "state"} for a in adapted or []],
        "started": started,
        "finished": now_iso(),
    }


_BOOKKEEPING = frozenset({"epoch", "stage", "lr", "epoch_time_s"})


class TensorBoardLog:
    """Per-epoch scalars in ``logs/train`` and ``logs/validation``, named as Keras does.

    Written with the core ``tf.summary.write`` and the scalars plugin's metadata, so the
    TensorBoard package is needed only to *view* the logs, not to write them.
    """

    def __init__(self, folder: Path) -> None:
        from dlcli.backend import tf

        self._tf = tf
        meta = tf.compat.v1.SummaryMetadata()
        meta.plugin_data.plugin_name = "scalars"
        self._meta = meta
        self._train = tf.summary.create_file_writer(str(folder / "train"))
        self._val = tf.summary.create_file_writer(str(folder / "validation"))

    def _scalar(self, tag: str, value: float, step: int) -> None:
        tf = self._tf
        tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=self._meta)

    def write(self, epoch: int, logs: dict[str, float], lr: float) -> None:
        with self._train.as_default():
            for key, value in logs.items():
                if not key.startswith("val_"):
                    self._scalar(f"epoch_{key}", value, epoch)
            self._scalar("epoch_learning_rate", lr, epoch)
        with self._val.as_default():
            for key, value in logs.items():
                if key.startswith("val_"):
                    self._scalar(f"epoch_{key[4:]}", value, epoch)
        self._train.flush()
        self._val.flush()

    def close(self) -> None:
        self._train.close()
        self._val.close()
