"""The window options (conf/window) as the evaluation functions take them, for every app that
trades a backtest window (backtest, compare)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig


def window_options(cfg: DictConfig) -> dict[str, Any]:
    """split / episodes / days / seed / start / end of conf/window, typed."""
    return {
        "split": cfg.split,
        "episodes": cfg.episodes,
        "days": cfg.days,
        "seed": int(cfg.seed),
        "start": None if cfg.start is None else str(cfg.start),
        "end": None if cfg.end is None else str(cfg.end),
    }
