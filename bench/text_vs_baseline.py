"""dlcli's text recipes vs. a TF-IDF + logistic-regression baseline and the Keras tutorial.

    python bench/text_vs_baseline.py [--epochs N] [--only text_cnn,...]

All on the shipped fortunes corpus (data/fortunes: 3,945 training and 987 test documents,
6 classes), test accuracy on data/fortunes/test.csv, in one run:

- **baseline**: TF-IDF over unigrams and bigrams (the 20,000 most frequent in training,
  smooth IDF, rows L2-normalised; tokens as TextVectorization's default standardisation
  makes them) + multinomial logistic regression with an L2 penalty (C = 1), fitted by
  gradient descent in NumPy. No scikit-learn: the same baseline on any machine dlcli runs.
  It trains on the same 80% of train.csv that dlcli trains on (dlcli's own stratified
  split with the recipes' seed), so neither side sees more data.
- **dlcli**: each shipped text recipe, ``dlcli train`` then ``dlcli evaluate --data
  test.csv`` (the best epoch by validation loss on the 20% split), each in a fresh
  process; samples/s = training examples x epochs / the run's wall time (metrics.json:
  reading the data, adapting, every epoch with its validation pass and checkpoints).
- **keras tutorial**: the Keras "text classification from scratch" pipeline written by
  hand: ``text_dataset_from_directory`` on the same documents as class folders (its own
  80/20 split), ``TextVectorization`` adapted on the training texts and mapped over the
  dataset, then ``fit`` of text_cnn's layers (Embedding, Conv1D, global max pooling) with
  the same optimizer, batch size and epochs. samples/s over the same span as dlcli's
  (from reading the data to the trained model).

Prints accuracy and samples/s per side and dlcli's text_cnn speed relative to the
tutorial's (issue 14 target: >= 1.2x with the same accuracy; each recipe within 2 points
of the baseline or better). 2-core CPU: expect a few minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "data" / "fortunes" / "train.csv"
TEST = ROOT / "data" / "fortunes" / "test.csv"
RECIPES = ("text_bow", "text_cnn", "text_bilstm", "text_transformer")
SEED = 14  # the recipes' seed: dlcli's validation split
MAX_FEATURES = 20_000
# TextVectorization's default standardisation: lower case, these characters removed.
_PUNCT = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')


def read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


# ------------------------------------------------------------------------ the baseline


def tokens(text: str) -> list[str]:
    words = _PUNCT.sub("", text.lower()).split()
    return words + [f"{a} {b}" for a, b in pairwise(words)]


def tfidf(docs: list[list[str]], vocab: dict[str, int], idf: np.ndarray) -> np.ndarray:
    x = np.zeros((len(docs), len(vocab)), dtype=np.float32)
    for i, doc in enumerate(docs):
        for tok, n in Counter(doc).items():
            j = vocab.get(tok)
            if j is not None:
                x[i, j] = n
    x *= idf
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def logistic_regression(
    x: np.ndarray, y: np.ndarray, classes: int, c: float = 1.0, steps: int = 500
) -> np.ndarray:
    """Multinomial logistic regression, L2 penalty ||W||^2 / (2C) on the summed loss, by
    full-batch gradient descent with Adam until the loss stops moving (float32, at most
    ``steps`` steps)."""
    n, d = x.shape
    w = np.zeros((d + 1, classes), dtype=np.float32)
    xb = np.hstack([x, np.ones((n, 1), np.float32)])
    onehot = np.eye(classes, dtype=np.float32)[y]
    m, v = np.zeros_like(w), np.zeros_like(w)
    previous = np.inf
    for step in range(1, steps + 1):
        logits = xb @ w
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(n), y] + 1e-12).sum() + 0.5 * (w[:-1] ** 2).sum() / c
        grad = xb.T @ (p - onehot)
        grad[:-1] += w[:-1] / c
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        if abs(previous - loss) < 1e-5 * max(1.0, abs(loss)):
            break
        previous = loss
    return w


def baseline(steps: int = 500) -> dict:
    from dlcli.data.bundle import stratified_split

    t0 = time.perf_counter()
    texts, labels = read(TRAIN)
    classes = sorted(set(labels))
    y_all = np.asarray([classes.index(c) for c in labels])
    train_idx, _ = stratified_split(y_all, 0.2, SEED)
    docs = [tokens(texts[i]) for i in train_idx]
    counts = Counter(t for d in docs for t in d)
    vocab = {t: i for i, (t, _) in enumerate(counts.most_common(MAX_FEATURES))}
    df = Counter(t for d in docs for t in set(d) if t in vocab)
    n = len(docs)
    idf = np.asarray([np.log((1 + n) / (1 + df[t])) + 1 for t in vocab], dtype=np.float32)
    w = logistic_regression(tfidf(docs, vocab, idf), y_all[train_idx], len(classes), steps=steps)
    span = time.perf_counter() - t0
    test_texts, test_labels = read(TEST)
    xt = tfidf([tokens(t) for t in test_texts], vocab, idf)
    pred = np.argmax(np.hstack([xt, np.ones((len(xt), 1), np.float32)]) @ w, axis=1)
    y_test = np.asarray([classes.index(c) for c in test_labels])
    return {"accuracy": float(np.mean(pred == y_test)), "span_s": span, "samples_per_s": None}


# ------------------------------------------------------------------------ dlcli


def num_train() -> int:
    """Training documents after dlcli's 20% validation split."""
    from dlcli.data.bundle import stratified_split

    _, labels = read(TRAIN)
    classes = sorted(set(labels))
    train_idx, _ = stratified_split(np.asarray([classes.index(c) for c in labels]), 0.2, SEED)
    return len(train_idx)


