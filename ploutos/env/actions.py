"""Action spaces: one object per action mode owns everything that depends on the mode.

- the env's order rule (actions -> sells and buy outlays, sized by EnvParams),
- the policy head: outputs per asset, a cash output, the distribution over actions,
- the rollout buffer's action shape and dtype, and what the env records as last actions,
- the gymnasium spaces and the conversion from numpy,
- the report's labels for a recorded action.

A new action mode (or a sizing rule that changes what an action means) is one subclass
here and one name in ACTION_SPACES; the env, the models, the algorithms, the gym adapter and
the report ask the object and never test the mode's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ploutos.env.accounting import discrete_orders, weight_orders
from ploutos.env.distributions import ActionDist, DiagGaussian, PerAssetCategorical
from ploutos.env.types import BUY, HOLD, N_DISCRETE_ACTIONS, SELL
from ploutos.errors import ConfigError

if TYPE_CHECKING:
    from gymnasium import spaces
    from omegaconf import DictConfig

    from ploutos.env.params import EnvParams
    from ploutos.market import Market

# Logits beyond +-10 saturate the softmax; the bound keeps the Box finite for tools that sample.
LOGIT_BOUND = 10.0


class ActionSpace:
    """Base class; `n_assets` is the universe size A."""

    name: str
    # Policy-head outputs per asset, and whether one more output (cash) comes from the pool.
    per_asset_outputs: int
    cash_output: bool
    # A state-independent log std parameter (Gaussian policies) in the actor.
    learned_log_std: bool
    dtype: torch.dtype
    labels: tuple[str, ...]

    def __init__(self, n_assets: int) -> None:
        self.n_assets = int(n_assets)

    @property
    def shape(self) -> tuple[int, ...]:
        """One env's action: (A,) codes or (A + 1,) logits."""
        return (self.n_assets + int(self.cash_output),)

    @property
    def head_dim(self) -> int:
        """Flat policy-head width."""
        return self.n_assets * self.per_asset_outputs + int(self.cash_output)

    def distribution(self, params: torch.Tensor, log_std: torch.Tensor | None) -> ActionDist:
        raise NotImplementedError

    def probabilities(self, dist: ActionDist) -> torch.Tensor:
        """Per-asset action probabilities [N, A, 3] or deterministic target weights [N, A + 1]."""
        raise NotImplementedError

    def bind(self, market: Market, env_cfg: DictConfig) -> ActionSpace:
        """The object the env steps with over `market`: a sizing rule computes its causal
        per-day tables here (ploutos/env/sizing.py); the plain modes need nothing."""
        return self

    def orders(
        self,
        actions: torch.Tensor,
        cash: torch.Tensor,
        shares: torch.Tensor,
        price: torch.Tensor,
        params: EnvParams,
        fill_day: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sell_shares [N, A], buy_outlays [N, A], what the env records as last actions);
        fill_day [N] is the day the orders fill (decided on fill_day - 1)."""
        raise NotImplementedError

    def gym_space(self) -> spaces.Space:
        raise NotImplementedError

    def from_numpy(self, actions: Any, device: torch.device | str) -> torch.Tensor:
        return torch.as_tensor(np.asarray(actions), dtype=self.dtype, device=device)

    def random(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n uniformly random actions (the random baseline), on the CPU."""
        raise NotImplementedError

    def label_columns(self, tickers: list[str], actions: np.ndarray) -> dict[str, list[Any]]:
        """Report columns for recorded actions [D, shape...] of one env."""
        raise NotImplementedError


class DiscreteActions(ActionSpace):
    """Per asset HOLD / BUY / SELL; the sizing rule (buy_fraction, sell_fraction, position
    cap) turns a BUY into an outlay and a SELL into shares."""

    name = "discrete"
    per_asset_outputs = N_DISCRETE_ACTIONS
    cash_output = False
    learned_log_std = False
    dtype = torch.int64
    labels = ("HOLD", "BUY", "SELL")

    def distribution(self, params: torch.Tensor, log_std: torch.Tensor | None) -> ActionDist:
        return PerAssetCategorical(params.reshape(-1, self.n_assets, N_DISCRETE_ACTIONS))

    def probabilities(self, dist: ActionDist) -> torch.Tensor:
        return dist.probs

    def orders(self, actions, cash, shares, price, params, fill_day):
        equity_at_fill = cash + (shares * price).sum(dim=1)
        sells, outlays = discrete_orders(actions, shares, price, equity_at_fill, params)
        return sells, outlays, actions

    def gym_space(self) -> spaces.Space:
        from gymnasium import spaces

        return spaces.MultiDiscrete([N_DISCRETE_ACTIONS] * self.n_assets)

    def random(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, N_DISCRETE_ACTIONS, (n, self.n_assets), generator=generator)

    def label_columns(self, tickers, actions):
        names = {HOLD: "HOLD", BUY: "BUY", SELL: "SELL"}
        return {t: [names[int(v)] for v in actions[:, a]] for a, t in enumerate(tickers)}


class WeightActions(ActionSpace):
    """A + 1 logits (cash last) whose softmax is the target allocation, rebalanced daily."""

    name = "weights"
    per_asset_outputs = 1
    cash_output = True
    learned_log_std = True
    dtype = torch.float32
    labels = ("weight",)

    def distribution(self, params: torch.Tensor, log_std: torch.Tensor | None) -> ActionDist:
        if log_std is None:
            raise ValueError("weights actions need the actor's log std")
        return DiagGaussian(params, log_std)

    def probabilities(self, dist: ActionDist) -> torch.Tensor:
        # The env's order rule: the softmax of the logits is the target allocation.
        return torch.softmax(dist.mode(), dim=-1)

    def orders(self, actions, cash, shares, price, params, fill_day):
        sells, outlays, weights = weight_orders(actions, cash, shares, price, params)
        return sells, outlays, weights.to(torch.float32)

    def gym_space(self) -> spaces.Space:
        from gymnasium import spaces

        return spaces.Box(-LOGIT_BOUND, LOGIT_BOUND, self.shape, np.float32)

    def random(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn((n, *self.shape), generator=generator)

    def label_columns(self, tickers, actions):
        return {t: actions[:, a].astype(np.float64) for a, t in enumerate([*tickers, "cash"])}


ACTION_SPACES: dict[str, type[ActionSpace]] = {
    "discrete": DiscreteActions,
    "weights": WeightActions,
}

# Sizing rules for per-asset timing actions (RL decides when, the rule how much); they
# subclass DiscreteActions, so they are registered after it.
from ploutos.env.sizing import SIZING_RULES  # noqa: E402

ACTION_SPACES.update(SIZING_RULES)


def make_action_space(mode: str, n_assets: int) -> ActionSpace:
    """The action space named by env.action_mode."""
    if mode not in ACTION_SPACES:
        raise ConfigError("env.action_mode", f"must be one of {tuple(ACTION_SPACES)}, got {mode!r}")
    return ACTION_SPACES[mode](n_assets)
