"""Plan-B algorithm throughput: `python -m ploutos.bench algos [--iterations K] [--device cpu]`.

End-to-end env steps/s and gradient steps/s of A2C, DQN (uniform and prioritized replay) and
SAC (target weights) at their conf/algo sizes, as a training_step runs them (collection,
replay, updates), on a random market the size of the real one (15 assets, 8,000 days, 85
features), mlp/v6; and the prioritized buffer's sample + priority update at batch 256 from a
full 1M-transition buffer. Off-policy runs are timed after learning_starts, so every timed
iteration does its gradient steps.

In the same run, Stable-Baselines3's A2C (MultiDiscrete actions) and SAC (target weights)
train on our gymnasium env (ploutos.env.gym.PloutosEnv, one per SB3 env in a DummyVecEnv)
over the same market, at our arm's envs, rollout length, update ratio, batch and trunk
sizes, and the ratios ours / SB3 are printed for wall and CPU time. SB3 replays full flat
observations, so its buffer is kept at --sb3-buffer transitions (ours stores compact ones).
`--sb3-steps 0` skips SB3.
"""

from __future__ import annotations

import argparse
import statistics
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

# Our arm -> the Stable-Baselines3 algorithm timed against it.
SB3_ARMS = {"a2c": "A2C", "sac": "SAC"}

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
) -> tuple[float, float, float, float, Algorithm]:
    """(env steps/s, gradient steps/s, env steps per CPU second, the same at the median
    iteration's CPU time, module) over `iterations` timed iterations. CPU seconds (all
    threads) make a shared machine's figure readable; the median also drops the iterations
    that a neighbour's burst slowed (cache and memory bandwidth are shared too)."""
    module = make_algorithm(cfg, market).to(market.device)
    optimizer = module.configure_optimizers()
    starts = int(cfg.algo.get("learning_starts", 0))
    while module.env_steps < starts + module.batch_size:  # untimed: fill and first update
        module.run_iteration(optimizer)
    grads_before = getattr(module, "gradient_step_count", module.iterations)
    _sync(market.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    cpu_per_iteration = []
    for _ in range(iterations):
        before = time.process_time()
        module.run_iteration(optimizer)
        cpu_per_iteration.append(time.process_time() - before)
    _sync(market.device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    grads = getattr(module, "gradient_step_count", module.iterations) - grads_before
    steps = iterations * module.batch_size
    median = module.batch_size / statistics.median(cpu_per_iteration)
    return steps / elapsed, grads / elapsed, steps / cpu, median, module


def _sb3_model(name: str, cfg: DictConfig, market: Market, buffer: int):
    """SB3's `name` on our gymnasium env at the arm's sizes (see the module docstring)."""
    import stable_baselines3
    from stable_baselines3.common.vec_env import DummyVecEnv

    from ploutos.env.gym import PloutosEnv

    a, hidden = cfg.algo, list(cfg.model.hidden_sizes)
    vec = DummyVecEnv(
        [lambda i=i: PloutosEnv(market=market, cfg=cfg, seed=i) for i in range(int(a.n_envs))]
    )
    common = {"gamma": float(a.gamma), "device": "cpu", "seed": 0, "verbose": 0}
    if name == "A2C":
        return stable_baselines3.A2C(
            "MlpPolicy", vec, n_steps=int(a.n_steps), learning_rate=float(a.learning_rate),
            gae_lambda=float(a.gae_lambda), ent_coef=float(a.ent_coef),
            vf_coef=float(a.vf_coef), max_grad_norm=float(a.max_grad_norm),
            rms_prop_eps=float(a.rms_prop_eps),
            policy_kwargs={"net_arch": {"pi": hidden, "vf": hidden}}, **common,
        )  # fmt: skip
    return stable_baselines3.SAC(
        "MlpPolicy", vec, learning_rate=float(a.policy_learning_rate), buffer_size=buffer,
        learning_starts=int(a.learning_starts), batch_size=int(a.batch_size), tau=float(a.tau),
        train_freq=(int(a.n_steps), "step"), gradient_steps=int(a.gradient_steps),
        policy_kwargs={"net_arch": {"pi": hidden, "qf": hidden}}, **common,
    )  # fmt: skip


def sb3_rate(
    name: str, cfg: DictConfig, market: Market, steps: int, buffer: int
) -> tuple[float, float]:
    """(env steps/s, env steps per CPU second) of SB3's `name` over `steps` env steps, timed
    after an untimed warm-up (SAC's learning_starts and one update, A2C's first update)."""
    model = _sb3_model(name, cfg, market.to("cpu"), buffer)
    per_iteration = int(cfg.algo.n_envs) * int(cfg.algo.n_steps)
    model.learn(int(cfg.algo.get("learning_starts", 0)) + per_iteration)
    before = model.num_timesteps
    start, cpu_start = time.perf_counter(), time.process_time()
    model.learn(steps, reset_num_timesteps=False)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    done = model.num_timesteps - before  # whole vec steps, so `steps` rounded up
    return done / elapsed, done / cpu


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
    parser.add_argument("--sb3-steps", type=int, default=5120, help="0 skips SB3")
    parser.add_argument("--sb3-buffer", type=int, default=50_000)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    market = random_market(args.days, 15, args.features, args.device)
    model = arm_cfg(()).model  # the model defaults every arm trains (they change over time)
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, market {args.days} days"
        f" x 15 assets x {args.features} features, mlp/v6 (actor {model.get('actor', 'joint')},"
        f" hidden {list(model.hidden_sizes)}), {args.iterations} timed iterations"
    )
    for name in args.arms.split(","):
        cfg = arm_cfg(ARMS[name])
        cfg.device = args.device
        rate, grads, per_cpu, median, module = algo_rate(cfg, market, args.iterations)
        a = cfg.algo
        print(
            f"{name:<16} {rate:>9,.0f} env steps/s {grads:>8,.1f} gradient steps/s "
            f"{per_cpu:>9,.0f} per CPU s ({median:,.0f} at the median iteration)   "
            f"({a.n_envs} envs x {a.n_steps} steps per iteration"
            f"{f', {a.gradient_steps} x batch {a.batch_size}' if 'gradient_steps' in a else ''})"
        )
        del module
        if name in SB3_ARMS and args.sb3_steps > 0:
            sb3, sb3_per_cpu = sb3_rate(
                SB3_ARMS[name], cfg, market, args.sb3_steps, args.sb3_buffer
            )
            print(
                f"{'  SB3 ' + SB3_ARMS[name]:<16} {sb3:>9,.0f} env steps/s {'':>25}"
                f"{sb3_per_cpu:>9,.0f} per CPU s   ours / SB3: {rate / sb3:.1f}x wall, "
                f"{per_cpu / sb3_per_cpu:.1f}x CPU"
            )
    wall, cpu = per_milliseconds(args.per_capacity, 256, args.per_repeats, args.device)
    print(
        f"PER sample + priority update, batch 256 from {args.per_capacity:,}: {wall:.2f} ms "
        f"({cpu:.2f} ms CPU)"
    )


if __name__ == "__main__":
    main()
