"""A run stopped by a signal saves and says so: last.ckpt, summary.json (interrupted, env steps,
resume command), exit status 128 + signal; resumed, it reaches its target (bit-identical to a
straight run in-process); a second signal stops at once; handlers are restored after fit."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import compose_config, make_toy_market
from lightning.pytorch.callbacks import Callback

from ploutos.apps.train import run, train
from ploutos.errors import ConfigError
from ploutos.training.signals import parse_signals, resume_command

REPO = Path(__file__).resolve().parents[1]
BATCH = 16 * 32  # smoke preset: env steps per iteration
# A few seconds of training on a small synthetic market (900 days, 3 tickers).
TINY = (
    "experiment=smoke",
    "data=synthetic",
    "data.n_days=900",
    "data.n_assets=3",
    "features=minimal",
    "data.splits.val_start=2002-06-01",
    "data.splits.test_start=2003-01-01",
)
LONG = 400 * BATCH  # far more than the test lets a run do before its signal


def start_train(run_dir: Path, *overrides: str) -> tuple[subprocess.Popen, Path]:
    """`python train.py` on the tiny config with stdout/stderr redirected to run_dir/../out."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    out = open(run_dir.parent / f"{run_dir.name}.out", "w")  # noqa: SIM115 - the child owns it
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "train.py", *TINY, *overrides, f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )
    out.close()
    return proc, run_dir.parent / f"{run_dir.name}.out"


def wait_for_line(proc: subprocess.Popen, log: Path, text: str, deadline_s: float = 240) -> None:
    """Block until `text` is in the log (a deadline for a stuck child, not a timing check)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if log.is_file() and text in log.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"train.py exited ({proc.returncode}) before logging {text!r}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"no {text!r} in {log} within {deadline_s} s")


def interrupted_subprocess_run(tmp_path: Path, sig: signal.Signals) -> dict:
    run_dir = tmp_path / "run"
    proc, out = start_train(run_dir, f"total_timesteps={LONG}", "checkpoint_freq=1000000")
    wait_for_line(proc, run_dir / "train.log", "iteration 1/")
    proc.send_signal(sig)
    assert proc.wait(timeout=240) == 128 + sig, out.read_text()[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    last = run_dir / "checkpoints" / "last.ckpt"
    assert summary["status"] == "interrupted" and summary["signal"] == sig.name
    steps = summary["env_steps"]
    assert steps % BATCH == 0 and BATCH <= steps < LONG
    assert summary["iterations"] == steps // BATCH
    assert torch.load(last, weights_only=True)["env_steps"] == steps
    assert summary["checkpoints"]["last"] == str(last)
    assert summary["resume_command"].endswith(f"ckpt_path={last.resolve()}")
    log = (run_dir / "train.log").read_text()
    assert f"received {sig.name}: stopping after this iteration" in log
    assert f"stopped by {sig.name}; resume with: {summary['resume_command']}" in log
    assert "interrupted: " in out.read_text()  # the one line on stderr
    return summary


def resume_to(tmp_path: Path, summary: dict, total: int) -> dict:
    """Run the summary's resume command (in-process: same overrides, a longer target)."""
    args = shlex.split(summary["resume_command"])
    assert args[:2] == ["python", "train.py"]
    overrides = [a for a in args[2:] if not a.startswith("total_timesteps=")]
    assert f"ckpt_path={summary['checkpoints']['last']}" in overrides
    out = tmp_path / "resumed"
    run(compose_config("train", [*overrides, f"total_timesteps={total}",
                                 f"trainer.output_dir={out}"]))
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_signal_to_train_py_saves_and_the_resume_reaches_the_target(
    tmp_path: Path, sig: signal.Signals
) -> None:
    summary = interrupted_subprocess_run(tmp_path, sig)
    steps = summary["env_steps"]
    resumed = resume_to(tmp_path, summary, steps + 2 * BATCH)
    assert resumed["status"] == "completed" and resumed["signal"] is None
    assert resumed["resumed_at_env_steps"] == steps
    assert resumed["env_steps"] == steps + 2 * BATCH


# ---- in-process: the same machinery without an interpreter start per run ---------------------


@pytest.fixture(scope="module")
def market():
    return make_toy_market(n_days=400, n_assets=3, n_features=5, seed=3)


def smoke_cfg(out: Path, *overrides: str):
    return compose_config(
        "train", ["experiment=smoke", f"trainer.output_dir={out}", "trainer.deterministic=true",
                  *overrides]
    )


