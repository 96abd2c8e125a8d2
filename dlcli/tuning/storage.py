"""Where a study lives: a storage URL opened through Optuna's ``RDBStorage``.

The default is SQLite in the study folder (``sqlite:///OUT/study.db``). Several processes
on one machine share it (SQLite waits for the write lock); several machines share a study
through a database server URL (``postgresql://user:pass@host/db``; the driver comes with
``pip install 'dlcli[tune-postgres]'``, psycopg 3). Heartbeats let a live worker fail, and queue
again, the running trial of a worker that died on another machine.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import UsageError

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

HEARTBEAT_S = 15  # a running trial's worker writes a heartbeat this often
GRACE_S = 60  # and is taken for dead after this long without one
MAX_RETRY = 2  # a trial whose worker died is queued again at most this often
CREATE_ATTEMPTS = 4  # workers starting together race to create the tables


def default_url(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'study.db').absolute()}"


def display_url(url: str) -> str:
    """The URL with its password hidden (for messages and tables)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _retry_stale() -> dict[str, Any]:
    """Queue a dead worker's trial again (the callback's name changed in Optuna 4.9)."""
    from optuna import storages

    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        callback = storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
        return {"heartbeat_stale_trial_callback": callback}
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=MAX_RETRY)}


def open_storage(url: str) -> RDBStorage:
    """Open (and create the tables of) ``url``; exit 2 naming it when that fails."""
    import optuna
    from optuna.storages import RDBStorage

    # dlcli reports failed and pruned trials itself; Optuna would add a traceback for each
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql", "mysql"):
        raise UsageError(
            "unsupported storage URL",
            field="--storage",
            expected="sqlite:///path/study.db or postgresql://user:pass@host:port/db",
            received=display_url(url),
        )
    shown = display_url(url)
    if url.startswith("postgresql://"):
        # psycopg 3 (the tune-postgres extra), whichever driver SQLAlchemy defaults to
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args: dict[str, int] = {}
    if scheme == "sqlite":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        connect_args["timeout"] = 120  # wait for another worker's write, do not fail
    elif scheme == "postgresql":
        connect_args["connect_timeout"] = 10
    for attempt in range(CREATE_ATTEMPTS):
        try:
            return RDBStorage(
                url,
                engine_kwargs={"connect_args": connect_args},
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                **_retry_stale(),
            )
        except ImportError as exc:
            raise UsageError(
                f"the storage URL needs a database driver that is not installed: {exc}",
                field="--storage",
                received=shown,
                hint="pip install 'dlcli[tune-postgres]' for PostgreSQL",
            ) from None
        except Exception as exc:  # SQLAlchemy's OperationalError and friends: unreachable
            if _creation_race(exc) and attempt + 1 < CREATE_ATTEMPTS:
                time.sleep(0.5 + attempt)  # another worker is creating the tables: use them
                continue
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise UsageError(
                f"cannot open the study storage: {reason}",
                field="--storage",
                received=shown,
                hint="check the host, port, database name and credentials",
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _creation_race(exc: Exception) -> bool:
    """Workers that start together on an empty database both create Optuna's tables."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    text = str(exc).lower()
    return isinstance(exc, (IntegrityError, ProgrammingError)) or "already exists" in text
