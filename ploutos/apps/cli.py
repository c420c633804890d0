"""What every Hydra entry point shares: one-line errors, exit statuses, the console.

An error of ours (bad config value, bad data, unreadable checkpoint: a PloutosError) or a
missing file prints as one line on stderr,

    error: <key / ticker and date / path>: <what and how to fix>

and the app exits with status 2. The full traceback is shown when HYDRA_FULL_ERROR=1 or
PLOUTOS_DEBUG=1 is set. Anything else is a bug and keeps its traceback.

A run stopped by a signal (see ploutos/training/signals.py) saved and recorded itself and then
raises RunInterrupted: the app exits with the shell's convention for a process ended by signal
N, 128 + N (143 for SIGTERM, 130 for Ctrl-C, 138 for SIGUSR1). Raised as SystemExit, it passes
through Hydra's job runner, so a multirun stops after the interrupted job and never starts the
next ones.

What the apps tell the user goes through the 'ploutos' logger: under Hydra into its console
and the run folder's <job>.log; outside Hydra `ensure_console` prints it to stdout.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ploutos.errors import PloutosError

ROOT_LOGGER = "ploutos"
EXIT_USAGE = 2
EXIT_SIGNAL_BASE = 128
F = TypeVar("F", bound=Callable[..., Any])


class RunInterrupted(Exception):
    """A run that stopped cleanly on signal `signum` (its files are written)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_status(self) -> int:
        return EXIT_SIGNAL_BASE + self.signum


class _CurrentStdout(logging.StreamHandler):
    """A handler writing to whatever sys.stdout is when a record is emitted (a redirected or
    captured stream included), like print()."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns one; ours is live
        pass


_STDOUT = _CurrentStdout()


def ensure_console() -> None:
    """Show INFO lines of the 'ploutos' logger on stdout unless a Hydra app configured logging
    (then its console and file handlers get them and nothing is added)."""
    from hydra.core.hydra_config import HydraConfig

    logger = logging.getLogger(ROOT_LOGGER)
    if HydraConfig.initialized():
        logger.removeHandler(_STDOUT)
        return
    if _STDOUT not in logger.handlers:
        logger.addHandler(_STDOUT)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


def debugging() -> bool:
    flags = ("HYDRA_FULL_ERROR", "PLOUTOS_DEBUG")
    return any(os.environ.get(flag, "") not in ("", "0") for flag in flags)


def one_line_errors(task: F) -> F:
    """Wrap a Hydra task function (put it under @hydra.main)."""

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except (PloutosError, FileNotFoundError) as err:
            if debugging():
                raise
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        except RunInterrupted as err:
            print(f"interrupted: {err}", file=sys.stderr)
            raise SystemExit(err.exit_status) from None

    return wrapper  # type: ignore[return-value]
