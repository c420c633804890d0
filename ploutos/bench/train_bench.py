"""Training throughput: `python -m ploutos.bench train [--iterations K] [--device cpu]`.

End-to-end PPO env steps/s (rollout + GAE + update epochs, as a training_step runs them) for
mlp/v6 and transformer/v7 on a market the size of the real one (15 assets, 8,000 days, 85
features, random tensors), the saving of the shared per-day market encoding over per-env
encoding, Stable-Baselines3's PPO (MlpPolicy, same hidden sizes and PPO settings) on the
gymnasium adapter as a ratio, and the projected wall time of a 50M-step run.

mlp/v6 runs at conf/algo/ppo.yaml's sizes, transformer/v7 at the sizes of the CPU preset
conf/experiment/v7_transformer.yaml (2,048 envs x 128 steps, minibatches by day): its encoder
work per iteration is fixed by the split's distinct days (one table pass for the rollout, one
pass with gradients per update epoch), so a large iteration amortizes it. `--n-envs` and
`--n-steps` override both. The per-env-encoding comparison of the transformer would encode
every sample's window, so it runs at a small batch (`--naive-envs` x `--naive-steps`) beside
the shared encoding at that same batch.
"""

from __future__ import annotations

import argparse
import time

import torch
from omegaconf import DictConfig, OmegaConf

from ploutos.algos.base import Algorithm
from ploutos.algos.registry import make_algorithm
from ploutos.bench.env_bench import random_market
from ploutos.config import CONF_DIR
from ploutos.market import Market
from ploutos.models import parameter_counts
from ploutos.training.host_memory import keep_freed_memory

SEED_RUN_STEPS = 50_000_000


PRESETS = {"mlp": None, "transformer": CONF_DIR / "experiment" / "v7_transformer.yaml"}