class SignalAt(Callback):
    """Sends `sig` to this process `times` times when iteration `iteration` starts."""

    def __init__(self, iteration: int, sig: signal.Signals, times: int = 1) -> None:
        self.iteration, self.sig, self.times = iteration, sig, times

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.iterations + 1 == self.iteration:
            for _ in range(self.times):
                os.kill(os.getpid(), self.sig)


def test_a_stop_signal_ends_the_iteration_and_resume_is_bit_identical(
    tmp_path: Path, market
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    ref = train(smoke_cfg(tmp_path / "straight"), market)

    stop_at_3 = SignalAt(3, signal.SIGTERM)
    stopped = train(smoke_cfg(tmp_path / "stopped"), market, callbacks=[stop_at_3])
    assert {s: signal.getsignal(s) for s in before} == before  # restored after fit
    assert stopped["status"] == "interrupted" and stopped["signal"] == "SIGTERM"
    assert stopped["env_steps"] == 3 * BATCH and stopped["iterations"] == 3
    last = tmp_path / "stopped" / "checkpoints" / "last.ckpt"
    assert stopped["checkpoints"]["last"] == str(last)
    assert torch.load(last, weights_only=True)["env_steps"] == 3 * BATCH
    saved = json.loads((tmp_path / "stopped" / "summary.json").read_text())
    assert saved["status"] == "interrupted" and saved["env_steps"] == 3 * BATCH
    assert saved["resume_command"].endswith(f"ckpt_path={last.resolve()}")

    resumed = train(smoke_cfg(tmp_path / "resumed", f"ckpt_path={last}"), market)
    assert resumed["status"] == "completed" and resumed["env_steps"] == ref["env_steps"]
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name
    assert resumed["final_eval"] == ref["final_eval"]


def test_slurms_pre_emption_signal_when_configured(tmp_path: Path, market) -> None:
    cfg = smoke_cfg(tmp_path, "trainer.stop_signals=[SIGTERM,USR1]")
    summary = train(cfg, market, callbacks=[SignalAt(2, signal.SIGUSR1)])
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGUSR1"
    assert summary["env_steps"] == 2 * BATCH
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)[
        "env_steps"
    ] == 2 * BATCH


def test_a_second_signal_stops_at_once_keeping_the_last_checkpoint(
    tmp_path: Path, market
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    cfg = smoke_cfg(tmp_path, "checkpoint_freq=1024")
    summary = train(cfg, market, callbacks=[SignalAt(4, signal.SIGTERM, times=2)])
    assert signal.getsignal(signal.SIGTERM) == before
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert summary["error"] == "second SIGTERM: stopped at once"
    # Iteration 4 never ran; the periodic save at 1,024 env steps is the resume point.
    assert summary["env_steps"] == 3 * BATCH
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["env_steps"] == 2 * BATCH
    assert summary["resume_command"].endswith(f"ckpt_path={last.resolve()}")


def test_other_signals_keep_their_handlers(tmp_path: Path, market) -> None:
    # SIGUSR1 is not in the default list: the run never touches its handler.
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
    try:
        summary = train(smoke_cfg(tmp_path, "total_timesteps=2048"), market,
                        callbacks=[SignalAt(2, signal.SIGUSR1)])
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert summary["status"] == "completed" and summary["env_steps"] == 2048
    assert seen == [signal.SIGUSR1]


def test_stop_signals_are_parsed_and_bad_ones_named() -> None:
    assert parse_signals(["SIGTERM", "int", "USR1", 15]) == (
        signal.SIGTERM, signal.SIGINT, signal.SIGUSR1
    )
    with pytest.raises(ConfigError, match="trainer.stop_signals.*'SIGNOPE' is not a signal"):
        parse_signals(["SIGNOPE"])
    with pytest.raises(ConfigError, match="SIGKILL cannot be caught"):
        parse_signals(["SIGKILL"])


def test_resume_command_keeps_the_overrides_and_replaces_ckpt_path() -> None:
    cmd = resume_command(
        ["experiment=smoke", "ckpt_path=/old/last.ckpt", "logger.wandb.tags=[a b]"],
        "/runs/x/checkpoints/last.ckpt",
        script="train.py",
    )
    assert shlex.split(cmd) == [
        "python", "train.py", "experiment=smoke", "logger.wandb.tags=[a b]",
        "ckpt_path=/runs/x/checkpoints/last.ckpt",
    ]


@pytest.mark.slow
def test_a_signal_during_a_multirun_stops_the_sweep_leaving_finished_jobs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = open(tmp_path / "out", "w")  # noqa: SIM115
    # Job 0 is short and finishes; job 1 is long and gets the signal; job 2 must never start.
    proc = subprocess.Popen(
        [sys.executable, "train.py", "-m", *TINY, f"total_timesteps={2 * BATCH},{LONG},{LONG}",
         f"hydra.sweep.dir={sweep}"],
        cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env,
    )
    out.close()
    wait_for_line(proc, sweep / "1" / "train.log", "iteration 1/")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=240) == 128 + signal.SIGTERM
    first = json.loads((sweep / "0" / "summary.json").read_text())
    assert first["status"] == "completed" and first["env_steps"] == 2 * BATCH
    second = json.loads((sweep / "1" / "summary.json").read_text())
    assert second["status"] == "interrupted" and (sweep / "1/checkpoints/last.ckpt").is_file()
    assert "total_timesteps=" + str(LONG) in second["resume_command"]
    assert not (sweep / "2").exists()


