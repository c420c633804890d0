"""The batched engine against a slow, obvious pure-Python replay of the same trading rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_toy_market
from omegaconf import OmegaConf

from ploutos.env import BUY, SELL, make_env

A = 4


def env_cfg(mode: str = "discrete", **env_overrides: float) -> OmegaConf:
    env = {
        "action_mode": mode,
        "initial_cash": 100_000.0,
        "episode_days": 40,
        "buy_fraction": 0.3,
        "max_position_weight": 0.5,
        "sell_fraction": 1.0,
        "commission_bps": 10.0,
        "slippage_bps": 7.0,
        "min_fee": 0.0,
        "lot_size": 0,
    }
    env.update(env_overrides)
    return OmegaConf.create({"env": env, "obs": {"name": "v6"}, "reward": {"name": "pnl"}})


def reference(
    close: np.ndarray, fill: np.ndarray, p, start: int, actions: np.ndarray, mode: str
) -> list[dict]:
    """Replay one env with plain floats, one asset at a time: orders decided on day d fill at
    fill[d + 1] and are marked at close[d + 1]."""
    c, s = p["commission_bps"] * 1e-4, p["slippage_bps"] * 1e-4
    min_fee, lot = p["min_fee"], p["lot_size"]

    def lots(x: float) -> float:
        return math.floor(x / lot) * lot if lot > 0 else x

    def fee(gross: float) -> float:
        return max(c * gross, min_fee)

    cash, shares, entry = p["initial_cash"], [0.0] * A, [0.0] * A
    day, out = start, []
    for act in actions:
        f = day + 1
        px = fill[f]
        sells, values = [0.0] * A, [0.0] * A
        if mode == "discrete":
            eq = cash + sum(shares[a] * px[a] for a in range(A))
            for a in range(A):
                if act[a] == SELL:
                    sells[a] = shares[a] if p["sell_fraction"] >= 1 else lots(
                        shares[a] * p["sell_fraction"]
                    )
                elif act[a] == BUY:
                    room = max(p["max_position_weight"] * eq - shares[a] * px[a], 0.0)
                    values[a] = min(p["buy_fraction"] * eq, room)
        else:
            exps = [math.exp(x) for x in act]
            weights = [e / sum(exps) for e in exps]
            eq = cash + sum(shares[a] * px[a] for a in range(A))
            for a in range(A):
                delta = weights[a] * eq - shares[a] * px[a]
                if delta < 0:
                    sells[a] = min(lots(-delta / px[a]), shares[a])
                else:
                    values[a] = delta
        fees = [0.0] * A
        for a in range(A):  # sells first
            if sells[a] > 0:
                gross = sells[a] * px[a] * (1 - s)
                f_ = min(fee(gross), gross)
                cash += gross - f_
                fees[a] += f_
                shares[a] -= sells[a]
                if shares[a] == 0:
                    entry[a] = 0.0
        outlays = [0.0] * A
        for a in range(A):
            gross = values[a] * (1 + s)
            if gross > 0:
                outlays[a] = gross + fee(gross)
        total = sum(outlays)
        ratio = cash / total if total > cash else 1.0
        for a in range(A):  # every buy scaled by the same ratio: no asset is favoured
            outlay = outlays[a] * ratio
            if outlay <= 0:
                continue
            gross = outlay / (1 + c)
            if c * gross < min_fee:
                gross = max(outlay - min_fee, 0.0)
            bought = lots(gross / (px[a] * (1 + s)))
            if bought <= 0:
                continue
            gross = bought * px[a] * (1 + s)
            f_ = fee(gross)
            cash -= gross + f_
            fees[a] += f_
            entry[a] = (shares[a] * entry[a] + gross + f_) / (shares[a] + bought)
            shares[a] += bought
        cash = max(cash, 0.0)
        equity = cash + sum(shares[a] * close[f][a] for a in range(A))
        out.append({"cash": cash, "shares": list(shares), "fees": fees, "equity": equity})
        day = f
    return out


CASES = [
    ("discrete", {}),
    ("discrete", {"min_fee": 25.0}),
    ("discrete", {"min_fee": 5.0, "lot_size": 10, "sell_fraction": 0.5}),
    ("discrete", {"buy_fraction": 0.6, "max_position_weight": 1.0}),
    ("weights", {}),
    ("weights", {"min_fee": 15.0, "lot_size": 5}),
    # The fused torch.compile path must keep the same books as the eager one.
    ("discrete", {"min_fee": 5.0, "lot_size": 10, "sell_fraction": 0.5, "compile": True}),
]


@pytest.mark.parametrize(("mode", "overrides"), CASES)
def test_engine_matches_reference(mode: str, overrides: dict) -> None:
    market = make_toy_market(n_days=120, n_assets=A, warmup=5)
    n_envs, n_steps = 6, 30
    cfg = env_cfg(mode, **overrides)
    env = make_env(cfg, market, n_envs, split="train", seed=11)
    env.reset()
    starts = env.day.tolist()
    rng = np.random.default_rng(len(overrides) + (mode == "weights"))
    if mode == "discrete":
        # Buy-heavy so cash runs out and the pro-rata rule is exercised.
        acts = rng.choice(3, size=(n_steps, n_envs, A), p=[0.3, 0.5, 0.2])
        torch_acts = torch.tensor(acts, dtype=torch.int64)
    else:
        acts = rng.normal(0.0, 2.0, size=(n_steps, n_envs, A + 1))
        torch_acts = torch.tensor(acts, dtype=torch.float32)
        acts = torch_acts.double().numpy()
    got = []
    for t in range(n_steps):
        _, _, term, trunc, info = env.step(torch_acts[t])
        assert not (term | trunc).any()
        assert (info["cash"] >= 0).all()
        got.append({k: info[k].clone() for k in ("cash", "equity", "fees", "filled_shares")})
        got[-1]["shares"] = env.shares.clone()
    params = OmegaConf.to_container(cfg.env)
    for i in range(n_envs):
        ref = reference(
            market.close.numpy(), market.fill.numpy(), params, starts[i], acts[:, i], mode
        )
        for t in range(n_steps):
            r, g = ref[t], got[t]
            tol = {"rtol": 1e-9, "atol": 1e-9}
            np.testing.assert_allclose(g["equity"][i].item(), r["equity"], **tol)
            np.testing.assert_allclose(g["cash"][i].item(), r["cash"], **tol)
            np.testing.assert_allclose(g["shares"][i].numpy(), r["shares"], **tol)
            np.testing.assert_allclose(g["fees"][i].numpy(), r["fees"], **tol)


def test_buys_beyond_cash_are_scaled_pro_rata() -> None:
    market = make_toy_market(n_days=60, n_assets=A, warmup=5)
    cfg = env_cfg(buy_fraction=0.5, max_position_weight=1.0, commission_bps=0, slippage_bps=0)
    env = make_env(cfg, market, 1, evaluation=True)
    env.reset()
    _, _, _, _, info = env.step(torch.full((1, A), BUY))
    spent = (info["filled_shares"] * info["fill_price"])[0]
    # Four buys of half the equity each: all cash is spent, a quarter per asset.
    assert info["cash"].item() == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(spent.numpy(), np.full(A, 25_000.0), rtol=1e-12)


def _books(env, actions: torch.Tensor) -> list[dict]:
    rows = []
    for t in range(actions.shape[0]):
        _, _, _, _, info = env.step(actions[t])
        rows.append({"cash": info["cash"].clone(), "equity": info["equity"].clone()})
    return rows


def _matches(rows: list[dict], refs: list[list[dict]]) -> bool:
    return all(
        np.allclose(rows[t]["equity"][i].item(), ref[t]["equity"], rtol=1e-9, atol=1e-9)
        and np.allclose(rows[t]["cash"][i].item(), ref[t]["cash"], rtol=1e-9, atol=1e-9)
        for i, ref in enumerate(refs)
        for t in range(len(ref))
    )


def test_ohlcv_fills_at_the_next_open_read_from_the_raw_bars() -> None:
    """The reference takes its prices from the loaded bars by its own rule (next open when the
    data has opens), not from the engine's fill tensor: an engine filling at the close on
    OHLCV data fails it."""
    import dataclasses

    from conftest import compose_config

    from ploutos.pipeline import build_market

    cfg = compose_config("train", ["data=synthetic", "data.n_days=600", f"data.n_assets={A}",
                                   "data.splits.val_start=2001-06-01",
                                   "data.splits.test_start=2001-10-01", "features=minimal"])
    market, report = build_market(cfg)
    bars = report.bars
    assert bars.open is not None  # OHLCV data: the rule says next open
    raw_fill, raw_close = bars.open, bars.close
    env_cfg_ = env_cfg("discrete", min_fee=1.0)
    rng = np.random.default_rng(3)
    acts = rng.choice(3, size=(25, 4, A), p=[0.4, 0.4, 0.2])
    params = OmegaConf.to_container(env_cfg_.env)

    def run(mkt) -> tuple[list[dict], list[list[dict]]]:
        env = make_env(env_cfg_, mkt, 4, split="train", seed=5)
        env.reset()
        starts = env.day.tolist()
        rows = _books(env, torch.tensor(acts, dtype=torch.int64))
        refs = [reference(raw_close, raw_fill, params, starts[i], acts[:, i], "discrete")
                for i in range(4)]  # fmt: skip
        return rows, refs

    assert _matches(*run(market))
    closing = dataclasses.replace(market, fill=market.close.clone())  # the planted bug
    assert not _matches(*run(closing))