def bench_cfg(
    model: str, obs: str, n_envs: int | None = None, n_steps: int | None = None
) -> DictConfig:
    """The repository's group files (plus the model's CPU preset for algo and model keys)
    with a run long enough that lr annealing stays mild; n_envs/n_steps override the sizes."""
    cfg = OmegaConf.create(
        {
            "seed": 0,
            "total_timesteps": SEED_RUN_STEPS,
            "ent_coef": 0.05,
            "env": OmegaConf.load(CONF_DIR / "env" / "default.yaml"),
            "obs": OmegaConf.load(CONF_DIR / "obs" / f"{obs}.yaml"),
            "reward": OmegaConf.load(CONF_DIR / "reward" / "pnl.yaml"),
            "model": OmegaConf.load(CONF_DIR / "model" / f"{model}.yaml"),
            "algo": OmegaConf.load(CONF_DIR / "algo" / "ppo.yaml"),
        }
    )
    if PRESETS[model] is not None:
        preset = OmegaConf.load(PRESETS[model])
        cfg.algo.merge_with(preset.get("algo", {}))
        cfg.model.merge_with(preset.get("model", {}))
    if n_envs is not None:
        cfg.algo.n_envs = n_envs
    if n_steps is not None:
        cfg.algo.n_steps = n_steps
    # Measure full update epochs: an early KL stop would flatter the rate.
    cfg.algo.target_kl = None
    return cfg


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ppo_rate(
    cfg: DictConfig, market: Market, iterations: int, unique_days: bool = True, warmup: int = 1
):
    """(env steps/s, seconds in rollouts, seconds in updates, CPU seconds, module) after
    `warmup` iterations. CPU seconds (all threads) make a shared machine's figure readable."""
    module = make_algorithm(cfg, market).to(market.device)
    module.policy.unique_days = unique_days
    optimizer = module.configure_optimizers()
    for _ in range(warmup):
        module.run_iteration(optimizer)
    _sync(market.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    stats = [module.run_iteration(optimizer) for _ in range(iterations)]
    _sync(market.device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rollout = sum(s["rollout_seconds"] for s in stats)
    update = sum(s["update_seconds"] for s in stats)
    return iterations * module.batch_size / elapsed, rollout, update, cpu, module


def sb3_rate(cfg: DictConfig, market: Market, hidden: list[int], n_envs: int, steps: int):
    """Stable-Baselines3 PPO env steps/s on our gymnasium single env, vectorized by SB3."""
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from ploutos.env.gym import PloutosEnv

    cpu_market = market.to("cpu")
    vec = DummyVecEnv(
        [lambda i=i: PloutosEnv(market=cpu_market, cfg=cfg, seed=i) for i in range(n_envs)]
    )
    a = cfg.algo
    model = SB3PPO(
        "MlpPolicy",
        vec,
        n_steps=int(a.n_steps),
        batch_size=n_envs * int(a.n_steps) // int(a.num_minibatches),
        n_epochs=int(a.update_epochs),
        learning_rate=float(a.learning_rate),
        policy_kwargs={"net_arch": {"pi": list(hidden), "vf": list(hidden)}},
        device="cpu",
        seed=0,
        verbose=0,
    )
    model.learn(n_envs * int(a.n_steps))  # warm-up iteration
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def _windows_encoded(module: Algorithm) -> tuple[int, int]:
    """Windows a v7 iteration encodes, shared (rollout table + one pass per distinct day per
    epoch, minibatches by day) and per env (every sample in the rollout and every epoch)."""
    a = module.cfg.algo
    epochs = int(a.update_epochs)
    distinct = int(module.buffer.day.unique().numel())
    per_epoch = distinct if a.minibatch_by_day else distinct * int(a.num_minibatches)
    table = len(module.rollout_days) if module.use_table else module.batch_size
    return table + epochs * per_epoch, module.batch_size * (1 + epochs)


def _hours(rate: float) -> str:
    seconds = SEED_RUN_STEPS / rate
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _report(name: str, rate: float, rollout: float, update: float, cpu: float, module: Algorithm):
    params = parameter_counts(module.policy)["total"]
    print(
        f"{name:<16} {rate:>10,.0f} env steps/s   rollout {rollout:6.2f} s  update {update:6.2f} s"
        f"  (CPU {cpu:6.1f} s)   {params:,} params   50M steps: {_hours(rate)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench train")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=3, help="timed PPO iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--n-envs", type=int, default=None, help="default: algo group / preset")
    parser.add_argument("--n-steps", type=int, default=None, help="default: algo group / preset")
    parser.add_argument("--naive-envs", type=int, default=32, help="transformer per-env run")
    parser.add_argument("--naive-steps", type=int, default=16, help="transformer per-env run")
    parser.add_argument("--days", type=int, default=8000)
    parser.add_argument("--features", type=int, default=85)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--models", default="mlp,transformer")
    parser.add_argument("--skip-naive", action="store_true", help="skip per-env encoding runs")
    parser.add_argument("--sb3-envs", type=int, default=16, help="0 skips SB3")
    parser.add_argument("--sb3-steps", type=int, default=8192)
    parser.add_argument(
        "--return-freed-memory",
        action="store_true",
        help="glibc's default malloc (the app keeps freed memory: trainer.keep_freed_host_memory)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = not args.return_freed_memory and keep_freed_memory()
    market = random_market(args.days, 15, args.features, args.device)
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, market {args.days} days "
        f"x 15 assets x {args.features} features, {args.iterations} timed iterations, "
        f"freed host memory {'kept' if kept else 'returned'}"
    )
    rates: dict[str, float] = {}
    for model, obs in (("mlp", "v6"), ("transformer", "v7")):
        if model not in args.models.split(","):
            continue
        cfg = bench_cfg(model, obs, args.n_envs, args.n_steps)
        a = cfg.algo
        print(
            f"{model}/{obs}: N={a.n_envs} envs x {a.n_steps} steps = {a.n_envs * a.n_steps:,} "
            f"env steps per iteration, {a.update_epochs} epochs x {a.num_minibatches} "
            f"minibatches{' by day' if a.minibatch_by_day else ''}"
        )
        run = ppo_rate(cfg, market, args.iterations, warmup=args.warmup)
        rates[model] = run[0]
        _report(f"{model}/{obs}", *run)
        if args.skip_naive:
            continue
        if model == "transformer":
            shared, per_env = _windows_encoded(run[-1])
            print(
                f"  windows encoded per iteration: {shared:,} shared vs {per_env:,} per env "
                f"({per_env / shared:.0f}x)"
            )
            cfg = bench_cfg(model, obs, args.naive_envs, args.naive_steps)
            run = ppo_rate(cfg, market, 1, warmup=0)
            _report(f"  {args.naive_envs}x{args.naive_steps} shared", *run)
        naive = ppo_rate(cfg, market, 1, False, warmup=0)
        _report("  per-env enc.", *naive)
        print(f"  shared per-day encoding: {run[0] / naive[0]:.1f}x the per-env encoding")
    if args.sb3_envs and "mlp" in rates:
        cfg = bench_cfg("mlp", "v6", args.sb3_envs, args.n_steps)
        sb3 = sb3_rate(cfg, market, list(cfg.model.hidden_sizes), args.sb3_envs, args.sb3_steps)
        print(
            f"{'SB3 PPO mlp/v6':<16} {sb3:>10,.0f} env steps/s   ({args.sb3_envs} gymnasium envs "
            f"in a DummyVecEnv)   50M steps: {_hours(sb3)}"
        )
        print(f"  ploutos mlp/v6 is {rates['mlp'] / sb3:.0f}x SB3")


if __name__ == "__main__":
    main()
