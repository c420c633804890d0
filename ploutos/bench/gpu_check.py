"""One prepared device check: `python -m ploutos.bench gpu [--out DIR] [--device auto|cpu|cuda]`.

On a CUDA machine it runs, within about 8 minutes and without network:

1. the CUDA-marked tests on the device (a pytest subprocess over `-m cuda`), and a host-sync
   count of the rollout: the real `collect_rollout` under torch.cuda.set_sync_debug_mode("warn")
   at two rollout lengths (syncs that grow with the length are inside the step loop), plus a
   bare env step loop under mode "error";
2. env step and step + v6 render rates at N = 1 ... 65,536 on a market of the real size;
3. end-to-end PPO env steps/s for mlp/v6 at N = 4,096 and 16,384 (fp32 and bf16 autocast of
   the network) and transformer/v7 at its preset, with the projected time of a 50M-step run;
4. a short `python train.py device=cuda` run and a backtest of its checkpoint on the CPU.

Without CUDA the same steps run on the CPU at tiny sizes in well under 2 minutes (the tests
are the same tests' cpu variants, the sync count is "n/a"), so the check keeps working before
a GPU is at hand. Results go to DIR/gpu_check.json and DIR/gpu_check.md, rewritten after
every step so that a run cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from ploutos.algos.registry import make_algorithm
from ploutos.bench.env_bench import bench_cfg as env_bench_cfg
from ploutos.bench.env_bench import random_market, rate
from ploutos.bench.train_bench import SEED_RUN_STEPS
from ploutos.bench.train_bench import bench_cfg as train_bench_cfg
from ploutos.config import CONF_DIR
from ploutos.env.factory import make_env
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.io import atomic_write_json, atomic_write_text
from ploutos.market import Market

REPO_ROOT = CONF_DIR.parents[1]
TESTS_DIR = REPO_ROOT / "tests"


@dataclass(frozen=True)
class Sizes:
    """Everything that differs between the full (GPU) check and the tiny (CPU) one."""

    market: tuple[int, int, int]  # days, assets, features of the random market
    env_n: tuple[int, ...]
    env_seconds: float
    mlp_envs: tuple[int, ...]
    mlp_steps: int
    transformer: tuple[int, int] | None  # (n_envs, n_steps); None: the preset's
    iterations: int
    sync_rollout: tuple[int, int]  # (n_envs, shorter n_steps) of the sync count
    train_overrides: tuple[str, ...]


FULL = Sizes(
    market=(8000, 15, 85),
    env_n=(1, 1024, 4096, 16384, 65536),
    env_seconds=1.0,
    mlp_envs=(4096, 16384),
    mlp_steps=64,
    transformer=None,
    iterations=3,
    sync_rollout=(1024, 8),
    train_overrides=(
        "total_timesteps=1048576",
        "algo.n_envs=4096",
        "eval_freq=262144",
        "checkpoint_freq=524288",
    ),
)
TINY = Sizes(
    market=(500, 4, 6),
    env_n=(1, 64, 256),
    env_seconds=0.1,
    mlp_envs=(32, 64),
    mlp_steps=16,
    transformer=(16, 16),
    iterations=1,
    sync_rollout=(64, 4),
    train_overrides=("experiment=smoke", "total_timesteps=2048"),
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---- 1. tests and host syncs ------------------------------------------------------------------


def device_test_ids(device: str) -> list[str]:
    """Node ids of the CUDA-marked tests; on cpu, the cpu variants of the same tests (a test
    that exists only on an accelerator has none and drops out)."""
    # Only files that mention cuda can hold such tests: collecting the whole suite would
    # import every test module (half a minute on a small CPU).
    files = sorted(
        str(path.relative_to(REPO_ROOT))
        for path in TESTS_DIR.glob("test_*.py")
        if "cuda" in path.read_text()
    )
    collected = _collect([*files, "-m", "cuda"])
    if device == "cuda":
        return collected
    every = set(_collect(files))
    cpu = [re.sub(r"\bcuda\b", "cpu", node) for node in collected]
    return [node for node in cpu if node in every]


def _collect(args: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    # The project's addopts (-q, -m "not slow") apply; a later `-m cuda` replaces the marker.
    return [line for line in done.stdout.splitlines() if "::" in line]


def run_device_tests(device: str, out: Path) -> dict[str, Any]:
    """pytest over the device selection; counts from its JUnit XML."""
    ids = device_test_ids(device)
    if not ids:
        return {"selected": 0, "error": "no CUDA-marked tests collected"}
    xml = out / "device_tests.xml"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         f"--junitxml={xml}", *ids],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    suite = ET.parse(xml).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {
        "selected": len(ids),
        "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
        "failed": counts["failures"] + counts["errors"],
        "skipped": counts["skipped"],
        "returncode": done.returncode,
        "seconds": time.perf_counter() - started,
        "tail": done.stdout.strip().splitlines()[-1:] if done.returncode else [],
    }


def _count_syncs(fn: Callable[[], Any]) -> int:
    """Synchronizing CUDA calls made by fn() (torch warns once per call in mode "warn")."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchronizing" in str(w.message) for w in caught)