# ---- ckpt_path=auto: a study re-run continues each job in its own folder ---------------------


def test_ckpt_path_auto_starts_continues_and_skips_in_the_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "job"

    def auto_run(total: int) -> dict:
        run(compose_config("train", [*TINY, f"total_timesteps={total}", f"checkpoint_freq={BATCH}",
                                     "trainer.keep_periodic=1", f"trainer.output_dir={out}",
                                     "ckpt_path=auto"]))
        return json.loads((out / "summary.json").read_text())

    fresh = auto_run(2 * BATCH)
    assert fresh["resumed_from"] is None and fresh["env_steps"] == 2 * BATCH
    # keep_periodic=1: only the newest periodic checkpoint is on disk and in the summary.
    periodic = sorted((out / "checkpoints" / "periodic").iterdir())
    assert [p.name for p in periodic] == [f"envsteps_{2 * BATCH:012d}.ckpt"]
    assert fresh["checkpoints"]["periodic"] == [str(periodic[0])]

    # Finished at its target: a second run of the same command leaves it alone.
    before = (out / "summary.json").stat().st_mtime_ns
    assert auto_run(2 * BATCH)["env_steps"] == 2 * BATCH
    assert (out / "summary.json").stat().st_mtime_ns == before

    # Killed before its summary (kill -9 leaves none): the rerun continues from last.ckpt.
    (out / "summary.json").unlink()
    resumed = auto_run(4 * BATCH)
    assert resumed["resumed_from"] == str(out / "checkpoints" / "last.ckpt")
    assert resumed["resumed_at_env_steps"] == 2 * BATCH
    assert resumed["status"] == "completed" and resumed["env_steps"] == 4 * BATCH
    # A completed run asked for more goes on too.
    assert auto_run(5 * BATCH)["resumed_at_env_steps"] == 4 * BATCH
    # The csv log holds the whole run once: Lightning's logger would have dropped the rows
    # written before each resume.
    curve = pd.read_csv(out / "csv" / "metrics.csv")
    iterations = curve[curve["epoch"].notna()]
    assert iterations["train/env_steps"].tolist() == [BATCH * k for k in range(1, 6)]
    # smoke evaluates every 1,024 env steps and at the end of each fit.
    evals = curve[curve["eval/sharpe"].notna()]
    assert evals["train/env_steps"].tolist() == [2 * BATCH, 4 * BATCH, 5 * BATCH]


@pytest.mark.slow
def test_a_signal_under_ddp_stops_both_processes_at_the_same_iteration(tmp_path: Path) -> None:
    """SIGTERM reaches the launching process only; the stop decision is reduced over the
    processes, so both end after the same iteration with the same weights (a process that
    went on alone would hang in the next all-reduce) and rank 0 writes the interrupted run."""
    out = tmp_path / "ddp"
    out.mkdir()
    log = tmp_path / "ddp.out"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "tests/ddp_job.py", str(out), f"total_timesteps={LONG}"],
            cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
        )
    wait_for_line(proc, log, "iteration 1/")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=240) == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 60
    while not (out / "summary_rank1.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    ranks = [json.loads((out / f"summary_rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["status"] for r in ranks] == ["interrupted", "interrupted"]
    assert ranks[0]["env_steps"] == ranks[1]["env_steps"] < LONG
    weights = [json.loads((out / f"rank{r}.json").read_text())["checksum"] for r in (0, 1)]
    assert weights[0] == weights[1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["env_steps"] == summary["env_steps"]