def dlcli_side(recipe: str, epochs: int | None, tmp: Path) -> dict:
    run = tmp / recipe
    cmd = [sys.executable, "-m", "dlcli", "train", str(ROOT / "recipes" / f"{recipe}.yaml")]
    cmd += ["--out", str(run), "--quiet"]
    if epochs is not None:
        cmd += ["--set", f"train.epochs={epochs}"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    metrics = json.loads((run / "metrics.json").read_text())
    span = float(metrics["wall_time_s"])  # the whole run: reading, adapting, every epoch
    out = subprocess.run(
        [sys.executable, "-m", "dlcli", "evaluate", str(run), "--data", str(TEST), "--json"],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    return {
        "accuracy": float(json.loads(out)["accuracy"]),
        "span_s": span,
        "samples_per_s": num_train() * int(metrics["epochs_run"]) / span,
    }


# ------------------------------------------------------------------------ the tutorial


def keras_child(epochs: int) -> dict:
    """The tutorial pipeline with text_cnn's layers (runs in a child process)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        for split, path in (("train", TRAIN), ("test", TEST)):
            texts, labels = read(path)
            for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
                folder = Path(tmp) / split / label
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{i:05d}.txt").write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        train_ds, val_ds = keras.utils.text_dataset_from_directory(
            Path(tmp) / "train", batch_size=32, validation_split=0.2, subset="both", seed=SEED
        )
        test_ds = keras.utils.text_dataset_from_directory(
            Path(tmp) / "test", batch_size=32, shuffle=False
        )
        vectorize = keras.layers.TextVectorization(
            max_tokens=MAX_FEATURES, output_mode="int", output_sequence_length=120
        )
        vectorize.adapt(train_ds.map(lambda x, y: x))
        auto = tf.data.AUTOTUNE

        def as_ids(ds):
            return ds.map(lambda x, y: (vectorize(x), y), num_parallel_calls=auto).cache()

        train_ids = as_ids(train_ds).prefetch(auto)
        val_ids = as_ids(val_ds).prefetch(auto)
        inputs = keras.Input(shape=(None,), dtype="int64")
        x = keras.layers.Embedding(MAX_FEATURES, 64)(inputs)
        x = keras.layers.Dropout(0.3)(x)
        x = keras.layers.Conv1D(128, 5, activation="relu", padding="same")(x)
        x = keras.layers.GlobalMaxPooling1D()(x)
        x = keras.layers.Dropout(0.5)(x)
        model = keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(x))
        model.compile(
            optimizer=keras.optimizers.Adam(0.001),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(train_ids, validation_data=val_ids, epochs=epochs, verbose=0)
        span = time.perf_counter() - t0
        num_train = sum(int(y.shape[0]) for _, y in train_ds)
        _, accuracy = model.evaluate(as_ids(test_ds), verbose=0)
    return {"accuracy": float(accuracy), "span_s": span, "samples_per_s": num_train * epochs / span}


def keras_side(epochs: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--epochs", str(epochs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"keras child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: each recipe's own")
    parser.add_argument("--only", default=",".join(RECIPES), help="recipes to run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(keras_child(args.epochs or 10)))
        return 0
    results = {"tf-idf + logistic regression": baseline()}
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.only.split(","):
            results[f"dlcli {recipe}"] = dlcli_side(recipe, args.epochs, Path(tmp))
    results["keras tutorial (text_cnn layers)"] = keras_side(args.epochs or 10)
    base = results["tf-idf + logistic regression"]["accuracy"]
    print(f"{'side':36} {'accuracy':>9} {'vs baseline':>12} {'samples/s':>10} {'time':>7}")
    for name, r in results.items():
        speed = f"{r['samples_per_s']:,.0f}" if r["samples_per_s"] else "-"
        delta = (r["accuracy"] - base) * 100
        print(f"{name:36} {r['accuracy']:9.4f} {delta:+11.1f}p {speed:>10} {r['span_s']:6.1f}s")
    ours, tutorial = results.get("dlcli text_cnn"), results["keras tutorial (text_cnn layers)"]
    if ours:
        ratio = ours["samples_per_s"] / tutorial["samples_per_s"]
        print(f"dlcli text_cnn vs the tutorial: {ratio:.2f}x samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
