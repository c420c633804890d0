"""Where the learners' CPU time goes, and what torch's tanh costs (README, "Plan B").

    OMP_NUM_THREADS=1 python scripts/op_profile.py [--iterations K]

For PPO (the defaults) and the bench arms of `python -m ploutos.bench algos`, on its
real-size random market and one torch thread: the share of self CPU time of the five
costliest torch ops over K training iterations (torch.profiler), after the untimed warm-up
the bench does; for the off-policy arms also the CPU milliseconds of an iteration and of its
collection alone (the rest is the gradient steps). Then tanh beside sigmoid, a multiply and
2 * sigmoid(2x) - 1 on a [3840, 32] tensor (256 samples x 15 assets x 32 units, a per-asset
trunk's activation): nanoseconds per element and the largest absolute difference from float64
tanh.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from ploutos.algos.registry import make_algorithm
from ploutos.bench.algos_bench import ARMS, arm_cfg
from ploutos.bench.env_bench import random_market

ACTIVATION_SHAPE = (3840, 32)


def trained_module(overrides: tuple[str, ...]):
    """(module, optimizer) of an arm after the bench's untimed warm-up."""
    cfg = arm_cfg(overrides)
    module = make_algorithm(cfg, random_market(8000, 15, 85, "cpu"))
    optimizer = module.configure_optimizers()
    starts = int(cfg.algo.get("learning_starts", 0))
    while module.env_steps < starts + module.batch_size:
        module.run_iteration(optimizer)
    return module, optimizer


def op_shares(module, optimizer, iterations: int, top: int = 5) -> list[tuple[str, float]]:
    """(op, share of self CPU time) of the `top` costliest ops over `iterations` iterations."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            module.run_iteration(optimizer)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / total) for e in events[:top]]


def cpu_ms(step, iterations: int, *args) -> float:
    start = time.process_time()
    for _ in range(iterations):
        step(*args)
    return (time.process_time() - start) / iterations * 1e3


def ns_per_element(fn, x: torch.Tensor, repeats: int = 300) -> float:
    fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return (time.perf_counter() - start) / repeats / x.numel() * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for arm, overrides in {"ppo": (), **ARMS}.items():
        module, optimizer = trained_module(overrides)
        shares = op_shares(module, optimizer, args.iterations)
        print(f"{arm:16s} " + ", ".join(f"{op[6:]} {share:.0%}" for op, share in shares))
        if hasattr(module, "replay"):
            whole = cpu_ms(module.run_iteration, args.iterations, optimizer)
            collect = cpu_ms(module.collect, args.iterations)
            print(f"{'':16s} {whole:.1f} ms of CPU per iteration of {module.batch_size} env "
                  f"steps, {collect:.1f} ms of it collection")
    x = torch.randn(*ACTIVATION_SHAPE, generator=torch.Generator().manual_seed(0)) * 3
    exact = torch.tanh(x.double())
    candidates = {
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "multiply": lambda t: t * 2,
        "2*sigmoid(2x)-1": lambda t: torch.sigmoid(t * 2).mul_(2).sub_(1),
    }
    computes_tanh = ("tanh", "2*sigmoid(2x)-1")
    for name, fn in candidates.items():
        error = (fn(x).double() - exact).abs().max().item() if name in computes_tanh else None
        note = "" if error is None else f", max |error| vs float64 tanh {error:.1e}"
        print(f"{name:16s} {ns_per_element(fn, x):.2f} ns per element{note}")


if __name__ == "__main__":
    main()
