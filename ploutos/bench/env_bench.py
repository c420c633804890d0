"""Env throughput: `python -m ploutos.bench env [--compile] [--seconds S] [--devices cpu,cuda]`.

Prints env steps/s (medians of short timed rounds) for step() alone (random actions, compact
observations) and step() plus a v6 render, for N in 1, 64, 1,024, 4,096; the rate of
rendering v6 observations and v7 windows for a batch; and the gymnasium single-env rate.
The market is the size of the real one (15 assets, 8,000 days, 85 features) made of random
tensors.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from omegaconf import OmegaConf

from ploutos.env.factory import make_env
from ploutos.env.gym import PloutosEnv
from ploutos.market import Market, SplitRange
from ploutos.obs.compact import CompactObs
from ploutos.training.host_memory import keep_freed_memory

N_ENVS = (1, 64, 1024, 4096)


def random_market(n_days: int, n_assets: int, n_features: int, device: str) -> Market:
    gen = torch.Generator().manual_seed(0)
    log_ret = torch.randn((n_days, n_assets), generator=gen, dtype=torch.float64) * 0.015
    close = 50.0 * torch.exp(torch.cumsum(log_ret, dim=0))
    fill = close * torch.exp(torch.randn(close.shape, generator=gen, dtype=torch.float64) * 4e-3)
    features = torch.randn((n_days, n_assets, n_features), generator=gen)
    warmup = 200
    cut = warmup + (n_days - warmup) * 7 // 10
    return Market(
        dates=np.datetime64("1995-01-02") + np.arange(n_days).astype("timedelta64[D]"),
        tickers=tuple(f"T{i}" for i in range(n_assets)),
        close=close,
        fill=fill,
        features=features,
        feature_names=tuple(f"f{i}" for i in range(n_features)),
        splits={"train": SplitRange("train", warmup, cut), "val": SplitRange("val", cut, n_days)},
        warmup=warmup,
        fills_at_open=True,
    ).to(device)


def bench_cfg(obs: str = "v6", compile_step: bool = False) -> OmegaConf:
    return OmegaConf.create(
        {
            "env": {"min_fee": 1.0, "compile": compile_step},
            "obs": {"name": obs, "lookback": 60},
            "reward": {"name": "pnl"},
        }
    )


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rate(fn: Callable[[], None], units: int, device: str, seconds: float) -> float:
    """Units per second of fn(): the median over rounds of about 0.2 s each, timed for about
    `seconds` after a warm-up (a median, because a shared host has slow spells that a mean
    over one long window mixes in)."""
    for _ in range(3):
        fn()
    _sync(device)
    rates: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(rates) < 3:
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            if calls % 5 == 0:
                _sync(device)
                elapsed = time.perf_counter() - start
                if elapsed >= min(0.2, seconds / 3):
                    break
        rates.append(calls * units / elapsed)
    return statistics.median(rates)


def bench_device(market: Market, device: str, seconds: float, compile_step: bool = False) -> None:
    print(f"\n== {device}: {market.n_assets} assets, {market.n_days} days, "
          f"{market.n_features} features ==")  # fmt: skip
    print(f"{'N':>6} {'step/s':>14} {'step+v6 render/s':>18}")
    for n in N_ENVS:
        env = make_env(bench_cfg(compile_step=compile_step), market, n, seed=0)
        env.reset()
        gen = torch.Generator(device=device).manual_seed(0)
        pool = torch.randint(0, 3, (16, n, market.n_assets), generator=gen, device=device)
        out = torch.empty((n, env.obs_builder.flat_dim), device=device)
        k = [0]

        def step(render: bool, env=env, pool=pool, out=out, k=k) -> None:
            obs, *_ = env.step(pool[k[0] % 16])
            k[0] += 1
            if render:
                env.obs_builder.render_into(obs, out)

        plain = rate(lambda s=step: s(False), n, device, seconds)
        rendered = rate(lambda s=step: s(True), n, device, seconds)
        print(f"{n:>6} {plain:>14,.0f} {rendered:>18,.0f}")

    batch = 4096
    for obs_name in ("v6", "v7"):
        env = make_env(bench_cfg(obs_name), market, batch, seed=0)
        obs = env.reset()
        builder = env.obs_builder
        # A rollout renders the next day each step: cycle through days so that the rows read
        # are not the ones the previous call left in the cache.
        shifted = [CompactObs(obs.day + k, obs.portfolio) for k in range(16)]
        k = [0]

        def render(b=builder, o=shifted, k=k) -> None:
            b.render(o[k[0] % 16])
            k[0] += 1

        r = rate(render, batch, device, seconds)
        print(f"render {obs_name} ({batch} envs, {len(obs.day.unique())} distinct days, "
              f"{builder.flat_dim} floats each): {r:,.0f} obs/s")  # fmt: skip
        days = obs.day.unique()
        r = rate(lambda b=builder, d=days: b.market_view(d), len(days), device, seconds)
        print(f"market_view {obs_name} (unique days): {r:,.0f} days/s")


def bench_gym(market: Market, seconds: float) -> None:
    env = PloutosEnv(market=market, cfg=bench_cfg())
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 3, size=(64, market.n_assets))
    k = [0]

    def one() -> None:
        _, _, term, trunc, _ = env.step(actions[k[0] % 64])
        k[0] += 1
        if term or trunc:
            env.reset()

    print(f"\ngymnasium single env (cpu, v6): {rate(one, 1, 'cpu', seconds):,.0f} steps/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench env", description=__doc__)
    parser.add_argument("--devices", default="auto", help="comma list, or auto (cpu [+ cuda])")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per measurement")
    parser.add_argument("--days", type=int, default=8000)
    parser.add_argument("--assets", type=int, default=15)
    parser.add_argument("--features", type=int, default=85)
    parser.add_argument(
        "--compile", action="store_true", help="env.compile=true: fused step arithmetic"
    )
    parser.add_argument(
        "--return-freed-memory",
        action="store_true",
        help="glibc's default malloc (the training app keeps freed memory, as this does)",
    )
    args = parser.parse_args(argv)
    kept = not args.return_freed_memory and keep_freed_memory()
    devices = args.devices.split(",") if args.devices != "auto" else (
        ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    )  # fmt: skip
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"env.compile={args.compile}, freed host memory {'kept' if kept else 'returned'}"
    )
    for device in devices:
        market = random_market(args.days, args.assets, args.features, device)
        bench_device(market, device, args.seconds, args.compile)
    bench_gym(random_market(args.days, args.assets, args.features, "cpu"), args.seconds)
