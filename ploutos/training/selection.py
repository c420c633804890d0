"""Model selection (`trainer.select`): which evaluation's checkpoint becomes best.ckpt.

Picking the maximum of ten noisy validation Sharpe ratios picks noise: 300 validation days
give a standard error near 0.9. The rules, each a score per evaluation (in the direction of
`trainer.mode`) whose best-so-far writes best.ckpt:

    best         the monitored metric itself (the historical behaviour)
    last         the evaluation's index: every evaluation beats the one before, so best.ckpt
                 is the newest evaluated checkpoint (and early stopping never fires)
    smoothed     an exponential average of the monitored metric over evaluations,
                 s_k = (1 - alpha) s_{k-1} + alpha m_k with alpha = trainer.select_smoothing
                 and s_1 = m_1: a checkpoint wins by being in a good stretch, not by one lucky
                 evaluation
    lower_bound  the low end of the evaluation's bootstrap confidence interval of the Sharpe
                 ratio (eval/sharpe_ci_low, ploutos/evaluation/sharpe_interval.py); needs
                 monitor eval/sharpe and mode max

`Selection` is a Lightning callback only so that its state (the running average, the history)
travels in checkpoints and a resumed run selects as a straight one would. `pick` applies a
rule to a finished run's history, as the selection study does for every rule at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lightning.pytorch.callbacks import Callback

from ploutos.errors import ConfigError

RULES = ("best", "last", "smoothed", "lower_bound")
SHARPE = "eval/sharpe"


def _finite(value: Any) -> float | None:
    value = None if value is None else float(value)
    return value if value is not None and math.isfinite(value) else None


class Selection(Callback):
    """Scores evaluations under one rule (see the module docstring) and keeps the history."""

    def __init__(
        self, rule: str = "best", monitor: str = SHARPE, mode: str = "max", smoothing: float = 0.5
    ) -> None:
        if rule not in RULES:
            raise ConfigError("trainer.select", f"unknown rule {rule!r}; choose one of "
                                                f"{', '.join(RULES)}")
        if rule == "lower_bound" and (monitor != SHARPE or mode != "max"):
            raise ConfigError(
                "trainer.select",
                f"lower_bound ranks by the low end of the Sharpe interval: needs trainer.monitor "
                f"{SHARPE} and trainer.mode max, got {monitor} / {mode} (to monitor another "
                f"metric set trainer.select=best, smoothed or last)",
            )
        if not 0.0 < float(smoothing) <= 1.0:
            raise ConfigError("trainer.select_smoothing", f"must be in (0, 1], got {smoothing}")
        self.rule, self.monitor, self.mode = rule, monitor, mode
        self.smoothing = float(smoothing)
        self.average: float | None = None
        # One entry per evaluation: env_steps, the monitored value, the interval, the score.
        self.history: list[dict[str, float | None]] = []

    def score(self, metrics: Mapping[str, float], env_steps: int) -> float:
        """This evaluation's selection score (NaN when it must not be selected)."""
        value = _finite(metrics.get(self.monitor))
        sign = 1.0 if self.mode == "max" else -1.0
        if self.rule == "best":
            score = value
        elif self.rule == "last":
            score = sign * (len(self.history) + 1)
        elif self.rule == "smoothed":
            if value is not None:
                self.average = value if self.average is None else (
                    (1.0 - self.smoothing) * self.average + self.smoothing * value
                )
            score = self.average if value is not None else None
        else:
            score = _finite(metrics.get(f"{SHARPE}_ci_low"))
        self.history.append({
            "env_steps": int(env_steps),
            "value": value,
            "ci_low": _finite(metrics.get(f"{SHARPE}_ci_low")),
            "ci_high": _finite(metrics.get(f"{SHARPE}_ci_high")),
            "score": score,
        })
        return math.nan if score is None else float(score)

    def summary(self) -> dict[str, Any]:
        """What summary.json records: the rule and every evaluation's numbers."""
        return {"rule": self.rule, "smoothing": self.smoothing, "history": list(self.history)}

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average, "history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.average = state_dict.get("average")
        self.history = list(state_dict.get("history", []))


def pick(
    history: Sequence[Mapping[str, Any]],
    rule: str,
    monitor: str = SHARPE,
    mode: str = "max",
    smoothing: float = 0.5,
) -> int | None:
    """Index into `history` (entries with `value`, `ci_low`) of the evaluation `rule` selects,
    as a run with trainer.select=rule would have saved it (the first of equal scores); None
    when no evaluation has a finite score."""
    selection = Selection(rule, monitor, mode, smoothing)
    sign = 1.0 if mode == "max" else -1.0
    chosen, best = None, -math.inf
    for k, entry in enumerate(history):
        metrics = {monitor: entry.get("value"), f"{SHARPE}_ci_low": entry.get("ci_low")}
        score = selection.score(metrics, int(entry.get("env_steps") or 0))
        if math.isfinite(score) and sign * score > best:
            chosen, best = k, sign * score
    return chosen
