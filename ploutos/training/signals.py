"""A clean stop on a signal, so a run left in the background can be stopped without losing work.

The first of `trainer.stop_signals` (SIGTERM and SIGINT by default; add SIGUSR1 for SLURM's
pre-emption warning, `#SBATCH --signal=USR1@120`) sets a flag that `GracefulStop` reads at the
end of each iteration: the trainer then stops as early stopping does, the checkpoint callback
writes last.ckpt (atomically) in on_train_end, and the app records `status: interrupted`, the
env steps and the command that resumes the run in summary.json. A second signal stops at once
(StopNow), keeping the last checkpoint already written. The handlers replace Lightning's (whose
SIGTERM handler exits without a checkpoint) for the duration of the fit only.

Under DDP the flag is reduced over processes each iteration, so a signal to any process stops
them all after the same iteration.
"""

from __future__ import annotations

import logging
import shlex
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from ploutos.errors import ConfigError

log = logging.getLogger(__name__)

_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}


def parse_signals(names: Iterable[str | int]) -> tuple[signal.Signals, ...]:
    """trainer.stop_signals as signals; names (SIGTERM, TERM) or numbers."""
    parsed: list[signal.Signals] = []
    for name in names:
        try:
            if isinstance(name, int) or str(name).isdigit():
                sig = signal.Signals(int(name))
            else:
                text = str(name).upper()
                sig = signal.Signals[text if text.startswith("SIG") else f"SIG{text}"]
        except (KeyError, ValueError):
            raise ConfigError(
                "trainer.stop_signals", f"'{name}' is not a signal (e.g. SIGTERM, SIGUSR1)"
            ) from None
        if sig in _UNCATCHABLE:
            raise ConfigError("trainer.stop_signals", f"{sig.name} cannot be caught")
        parsed.append(sig)
    return tuple(dict.fromkeys(parsed))


class StopNow(BaseException):
    """A second stop signal: leave the fit at once (a BaseException, like KeyboardInterrupt,
    so no `except Exception` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"second {signal.Signals(signum).name}: stopped at once")
        self.signum = int(signum)


class GracefulStop(Callback):
    """Stop at the end of the iteration in which one of `signals` arrived (see module doc)."""

    def __init__(self, signals: Sequence[signal.Signals]) -> None:
        self.signals = tuple(signals)
        self.received: signal.Signals | None = None
        self.stopped_at: int | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> None:
        # Python only delivers signals to the main thread's handlers.
        if threading.current_thread() is not threading.main_thread():
            log.warning("not in the main thread: %s will not stop the run cleanly",
                        ", ".join(s.name for s in self.signals))
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            log.warning(
                "received %s: stopping after this iteration and saving last.ckpt "
                "(send it again to stop at once)",
                self.received.name,
            )
            return
        self.restore()
        raise StopNow(signum)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After Lightning registered its own handlers (trainer._run), which ours replace.
        self.install()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        requested = self.received is not None
        if trainer.world_size > 1:
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if requested and self.stopped_at is None:
            self.stopped_at = int(pl_module.env_steps)
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.restore()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.restore()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.restore()


def resume_command(overrides: Sequence[str], ckpt_path: str, script: str | None = None) -> str:
    """The command line that continues a run from `ckpt_path`: the run's own overrides (a
    multirun job's included), any earlier ckpt_path replaced."""
    if script is None:
        script = sys.argv[0] if sys.argv and sys.argv[0].endswith(".py") else "train.py"
    kept = [o for o in overrides if not o.lstrip("+~").startswith("ckpt_path=")]
    return shlex.join(["python", script, *kept, f"ckpt_path={ckpt_path}"])
