"""Where a study lives: a SQLite file (or any SQLAlchemy URL), or an Optuna journal file.

The sweeper and every trial's training process open the same storage: the sweeper asks for
parameters and tells results, a trial reports its evaluations and asks whether to stop. So
the location handed to trials is absolute (a SLURM job may start elsewhere) and never an
in-memory database.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from ploutos.errors import ConfigError

SQLITE = "sqlite:///"
# Seconds a process waits for another's write lock on the SQLite file (parallel trials
# report their evaluations while the sweeper tells results).
SQLITE_LOCK_TIMEOUT_S = 60


def resolve_storage(storage: str | None, sweep_dir: Path) -> str:
    """An absolute storage location; null means a fresh SQLite file in the sweep folder."""
    if storage is None:
        path = Path(sweep_dir).resolve() / "optuna.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"{SQLITE}{path}"
    if storage.startswith(SQLITE):
        name = storage[len(SQLITE) :]
        if name in ("", ":memory:"):
            raise ConfigError(
                "hydra.sweeper.storage", "an in-memory SQLite database cannot be shared by trials"
            )
        path = Path(name).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"{SQLITE}{path}"
    if "://" in storage:
        return storage
    path = Path(storage).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def open_storage(location: str) -> optuna.storages.BaseStorage:
    """The Optuna storage behind a location from `resolve_storage`."""
    if "://" not in location:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(location))
    if location.startswith(SQLITE):
        kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}}
        return optuna.storages.RDBStorage(location, engine_kwargs=kwargs)
    return optuna.storages.RDBStorage(location)
