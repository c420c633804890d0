"""EnvParams: the validated `env` config group (every bad value names its key)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from ploutos.errors import ConfigError


def _num(cfg: DictConfig, key: str, default: float) -> float:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"env.{key}", f"must be a number, got {value!r}")
    return float(value)


def _check(ok: bool, key: str, rule: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"env.{key}", f"must be {rule}, got {value!r}")


@dataclass(frozen=True)
class EnvParams:
    action_mode: str = "discrete"
    initial_cash: float = 100_000.0
    episode_days: int | None = 252  # None: every episode runs to the end of the split
    buy_fraction: float = 0.2
    max_position_weight: float = 0.25
    sell_fraction: float = 1.0
    commission_bps: float = 5.0
    slippage_bps: float = 5.0
    min_fee: float = 0.0
    lot_size: float = 0.0  # 0: fractional shares
    compile: bool = False  # fuse the whole per-asset step with torch.compile

    @property
    def commission(self) -> float:
        return self.commission_bps * 1e-4

    @property
    def slippage(self) -> float:
        return self.slippage_bps * 1e-4

    @classmethod
    def from_config(cls, cfg: DictConfig) -> EnvParams:
        mode = cfg.get("action_mode", cls.action_mode)
        # Imported here: the action spaces import the accounting, which imports this module.
        from ploutos.env.actions import ACTION_SPACES

        _check(mode in ACTION_SPACES, "action_mode", f"one of {tuple(ACTION_SPACES)}", mode)
        days = cfg.get("episode_days", cls.episode_days)
        _check(
            days is None or (isinstance(days, int) and not isinstance(days, bool) and days >= 1),
            "episode_days",
            "a positive integer or null",
            days,
        )
        p = cls(
            action_mode=mode,
            initial_cash=_num(cfg, "initial_cash", cls.initial_cash),
            episode_days=days,
            buy_fraction=_num(cfg, "buy_fraction", cls.buy_fraction),
            max_position_weight=_num(cfg, "max_position_weight", cls.max_position_weight),
            sell_fraction=_num(cfg, "sell_fraction", cls.sell_fraction),
            commission_bps=_num(cfg, "commission_bps", cls.commission_bps),
            slippage_bps=_num(cfg, "slippage_bps", cls.slippage_bps),
            min_fee=_num(cfg, "min_fee", cls.min_fee),
            lot_size=_num(cfg, "lot_size", cls.lot_size),
            compile=bool(cfg.get("compile", cls.compile)),
        )
        _check(p.initial_cash > 0, "initial_cash", "> 0", p.initial_cash)
        _check(0 < p.buy_fraction <= 1, "buy_fraction", "in (0, 1]", p.buy_fraction)
        _check(
            0 < p.max_position_weight <= 1,
            "max_position_weight",
            "in (0, 1]",
            p.max_position_weight,
        )
        _check(0 < p.sell_fraction <= 1, "sell_fraction", "in (0, 1]", p.sell_fraction)
        _check(p.commission_bps >= 0, "commission_bps", ">= 0", p.commission_bps)
        _check(0 <= p.slippage_bps < 10_000, "slippage_bps", "in [0, 10000)", p.slippage_bps)
        _check(p.min_fee >= 0, "min_fee", ">= 0", p.min_fee)
        _check(p.lot_size >= 0, "lot_size", ">= 0 (0 means fractional shares)", p.lot_size)
        return p
