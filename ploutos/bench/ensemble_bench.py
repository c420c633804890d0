"""Ensemble backtest cost: `python -m ploutos.bench ensemble [--members 3] [--days 2000]`.

CPU time of a deterministic test-split backtest (no baselines) of one mlp/v6 policy and of
ensembles of `--members` such policies under each rule, on a random market (15 assets,
85 features), and each ensemble's time as a multiple of the single model's. Rounds
interleave the models; the minimum over `--repeats` rounds is the least disturbed run on a
shared host, the median is printed beside it. The members' market is shared and each
window's days are encoded once per member up front (the market table run_backtest opens);
the members here are v6 MLPs of one kind and shape (model=mlp: the per-asset actor), so
inside that table they decide as one batch (ploutos/ensemble/stacked.py) and the extra cost
per step is one batched decision and the rule.
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


def _cpu_seconds(model: LoadedModel) -> float:
    """CPU seconds of one backtest: on a shared host, other processes' load inflates wall
    time far more than the process's own CPU time (one thread, so CPU time ~ work)."""
    started = time.process_time()
    run_backtest(model, split="test", baselines=(), n_boot=10)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench ensemble")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--days", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
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
    models = {"single model": members[0]}
    for rule in RULES:
        ensemble = build_ensemble(EnsembleSpec(rule=rule), members, market.splits["test"].start)
        models[f"{args.members} members {rule}"] = ensemble
    _cpu_seconds(members[0])  # first-run costs (lazy imports, allocator) are no model's
    # Rounds interleave the models, so a slow spell of the host hits all of them alike.
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            times[name].append(_cpu_seconds(model))
    single = {"min": min(times["single model"]), "median": statistics.median(times["single model"])}
    days = market.splits["test"].n_days
    print(f"backtest of {days} test days, mlp/v6, 15 assets x 85 features, 1 thread, "
          f"CPU seconds over {args.repeats} interleaved rounds: min (median)")  # fmt: skip
    for name, t in times.items():
        low, mid = min(t), statistics.median(t)
        print(f"  {name:<24} {low:7.3f} s {low / single['min']:5.2f}x   "
              f"({mid:6.3f} s {mid / single['median']:5.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
