"""Ensemble backtest cost: `python -m ploutos.bench ensemble [--members 3] [--days 2000]`.

Wall time of a deterministic test-split backtest (no baselines) of one mlp/v6 policy and of
ensembles of `--members` such policies under each rule, on a random market (15 assets,
85 features), and each ensemble's time as a multiple of the single model's. Medians of
`--repeats` runs; the members' market is shared, so the extra cost is the members' forwards.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from ploutos.bench.env_bench import random_market
from ploutos.bench.train_bench import bench_cfg
from ploutos.ensemble import RULES, EnsembleSpec, build_ensemble
from ploutos.env.actions import make_action_space
from ploutos.evaluation.backtest import run_backtest
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.market import SplitRange
from ploutos.models import make_policy
from ploutos.obs.builders import make_obs_builder


def _seconds(model: LoadedModel, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run_backtest(model, split="test", baselines=(), n_boot=10)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench ensemble")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--days", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    market = random_market(args.days, 15, 85, "cpu")
    val = market.splits["val"]
    mid = (val.start + val.stop) // 2
    market = replace(market, splits={**market.splits, "val": SplitRange("val", val.start, mid),
                                     "test": SplitRange("test", mid, val.stop)})  # fmt: skip
    cfg = bench_cfg("mlp", "v6")
    builder = make_obs_builder(cfg.obs, market)
    space = make_action_space("discrete", market.n_assets)
    members = []
    for seed in range(args.members):
        torch.manual_seed(seed)
        policy = make_policy(cfg, builder, space).eval()
        members.append(LoadedModel(policy=policy, cfg=cfg, market=market))
    single = _seconds(members[0], args.repeats)
    days = market.splits["test"].n_days
    print(f"backtest of {days} test days, mlp/v6, 15 assets x 85 features, 1 thread")
    print(f"  single model          {single:7.3f} s")
    for rule in RULES:
        spec = EnsembleSpec(rule=rule)
        model = build_ensemble(spec, members, market.splits["test"].start)
        seconds = _seconds(model, args.repeats)
        print(f"  {args.members} members {rule:<10} {seconds:7.3f} s  {seconds / single:5.2f}x")


if __name__ == "__main__":
    main()
