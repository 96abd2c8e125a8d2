"""Two ``dlcli tune`` workers share one study on a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from postgres_server import PostgresServer, postgres_server
from tune_helpers import wine_recipe, wine_space

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with postgres_server() as running:
        yield running


def test_workers_starting_together_on_an_empty_database(server: PostgresServer) -> None:
    """Each creates Optuna's tables if missing: the race between them must not fail one."""
    from dlcli.tuning.storage import open_storage

    url = server.new_database("race")
    start = threading.Barrier(6)

    def open_one(_: int) -> str:
        start.wait()
        return type(open_storage(url)).__name__

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(open_one, range(6))) == ["RDBStorage"] * 6


def test_two_workers_share_a_postgres_study(tmp_path: Path, server: PostgresServer) -> None:
    import optuna

    recipe, space = wine_recipe(tmp_path / "r.yaml"), wine_space(tmp_path / "s.yaml")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    url = server.new_database("dlcli")
    procs = []
    for worker in ("a", "b"):  # each worker has its own folder, as on two machines
        args = ["tune", str(recipe), "--space", str(space), "--trials", "3"]
        args += ["--storage", url, "--study", "shared", "--out", str(tmp_path / worker)]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "dlcli", *args],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
        )
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    storage = url.replace("postgresql://", "postgresql+psycopg://")  # any SQLAlchemy 2
    study = optuna.load_study(study_name="shared", storage=storage)
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = [t for t in study.get_trials() if t.state in done]
    assert len(finished) == 3
    assert len({t.number for t in finished}) == 3
    for t in finished:  # each trial's run folder is on the worker that trained it
        assert (Path(t.user_attrs["run_dir"]) / "trial.json").is_file()
    started = sum(o.count(" started: ") for o, _ in outputs)
    assert started == 3
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlcli",
            "tune",
            "--show",
            "shared",
            "--storage",
            url,
            "--out",
            str(tmp_path / "a"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    assert "best trial" in shown.stdout and "postgresql://postgres@127.0.0.1" in shown.stdout
