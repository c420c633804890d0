"""Plan-B algorithm throughput: `python -m ploutos.bench algos [--iterations K] [--device cpu]`.

End-to-end env steps/s and gradient steps/s of A2C, DQN (uniform and prioritized replay) and
SAC (target weights) at their conf/algo sizes, as a training_step runs them (collection,
replay, updates), on a random market the size of the real one (15 assets, 8,000 days, 85
features), mlp/v6; and the prioritized buffer's sample + priority update at batch 256 from a
full 1M-transition buffer. Off-policy runs are timed after learning_starts, so every timed
iteration does its gradient steps.
"""

from __future__ import annotations

import argparse
import time

import torch
from omegaconf import DictConfig

from ploutos.algos.base import Algorithm
from ploutos.algos.registry import make_algorithm
from ploutos.algos.replay import PrioritizedReplay, Transitions
from ploutos.bench.env_bench import random_market
from ploutos.config import compose_train_config
from ploutos.market import Market
from ploutos.obs.compact import CompactObs

ARMS = {
    "a2c": ("algo=a2c",),
    "dqn uniform": ("algo=dqn", "algo.replay=uniform"),
    "dqn prioritized": ("algo=dqn", "algo.replay=prioritized"),
    "sac": ("algo=sac", "env=weights"),
}


def arm_cfg(overrides: tuple[str, ...]) -> DictConfig:
    return compose_train_config(["obs=v6", "model=mlp", "total_timesteps=50000000", *overrides])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def algo_rate(
    cfg: DictConfig, market: Market, iterations: int
) -> tuple[float, float, float, Algorithm]:
    """(env steps/s, gradient steps/s, env steps per CPU second, module) over `iterations`
    timed iterations. CPU seconds (all threads) make a shared machine's figure readable."""
    module = make_algorithm(cfg, market).to(market.device)
    optimizer = module.configure_optimizers()
    starts = int(cfg.algo.get("learning_starts", 0))
    while module.env_steps < starts + module.batch_size:  # untimed: fill and first update
        module.run_iteration(optimizer)
    grads_before = getattr(module, "gradient_step_count", module.iterations)
    _sync(market.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(iterations):
        module.run_iteration(optimizer)
    _sync(market.device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    grads = getattr(module, "gradient_step_count", module.iterations) - grads_before
    steps = iterations * module.batch_size
    return steps / elapsed, grads / elapsed, steps / cpu, module


def per_milliseconds(capacity: int, batch: int, repeats: int, device: str) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one sample + priority update of `batch` from a full
    buffer."""
    replay = PrioritizedReplay(capacity, 20, (15,), torch.int8, device)
    chunk = 65536
    for lo in range(0, capacity, chunk):
        k = min(chunk, capacity - lo)
        obs = CompactObs(torch.zeros(k, dtype=torch.int64), torch.zeros(k, 20))
        zeros = torch.zeros(k)
        replay.add(Transitions(obs, torch.zeros(k, 15, dtype=torch.int8), zeros, zeros, obs))
    replay.tree.rebuild(torch.rand(capacity, dtype=torch.float64))
    _sync(torch.device(device))
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        _, slots, _ = replay.sample(batch, beta=0.5)
        replay.update_priorities(slots, torch.rand(batch, device=device))
    _sync(torch.device(device))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return 1000.0 * wall / repeats, 1000.0 * cpu / repeats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench algos")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations per arm")
    parser.add_argument("--days", type=int, default=8000)
    parser.add_argument("--features", type=int, default=85)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated ARMS keys")
    parser.add_argument("--per-capacity", type=int, default=1_000_000)
    parser.add_argument("--per-repeats", type=int, default=200)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    market = random_market(args.days, 15, args.features, args.device)
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, market {args.days} days"
        f" x 15 assets x {args.features} features, mlp/v6, {args.iterations} timed iterations"
    )
    for name in args.arms.split(","):
        cfg = arm_cfg(ARMS[name])
        cfg.device = args.device
        rate, grads, per_cpu, module = algo_rate(cfg, market, args.iterations)
        a = cfg.algo
        print(
            f"{name:<16} {rate:>9,.0f} env steps/s {grads:>8,.1f} gradient steps/s "
            f"{per_cpu:>9,.0f} per CPU s   "
            f"({a.n_envs} envs x {a.n_steps} steps per iteration"
            f"{f', {a.gradient_steps} x batch {a.batch_size}' if 'gradient_steps' in a else ''})"
        )
        del module
    wall, cpu = per_milliseconds(args.per_capacity, 256, args.per_repeats, args.device)
    print(
        f"PER sample + priority update, batch 256 from {args.per_capacity:,}: {wall:.2f} ms "
        f"({cpu:.2f} ms CPU)"
    )


if __name__ == "__main__":
    main()
