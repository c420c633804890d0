"""Reward interface: batched, stateful per env, reset with the env."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StepOutcome:
    """What one env step did, as the reward functions see it (all [N] or [N, A])."""

    prev_equity: torch.Tensor  # float64 [N]: equity at the decision day's close
    equity: torch.Tensor  # float64 [N]: equity at the fill day's close
    prev_peak: torch.Tensor  # float64 [N]: peak equity before this step
    peak: torch.Tensor  # float64 [N]: peak equity after this step
    fill_day: torch.Tensor  # int64 [N]
    fill_price: torch.Tensor  # float64 [N, A]: slipped price of a fill, else the raw price
    buy_mask: torch.Tensor  # bool [N, A]
    sell_mask: torch.Tensor  # bool [N, A]
    last_day: int  # last day of the split: look-ahead rewards never peek past it


class Reward:
    """Base class. `looks_ahead` is True when the reward reads prices after the fill day."""

    looks_ahead: bool = False

    def __init__(self, n_envs: int, device: torch.device, scale: float) -> None:
        self.n_envs = n_envs
        self.device = device
        self.scale = scale

    def __call__(self, step: StepOutcome) -> torch.Tensor:
        """float32 [N] reward for the step."""
        raise NotImplementedError

    def reset(self, mask: torch.Tensor) -> None:
        """Forget the state of the envs where mask [N] is True (their episode restarts)."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            getattr(self, key).copy_(value)


def log_growth(step: StepOutcome) -> torch.Tensor:
    """float64 [N] log(equity_t / equity_{t-1})."""
    return torch.log(step.equity / step.prev_equity)


def close_after(close: torch.Tensor, step: StepOutcome, horizon: int) -> torch.Tensor:
    """float64 [N, A] the close `horizon` days after each fill, never past the split's last
    day: what the look-ahead shaping rewards judge a trade against."""
    return close.index_select(0, torch.clamp(step.fill_day + horizon, max=step.last_day))
