"""TradingEnv: N trading envs over one Market, stepped together as tensor ops.

Episode timing: an episode decides on days start .. end - 1 and its last fill is on day
`end`. It is `terminated` when `end` is the split's last day (no data left, no bootstrap)
and `truncated` when the episode window (env.episode_days) ran out first. Finished envs
reset in the same step: on CUDA by a masked torch.where, so a rollout never waits for the
device; on the CPU by index, for the few envs that finished (there is no device to wait for).
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import torch

from ploutos.env.accounting import execute
from ploutos.env.actions import ActionSpace, make_action_space
from ploutos.env.params import EnvParams
from ploutos.env.rng import hash_uniform_int
from ploutos.market import Market, SplitRange
from ploutos.obs.builders import ObsBuilder
from ploutos.obs.compact import CompactObs
from ploutos.obs.portfolio import fresh_portfolio, portfolio_state
from ploutos.rewards.base import Reward, StepOutcome

_F64 = torch.float64
_I64 = torch.int64
# Scalar C++ for the fused step: inductor's CPU vector code runs each [N, A] row as 8 lanes
# plus a masked tail (15 assets = 8 + 7) in a separate pass per reduction, while its scalar
# code fuses the per-asset loops under one loop over envs. At N = 4,096 on a 2-core EPYC the
# step inside a render loop took 3.0 ms scalar vs 3.9-4.1 ms vectorized.
_COMPILE_OPTIONS = {"cpp.simdlen": 0}
_STATE = (
    "cash", "shares", "entry", "equity", "peak", "day", "start", "end", "steps", "trades",
    "wins", "last_actions", "episode_reward", "episode_index", "seeds",
)  # fmt: skip


class Trade(NamedTuple):
    """Everything a step derives from the actions and the episode clock, before the reward
    and the resets."""

    cash: torch.Tensor  # float64 [N] after the fills
    shares: torch.Tensor  # float64 [N, A]
    entry: torch.Tensor  # float64 [N, A]
    filled_shares: torch.Tensor  # float64 [N, A], signed: + bought, - sold
    fees: torch.Tensor  # float64 [N, A]
    fill_price: torch.Tensor  # float64 [N, A]: slipped price of a fill, else the raw price
    realized_pnl: torch.Tensor  # float64 [N, A], 0 where nothing was sold
    equity: torch.Tensor  # float64 [N] marked at the fill day's close
    peak: torch.Tensor  # float64 [N]
    last_actions: torch.Tensor
    buy_mask: torch.Tensor  # bool [N, A]
    sell_mask: torch.Tensor  # bool [N, A]
    portfolio: torch.Tensor  # float32 [N, P] state after the fills
    steps: torch.Tensor  # int64 [N] steps of the episode so far
    trades: torch.Tensor  # int64 [N] fills of the episode so far
    wins: torch.Tensor  # int64 [N] sells of the episode that closed at a profit
    log_return: torch.Tensor  # float64 [N] log(equity / initial cash)
    done: torch.Tensor  # bool [N]: the episode ended at this fill
    terminated: torch.Tensor  # bool [N]: ended at the split's last day (no bootstrap)
    truncated: torch.Tensor  # bool [N]: ended because the episode window ran out


def time_left(day: torch.Tensor, terminal: torch.Tensor, horizon: float) -> torch.Tensor:
    """float64 [N]: days until `terminal` (the day the env's run really ends: the split's last
    day in training, the window's end in evaluation and paper trading), in units of the
    episode length, capped at 1. The same quantity in training (episodes of
    env.episode_days) and in evaluation (one run over the whole split): 1 far from the split's
    end, falling to 0 at it. A truncated training episode ends with the time left it had, so
    its bootstrap value is that of a state that goes on, as it does."""
    return ((terminal - day).to(_F64) / horizon).clamp(max=1.0)


def _trade_tensors(
    params: EnvParams,
    space: ActionSpace,
    actions: torch.Tensor,
    cash: torch.Tensor,
    shares: torch.Tensor,
    entry: torch.Tensor,
    prev_peak: torch.Tensor,
    fill_day: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    steps: torch.Tensor,
    trades: torch.Tensor,
    wins: torch.Tensor,
    fill_prices: torch.Tensor,
    closes: torch.Tensor,
    last_day: int,
    terminal: torch.Tensor,
    horizon: float,
) -> Trade:
    """The whole arithmetic of a step, from the actions and the market's price tables
    [T, A] to the new portfolio state and episode counters, as one pure function of tensors,
    so that torch.compile fuses it (the price gathers included) into a few loops."""
    price = fill_prices.index_select(0, fill_day)
    close = closes.index_select(0, fill_day)
    sells, outlays, last_actions = space.orders(actions, cash, shares, price, params, fill_day)
    fills = execute(cash, shares, entry, price, sells, outlays, params)
    equity = fills.cash + (fills.shares * close).sum(dim=1)
    peak = torch.maximum(prev_peak, equity)
    buy_mask, sell_mask = fills.bought > 0, fills.sold > 0
    done = fill_day >= end
    terminated = done & (end >= last_day)
    portfolio = portfolio_state(
        fills.cash, fills.shares, fills.entry, close, equity, peak,
        time_left(fill_day, terminal, horizon),
    )  # fmt: skip
    return Trade(
        cash=fills.cash,
        shares=fills.shares,
        entry=fills.entry,
        filled_shares=fills.bought - fills.sold,
        fees=fills.fees,
        fill_price=fills.price,
        realized_pnl=fills.realized * sell_mask,
        equity=equity,
        peak=peak,
        last_actions=last_actions,
        buy_mask=buy_mask,
        sell_mask=sell_mask,
        portfolio=portfolio,
        steps=steps + 1,
        trades=trades + buy_mask.sum(dim=1) + sell_mask.sum(dim=1),
        wins=wins + (sell_mask & (fills.realized > 0)).sum(dim=1),
        log_return=torch.log(equity / params.initial_cash),
        done=done,
        terminated=terminated,
        truncated=done & ~terminated,
    )


class TradingEnv:
    def __init__(
        self,
        market: Market,
        params: EnvParams,
        obs_builder: ObsBuilder,
        reward: Reward,
        n_envs: int,
        split: SplitRange,
        seed: int = 0,
        evaluation: bool = False,
        action_space: ActionSpace | None = None,
    ) -> None:
        self.market = market
        self.params = params
        self.obs_builder = obs_builder
        self.reward = reward
        self.n_envs = n_envs
        self.n_assets = market.n_assets
        self.split = split
        self.evaluation = evaluation
        self.device = market.device
        # make_env passes the space bound to the market (a sizing rule's causal tables).
        self.action_space = action_space or make_action_space(params.action_mode, self.n_assets)
        self.reward_looks_ahead = reward.looks_ahead
        # First decision day: features (and the v7 window) defined; last fill: split's last day.
        self.first_day = max(split.start, obs_builder.min_day)
        self.last_day = split.stop - 1
        if self.first_day >= self.last_day:
            raise ValueError(
                f"split '{split.name}' [{split.start}, {split.stop}) leaves no step after the "
                f"first observable day {obs_builder.min_day}"
            )
        span = self.last_day - self.first_day
        days = params.episode_days
        self.episode_days = span if evaluation or days is None else min(days, span)
        self.n_starts = 1 if evaluation else span - self.episode_days + 1
        # The unit of the portfolio state's time-left feature: the nominal episode length,
        # the same in training and in evaluation (see time_left).
        self.horizon = float(span if days is None else days)

        dev, n, a = self.device, n_envs, self.n_assets
        self.seeds = seed + torch.arange(n, dtype=_I64, device=dev)
        # Counter of the episode each env is in; the first reset() makes it 0.
        self.episode_index = torch.full((n,), -1, dtype=_I64, device=dev)
        self.cash = torch.full((n,), params.initial_cash, dtype=_F64, device=dev)
        self.shares = torch.zeros((n, a), dtype=_F64, device=dev)
        self.entry = torch.zeros((n, a), dtype=_F64, device=dev)
        self.equity = self.cash.clone()
        self.peak = self.cash.clone()
        self.start = torch.zeros(n, dtype=_I64, device=dev)
        self.end = torch.zeros(n, dtype=_I64, device=dev)
        self.day = torch.zeros(n, dtype=_I64, device=dev)
        self.steps = torch.zeros(n, dtype=_I64, device=dev)
        self.trades = torch.zeros(n, dtype=_I64, device=dev)
        self.wins = torch.zeros(n, dtype=_I64, device=dev)
        space = self.action_space
        self.last_actions = torch.zeros((n, *space.shape), dtype=space.dtype, device=dev)
        self.episode_reward = torch.zeros(n, dtype=_F64, device=dev)
        self._fresh = fresh_portfolio(a, dev)
        self._compiled = (
            torch.compile(
                partial(_trade_tensors, params, self.action_space),
                dynamic=False,
                options=_COMPILE_OPTIONS,
            )
            if params.compile
            else None
        )
        self._all = torch.ones(n, dtype=torch.bool, device=dev)
        self._split_last = torch.full((n,), self.last_day, dtype=_I64, device=dev)

    def terminal_days(self) -> torch.Tensor:
        """[N] the day each env's run really ends: its episode's end in evaluation (the
        window's end; paper trading sets it to the account's), the split's last day in
        training, where episodes are windows of a run that goes on."""
        if self.evaluation:
            return self.end
        return self._split_last

    def _trade(self, actions: torch.Tensor, fill_day: torch.Tensor) -> Trade:
        """Orders from actions, their fills at fill_day, equity marked at its close, and the
        portfolio state they leave."""
        args = (
            actions, self.cash, self.shares, self.entry, self.peak, fill_day, self.start,
            self.end, self.steps, self.trades, self.wins, self.market.fill, self.market.close,
            self.last_day, self.terminal_days(), self.horizon,
        )  # fmt: skip
        if self._compiled is not None:
            try:
                return self._compiled(*args)
            except Exception as err:  # any compiler failure falls back to the eager path
                warnings.warn(
                    f"env.compile: torch.compile failed, stepping eagerly ({err})", stacklevel=2
                )
                self._compiled = None
        return _trade_tensors(self.params, self.action_space, *args)

    # ---- episodes -------------------------------------------------------------------------

    def _draw_starts(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Episode starts for every env, or for the envs listed in idx."""
        seeds, counters = self.seeds, self.episode_index
        if idx is not None:
            seeds, counters = seeds.index_select(0, idx), counters.index_select(0, idx)
        if self.n_starts == 1:
            return torch.full_like(seeds, self.first_day)
        return self.first_day + hash_uniform_int(seeds, counters, self.n_starts)

    def _reset_where(self, mask: torch.Tensor) -> None:
        """Start a new episode in the envs where mask [N] is True."""
        m2 = mask.unsqueeze(1)
        cash0 = self.params.initial_cash
        self.episode_index = self.episode_index + mask
        start = torch.where(mask, self._draw_starts(), self.start)
        self.day = torch.where(mask, start, self.day)
        self.end = torch.where(mask, start + self.episode_days, self.end)
        self.start = start
        self.cash = torch.where(mask, cash0, self.cash)
        self.shares = torch.where(m2, 0.0, self.shares)
        self.entry = torch.where(m2, 0.0, self.entry)
        self.equity = torch.where(mask, cash0, self.equity)
        self.peak = torch.where(mask, cash0, self.peak)
        self.steps = torch.where(mask, 0, self.steps)
        self.trades = torch.where(mask, 0, self.trades)
        self.wins = torch.where(mask, 0, self.wins)
        self.last_actions = torch.where(m2, 0, self.last_actions)
        self.episode_reward = torch.where(mask, 0.0, self.episode_reward)
        self.reward.reset(mask)

    def _reset_index(self, idx: torch.Tensor, mask: torch.Tensor) -> None:
        """_reset_where for the envs listed in idx [K] (mask [N] marks the same envs)."""
        cash0 = self.params.initial_cash
        self.episode_index = self.episode_index + mask
        start = self._draw_starts(idx)
        self.start = self.start.index_copy(0, idx, start)
        self.day = self.day.index_copy(0, idx, start)
        self.end = self.end.index_copy(0, idx, start + self.episode_days)
        # Tensors that info hands out (or the caller's actions, which are last_actions in the
        # discrete mode) are replaced; the step's fresh private state is reset in place.
        for name, value in (("cash", cash0), ("equity", cash0)):
            setattr(self, name, getattr(self, name).index_fill(0, idx, value))
        for name in ("steps", "trades", "wins", "last_actions", "episode_reward"):
            setattr(self, name, getattr(self, name).index_fill(0, idx, 0))
        self.peak.index_fill_(0, idx, cash0)
        self.shares.index_fill_(0, idx, 0.0)
        self.entry.index_fill_(0, idx, 0.0)
        self.reward.reset(mask)

    def reset(self) -> CompactObs:
        """Start a new episode in every env (the next one in each env's RNG sequence)."""
        self._reset_where(self._all)
        return CompactObs(self.day, self._fresh.expand(self.n_envs, -1).clone())

    # ---- stepping -------------------------------------------------------------------------

    def observe(self) -> CompactObs:
        """The current observation, without stepping."""
        close = self.market.close.index_select(0, self.day)
        state = portfolio_state(
            self.cash, self.shares, self.entry, close, self.equity, self.peak,
            time_left(self.day, self.terminal_days(), self.horizon),
        )  # fmt: skip
        return CompactObs(self.day, state)

    def step(
        self, actions: torch.Tensor
    ) -> tuple[CompactObs, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        fill_day = self.day + 1
        trade = self._trade(actions, fill_day)
        equity = trade.equity
        outcome = StepOutcome(
            prev_equity=self.equity,
            equity=equity,
            prev_peak=self.peak,
            peak=trade.peak,
            fill_day=fill_day,
            fill_price=trade.fill_price,
            buy_mask=trade.buy_mask,
            sell_mask=trade.sell_mask,
            last_day=self.last_day,
        )
        reward = self.reward(outcome)

        self.cash, self.shares, self.entry = trade.cash, trade.shares, trade.entry
        self.equity, self.peak, self.day = equity, trade.peak, fill_day
        self.steps, self.trades, self.wins = trade.steps, trade.trades, trade.wins
        self.last_actions = trade.last_actions
        self.episode_reward = self.episode_reward + reward
        final_portfolio = trade.portfolio

        done = trade.done
        info = {
            "equity": equity,
            "cash": trade.cash,
            "fill_price": trade.fill_price,
            "filled_shares": trade.filled_shares,
            "fees": trade.fees,
            "buy_mask": trade.buy_mask,
            "sell_mask": trade.sell_mask,
            "realized_pnl": trade.realized_pnl,
            "day": fill_day,
            "final_day": fill_day,
            "final_portfolio": final_portfolio,
            "episode_reward": self.episode_reward,
            "episode_length": self.steps,
            "episode_log_return": trade.log_return,
            "episode_trades": self.trades,
            "episode_wins": self.wins,
        }
        if self.device.type == "cpu":
            # No device sync on the CPU: reset just the few envs that finished, by index
            # (masked where over all N envs costs more than the rest of the step).
            finished = done.nonzero().squeeze(1)
            portfolio = final_portfolio
            if finished.numel():
                self._reset_index(finished, done)
                portfolio = final_portfolio.clone()
                portfolio[finished] = self._fresh
        else:
            # On CUDA the resets always run masked so the rollout never waits for the device.
            self._reset_where(done)
            portfolio = torch.where(done.unsqueeze(1), self._fresh, final_portfolio)
        return CompactObs(self.day, portfolio), reward, trade.terminated, trade.truncated, info

    # ---- persistence ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {key: getattr(self, key).clone() for key in _STATE}
        state.update({f"reward.{k}": v for k, v in self.reward.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key in _STATE:
            setattr(self, key, state[key].to(self.device).clone())
        self.reward.load_state_dict(
            {k.removeprefix("reward."): v.to(self.device) for k, v in state.items()
             if k.startswith("reward.")}
        )  # fmt: skip
