"""Episodes, seeding, resuming, causality and config validation of the batched env."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import cuda_params, make_toy_market
from omegaconf import OmegaConf

from ploutos.env import CompactObs, make_env
from ploutos.env.rng import hash_uniform_int, splitmix64
from ploutos.errors import ConfigError


def cfg(mode: str = "discrete", obs: str = "v6", reward: str = "pnl", **env) -> OmegaConf:
    base = {
        "action_mode": mode,
        "initial_cash": 10_000.0,
        "episode_days": 20,
        "buy_fraction": 0.2,
        "max_position_weight": 0.4,
        "sell_fraction": 1.0,
        "commission_bps": 5.0,
        "slippage_bps": 5.0,
        "min_fee": 1.0,
        "lot_size": 0,
    }
    base.update(env)
    obs_cfg = {"name": obs, "lookback": 10}
    return OmegaConf.create({"env": base, "obs": obs_cfg, "reward": {"name": reward}})


def random_actions(env, n_steps: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if env.action_space.name == "discrete":
        return torch.randint(0, 3, (n_steps, env.n_envs, env.n_assets), generator=gen)
    return torch.randn((n_steps, env.n_envs, env.n_assets + 1), generator=gen) * 2


def rollout(env, actions: torch.Tensor) -> dict[str, torch.Tensor]:
    obs = env.reset()
    rec = {"day": [obs.day], "portfolio": [obs.portfolio], "reward": [], "equity": [], "done": []}
    for a in actions:
        obs, reward, term, trunc, info = env.step(a.to(env.device))
        rec["day"].append(obs.day)
        rec["portfolio"].append(obs.portfolio)
        rec["reward"].append(reward)
        rec["equity"].append(info["equity"])
        rec["done"].append(term | trunc)
    return {k: torch.stack(v).cpu() for k, v in rec.items()}


def test_splitmix64_matches_python_reference() -> None:
    def ref(x: int) -> int:
        m = (1 << 64) - 1
        z = (x + 0x9E3779B97F4A7C15) & m
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    xs = [0, 1, 42, 2**40 + 7, -5]
    got = splitmix64(torch.tensor(xs, dtype=torch.int64)).tolist()
    assert [g & ((1 << 64) - 1) for g in got] == [ref(x & ((1 << 64) - 1)) for x in xs]
    draws = hash_uniform_int(torch.arange(10_000), torch.zeros(10_000, dtype=torch.int64), 7)
    counts = np.bincount(draws.numpy(), minlength=7)
    assert draws.min() >= 0 and draws.max() < 7
    assert counts.min() > 1300  # ~1428 each when uniform


def test_episode_windows_and_done_flags(toy_market) -> None:
    env = make_env(cfg(), toy_market, 64, seed=3)
    split = toy_market.split("train")
    obs = env.reset()
    assert (obs.day >= split.start).all() and (env.end <= split.stop - 1).all()
    assert (env.end - env.start == 20).all()
    assert len(set(obs.day.tolist())) > 10  # random starts
    for _ in range(19):
        _, _, term, trunc, _ = env.step(torch.zeros(64, 4, dtype=torch.int64))
        assert not (term | trunc).any()
    obs, _, term, trunc, info = env.step(torch.zeros(64, 4, dtype=torch.int64))
    ends_at_data = info["final_day"] == split.stop - 1
    assert torch.equal(term, ends_at_data) and torch.equal(trunc, ~ends_at_data)
    assert (info["episode_length"] == 20).all()
    assert torch.allclose(obs.portfolio[:, 0], torch.ones(64))  # the new episode is all cash
    assert (obs.portfolio[:, -1] == 1).all()


def test_evaluation_runs_the_whole_split_once(toy_market) -> None:
    env = make_env(cfg(obs="v7"), toy_market, 3, split="val", evaluation=True)
    split = toy_market.split("val")
    obs = env.reset()
    assert (obs.day == split.start).all()  # val starts after the v7 warm-up of 10 + 20 days
    n = 0
    while True:
        _, _, term, trunc, info = env.step(torch.ones(3, 4, dtype=torch.int64))
        n += 1
        if (term | trunc).any():
            break
    assert term.all() and not trunc.any()
    assert n == split.stop - 1 - split.start
    assert (info["final_day"] == split.stop - 1).all()


def test_evaluation_refuses_a_look_ahead_reward(toy_market) -> None:
    with pytest.raises(ConfigError, match=r"^reward\.name"):
        make_env(cfg(reward="v6_timing"), toy_market, 1, split="val", evaluation=True)
    assert make_env(cfg(reward="v6_timing"), toy_market, 1).reward_looks_ahead


@pytest.mark.parametrize("compiled", [False, True])
def test_finished_episode_reports_its_books_and_the_next_starts_clean(
    toy_market, compiled: bool
) -> None:
    """The step that ends an episode hands out that episode's final books in info, while
    the env itself (reset in the same step, partly in place) starts the next one all cash."""
    env = make_env(cfg(compile=compiled), toy_market, 8, seed=4)
    env.reset()
    buy = torch.ones(8, 4, dtype=torch.int64)
    for _ in range(19):
        env.step(buy)
    held = env.shares.clone()
    assert (held > 0).all()
    _, _, term, trunc, info = env.step(torch.zeros(8, 4, dtype=torch.int64))
    assert (term | trunc).all()
    close = toy_market.close[info["final_day"]]
    # Positions were kept through the last (hold) step: equity = cash + shares at the close.
    torch.testing.assert_close(
        info["equity"], info["cash"] + (held * close).sum(1), rtol=1e-12, atol=0
    )
    assert (info["cash"] < 10_000.0).all() and (info["episode_length"] == 20).all()
    assert (info["episode_trades"] >= 4).all()
    torch.testing.assert_close(
        info["episode_log_return"], torch.log(info["equity"] / 10_000.0), rtol=1e-12, atol=0
    )
    for name in ("shares", "entry"):
        assert (getattr(env, name) == 0).all(), name
    for name in ("cash", "equity", "peak"):
        assert (getattr(env, name) == 10_000.0).all(), name
    assert (env.steps == 0).all() and (env.trades == 0).all() and (env.wins == 0).all()


@pytest.mark.parametrize("mode", ["discrete", "weights"])
def test_batched_equals_single_envs(toy_market, mode: str) -> None:
    env = make_env(cfg(mode, reward="diff_sharpe"), toy_market, 4, seed=100)
    actions = random_actions(env, 50, seed=1)  # 50 steps cross two episode boundaries
    batched = rollout(env, actions)
    for i in range(4):
        single = make_env(cfg(mode, reward="diff_sharpe"), toy_market, 1, seed=100 + i)
        one = rollout(single, actions[:, i : i + 1])
        for key in batched:
            assert torch.equal(batched[key][:, i], one[key][:, 0]), key


@pytest.mark.parametrize("mode", ["discrete", "weights"])
def test_state_dict_resumes_identically(toy_market, mode: str) -> None:
    env = make_env(cfg(mode, reward="diff_sharpe"), toy_market, 8, seed=5)
    actions = random_actions(env, 40, seed=2)
    env.reset()
    for a in actions[:13]:
        env.step(a)
    state = env.state_dict()
    fresh = make_env(cfg(mode, reward="diff_sharpe"), toy_market, 8, seed=999)
    fresh.load_state_dict(state)
    for a in actions[13:]:
        o1, r1, t1, u1, i1 = env.step(a)
        o2, r2, t2, u2, i2 = fresh.step(a)
        assert torch.equal(o1.day, o2.day) and torch.equal(o1.portfolio, o2.portfolio)
        assert torch.equal(r1, r2) and torch.equal(t1, t2) and torch.equal(u1, u2)
        assert torch.equal(i1["equity"], i2["equity"])


def test_fills_come_after_the_decision_day() -> None:
    market = make_toy_market(with_open=True)
    env = make_env(cfg(slippage_bps=0.0), market, 16, seed=1)
    obs = env.reset()
    for a in random_actions(env, 30, seed=3):
        decided = obs.day
        obs, _, _, _, info = env.step(a)
        assert (info["day"] == decided + 1).all()
        traded = info["buy_mask"] | info["sell_mask"]
        expected = market.fill[info["day"]]
        assert torch.equal(info["fill_price"][traded], expected[traded])
        assert not torch.isin(info["fill_price"][traded], market.close[decided]).any()


@pytest.mark.parametrize("obs_name", ["v6", "v7"])
def test_observations_ignore_bars_after_the_decision_day(obs_name: str) -> None:
    market = make_toy_market()
    t = 90
    later = slice(t + 1, None)
    noisy = dataclasses.replace(
        market,
        close=market.close.clone(),
        fill=market.fill.clone(),
        features=market.features.clone(),
    )
    noisy.close[later] *= 1.7
    noisy.fill[later] *= 0.6
    noisy.features[later] += 5.0
    runs = []
    for m in (market, noisy):
        env = make_env(cfg(obs=obs_name, episode_days=None), m, 2, evaluation=True)
        actions = random_actions(env, 80, seed=4)
        rec = rollout(env, actions)
        seen = rec["day"][:, 0] <= t
        rendered = [
            env.obs_builder.render(CompactObs(d, p))
            for d, p in zip(rec["day"][seen], rec["portfolio"][seen], strict=True)
        ]
        runs.append((rec["day"][seen], torch.stack(rendered)))
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("commission_bps", -1.0),
        ("slippage_bps", -0.5),
        ("buy_fraction", 0.0),
        ("max_position_weight", 1.5),
        ("sell_fraction", 2.0),
        ("initial_cash", 0.0),
        ("episode_days", 0),
        ("min_fee", -1.0),
        ("lot_size", -1),
        ("action_mode", "short"),
    ],
)
def test_bad_env_config_names_the_key(toy_market, key: str, value) -> None:
    with pytest.raises(ConfigError, match=rf"^env\.{key}"):
        make_env(cfg(**{key: value}), toy_market, 2)


def test_bad_obs_and_reward_names(toy_market) -> None:
    with pytest.raises(ConfigError, match=r"^obs\.name"):
        make_env(cfg(obs="v9"), toy_market, 1)
    with pytest.raises(ConfigError, match=r"^reward\.name"):
        make_env(cfg(reward="alpha"), toy_market, 1)


def test_cash_never_negative_under_aggressive_buying(toy_market) -> None:
    env = make_env(cfg(buy_fraction=1.0, max_position_weight=1.0, min_fee=30.0), toy_market, 32)
    env.reset()
    for a in random_actions(env, 60, seed=9):
        _, _, _, _, info = env.step(torch.where(a == 2, 1, a))
        assert (info["cash"] >= 0).all()
        assert (env.shares >= 0).all()


@pytest.mark.parametrize("device", cuda_params())
@pytest.mark.parametrize("mode", ["discrete", "weights"])
def test_same_trajectories_on_every_device(device: str, mode: str) -> None:
    market = make_toy_market()
    ref_env = make_env(cfg(mode, reward="diff_sharpe"), market, 16, seed=7)
    actions = random_actions(ref_env, 45, seed=5)
    ref = rollout(ref_env, actions)
    env = make_env(cfg(mode, reward="diff_sharpe"), market.to(device), 16, seed=7)
    got = rollout(env, actions)
    assert torch.equal(ref["day"], got["day"])
    assert torch.equal(ref["done"], got["done"])
    torch.testing.assert_close(got["equity"], ref["equity"], rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(got["portfolio"], ref["portfolio"], rtol=1e-5, atol=1e-6)


def test_time_left_means_the_same_in_training_and_evaluation(toy_market) -> None:
    """The portfolio state's last entry is the time to the split's end in episode lengths,
    capped at 1: a training episode far from the end sees 1 throughout (also at a truncation,
    so it bootstraps from a state that goes on), and evaluation over the whole split sees 1
    until the last episode length of days, then the same countdown to 0 as training near
    the split's end."""
    days = 20
    train = make_env(cfg(episode_days=days), toy_market, 64, split="train", seed=3)
    val = make_env(cfg(episode_days=days), toy_market, 1, split="val", evaluation=True)
    for env in (train, val):
        obs = env.reset()
        seen = [(obs.day.clone(), obs.portfolio[:, -1].clone())]
        hold = torch.zeros((env.n_envs, env.n_assets), dtype=torch.int64)
        for _ in range(val.last_day - val.first_day):
            obs, _, _, _, info = env.step(hold)
            seen.append((info["final_day"].clone(), info["final_portfolio"][:, -1].clone()))
        for day, left in seen:
            expected = ((env.last_day - day).double() / days).clamp(max=1.0)
            torch.testing.assert_close(left.double(), expected, rtol=0, atol=1e-6)
    assert train.horizon == val.horizon == days