def _rollout_module(market: Market, n_envs: int, n_steps: int) -> Any:
    cfg = train_bench_cfg("mlp", "v6", n_envs=n_envs, n_steps=n_steps)
    # The model's 32 minibatches need a batch of 32 samples; these probes use tiny rollouts.
    cfg.algo.num_minibatches = min(int(cfg.algo.num_minibatches), n_envs * n_steps)
    return make_algorithm(cfg, market).to(market.device)


def host_syncs(market: Market, n_envs: int, steps: int) -> dict[str, Any]:
    """Host syncs per rollout step (the real collect_rollout at `steps` and 2 x `steps`) and
    the outcome of a bare env step loop under sync debug mode "error"; "n/a" off CUDA, where
    the same code still runs. n_envs x steps must exceed the training split's days, as in
    every real run, so that the rollout reads the per-day encoding table: below that the
    policy calls torch.unique per step, which is a host sync by nature."""
    on_cuda = market.device.type == "cuda"
    counts = []
    for n_steps in (steps, 2 * steps):
        module = _rollout_module(market, n_envs, n_steps)
        module.collect_rollout()  # warm-up: lazy initialisation may sync once
        _sync(market.device)
        counts.append(_count_syncs(module.collect_rollout) if on_cuda else None)
    env = make_env(env_bench_cfg(), market, 256, seed=0)
    env.reset()
    actions = env.action_space.random(256, torch.Generator().manual_seed(0)).to(market.device)
    env.step(actions)
    env_loop = "n/a"
    if on_cuda:
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(steps):
                env.step(actions)
            env_loop = "no sync"
        except RuntimeError as err:
            env_loop = f"sync: {str(err).splitlines()[0]}"
        finally:
            torch.cuda.set_sync_debug_mode("default")
    else:
        for _ in range(steps):
            env.step(actions)
    if not on_cuda:
        return {"rollout_syncs_per_step": "n/a", "env_step_loop": env_loop}
    per_step = (counts[1] - counts[0]) / steps
    return {
        "rollout_syncs": {f"{steps} steps": counts[0], f"{2 * steps} steps": counts[1]},
        "rollout_syncs_per_step": per_step,
        "env_step_loop": env_loop,
        "ok": per_step == 0 and env_loop == "no sync",
    }


# ---- 2. env step rates ------------------------------------------------------------------------


def env_rates(market: Market, sizes: Sizes) -> list[dict[str, Any]]:
    device = str(market.device)
    rows = []
    for n in sizes.env_n:
        env = make_env(env_bench_cfg(), market, n, seed=0)
        env.reset()
        gen = torch.Generator().manual_seed(0)
        pool = [env.action_space.random(n, gen).to(device) for _ in range(16)]
        out = torch.empty((n, env.obs_builder.flat_dim), device=device)
        k = [0]

        def step(render: bool, env=env, pool=pool, out=out, k=k) -> None:
            obs, *_ = env.step(pool[k[0] % 16])
            k[0] += 1
            if render:
                env.obs_builder.render_into(obs, out)

        plain = rate(lambda s=step: s(False), n, device, sizes.env_seconds)
        rendered = rate(lambda s=step: s(True), n, device, sizes.env_seconds)
        rows.append({"n_envs": n, "step_per_s": plain, "step_render_v6_per_s": rendered})
    return rows


# ---- 3. training rates ------------------------------------------------------------------------


def _float32(out: Any) -> Any:
    if isinstance(out, tuple):
        return tuple(_float32(o) for o in out)
    return out.float() if isinstance(out, torch.Tensor) and out.is_floating_point() else out


def autocast_network(policy: torch.nn.Module, device_type: str) -> None:
    """Run the policy's encoder and heads under bf16 autocast, handing float32 back to the
    rollout buffer, the losses and the env (whose accounting stays float64)."""
    for owner, name in ((policy, "encode_distinct_days"), (policy.body, "decide")):
        plain = getattr(owner, name)

        def wrapped(*args: Any, _plain=plain, **kwargs: Any) -> Any:
            with torch.autocast(device_type, dtype=torch.bfloat16):
                return _float32(_plain(*args, **kwargs))

        setattr(owner, name, wrapped)


def train_rate(cfg: DictConfig, market: Market, iterations: int, bf16: bool) -> dict[str, Any]:
    """End-to-end PPO env steps/s (rollout + GAE + update epochs) after one warm-up
    iteration; the median over `iterations` timed ones."""
    module = make_algorithm(cfg, market).to(market.device)
    if bf16:
        autocast_network(module.policy, market.device.type)
    optimizer = module.configure_optimizers()
    module.run_iteration(optimizer)
    times = []
    for _ in range(iterations):
        _sync(market.device)
        start = time.perf_counter()
        module.run_iteration(optimizer)
        _sync(market.device)
        times.append(time.perf_counter() - start)
    steps_per_s = module.batch_size / statistics.median(times)
    return {
        "n_envs": module.n_envs,
        "n_steps": module.n_steps,
        "env_steps_per_s": steps_per_s,
        "projected_50m_min": SEED_RUN_STEPS / steps_per_s / 60,
    }


