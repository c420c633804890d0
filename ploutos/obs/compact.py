"""The observation an env hands out: the contract between the env, the observation
builders and the learners."""

from __future__ import annotations

from typing import NamedTuple

import torch


class CompactObs(NamedTuple):
    """What an env hands out: never the market window itself (docs/design.md #5).

    The market part of an observation depends on the decision day alone, so a learner
    renders it from the shared feature tensor (once per distinct day) and joins it with
    each env's small portfolio state.
    """

    day: torch.Tensor  # int64 [N]: decision day index on the market calendar
    portfolio: torch.Tensor  # float32 [N, P]: the env's own state (see ploutos.obs.portfolio)

    def index(self, idx: torch.Tensor) -> CompactObs:
        return CompactObs(self.day[idx], self.portfolio[idx])
