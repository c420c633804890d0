"""What a user reads goes through logging: Hydra's train.log holds the data summary, the plan,
parameter counts, iteration and evaluation lines, checkpoints and the end state; with stdout
not a terminal there is no progress bar (no carriage returns); on a terminal the bar is back."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest
from conftest import compose_config, make_toy_market
from test_training_signals import BATCH, start_train

from ploutos.apps.train import train
from ploutos.training.console import iteration_line, train_eval_gap


def test_train_log_of_a_run_with_stdout_in_a_file(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # progress_bar=true on purpose: stdout is a file, so the bar must stay off anyway.
    proc, out = start_train(
        run_dir, f"total_timesteps={6 * BATCH}", "eval_freq=1024", "trainer.progress_bar=true",
        "trainer.log_every_n_iterations=2",
    )
    assert proc.wait(timeout=300) == 0, out.read_text()[-3000:]
    log = (run_dir / "train.log").read_text()
    assert "\r" not in log and "\r" not in out.read_text()

    assert "data: synthetic, 3 tickers x 900 days" in log
    assert "training: 6 iterations x 512 env steps (16 envs x 32 steps) on cpu" in log
    summary = r"policy: mlp \(per_asset\), discrete actions, [\d,]+ trainable parameters"
    assert re.search(summary, log)
    iterations = re.findall(r"iteration (\d)/6 \| env steps ([\d,]+)/3,072 \| env steps/s [\d,]+ "
                            r"\| rollout/ep_rew_mean \S+ \| train/entropy_loss -\S+ "
                            r"\| train/policy_loss \S+ \| train/value_loss \S+ \| approx_kl \S+",
                            log)
    assert iterations == [("2", "1,024"), ("4", "2,048"), ("6", "3,072")]
    evaluations = re.findall(r"evaluation at ([\d,]+) env steps on val: total_return \S+, .*"
                             r"sharpe (\S+),", log)
    assert [steps for steps, _ in evaluations] == ["1,024", "2,048", "3,072"]
    assert all(math.isfinite(float(sharpe)) for _, sharpe in evaluations)
    assert "train-eval gap (mean reward per step): train " in log
    assert f"checkpoint: {run_dir}/checkpoints/last.ckpt (3,072 env steps)" in log
    assert "completed at 3,072 env steps (6 iterations, " in log
    # Hydra's console handler prints the same records to stdout.
    assert out.read_text().count("iteration ") >= 3


def test_iteration_line_speaks_stable_baselines3() -> None:
    stats = {"train/episode_return": 1.5, "train/entropy": 3.25, "train/policy_loss": -0.01,
             "train/value_loss": 0.5, "train/approx_kl": 0.002, "train/lr": 3e-4}
    line = iteration_line(3, 8, 1536, 4096, 2345.6, stats)
    assert line == (
        "iteration 3/8 | env steps 1,536/4,096 | env steps/s 2,346 | rollout/ep_rew_mean 1.5 | "
        "train/entropy_loss -3.25 | train/policy_loss -0.01 | train/value_loss 0.5 | "
        "approx_kl 0.002"
    )


def test_train_eval_gap_compares_rewards_per_step_only_when_alike() -> None:
    train_stats = {"train/episode_return": 0.64, "train/episode_length": 64.0}
    gap = train_eval_gap(train_stats, {"eval/mean_reward": 0.004, "eval/reward_replaced": 0.0})
    assert gap == "train-eval gap (mean reward per step): train 0.01, eval 0.004, gap 0.006"
    assert train_eval_gap(train_stats, {"eval/mean_reward": 0.004,
                                        "eval/reward_replaced": 1.0}) is None
    no_episode = {"train/episode_return": math.nan, "train/episode_length": math.nan}
    assert train_eval_gap(no_episode, {"eval/mean_reward": 0.004}) is None


@pytest.fixture(scope="module")
def market():
    return make_toy_market(n_days=400, n_assets=3, n_features=5, seed=3)


def _cfg(out: Path, *overrides: str):
    return compose_config("train", ["experiment=smoke", f"trainer.output_dir={out}",
                                    "total_timesteps=1024", *overrides])


def test_outside_hydra_the_lines_reach_stdout_and_no_bar_without_a_terminal(
    tmp_path: Path, market, capsys
) -> None:
    train(_cfg(tmp_path, "trainer.progress_bar=true"), market)
    captured = capsys.readouterr()
    assert "iteration 2/2 | env steps 1,024/1,024" in captured.out
    assert "evaluation at 1,024 env steps on val" in captured.out
    assert "\r" not in captured.out + captured.err


def test_on_a_terminal_the_bar_is_shown(tmp_path: Path, market, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    train(_cfg(tmp_path, "trainer.progress_bar=true"), market)
    captured = capsys.readouterr()
    assert "\r" in captured.err and "1.02k/1.02k" in captured.err  # tqdm's bar in env steps
    # The log lines are written through tqdm, above the bar.
    assert "iteration 2/2 | env steps 1,024/1,024" in captured.out + captured.err


def test_the_progress_bar_shows_the_summarys_env_step_clock() -> None:
    """One clock: the bar's env steps/s is the Throughput the summary reports."""
    from types import SimpleNamespace

    from ploutos.training.callbacks import EnvStepProgressBar, Throughput

    throughput = Throughput()
    bar = EnvStepProgressBar(4096, SimpleNamespace(last_metrics={"eval/sharpe": 1.25}),
                             throughput)
    module = SimpleNamespace(env_steps=1024)  # a resumed run starts part-way
    for callback in (throughput, bar):
        callback.on_train_start(None, module)
    module.env_steps = 2048
    throughput.on_train_batch_end(None, module, None, None, 0)
    throughput.seconds = 4.0  # as if the iteration took 4 s
    bar.on_train_batch_end(None, module, None, None, 0)
    assert throughput.steps_per_second == 256.0
    assert bar._bar.n == 2048 and bar._bar.postfix == "steps/s=256, eval_sharpe=1.250"
    bar.on_train_end(None, module)
