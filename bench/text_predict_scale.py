"""dlcli predict on many short documents: peak memory and speed (issue 14 acceptance).

    python bench/text_predict_scale.py RUN_DIR [--docs 100000] [--small 1000]

Writes two CSV tables of short documents (sentences of the shipped fortunes corpus,
repeated), runs ``dlcli predict RUN_DIR table.csv --out preds.csv`` on each in a fresh
process and reads the child's peak RSS (``resource.getrusage``) and wall time; then times a
per-document ``model.predict`` loop on a few hundred documents, in-process, as the naive
alternative. Prints peak RSS for both sizes and their difference (target < 100 MB), and
documents/s for dlcli and for the loop (target >= 10x).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sentences() -> list[str]:
    with (ROOT / "data" / "fortunes" / "test.csv").open(newline="", encoding="utf-8") as fh:
        return [" ".join(r["text"].split()[:20]) for r in csv.DictReader(fh)]


def write_table(path: Path, n: int, pool: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text"])
        for i in range(n):
            writer.writerow([pool[i % len(pool)]])


def predict_child(run: Path, table: Path, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one ``dlcli predict`` process."""
    code = (
        "import resource, sys, time\n"
        "from dlcli.cli import main\n"
        "t = time.perf_counter()\n"
        "rc = main(sys.argv[1:])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'@@ {time.perf_counter() - t} {peak}', file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    args = ["predict", str(run), str(table), "--out", str(out), "--overwrite"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    line = next((x for x in proc.stderr.splitlines() if x.startswith("@@ ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"predict failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    seconds, peak = (float(v) for v in line.split()[1:])
    return seconds, peak


def loop_rate(run: Path, docs: list[str], n: int) -> float:
    import numpy as np

    from dlcli.modeling.loading import load_model_file

    model = load_model_file(run)
    model.predict(np.asarray(docs[:1], dtype=object), verbose=0)  # trace once
    t = time.perf_counter()
    for doc in docs[:n]:
        model.predict(np.asarray([doc], dtype=object), verbose=0)
    return n / (time.perf_counter() - t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--loop", type=int, default=300, help="documents for the naive loop")
    args = parser.parse_args()
    pool = sentences()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for n in (args.small, args.docs):
            table = Path(tmp) / f"docs_{n}.csv"
            write_table(table, n, pool)
            results[n] = predict_child(args.run, table, Path(tmp) / f"preds_{n}.csv")
            with (Path(tmp) / f"preds_{n}.csv").open() as fh:
                rows = sum(1 for _ in fh) - 1
            assert rows == n, f"{rows} predictions for {n} documents"
    rate = loop_rate(args.run, pool, args.loop)
    (_, m_small), (s_big, m_big) = results[args.small], results[args.docs]
    print(
        f"peak RSS: {m_small:,.0f} MiB for {args.small:,} documents, {m_big:,.0f} MiB for "
        f"{args.docs:,} (+{m_big - m_small:,.0f} MiB)"
    )
    print(f"dlcli predict: {args.docs / s_big:,.0f} documents/s ({s_big:.1f}s, start-up included)")
    print(f"per-document model.predict loop: {rate:,.1f} documents/s")
    print(f"speed-up: {args.docs / s_big / rate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
