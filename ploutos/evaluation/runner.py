"""Run a policy over a whole split on the one accounting engine and turn the result into metrics.

Evaluation never has its own P&L code (docs/design.md #3): it steps the same batched env
that training uses, built with evaluation=True so every env starts at the split's first
tradable day and runs to its end, and it records what the env's info reports.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ploutos.env import make_env
from ploutos.env.actions import ActionSpace
from ploutos.evaluation.metrics import TRADING_DAYS, compute_metrics
from ploutos.evaluation.sharpe_interval import with_sharpe_interval
from ploutos.evaluation.timing import timing_quality
from ploutos.market import Market
from ploutos.models.policy import Policy
from ploutos.obs.builders import ObsBuilder
from ploutos.obs.compact import CompactObs
from ploutos.rewards.factory import make_reward

PolicyFn = Callable[[CompactObs], torch.Tensor]

# The env's per-step info entries recorded by run_policy, under the same names in the log.
_STEP_FIELDS = (
    "equity",
    "cash",
    "fill_price",
    "filled_shares",
    "fees",
    "realized_pnl",
    "buy_mask",
    "sell_mask",
)


@dataclass(frozen=True)
class EpisodeLog:
    """One evaluation episode per env, as numpy.

    Row 0 of the [D + 1] arrays is the first decision day (start of the split) with the
    starting cash and no positions; row i >= 1 is the i-th fill day, marked at its close.
    The [D] arrays describe the fills of each step (row i - 1 fills on day days[i]).
    """

    split: str
    tickers: tuple[str, ...]
    action_space: ActionSpace  # the env's: its shape, dtype and report labels
    days: np.ndarray  # int64 [D + 1]: market day indices
    dates: np.ndarray  # datetime64[D] [D + 1]
    equity: np.ndarray  # float64 [D + 1, N]
    cash: np.ndarray  # float64 [D + 1, N]
    positions: np.ndarray  # float64 [D + 1, N, A]: shares held (cumulated fills)
    close: np.ndarray  # float64 [D + 1, A]: closes the equity is marked at
    actions: np.ndarray  # [D, N, A] int64 (discrete) or [D, N, A + 1] float32 (weights logits)
    fill_price: np.ndarray  # float64 [D, N, A]: slipped price of each fill (raw price if none)
    filled_shares: np.ndarray  # float64 [D, N, A]: signed, + bought, - sold
    fees: np.ndarray  # float64 [D, N, A]
    realized_pnl: np.ndarray  # float64 [D, N, A]: proceeds minus entry cost of shares sold
    buy_mask: np.ndarray  # bool [D, N, A]: a buy filled
    sell_mask: np.ndarray  # bool [D, N, A]: a sell filled
    rewards: np.ndarray  # float32 [D, N]

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def n_envs(self) -> int:
        return int(self.rewards.shape[1])

    @property
    def fill_days(self) -> np.ndarray:
        return self.days[1:]

    def traded_value(self) -> np.ndarray:
        """float64 [D, N] absolute notional traded per day."""
        return (np.abs(self.filled_shares) * self.fill_price).sum(axis=2)


def _to_numpy(steps: list[torch.Tensor]) -> np.ndarray:
    return torch.stack(steps).cpu().numpy()


def run_policy(
    policy_fn: PolicyFn,
    market: Market,
    cfg: DictConfig,
    split: str = "val",
    n_envs: int = 1,
    seed: int = 0,
    obs_builder: ObsBuilder | None = None,
) -> EpisodeLog:
    """Step make_env(cfg, market, n_envs, split, evaluation=True) once through the split.

    policy_fn maps a CompactObs to the env's action format. The loop has no host sync per
    step: the number of steps is known from the split, and the env's termination flag is
    checked once at the end.
    """
    env = make_env(
        cfg, market, n_envs=n_envs, split=split, seed=seed, evaluation=True,
        obs_builder=obs_builder,
    )  # fmt: skip
    # The first decision day can be after the split's start when the observation needs a
    # longer history (a v7 window); the last fill is on the split's last day.
    first, last = env.first_day, env.last_day
    n_steps = last - first

    obs = env.reset()
    records: dict[str, list[torch.Tensor]] = {name: [] for name in _STEP_FIELDS}
    actions_seen: list[torch.Tensor] = []
    rewards: list[torch.Tensor] = []
    terminated = torch.zeros(n_envs, dtype=torch.bool)
    for _ in range(n_steps):
        actions = policy_fn(obs)
        obs, reward, terminated, _, info = env.step(actions)
        actions_seen.append(actions.detach())
        rewards.append(reward)
        for name in _STEP_FIELDS:
            records[name].append(info[name])
    if not bool(terminated.all()):
        raise RuntimeError(
            f"evaluation env did not finish split '{split}' after {n_steps} steps; "
            "make_env(evaluation=True) must run the whole split once"
        )

    steps = {name: _to_numpy(values) for name, values in records.items()}
    days = np.arange(first, last + 1)
    start_cash = np.full((1, n_envs), env.params.initial_cash)
    filled = steps["filled_shares"]
    positions = np.concatenate(
        [np.zeros((1, *filled.shape[1:])), np.cumsum(filled, axis=0)], axis=0
    )
    return EpisodeLog(
        split=split,
        tickers=tuple(market.tickers),
        action_space=env.action_space,
        days=days,
        dates=market.dates[days],
        equity=np.concatenate([start_cash, steps["equity"]], axis=0),
        cash=np.concatenate([start_cash, steps["cash"]], axis=0),
        positions=positions,
        close=market.close[first : last + 1].cpu().numpy(),
        actions=_to_numpy(actions_seen),
        fill_price=steps["fill_price"],
        filled_shares=filled,
        fees=steps["fees"],
        realized_pnl=steps["realized_pnl"],
        buy_mask=steps["buy_mask"].astype(bool),
        sell_mask=steps["sell_mask"].astype(bool),
        rewards=_to_numpy(rewards),
    )


def episode_timing(log: EpisodeLog, market: Market, env_index: int = 0, horizon: int = 5) -> dict:
    """timing_quality of one env's fills, overall and per ticker (print with timing_report).

    Trades are judged at their slipped fill price against closes inside the evaluated split
    only (up to its last day), so a validation run never reads the test period; trades in
    the split's last `horizon` days are unjudged.
    """
    close = market.close[: int(log.days[-1]) + 1].cpu().numpy()
    return timing_quality(
        log.buy_mask[:, env_index],
        log.sell_mask[:, env_index],
        close,
        log.fill_days,
        horizon=horizon,
        fill_price=log.fill_price[:, env_index],
        tickers=log.tickers,
    )


def episode_metrics(
    log: EpisodeLog,
    market: Market,
    env_index: int = 0,
    horizon: int = 5,
    risk_free: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
) -> dict[str, float]:
    """The metrics dict of one env of an EpisodeLog: curve, trade, timing and reward."""
    n = env_index
    sold = log.sell_mask[:, n]
    metrics = compute_metrics(
        log.equity[:, n],
        periods_per_year,
        risk_free,
        cash=log.cash[:, n],
        traded_value=log.traded_value()[:, n],
        closed_pnl=log.realized_pnl[:, n][sold],
        n_trades=int(log.buy_mask[:, n].sum() + sold.sum()),
        fees=log.fees[:, n],
    )
    timing = episode_timing(log, market, n, horizon)
    for key in ("buy_quality", "sell_quality", "buy_good", "buy_bad", "sell_good", "sell_bad"):
        metrics[key] = float(timing[key])
    metrics["mean_reward"] = float(log.rewards[:, n].mean())
    return metrics


def evaluation_config(cfg: DictConfig, market: Market) -> tuple[DictConfig, str]:
    """(cfg to evaluate with, name of the reward it uses).

    A reward that looks ahead (the v6 timing shaping) is fine for training but must not
    score an evaluation; it is replaced by pnl (log equity growth at the training scale).
    """
    if not make_reward(cfg.reward, market, 1).looks_ahead:
        return cfg, str(cfg.reward.name)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    cfg.reward = {"name": "pnl", "scale": cfg.reward.get("scale", 1.0)}
    return cfg, "pnl"


def evaluate_policy(
    policy: Policy,
    obs_builder: ObsBuilder,
    cfg: DictConfig,
    split: str = "val",
    horizon: int = 5,
    risk_free: float = 0.0,
    keep_log: bool = False,
) -> dict[str, float | str | EpisodeLog]:
    """Backtest metrics of the deterministic policy over obs_builder.market's `split`.

    Returns every metric of `episode_metrics` plus sharpe_ci_low / sharpe_ci_high (the
    Sharpe ratio's bootstrap interval, evaluation/sharpe_interval.py), reward_used (the reward
    name the mean_reward was computed with) and reward_replaced (1.0 when the training reward
    looked ahead and pnl was used instead, else 0.0; numeric so loggers can record it).
    """
    market = obs_builder.market
    eval_cfg, reward_used = evaluation_config(cfg, market)
    was_training = policy.training
    policy.eval()
    # An ActorCritic encodes each decision day of the split once up front instead of once a
    # step: the evaluation steps one env, so per-step encoding was most of its policy work.
    table = getattr(policy, "market_table", None)
    rng = market.split(split)
    days = torch.arange(max(rng.start, obs_builder.min_day), rng.stop, device=market.device)
    try:
        with torch.no_grad(), table(obs_builder, days) if table else nullcontext():
            log = run_policy(
                lambda obs: policy.act(obs, obs_builder, deterministic=True),
                market,
                eval_cfg,
                split,
                obs_builder=obs_builder,
            )
    finally:
        policy.train(was_training)
    metrics: dict[str, float | str] = with_sharpe_interval(
        episode_metrics(log, market, horizon=horizon, risk_free=risk_free), log.equity[:, 0],
        risk_free,
    )
    metrics["reward_used"] = reward_used
    metrics["reward_replaced"] = float(reward_used != str(cfg.reward.name))
    if keep_log:  # under "episode_log": the training dashboards chart the episode itself
        return {**metrics, "episode_log": log}
    return metrics
