"""The prepared device check (`python -m ploutos.bench gpu`) at its tiny CPU sizes, end to end:
every figure it writes is a number, and every step ran."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ploutos.bench.env_bench import random_market
from ploutos.bench.gpu_check import TINY, _rollout_module, autocast_network, main
from ploutos.bench.train_bench import SEED_RUN_STEPS


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


# The prepared check in its CPU mode runs every step of scripts/gpu_check.sh (about a minute
# on 2 idle cores): run on purpose, `pytest -m slow tests/test_gpu_check.py`.
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    out = tmp_path_factory.mktemp("gpu_check")
    main(["--out", str(out), "--device", "cpu"])
    report = json.loads((out / "gpu_check.json").read_text())
    return report, (out / "gpu_check.md").read_text(), out


@SLOW
def test_every_step_ran_on_the_cpu_at_tiny_sizes(check) -> None:
    report, _, _ = check
    assert report["device"] == "cpu" and report["mode"] == "tiny" and report["errors"] == {}
    assert set(report["step_seconds"]) == {"tests", "host_syncs", "env", "train", "train_app"}
    assert all(_positive(s) for s in report["step_seconds"].values())


@SLOW
def test_the_device_tests_ran_as_their_cpu_variants(check) -> None:
    tests = check[0]["tests"]
    # Five cuda-parametrized tests have a cpu variant (the accelerator smoke run has none).
    assert tests["selected"] >= 5 and tests["returncode"] == 0
    assert tests["passed"] == tests["selected"] and tests["failed"] == 0
    assert tests["skipped"] == 0
    # The rollout still ran; a host sync can only be counted on CUDA.
    assert check[0]["host_syncs"] == {"rollout_syncs_per_step": "n/a", "env_step_loop": "n/a"}


@SLOW
def test_env_and_training_rates_are_numbers(check) -> None:
    report = check[0]
    assert [row["n_envs"] for row in report["env"]] == list(TINY.env_n)
    for row in report["env"]:
        assert _positive(row["step_per_s"]) and _positive(row["step_render_v6_per_s"])
    runs = [row["run"] for row in report["train"]]
    assert runs == ["mlp/v6 fp32", "mlp/v6 bf16"] * len(TINY.mlp_envs) + ["transformer/v7 fp32"]
    for row in report["train"]:
        assert _positive(row["env_steps_per_s"])
        assert row["projected_50m_min"] == pytest.approx(
            SEED_RUN_STEPS / row["env_steps_per_s"] / 60
        )
    assert [row["n_envs"] for row in report["train"][:-1:2]] == list(TINY.mlp_envs)


@SLOW
def test_train_app_checkpoint_backtests_on_the_cpu(check) -> None:
    app = check[0]["train_app"]
    assert app["train_returncode"] == 0 and app["env_steps"] == 2048 and app["n_evals"] >= 1
    assert app["checkpoint_device"] == "cpu" and app["backtest_device"] == "cpu"
    assert _positive(app["env_steps_per_s"])
    assert math.isfinite(app["backtest_sharpe"]) and math.isfinite(app["backtest_total_return"])
    assert (check[2] / "train_run" / "checkpoints" / "last.ckpt").is_file()


@SLOW
def test_markdown_holds_the_json_figures(check) -> None:
    report, md, _ = check
    for placeholder in ("None", "nan", "| |", "failed:**"):
        assert placeholder not in md
    for row in report["env"]:
        assert f"| {row['n_envs']:,} | {row['step_per_s']:,.0f} |" in md
    first = report["train"][0]
    assert f"| {first['run']} | {first['n_envs']} | {first['n_steps']} |" in md
    assert f"| {report['train_app']['env_steps']:,} |" in md


def test_bf16_autocast_keeps_the_network_outputs_float32_and_close() -> None:
    market = random_market(*TINY.market, "cpu")
    module = _rollout_module(market, n_envs=8, n_steps=2)
    obs, builder = module.next_obs, module.env.obs_builder
    with torch.no_grad():
        dist, value = module.policy(obs, builder)
        autocast_network(module.policy, "cpu")
        dist16, value16 = module.policy(obs, builder)
    assert value16.dtype == torch.float32 and dist16.logits.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: close to, not equal to, the float32 network.
    torch.testing.assert_close(value16, value, rtol=0.05, atol=0.02)
    torch.testing.assert_close(dist16.probs, dist.probs, rtol=0.05, atol=0.02)
    assert not torch.equal(value16, value)