def training_rates(market: Market, sizes: Sizes) -> list[dict[str, Any]]:
    rows = []
    for n in sizes.mlp_envs:
        cfg = train_bench_cfg("mlp", "v6", n_envs=n, n_steps=sizes.mlp_steps)
        for bf16 in (False, True):
            rows.append(
                {"run": f"mlp/v6 {'bf16' if bf16 else 'fp32'}",
                 **train_rate(cfg, market, sizes.iterations, bf16)}
            )  # fmt: skip
    n_envs, n_steps = sizes.transformer or (None, None)
    cfg = train_bench_cfg("transformer", "v7", n_envs=n_envs, n_steps=n_steps)
    rows.append({"run": "transformer/v7 fp32", **train_rate(cfg, market, 1, False)})
    return rows


# ---- 4. the training app on the device, its checkpoint backtested on the CPU ----------------


def _script(name: str, args: list[str], cwd: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / name), *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    return done.returncode, time.perf_counter() - started, tail


def train_and_backtest(device: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    run_dir = out / "train_run"
    rc, seconds, tail = _script(
        "train.py",
        [f"device={device}", f"trainer.output_dir={run_dir}", "trainer.progress_bar=false",
         *sizes.train_overrides],
        out,
    )  # fmt: skip
    result: dict[str, Any] = {"train_returncode": rc, "train_seconds": seconds}
    if rc != 0:
        return {**result, "error": tail}
    summary = json.loads((run_dir / "summary.json").read_text())
    ckpt = summary["checkpoints"]["last"]
    result.update(
        env_steps=summary["env_steps"],
        env_steps_per_s=summary["env_steps_per_s"],
        n_evals=summary["n_evals"],
        checkpoint_device=str(torch.load(ckpt, map_location="cpu", weights_only=True)
                              ["cfg"]["device"]),
    )  # fmt: skip
    # In this process: a second interpreter would only add its start-up to the check.
    model = load_checkpoint(ckpt, device="cpu")
    started = time.perf_counter()
    backtest = run_backtest(model, split="test", baselines=["buy_and_hold"], n_boot=200)
    agent = backtest.metrics[AGENT]
    result.update(
        backtest_device=str(model.market.device),
        backtest_seconds=time.perf_counter() - started,
        backtest_sharpe=float(agent["sharpe"]),
        backtest_total_return=float(agent["total_return"]),
    )
    return result


# ---- the report -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in rows]
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Device check: {report['device_name']} ({report['device']}, {report['mode']} sizes)",
        "",
        f"torch {report['torch']}, {report['cpu_threads']} CPU threads, {report['started']}, "
        f"{_fmt(report['seconds'])} s in all",
        "",
        "## Seconds per step",
        "",
        *_table([report["step_seconds"]]),
    ]
    for step, title in (
        ("tests", "1. Device tests"),
        ("host_syncs", "1. Host syncs in the rollout"),
        ("train_app", "4. train.py on the device, backtest on the CPU"),
    ):
        if step in report:
            lines += ["", f"## {title}", "", *_table([report[step]])]
    for step, title in (("env", "2. Env steps/s"), ("train", "3. Training env steps/s")):
        if report.get(step):
            lines += ["", f"## {title}", "", *_table(report[step])]
    for step, err in report["errors"].items():
        lines += ["", f"**{step} failed:** `{err}`"]
    return "\n".join(lines) + "\n"


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench gpu", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu_check"))
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--skip-tests", action="store_true", help="skip the pytest step")
    args = parser.parse_args(argv)
    device = args.device if args.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu"
    )  # fmt: skip
    sizes = FULL if device == "cuda" else TINY
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "device": device,
        "device_name": _device_name(device),
        "mode": "full" if sizes is FULL else "tiny",
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "step_seconds": {},
        "errors": {},
    }
    market = random_market(*sizes.market, device)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("host_syncs", lambda: host_syncs(market, *sizes.sync_rollout)),
        ("env", lambda: env_rates(market, sizes)),
        ("train", lambda: training_rates(market, sizes)),
        ("train_app", lambda: train_and_backtest(device, sizes, out)),
    ]
    if not args.skip_tests:
        steps.insert(0, ("tests", lambda: run_device_tests(device, out)))
    for name, step in steps:
        print(f"gpu check: {name} ...", flush=True)
        step_started = time.perf_counter()
        try:
            report[name] = step()
        except Exception as err:  # one broken step must not lose the others' figures
            report["errors"][name] = f"{type(err).__name__}: {err}"
        report["step_seconds"][name] = time.perf_counter() - step_started
        report["seconds"] = time.perf_counter() - started
        atomic_write_json(out / "gpu_check.json", report)
        atomic_write_text(out / "gpu_check.md", markdown(report))
    print(markdown(report))
    if report["errors"] or report.get("tests", {}).get("failed"):
        raise SystemExit(1)
