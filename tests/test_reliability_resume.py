"""Resume refuses what it cannot continue, loads safely, survives a kill -9, and (with the
deterministic switch) same-seed and killed-then-resumed runs are bit-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_backtest_checkpoint import TINY, tiny_cfg, tiny_checkpoint

import ploutos.apps.train as train_app
from ploutos.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _refuse_data(*_args, **_kwargs):
    raise AssertionError("the market was built before the checkpoint was checked")


def test_resume_with_changed_splits_is_refused_naming_every_key(tmp_path, monkeypatch) -> None:
    ckpt, _ = tiny_checkpoint(tmp_path)
    monkeypatch.setattr("ploutos.pipeline.build_market", _refuse_data)
    cfg = tiny_cfg(
        tmp_path / "again",
        f"ckpt_path={ckpt}",
        "data.splits.val_start=2002-03-01",
        "env.commission_bps=7",
    )
    with pytest.raises(ConfigError) as err:
        train_app.run(cfg)
    message = str(err.value)
    assert message.startswith(f"ckpt_path: '{ckpt}' cannot be continued")
    assert "data.splits.val_start" in message and "env.commission_bps" in message


def test_resume_may_change_run_length_and_frequencies(tmp_path) -> None:
    ckpt, _ = tiny_checkpoint(tmp_path)
    from ploutos.training.resume import (
        check_resumable,
        config_differences,
        read_resume_checkpoint,
    )

    cfg = tiny_cfg(tmp_path, "total_timesteps=99999", "eval_freq=77", "checkpoint_freq=99",
                   "early_stopping.enabled=true", "logger=many")  # fmt: skip
    stored = read_resume_checkpoint(ckpt)
    assert config_differences(stored["cfg"], cfg) == []
    check_resumable(stored, cfg, ckpt)  # no error
    # The same comparison names a key that may not change.
    assert config_differences(stored["cfg"], tiny_cfg(tmp_path, "env.commission_bps=99")) == [
        "env.commission_bps"
    ]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_a_damaged_checkpoint_fails_before_any_data_is_loaded(tmp_path, monkeypatch, damage):
    ckpt, _ = tiny_checkpoint(tmp_path)
    data = ckpt.read_bytes()
    if damage == "truncated":
        ckpt.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint at all")
    else:
        torch.save({"weights": torch.zeros(2)}, ckpt)
    monkeypatch.setattr("ploutos.pipeline.build_market", _refuse_data)
    with pytest.raises(ConfigError, match=f"^ckpt_path: '{ckpt}'"):
        train_app.run(tiny_cfg(tmp_path / "again", f"ckpt_path={ckpt}"))


def test_a_pickled_object_in_a_checkpoint_is_not_executed(tmp_path) -> None:
    ckpt, _ = tiny_checkpoint(tmp_path)
    state = torch.load(ckpt, weights_only=True)
    state["payload"] = Path("/")  # needs pickle's global lookup: refused by the safe loader
    torch.save(state, ckpt)
    from ploutos.training.resume import read_resume_checkpoint

    with pytest.raises(ConfigError, match="not a readable Ploutos checkpoint"):
        read_resume_checkpoint(ckpt)


def _train_cmd(out: Path, *overrides: str) -> list[str]:
    return [sys.executable, "train.py", *TINY, f"trainer.output_dir={out}", *overrides]


def _env(threads: int = 2) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


def _kill_after_periodic(out: Path, count: int, *overrides: str) -> None:
    """Start train.py and SIGKILL it once `count` periodic checkpoints exist."""
    proc = subprocess.Popen(_train_cmd(out, *overrides), cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    periodic = out / "checkpoints" / "periodic"
    deadline = time.monotonic() + 240
    try:
        while len(list(periodic.glob("*.ckpt"))) < count:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoints within 240 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _steps(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["env_steps"])


def test_kill_minus_9_leaves_last_newest_and_stale_temps_are_cleaned(tmp_path) -> None:
    run = ("total_timesteps=200000", "checkpoint_freq=512", "eval_freq=100000")
    _kill_after_periodic(tmp_path, 2, *run)
    ckpts = tmp_path / "checkpoints"
    periodic = sorted((ckpts / "periodic").glob("*.ckpt"))
    newest = max(_steps(p) for p in periodic)
    assert _steps(ckpts / "last.ckpt") >= newest  # written first, so never behind
    state = torch.load(periodic[-1], weights_only=True)
    recorded = next(v for k, v in state["callbacks"].items() if "EnvStepCheckpoint" in k)
    assert str(periodic[-1]) in recorded["periodic"]  # a checkpoint lists itself

    stale = ckpts / ".last.ckpt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    last = ckpts / "last.ckpt"
    resumed_steps = _steps(last) + 1024
    done = subprocess.run(
        _train_cmd(tmp_path, f"total_timesteps={resumed_steps}", "checkpoint_freq=512",
                   "eval_freq=100000", f"ckpt_path={last}"),
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert not stale.exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["env_steps"] >= resumed_steps


@pytest.mark.slow
def test_deterministic_runs_and_kill_resume_are_bit_identical(tmp_path) -> None:
    run = ("total_timesteps=8192", "checkpoint_freq=1024", "eval_freq=2048",
           "trainer.deterministic=true")  # fmt: skip
    for name in ("a", "b"):
        done = subprocess.run(_train_cmd(tmp_path / name, *run), cwd=REPO, env=_env(),
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    _kill_after_periodic(tmp_path / "killed", 2, *run)
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    done = subprocess.run(_train_cmd(tmp_path / "killed", *run, f"ckpt_path={last}"),
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    states = [torch.load(tmp_path / n / "checkpoints" / "last.ckpt", weights_only=True)
              for n in ("a", "b", "killed")]  # fmt: skip
    for name, value in states[0]["state_dict"].items():
        assert torch.equal(value, states[1]["state_dict"][name]), name
        assert torch.equal(value, states[2]["state_dict"][name]), name
