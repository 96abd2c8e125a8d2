"""Two ``dlcli tune`` workers share one study on a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from postgres_server import postgres_server
from tune_helpers import wine_recipe, wine_space

pytestmark = pytest.mark.slow


def test_two_workers_share_a_postgres_study(tmp_path: Path) -> None:
    import optuna

    recipe, space = wine_recipe(tmp_path / "r.yaml"), wine_space(tmp_path / "s.yaml")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with postgres_server() as url:
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
        study = optuna.load_study(study_name="shared", storage=url)
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
